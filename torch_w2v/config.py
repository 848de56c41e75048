"""The resolved settings of one training run: what samplers, backends and the loop read.

Raw parameters (:mod:`torch_w2v.params`) say what a user asked for; a :class:`TrainingConfig`
says what a run does: the device ``"auto"`` chose, the backend ``step="auto"`` chose, the
training mode, the thread count, the noise sampler's table size or none. It is built once, by
the run, from validated parameters; nothing below the run reads raw parameters.

Examples
--------
>>> from torch_w2v.params import params_of
>>> params = {p.name: p.default for p in params_of("estimator")}
>>> config = TrainingConfig.from_params({**params, "device": "cpu", "step": "batched"})
>>> str(config.device), config.backend.name, str(config.mode)
('cpu', 'batched', 'skip-gram, negative sampling')
>>> config.batch_size_for(corpus_words=64_000)
1024
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .modes import Mode
from .params import resolve_device, resolve_workers

__all__ = ["TrainingConfig"]


@dataclass(frozen=True)
class TrainingConfig:
    """What a run trains and how (see the module docstring).

    Attributes
    ----------
    mode : Mode
        Skip-gram or CBOW, negative sampling and/or hierarchical softmax.
    vector_size, window, epochs, seed : int
    alpha, min_alpha : float
        The learning rate falls linearly from ``alpha`` to ``min_alpha``.
    shrink_windows, full_windows_only : bool
    sample, ns_exponent : float
    subsampling : {"word2vec", "percentile"}
    subsample_percentile : float
    noise_table_size : int or None
        Entries of the tutorial's noise table, or None for the exact alias sampler.
    min_count, max_vocab_size, max_final_vocab : int or None
    sorted_vocab : bool
    trim_rule : callable or None
    device : torch.device
    dtype : {"float32", "bfloat16"}
        The tables' storage.
    backend : torch_w2v.backends.Backend
    workers : int
        Threads of the fused CPU step (every core when not given).
    distributed : bool
        Train data-parallel with the other ranks (:mod:`torch_w2v.topology`).
    batch_size : int or None
        As given (:meth:`batch_size_for` resolves the default).
    update_cap, max_norm : float or None
    optimizer : str
    callbacks : tuple
    progress : bool or None
    checkpoint_dir : str or None
    checkpoint_every : int or None
    """

    mode: Mode
    vector_size: int
    window: int
    epochs: int
    seed: int
    alpha: float
    min_alpha: float
    shrink_windows: bool
    full_windows_only: bool
    sample: float
    ns_exponent: float
    subsampling: str
    subsample_percentile: float
    noise_table_size: int | None
    min_count: int
    max_vocab_size: int | None
    max_final_vocab: int | None
    sorted_vocab: bool
    trim_rule: object
    device: object
    dtype: str
    backend: object
    workers: int
    distributed: bool
    batch_size: int | None
    update_cap: float | None
    max_norm: float | None
    optimizer: str
    callbacks: tuple
    progress: bool | None
    checkpoint_dir: str | None
    checkpoint_every: int | None

    @classmethod
    def from_params(cls, params: dict) -> TrainingConfig:
        """Resolve validated :class:`~torch_w2v.TorchWord2Vec` parameters: the device, the
        backend (built or loaded here: benchmarks call this before they start a clock), the
        mode and the thread count.

        Raises
        ------
        ValueError
            If no backend (or not the one named by ``step``) trains these parameters here.
        """
        from .backends import select_backend

        p = params
        mode = Mode.from_params(p)
        device = resolve_device(p["device"])
        table = p["noise_table_size"] if p["noise_sampler"] == "table" else None
        checkpoint_dir = p["checkpoint_dir"]
        config = cls(
            mode=mode, vector_size=p["vector_size"], window=p["window"], epochs=p["epochs"],
            seed=p["seed"], alpha=p["alpha"], min_alpha=p["min_alpha"],
            shrink_windows=p["shrink_windows"], full_windows_only=p["full_windows_only"],
            sample=p["sample"], ns_exponent=p["ns_exponent"], subsampling=p["subsampling"],
            subsample_percentile=p["subsample_percentile"], noise_table_size=table,
            min_count=p["min_count"], max_vocab_size=p["max_vocab_size"],
            max_final_vocab=p["max_final_vocab"], sorted_vocab=bool(p["sorted_vocab"]),
            trim_rule=p["trim_rule"], device=device, dtype=p["dtype"], backend=None,
            workers=resolve_workers(p["workers"]), distributed=p["distributed"],
            batch_size=p["batch_size"],
            update_cap=p["update_cap"], max_norm=p["max_norm"], optimizer=p["optimizer"],
            callbacks=tuple(p["callbacks"]), progress=p["progress"],
            checkpoint_dir=None if checkpoint_dir is None else os.fspath(checkpoint_dir),
            checkpoint_every=p["checkpoint_every"])
        if config.distributed and config.dtype != "float32":
            raise ValueError(f"dtype={config.dtype!r} trains in one process only: distributed "
                             "training merges float32 tables; use dtype='float32'")
        backend = select_backend(p["step"], config)
        return config.replace(backend=backend)

    @property
    def table_dtype(self) -> torch.dtype:
        """The tables' ``torch`` dtype."""
        return getattr(torch, self.dtype)

    def replace(self, **changes) -> TrainingConfig:
        """A copy with ``changes`` (the config itself never changes)."""
        from dataclasses import replace

        return replace(self, **changes)

    def batch_size_for(self, corpus_words: int) -> int:
        """Pairs per batch: as given, or the backend's default for a corpus this size."""
        return self.batch_size or self.backend.default_batch_size(self.device, corpus_words)

    @property
    def consumes_chunks(self) -> bool:
        """Whether the backend samples chunks of text itself (else the run samples batches)."""
        return self.backend is not None and self.backend.consumes == "chunks"
