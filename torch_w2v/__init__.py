"""torch_w2v: word2vec (skip-gram or CBOW; negative sampling and/or hierarchical softmax) in
PyTorch, as a scikit-learn estimator that exports gensim ``KeyedVectors``, and as a drop-in
``Word2Vec`` with gensim's own interface.

>>> from torch_w2v import TorchWord2Vec
>>> from gensim.test.utils import common_texts
>>> wv = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).fit(common_texts).wv
>>> len(wv)
12
"""
from .callbacks import Callback
from .corpus import CorpusFile
from .estimator import TorchWord2Vec
from .gensim_api import Word2Vec

__version__ = "0.1.0"
__all__ = ["Callback", "CorpusFile", "TorchWord2Vec", "Word2Vec", "__version__", "load"]


def load(path) -> TorchWord2Vec:
    """Load a model saved with :meth:`TorchWord2Vec.save` (never runs code from the file)."""
    return TorchWord2Vec.load(path)
