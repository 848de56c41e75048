"""torch_w2v: word2vec (skip-gram, negative sampling) in PyTorch, as a scikit-learn estimator
that exports gensim ``KeyedVectors``.

>>> from torch_w2v import TorchWord2Vec
>>> from gensim.test.utils import common_texts
>>> wv = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).fit(common_texts).wv
>>> len(wv)
12
"""
from .callbacks import Callback
from .corpus import CorpusFile
from .estimator import TorchWord2Vec

__version__ = "0.1.0"
__all__ = ["TorchWord2Vec", "Callback", "CorpusFile", "load", "__version__"]


def load(path) -> TorchWord2Vec:
    """Load a model saved with :meth:`TorchWord2Vec.save` (never runs code from the file)."""
    return TorchWord2Vec.load(path)
