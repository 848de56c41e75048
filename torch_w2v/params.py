"""Validation of :class:`~torch_w2v.TorchWord2Vec`'s parameters, each with a clear error.

Examples
--------
>>> validate_params({"vector_size": 0})
Traceback (most recent call last):
...
ValueError: vector_size must be an integer >= 1, got 0
"""
from __future__ import annotations

import math
import numbers

__all__ = ["CODE_PARAMS", "KnownParameters", "plain_params", "resolve_device",
           "resolve_workers", "unknown_parameter", "validate_params"]

# parameters that hold code: never written to files, never given on a command line
CODE_PARAMS = ("callbacks", "trim_rule")


def _int(low=None, allow_none=False, below=None):
    def check(name, value):
        if value is None and allow_none:
            return
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not ok or (low is not None and value < low) or (below is not None and value >= below):
            bound = f" >= {low}" if low is not None else ""
            bound += f" and < {below}" if below is not None else ""
            none = " or None" if allow_none else ""
            raise ValueError(f"{name} must be an integer{bound}{none}, got {value!r}")
    return check


def _real(low=None, low_open=False, high=None):
    def check(name, value):
        ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
              and math.isfinite(value))
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            rel = ">" if low_open else ">="
            bound = f" {rel} {low}" if low is not None else ""
            bound += f" and <= {high}" if high is not None else ""
            raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return check


def _bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def _optional_bool(name, value):
    if value is not None:
        _bool(name, value)


def _flag(name, value):
    """gensim's 0/1 switches (``sg``, ``hs``, ``cbow_mean``); True and False work too."""
    if value not in (0, 1) or isinstance(value, float):
        raise ValueError(f"{name} must be 0 or 1, got {value!r}")


def _choice(*options):
    def check(name, value):
        if value not in options:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, "
                             f"got {value!r}")
    return check


def _optional_positive(name, value):
    if value is not None:
        _real(0, low_open=True)(name, value)


def _optional_path(name, value):
    if value is not None and not isinstance(value, str) and not hasattr(value, "__fspath__"):
        raise ValueError(f"{name} must be a directory path or None, got {value!r}")


def _callable_or_none(name, value):
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a callable(word, count, min_count) or None, "
                         f"got {value!r}")


def _callbacks(name, value):
    from .callbacks import Callback

    if not isinstance(value, (list, tuple)) or not all(isinstance(c, Callback) for c in value):
        raise ValueError(f"{name} must be a list of torch_w2v.Callback instances, got {value!r}")


def _device(name, value):
    resolve_device(value)


def _step(name, value):
    from .backends import backend_names

    _choice("auto", *backend_names())(name, value)


_CHECKS = {
    "vector_size": _int(1),
    "window": _int(1),
    "min_count": _int(1),
    "max_vocab_size": _int(1, allow_none=True),
    "max_final_vocab": _int(1, allow_none=True),
    "sample": _real(0),
    "sg": _flag,
    "hs": _flag,
    "negative": _int(0),
    "cbow_mean": _flag,
    "ns_exponent": _real(),
    "alpha": _real(0, low_open=True),
    "min_alpha": _real(0),
    "epochs": _int(1),
    "seed": _int(0, below=2 ** 63),
    "workers": _int(1, allow_none=True),
    "shrink_windows": _bool,
    "sorted_vocab": _bool,
    "trim_rule": _callable_or_none,
    "batch_size": _int(1, allow_none=True),
    "step": _step,
    "update_cap": _optional_positive,
    "device": _device,
    "callbacks": _callbacks,
    "progress": _optional_bool,
    "checkpoint_dir": _optional_path,
    "checkpoint_every": _int(1, allow_none=True),
    "optimizer": _choice("sgd", "adam", "sparse_adam"),
    "max_norm": _optional_positive,
    "subsampling": _choice("word2vec", "percentile"),
    "subsample_percentile": _real(0, high=100),
    "noise_sampler": _choice("alias", "table"),
    "noise_table_size": _int(1),
    "full_windows_only": _bool,
}


def validate_params(params: dict) -> None:
    """Raise ``ValueError`` for the first parameter in ``params`` that makes no sense."""
    for name, value in params.items():
        _CHECKS[name](name, value)
    if params.get("min_alpha", 0) > params.get("alpha", float("inf")):
        raise ValueError(
            f"min_alpha ({params['min_alpha']}) must not exceed alpha ({params['alpha']})"
        )
    if params.get("negative", 1) == 0 and not params.get("hs", 0):
        raise ValueError("negative=0 and hs=0 leave nothing to train: set negative > 0 "
                         "(negative sampling), hs=1 (hierarchical softmax), or both")


def plain_params(params: dict) -> dict:
    """``params`` with NumPy scalars (``np.int64(20)``, ``np.float32(0.5)``) as the Python
    numbers they hold, so that training and model files see plain ints and floats.

    Examples
    --------
    >>> import numpy as np
    >>> plain_params({"vector_size": np.int64(20), "alpha": np.float32(0.5)})
    {'vector_size': 20, 'alpha': 0.5}
    """
    import numpy as np

    return {name: value.item() if isinstance(value, np.generic) else value
            for name, value in params.items()}


def resolve_device(device):
    """``"auto"`` → CUDA when available, else CPU; anything else must be a valid torch device."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r} ({err})"
        ) from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}: "
                         f"torch_w2v trains on CPUs and CUDA GPUs only")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available here; use 'cpu' or 'auto'")
    return resolved


def resolve_workers(workers) -> int:
    """``None`` → every core; anything else as given."""
    import os

    return workers or os.cpu_count() or 1


def unknown_parameter(owner: str, name: str, known) -> TypeError:
    """A ``TypeError`` for an unknown keyword argument, naming the closest known one.

    Examples
    --------
    >>> str(unknown_parameter("TorchWord2Vec", "size", ["vector_size", "window"]))
    "TorchWord2Vec() got an unexpected keyword argument 'size'; did you mean 'vector_size'?"
    """
    import difflib

    renamed = {"size": "vector_size", "iter": "epochs"}.get(name)  # gensim 3's names
    if renamed in known:
        close = [renamed]
    else:
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else (
        "; the parameters are: " + ", ".join(sorted(known)))
    return TypeError(f"{owner}() got an unexpected keyword argument {name!r}{hint}")


class KnownParameters:
    """Mixin: an unknown keyword argument to the constructor raises a ``TypeError`` that names
    the closest known parameter (``__init__`` itself must only assign, for scikit-learn)."""

    def __new__(cls, *args, **kwargs):
        import inspect

        known = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
        for name in kwargs:
            if name not in known:
                raise unknown_parameter(cls.__name__, name, known)
        return super().__new__(cls)
