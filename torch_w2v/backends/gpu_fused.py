"""The fused GPU step: a Triton kernel that scores and updates each block in place.

Batches come from the sampler, all on the device (subsampling, windows and noise words as
tensor ops); the kernel (:mod:`torch_w2v.backends.triton_kernel`) gives every block a program
that reads its rows, scores them and adds its step atomically, as the CPU op's threads do, so a
batch is never one summed step: big batches keep the GPU busy without the batched step's
trade-offs. Triton ships with CUDA builds of PyTorch; where it or CUDA is missing, this backend
is unavailable and ``step="auto"`` takes the batched one.
"""
from __future__ import annotations

import torch

from .base import Backend

__all__ = ["GpuFused"]


class GpuFused(Backend):
    name = "fused_gpu"
    summary = "a Triton kernel updating block by block in place; the fast GPU path"
    devices = frozenset({"cuda"})

    def unsupported(self, config):
        if config.max_norm is not None:
            return "does not renormalise rows (max_norm); the batched step does"
        return super().unsupported(config)

    def unavailable(self):
        if not torch.cuda.is_available():
            return "CUDA is not available"
        try:
            from . import triton_kernel  # noqa: F401  (imports and checks Triton)
        except ImportError as err:
            return f"Triton is not installed ({err}); it comes with CUDA builds of PyTorch"
        return None

    def default_batch_size(self, device, corpus_words):
        """Pairs sampled at once: big, since every block is updated on its own."""
        return max(8_192, min(1 << 19, corpus_words // 8))

    def make_step(self, tables, config, distributions):
        from .triton_kernel import train_blocks

        mode, lockf = config.mode, distributions.lockf_on(config.device)
        input_vectors, output_vectors = tables.input_vectors, tables.output_vectors

        def step(batch, lr_start, lr_end):
            loss, examples = train_blocks(input_vectors, output_vectors, batch, lr_start, mode,
                                          lockf)
            return loss, examples, batch.effective_words

        return step
