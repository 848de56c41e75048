"""Reading a pickle without running code from it: an allow-list unpickler.

A pickle is a program: every global it names is imported and may be called. This unpickler
resolves a global only if the caller's allow-list maps it, to the object the caller chose (a
stand-in record, a NumPy array constructor); any other global is refused with an
:class:`UnsafePickle` naming it, before anything from the file is called. This is
``torch.load(weights_only=True)``'s approach, for the globals gensim's model files need
(:mod:`torch_w2v.gensim_models` holds that list).

Examples
--------
>>> import io, os, pickle
>>> class Boom:
...     def __reduce__(self):
...         return (os.system, ("echo pwned",))
>>> load_pickle(io.BytesIO(pickle.dumps({"a": [1, 2]})), allowed={}, source="ok")
{'a': [1, 2]}
>>> try:
...     load_pickle(io.BytesIO(pickle.dumps(Boom())), allowed={}, source="evil.model")
... except UnsafePickle as refused:
...     print(refused)  # doctest: +ELLIPSIS
evil.model: refused: the pickle asks for the global posix.system, which no model file ...
"""
from __future__ import annotations

import pickle

__all__ = ["UnsafePickle", "load_pickle"]

# Python 2's and NumPy 1's module names, as NumPy 2 and Python 3 spell them
_RENAMED_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg",
                    "numpy.core.multiarray": "numpy._core.multiarray",
                    "numpy.core.numeric": "numpy._core.numeric"}


class UnsafePickle(ValueError, pickle.UnpicklingError):
    """A pickle that names a global outside the allow-list (nothing from it ran)."""


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: dict, source: str, advice: str):
        super().__init__(file, encoding="latin1")  # Python 2 pickles' str, as gensim reads them
        self.allowed = allowed
        self.source = source
        self.advice = advice

    def find_class(self, module: str, name: str):
        module = _RENAMED_MODULES.get(module, module)
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise UnsafePickle(
                f"{self.source}: refused: the pickle asks for the global {module}.{name}, "
                f"which {self.advice}; torch_w2v runs no code from files (nothing was "
                "run)") from None

    def persistent_load(self, pid):
        raise UnsafePickle(f"{self.source}: refused: the pickle refers to an outside object "
                           f"({pid!r}); a model file is self-contained")


def load_pickle(stream, allowed: dict, source: str, advice: str = "no model file needs"):
    """Unpickle ``stream`` resolving only the globals in ``allowed``.

    Parameters
    ----------
    stream : binary file object
    allowed : dict
        ``(module, name)`` → the object to use for that global (Python 3 / NumPy 2 module
        names: ``builtins``, ``copyreg``, ``numpy._core.multiarray``).
    source : str
        The file's name, for messages.
    advice : str
        What a refused global is, for messages ("which {advice}").

    Raises
    ------
    UnsafePickle
        If the pickle names a global outside ``allowed`` or an outside object.
    ValueError
        If the pickle is damaged or a constructor refuses its arguments (the message names
        ``source``).
    """
    try:
        return _AllowListUnpickler(stream, allowed, source, advice).load()
    except UnsafePickle:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError,
            IndexError, KeyError, UnicodeDecodeError) as err:
        raise ValueError(f"{source}: not a readable pickle ({type(err).__name__}: {err}); a "
                         "truncated or damaged file?") from err
