"""torch_w2v: word2vec (skip-gram or CBOW; negative sampling and/or hierarchical softmax) in
PyTorch, as a scikit-learn estimator that exports gensim ``KeyedVectors``, and as a drop-in
``Word2Vec`` with gensim's own interface.

>>> from torch_w2v import TorchWord2Vec
>>> from gensim.test.utils import common_texts
>>> wv = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).fit(common_texts).wv
>>> len(wv)
12
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers and the API docs; at run time see __getattr__
    from .callbacks import Callback
    from .corpus import CorpusFile
    from .estimator import TorchWord2Vec
    from .gensim_api import Word2Vec

from ._version import __version__

__all__ = ["Callback", "CorpusFile", "TorchWord2Vec", "Word2Vec", "__version__", "load"]

# imported on first use, so that ``torch-w2v --help`` and light tools need not import torch
_LAZY = {"Callback": ".callbacks", "CorpusFile": ".corpus", "TorchWord2Vec": ".estimator",
         "Word2Vec": ".gensim_api"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))


def load(path, mmap=None):
    """Load any model file torch_w2v reads, as the class that fits it: a
    :class:`TorchWord2Vec` or a :class:`Word2Vec` saved by torch_w2v, or a model saved by
    gensim's ``Word2Vec.save`` (as a :class:`Word2Vec`). Never runs code from the file, never
    trains. ``mmap`` applies to gensim's side files only."""
    from . import gensim_models, modelfile
    from .estimator import KNOWN_PARAMS, TorchWord2Vec
    from .gensim_api import Word2Vec

    if gensim_models.is_pickle(path):
        return Word2Vec.load(path, mmap=mmap)
    saved = modelfile.load_model(path, {"TorchWord2Vec": KNOWN_PARAMS,
                                        "Word2Vec": Word2Vec.KNOWN_PARAMS})
    return (Word2Vec if saved.owner == "Word2Vec" else TorchWord2Vec)._from_saved(saved)
