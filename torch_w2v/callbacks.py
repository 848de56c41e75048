"""Training callbacks: subclass :class:`Callback` and override the hooks you need.

Every hook receives the run first: a :class:`torch_w2v.run.TrainingRun`, whose documented
attributes hold what training has so far (``run.params``, ``run.vocab``, ``run.tables`` with the
live vectors, ``run.position``, ``run.history``, ``run.epoch``, ``run.device``, ``run.backend``;
``run.keyed_vectors()`` copies the vectors into a gensim ``KeyedVectors``). The estimator itself
is not touched until training succeeds. ``logs`` is the epoch's ``history_`` entry; a callback
may add keys to it.

Examples
--------
>>> class PrintLoss(Callback):
...     def on_epoch_end(self, run, epoch, logs):
...         print(f"epoch {epoch}: loss {logs['loss']:.3f}, {len(run.vocab)} words")
>>> from gensim.test.utils import common_texts
>>> from torch_w2v import TorchWord2Vec
>>> _ = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False,
...                   callbacks=[PrintLoss()]).fit(common_texts)  # doctest: +ELLIPSIS
epoch 1: loss ..., 12 words
"""
from __future__ import annotations

import logging

import torch
from tqdm.auto import tqdm

__all__ = ["Callback", "NearestNeighbours", "ValidationLoss", "held_out_loss"]

logger = logging.getLogger("torch_w2v")


class Callback:
    """Base class of training callbacks; every hook does nothing by default."""

    def on_train_begin(self, run):
        """Called once, after the vocabulary and tables are built, before the first epoch."""

    def on_epoch_begin(self, run, epoch: int):
        """Called before epoch ``epoch`` (counted from 1)."""

    def on_chunk_end(self, run, position):
        """Called after every sampling chunk (where a checkpoint could resume), with the run's
        :class:`~torch_w2v.train.Position`."""

    def on_epoch_end(self, run, epoch: int, logs: dict):
        """Called after each epoch with that epoch's history entry."""

    def on_train_end(self, run, history: list):
        """Called once when training ends, with the run's whole history."""


class ValidationLoss(Callback):
    """Adds ``val_loss`` to each epoch's history: the mean loss per example on held-out text, no
    gradient. Made by ``fit(X, validation=held_out)``; the noise words are drawn from the same
    seed every epoch, so the numbers compare across epochs."""

    def __init__(self, corpus, sampler):
        self.corpus = corpus
        self.sampler = sampler
        self.seed = sampler.generator.initial_seed()

    def on_epoch_end(self, run, epoch, logs):
        self.sampler.generator.manual_seed(self.seed)
        logs["val_loss"] = held_out_loss(run.tables, self.sampler, self.corpus, run.mode)
        logger.info("epoch %d: validation loss %.4f", epoch, logs["val_loss"])


def held_out_loss(tables, sampler, corpus, mode) -> float:
    """Mean loss per example of ``tables`` on the batches ``sampler`` draws from ``corpus``
    (no gradient, nothing updated); NaN if the corpus gives no example."""
    total = examples = 0.0
    with torch.no_grad():
        for b in sampler.epoch(corpus):
            loss, n = tables.loss_sum(b.contexts, b.context_mask, b.targets, b.target_mask,
                                      mode=mode, labels=b.labels)
            total += float(loss)
            examples += float(n)
    return total / examples if examples else float("nan")


class NearestNeighbours(Callback):
    """After each epoch, the ``topn`` nearest words (cosine) of each of ``words``: added to the
    history entry (``neighbours``), logged at INFO and printed above the progress bar, so a
    person can watch the vectors improve (the original tutorial's "test words").

    Examples
    --------
    >>> from gensim.test.utils import common_texts
    >>> from torch_w2v import TorchWord2Vec
    >>> est = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False,
    ...                     callbacks=[NearestNeighbours(["graph"], topn=2)]).fit(common_texts)
    >>> [len(n) for n in est.history_[0]["neighbours"].values()]
    [2]
    """

    def __init__(self, words, topn: int = 5):
        self.words = list(words)
        self.topn = topn

    def on_epoch_end(self, run, epoch, logs):
        vectors = run.tables.input_vectors.detach().float()
        unit = vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)
        words = run.vocab.index_to_key
        found = {}
        for word in self.words:
            index = run.vocab.key_to_index.get(word)
            if index is None:
                continue
            sims = unit @ unit[index]
            sims[index] = -2.0
            top = torch.topk(sims, min(self.topn, len(words) - 1))
            found[word] = [(words[i], round(float(s), 3)) for s, i in zip(*top)]
        logs["neighbours"] = found
        lines = [f"{w}: " + ", ".join(n for n, _ in near) for w, near in found.items()]
        for line in lines:
            logger.info("epoch %d neighbours %s", epoch, line)
        if run.progress:
            for line in lines:
                tqdm.write(f"  epoch {epoch} | {line}")
