"""Training callbacks: subclass :class:`Callback` and override the hooks you need.

Every hook receives the estimator being fitted first; ``logs`` is the epoch's ``history_`` entry.

Examples
--------
>>> class PrintLoss(Callback):
...     def on_epoch_end(self, estimator, epoch, logs):
...         print(f"epoch {epoch}: loss {logs['loss']:.3f}")
>>> # TorchWord2Vec(callbacks=[PrintLoss()]).fit(sentences)
"""
from __future__ import annotations

__all__ = ["Callback"]


class Callback:
    """Base class of training callbacks; every hook does nothing by default."""

    def on_train_begin(self, estimator):
        """Called once, after the vocabulary is built and before the first epoch."""

    def on_epoch_begin(self, estimator, epoch: int):
        """Called before epoch ``epoch`` (counted from 1)."""

    def on_epoch_end(self, estimator, epoch: int, logs: dict):
        """Called after each epoch with that epoch's history entry."""

    def on_train_end(self, estimator, history: list):
        """Called once when training ends, with the whole history."""
