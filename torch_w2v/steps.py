"""How one batch is trained: the step functions the loop calls, and which one a run uses.

A step is ``step(batch, lr) -> (loss_sum, pairs)``:

- ``"fused"``: the compiled CPU op of :mod:`.kernel`, block after block, in place;
- ``"batched"``: PyTorch tensor ops on the whole batch (any device), closed-form SGD gradient;
- ``"autograd"``: the loss through autograd and a ``torch.optim`` optimiser (Adam or SparseAdam,
  the original tutorial's recipe).
"""
from __future__ import annotations

import torch

__all__ = ["resolve_step", "make_step", "default_batch_size"]


def resolve_step(step: str, optimizer: str, max_norm, device):
    """``(kind, kernel)``: the step kind for these parameters, and the compiled op if fused."""
    if optimizer != "sgd":
        if step == "fused":
            raise ValueError(f"optimizer={optimizer!r} trains through autograd; step='fused' "
                             "is plain SGD only: use step='auto'")
        return "autograd", None
    if max_norm is not None and step == "fused":
        raise ValueError("max_norm is applied by the batched step only: use step='auto'")
    if step == "batched" or max_norm is not None or (step == "auto" and device.type != "cpu"):
        return "batched", None
    if device.type != "cpu":
        raise ValueError(f"step='fused' runs on the CPU only, but device is {device}; "
                         "use step='batched' or 'auto' on a GPU")
    from .kernel import load_kernel

    kernel = load_kernel()
    if kernel is None:
        if step == "fused":
            raise RuntimeError("step='fused' asked for, but the CPU kernel could not be compiled "
                               "(see the warning above); use step='auto' or 'batched'")
        return "batched", None
    return "fused", kernel


def default_batch_size(kind: str, device, corpus_words: int) -> int:
    """Pairs per step. The fused step updates block by block, so its batch only sizes the
    threads' work. The others take one summed step per batch: they need many steps per epoch
    (a batch of at most corpus_words / 64 pairs) as well as big batches to be fast."""
    if kind == "fused":
        return 32_768
    largest = 262_144 if device.type == "cuda" else 8_192
    return max(1_024, min(largest, corpus_words // 64))


def make_step(kind, model, *, kernel=None, update_cap=None, optimizer="sgd", alpha=0.025,
              max_norm=None):
    """The step function of ``kind`` for ``model``."""
    if kind == "fused":
        return lambda b, lr: model.fused_sgd_step(kernel, b.contexts, b.context_mask, b.targets,
                                                  b.target_mask, lr)
    if kind == "batched":
        return lambda b, lr: model.sgd_step(b.contexts, b.context_mask, b.targets,
                                            b.target_mask, lr, update_cap, max_norm=max_norm)
    sparse = optimizer == "sparse_adam"
    params = [model.input_vectors, model.output_vectors]
    for p in params:
        p.requires_grad_(True)
    opt = (torch.optim.SparseAdam(params, lr=alpha) if sparse
           else torch.optim.Adam(params, lr=alpha))

    def autograd_step(b, lr):
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = model(b.contexts, b.context_mask, b.targets, b.target_mask, max_norm=max_norm,
                     sparse=sparse)
        loss.backward()
        opt.step()
        pairs = b.context_mask.sum()
        return loss.detach().double() * pairs, pairs

    return autograd_step
