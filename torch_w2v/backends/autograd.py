"""The original tutorial's recipe: the loss through autograd and a ``torch.optim`` optimiser
(``Adam``, or ``SparseAdam`` with sparse gradients), on any device."""
from __future__ import annotations

import torch

from .base import Backend
from .batched import summed_step_batch_size

__all__ = ["Autograd"]


class Autograd(Backend):
    name = "autograd"
    summary = "the tutorial's recipe: autograd and Adam or SparseAdam"
    devices = frozenset({"cpu", "cuda"})
    optimizers = frozenset({"adam", "sparse_adam"})

    def default_batch_size(self, device, corpus_words):
        return summed_step_batch_size(device, corpus_words)

    def make_step(self, tables, config, distributions):
        sparse = config.optimizer == "sparse_adam"
        max_norm, mode = config.max_norm, config.mode
        weights = [tables.input_vectors, tables.output_vectors]
        for w in weights:
            w.requires_grad_(True)
        optimizer = (torch.optim.SparseAdam(weights, lr=config.alpha) if sparse
                     else torch.optim.Adam(weights, lr=config.alpha))

        def step(batch, lr, lr_end):
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            total, examples = tables.loss_sum(batch.contexts, batch.context_mask, batch.targets,
                                              batch.target_mask, mode=mode, labels=batch.labels,
                                              max_norm=max_norm, sparse=sparse)
            (total / examples.clamp(min=1)).backward()  # Adam's step: the mean's gradient
            optimizer.step()
            return total.detach().double(), examples, batch.effective_words

        return step
