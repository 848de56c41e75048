"""Export trained vectors as a real ``gensim.models.KeyedVectors``.

Examples
--------
>>> import numpy as np
>>> from torch_w2v.vocab import Vocabulary
>>> kv = to_keyed_vectors(Vocabulary(["a", "b"], [3, 2]), np.eye(2, dtype=np.float32))
>>> kv.index_to_key, int(kv.get_vecattr("a", "count"))
(['a', 'b'], 3)
"""
from __future__ import annotations

import numpy as np
from gensim.models import KeyedVectors

__all__ = ["to_keyed_vectors"]


def to_keyed_vectors(vocab, vectors) -> KeyedVectors:
    """Build KeyedVectors holding ``vectors`` (float32, one row per word of ``vocab``, in the
    vocabulary's order, so frequency-sorted ids keep ``restrict_vocab`` meaning "most frequent")
    with each word's corpus ``count`` set (``save_word2vec_format(fvocab=...)`` writes it)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape[0] != len(vocab):
        raise ValueError(f"{vectors.shape[0]} vectors for a vocabulary of {len(vocab)} words")
    kv = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
    kv.vectors = vectors
    kv.index_to_key = list(vocab.index_to_key)
    kv.key_to_index = dict(vocab.key_to_index)
    kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
    kv.expandos["count"][:] = vocab.counts
    return kv
