"""The fused CPU trainer: the compiled op ``torch.ops.torch_w2v.train_chunk``.

It consumes chunks of encoded text and does everything else in C++ (``torch_w2v/csrc/
train_cpu.cpp``), in every mode of :mod:`torch_w2v.modes`, the way word2vec's threads do:
``workers`` threads of its own take pieces of the chunk from a shared counter, and each
subsamples, draws windows and noise words, and trains one block per centre word in place
(pWord2Vec / HogBatch: each touched row read once and written once, the block's update applied
before the next block is scored, so no ``update_cap`` is needed). A thread the OS deschedules
delays only its piece, threads wait without spinning, and no process-wide thread setting is
touched. Threads write shared rows without locks ("Hogwild", as word2vec and gensim do): with
more than one the result varies a little from run to run; with one it is bit-for-bit
reproducible. Random draws follow
from the chunk's seed and each token's position, so they do not depend on the thread count.

The op is built on first use (:mod:`torch_w2v.ops`); where it cannot be, this backend is
unavailable and ``step="auto"`` takes the batched one.
"""
from __future__ import annotations

import threading

import torch

from .. import ops
from ..sampling import noise_sampler
from .base import Backend

__all__ = ["CpuFused"]

_fake_lock = threading.Lock()
_fake_registered: list = []


def _register_fake() -> None:
    """Shapes for tracing (torch.compile, opcheck): the op returns ``[loss_sum, examples,
    effective_words]``."""
    with _fake_lock:
        if _fake_registered:
            return

        @torch.library.register_fake("torch_w2v::train_chunk")
        def _(input_vectors, output_vectors, ids, *args):
            return input_vectors.new_empty((3,), dtype=torch.float64)

        _fake_registered.append(True)


class CpuFused(Backend):
    name = "fused"
    summary = "a compiled CPU op sampling and updating block by block in place; the fast CPU path"
    consumes = "chunks"
    dtypes = frozenset({"float32", "bfloat16"})
    chunk_tokens = 1 << 17  # per op call: progress, checkpoints and the lr follow chunks

    def unsupported(self, config):
        if config.max_norm is not None:
            return "does not renormalise rows (max_norm); the batched step does"
        return super().unsupported(config)

    def unavailable(self):
        if not ops.load():
            return f"its compiled op could not be built or loaded ({ops.unavailable_reason()})"
        _register_fake()
        return None

    def default_batch_size(self, device, corpus_words):
        """Training reads chunks; this only sizes the batches of a validation loss."""
        return 32_768

    def make_step(self, tables, config, distributions):
        op = torch.ops.torch_w2v.train_chunk
        mode = config.mode
        input_vectors, output_vectors = tables.input_vectors, tables.output_vectors
        keep = torch.as_tensor(distributions.keep, dtype=torch.float32)
        noise = (None, None, None)
        if mode.negative:
            values, accept, alias = noise_sampler(distributions.noise, "cpu",
                                                  config.noise_table_size).alias_form()
            noise = (values, accept.to(torch.float32), alias)
        paths = (None, None, None)
        if mode.hs:
            tree = distributions.tree
            paths = (torch.from_numpy(tree.points), torch.from_numpy(tree.codes),
                     torch.from_numpy(tree.lengths))
        lockf = distributions.lockf_on("cpu")
        settings = dict(window=config.window, negative=mode.negative,
                        cbow=not mode.skip_gram, cbow_mean=mode.cbow_mean,
                        shrink_windows=config.shrink_windows,
                        subsample_slots=config.subsampling == "percentile",
                        full_windows_only=config.full_windows_only, threads=config.workers)

        def step(chunk, lr_start, lr_end):
            totals = op(input_vectors, output_vectors, torch.from_numpy(chunk.ids),
                        torch.from_numpy(chunk.sentence), keep, *noise, *paths, lockf,
                        seed=chunk.seed, lr_start=lr_start, lr_end=lr_end, **settings)
            return totals[0], totals[1].long(), totals[2].long()

        return step
