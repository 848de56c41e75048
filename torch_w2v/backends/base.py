"""The backend protocol: how a run trains one batch.

A backend is a stateless description of one way of running the update step. It declares the
devices and training modes it supports, whether it can run here at all (a compiled op may not
build), its default batch size, and makes the step function that a run calls once per batch::

    step = backend.make_step(tables, params)
    loss_sum, pairs = step(batch, lr)    # 0-d tensors on the training device, no host sync

``tables`` is a :class:`torch_w2v.model.SkipGramNS`, updated in place; ``batch`` a
:class:`torch_w2v.sampling.Batch`; ``loss_sum`` the summed loss of the batch's pairs before the
update (:func:`torch_w2v.model.logit_losses`), ``pairs`` how many real pairs it held.
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["Backend", "Step", "SKIPGRAM_NEGATIVE"]

Step = Callable[["object", float], tuple[torch.Tensor, torch.Tensor]]

# the training modes a run can ask for; TorchWord2Vec trains skip-gram with negative sampling
SKIPGRAM_NEGATIVE = "skip-gram, negative sampling"


class Backend:
    """Base class of backends; subclasses set the class attributes and :meth:`make_step`.

    Attributes
    ----------
    name : str
        The ``step=`` value that selects it.
    summary : str
        One line for ``--help`` and error messages.
    devices : frozenset of str
        Device types it runs on (``"cpu"``, ``"cuda"``).
    modes : frozenset of str
        Training modes it implements.
    optimizers : frozenset of str
        ``optimizer=`` values it implements.
    """

    name: str = ""
    summary: str = ""
    devices: frozenset = frozenset({"cpu"})
    modes: frozenset = frozenset({SKIPGRAM_NEGATIVE})
    optimizers: frozenset = frozenset({"sgd"})

    def unsupported(self, device: torch.device, mode: str, params: dict) -> str | None:
        """Why this backend cannot train ``mode`` with ``params`` on ``device``, or None."""
        if device.type not in self.devices:
            return f"runs on {' and '.join(sorted(self.devices))} only, not on {device}"
        if mode not in self.modes:
            return f"does not train {mode}"
        if params["optimizer"] not in self.optimizers:
            return (f"does not implement optimizer={params['optimizer']!r} (only "
                    + ", ".join(map(repr, sorted(self.optimizers))) + ")")
        return None

    def unavailable(self) -> str | None:
        """Why this backend cannot run on this machine (e.g. its op does not build), or None.
        May build or load what the backend needs: call it outside any timed region."""
        return None

    def default_batch_size(self, device: torch.device, corpus_words: int) -> int:
        """Pairs per step when ``batch_size`` is not given."""
        raise NotImplementedError

    def make_step(self, tables, params: dict) -> Step:
        """The step function updating ``tables`` in place (see the module docstring)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<backend {self.name!r}: {self.summary}>"
