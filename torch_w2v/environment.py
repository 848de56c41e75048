"""Settings read from environment variables, checked like parameters.

Examples
--------
>>> import os
>>> os.environ["TORCH_W2V_EXAMPLE_TIMEOUT"] = "2.5"
>>> seconds("TORCH_W2V_EXAMPLE_TIMEOUT", 300.0)
2.5
>>> seconds("TORCH_W2V_UNSET_TIMEOUT", 300.0)
300.0
"""
from __future__ import annotations

import os

__all__ = ["seconds"]


def seconds(name: str, default: float) -> float:
    """``$name`` as a number of seconds, or ``default`` where it is unset or empty.

    Raises
    ------
    ValueError
        If it is set to anything but a number > 0 (the message names the variable).
    """
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0:
        raise ValueError(f"{name}={value!r}: give a number of seconds > 0")
    return number
