"""The backend protocol: how a run trains.

A backend is a stateless description of one way of running the update step. It declares the
devices and training modes (:class:`torch_w2v.modes.Mode`) it supports, whether it can run here
at all (a compiled op may not build), what it consumes, its default batch size, and makes the
step function that a run calls once per item::

    step = backend.make_step(tables, config, distributions)
    loss_sum, examples, effective = step(item, lr_start, lr_end)   # no host sync

``tables`` is a :class:`torch_w2v.model.EmbeddingTables`, updated in place; ``config`` the
run's :class:`torch_w2v.config.TrainingConfig` (a backend never reads raw parameters);
``distributions`` the run's :class:`torch_w2v.sampling.WordDistributions`. An item is a
:class:`torch_w2v.sampling.Batch` of sampled blocks for a backend that consumes ``"batches"``
(the run samples them), or a :class:`torch_w2v.sampling.Chunk` of encoded text for one that
consumes ``"chunks"`` (it samples itself). The learning rate falls linearly from ``lr_start``
to ``lr_end`` over the item; ``loss_sum`` is the summed loss of the item's pairs before their
update (:func:`torch_w2v.model.logit_losses`), ``examples`` how many examples it held
((context, centre) pairs for skip-gram, blocks for CBOW), ``effective`` how many in-vocabulary
words of it subsampling kept (gensim's "effective words"), as 0-d tensors or ints. The mode
is ``config.mode``.
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["Backend", "Step"]

Step = Callable[[object, float, float], tuple]


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
    architectures : frozenset of str
        ``"skip-gram"``, ``"cbow"``: the architectures it trains.
    objectives : frozenset of str
        ``"negative"``, ``"hierarchical"``: the output layers it trains (one or both at once).
    optimizers : frozenset of str
        ``optimizer=`` values it implements.
    dtypes : frozenset of str
        Table storage (``dtype=``) it trains.
    consumes : {"batches", "chunks"}
        Sampled batches, or chunks of encoded text that it samples itself.
    chunk_tokens : int or None
        Tokens per chunk, for a backend that consumes chunks.
    """

    name: str = ""
    summary: str = ""
    devices: frozenset = frozenset({"cpu"})
    architectures: frozenset = frozenset({"skip-gram", "cbow"})
    objectives: frozenset = frozenset({"negative", "hierarchical"})
    optimizers: frozenset = frozenset({"sgd"})
    dtypes: frozenset = frozenset({"float32"})
    consumes: str = "batches"
    chunk_tokens: int | None = None

    def unsupported(self, config) -> str | None:
        """Why this backend cannot train ``config`` (its ``device``, ``mode``, ``dtype``,
        ``optimizer`` and ``max_norm``), or None."""
        device, mode = config.device, config.mode
        if device.type not in self.devices:
            return f"runs on {' and '.join(sorted(self.devices))} only, not on {device}"
        if mode.architecture not in self.architectures or not mode.objectives <= self.objectives:
            return f"does not train {mode}"
        if config.dtype not in self.dtypes:
            return (f"trains {' and '.join(sorted(self.dtypes))} tables only, not "
                    f"dtype={config.dtype!r}")
        if config.optimizer not in self.optimizers:
            return (f"does not implement optimizer={config.optimizer!r} (only "
                    + ", ".join(map(repr, sorted(self.optimizers))) + ")")
        return None

    def unavailable(self) -> str | None:
        """Why this backend cannot run on this machine (e.g. its op does not build), or None.
        May build or load what the backend needs: call it outside any timed region."""
        return None

    def default_batch_size(self, device: torch.device, corpus_words: int) -> int:
        """Pairs per batch when ``batch_size`` is not given (for a backend that consumes
        chunks, the batches of the validation loss)."""
        raise NotImplementedError

    def make_step(self, tables, config, distributions) -> Step:
        """The step function updating ``tables`` in place (see the module docstring)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<backend {self.name!r}: {self.summary}>"
