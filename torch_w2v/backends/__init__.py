"""The backends, one module each, and the registry that picks one for a run.

======================  ===================================================================
``step=``               backend
======================  ===================================================================
``"fused_gpu"``         :mod:`.gpu_fused`: a Triton kernel, block by block, in place (CUDA)
``"fused"``             :mod:`.cpu_fused`: a compiled CPU op, block by block, in place
``"batched"``           :mod:`.batched`: tensor ops on the whole batch, any device
``"autograd"``          :mod:`.autograd`: autograd and Adam / SparseAdam (the tutorial)
======================  ===================================================================

``step="auto"`` takes the first backend of :data:`BACKENDS` that supports the device, the
training mode and the parameters, and can run here. Adding a backend is one module with a
:class:`~.base.Backend` subclass and one entry in :data:`BACKENDS`.

Examples
--------
>>> from types import SimpleNamespace
>>> import torch
>>> from torch_w2v.modes import Mode
>>> config = SimpleNamespace(device=torch.device("cpu"), mode=Mode(), optimizer="adam",
...                          max_norm=None, dtype="float32")
>>> select_backend("auto", config).name
'autograd'
>>> select_backend("fused", config)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: step='fused' cannot train these parameters: it does not implement optimizer='adam' ...
"""
from __future__ import annotations

from .autograd import Autograd
from .base import Backend
from .batched import Batched
from .cpu_fused import CpuFused
from .gpu_fused import GpuFused

__all__ = ["BACKENDS", "Backend", "backend_names", "select_backend"]

# in order of preference for step="auto"
BACKENDS = (GpuFused(), CpuFused(), Batched(), Autograd())


def backend_names() -> tuple:
    """The ``step=`` values besides ``"auto"``."""
    return tuple(backend.name for backend in BACKENDS)


def select_backend(step: str, config) -> Backend:
    """The backend that trains a run: ``step`` by name, or the first that can (``"auto"``).

    ``config`` is the run's :class:`~torch_w2v.config.TrainingConfig` (its ``device``,
    ``mode``, ``optimizer`` and ``max_norm`` decide).

    Raises
    ------
    ValueError
        If the named backend cannot train ``config`` (or, with ``"auto"``, none can).
    RuntimeError
        If the named backend cannot run on this machine (its op does not build).
    """
    if step == "auto":
        reasons = []
        for backend in BACKENDS:
            why = backend.unsupported(config) or backend.unavailable()
            if why is None:
                return backend
            reasons.append(f"{backend.name}: {why}")
        raise ValueError(f"no backend trains {config.mode} with these parameters on "
                         f"{config.device} ("
                         + "; ".join(reasons) + ")")
    backend = next((b for b in BACKENDS if b.name == step), None)
    if backend is None:
        raise ValueError(f"step must be 'auto' or one of {', '.join(map(repr, backend_names()))}"
                         f", got {step!r}")
    why = backend.unsupported(config)
    if why:
        raise ValueError(f"step={step!r} cannot train these parameters: it {why}; "
                         "use step='auto'")
    why = backend.unavailable()
    if why:
        raise RuntimeError(f"step={step!r} asked for, but {why}; use step='auto' or 'batched'")
    return backend
