"""The fused CPU step: the compiled op ``torch.ops.torch_w2v.sgns_block_step``.

The batched step moves every gathered row through memory five times (gather, score, two
gradient products, scatter). The op (``torch_w2v/csrc/sgns_cpu.cpp``) reads each touched row
once and writes it once: for each block, in parallel over the ``workers`` threads, it scores
the block's context words against its targets, then applies the SGD step to the rows at once,
as pWord2Vec / HogBatch do. Each block's update lands before the next block is scored, so no
``update_cap`` is needed. Threads write shared rows without locks ("Hogwild", as word2vec and
gensim do): with more than one thread the result varies at rounding level from run to run;
with one it is bit-for-bit reproducible.

The op is built on first use (:mod:`torch_w2v.ops`); where it cannot be, this backend is
unavailable and ``step="auto"`` takes the batched one.
"""
from __future__ import annotations

import threading

import torch

from .. import ops
from .base import Backend

__all__ = ["CpuFused"]

_fake_registered = threading.Lock()
_registered: list = []


def _register_fake() -> None:
    """Shapes for tracing (torch.compile, opcheck): the op returns a 0-d float64 loss."""
    with _fake_registered:
        if _registered:
            return

        @torch.library.register_fake("torch_w2v::sgns_block_step")
        def _(input_vectors, output_vectors, contexts, context_mask, targets, target_mask, lr):
            return input_vectors.new_empty((), dtype=torch.float64)

        _registered.append(True)


class CpuFused(Backend):
    name = "fused"
    summary = "a compiled CPU op updating block by block in place; the fast CPU path"

    def unsupported(self, device, mode, params):
        if params["max_norm"] is not None:
            return "does not renormalise rows (max_norm); the batched step does"
        return super().unsupported(device, mode, params)

    def unavailable(self):
        if not ops.load():
            return f"its compiled op could not be built or loaded ({ops.unavailable_reason()})"
        _register_fake()
        return None

    def default_batch_size(self, device, corpus_words):
        """Blocks are updated one after another, so the batch only sizes the threads' work."""
        return 32_768

    def make_step(self, tables, params):
        op = torch.ops.torch_w2v.sgns_block_step
        input_vectors, output_vectors = tables.input_vectors, tables.output_vectors

        def step(batch, lr):
            loss = op(input_vectors, output_vectors, batch.contexts, batch.context_mask,
                      batch.targets, batch.target_mask, lr)
            return loss, batch.context_mask.sum()

        return step
