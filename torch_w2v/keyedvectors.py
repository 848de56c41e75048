"""Export trained vectors as a real ``gensim.models.KeyedVectors``, new or updated in place.

Examples
--------
>>> import numpy as np
>>> from torch_w2v.vocab import Vocabulary
>>> kv = to_keyed_vectors(Vocabulary(["a", "b"], [3, 2]), np.eye(2, dtype=np.float32))
>>> kv.index_to_key, int(kv.get_vecattr("a", "count"))
(['a', 'b'], 3)
>>> same = update_keyed_vectors(kv, Vocabulary(["a", "b", "c"], [3, 2, 1]),
...                             np.ones((3, 2), np.float32))
>>> same is kv, len(kv), kv.most_similar("a", topn=1)[0][1] > 0.99
(True, 3, True)
"""
from __future__ import annotations

import numpy as np
from gensim.models import KeyedVectors

__all__ = ["to_keyed_vectors", "update_keyed_vectors", "vocabulary_of"]


def to_keyed_vectors(vocab, vectors) -> KeyedVectors:
    """Build KeyedVectors holding ``vectors`` (float32, one row per word of ``vocab``, in the
    vocabulary's order, so frequency-sorted ids keep ``restrict_vocab`` meaning "most frequent")
    with each word's corpus ``count`` set (``save_word2vec_format(fvocab=...)`` writes it)."""
    vectors = np.asarray(vectors)
    return update_keyed_vectors(KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32),
                                vocab, vectors)


def update_keyed_vectors(kv: KeyedVectors, vocab, vectors, tree=None) -> KeyedVectors:
    """Make ``kv`` hold ``vocab`` and ``vectors``, in place (whoever holds ``kv`` sees the new
    words and vectors); with ``tree`` (a :class:`~torch_w2v.vocab.HuffmanTree`), each word's
    ``code`` and ``point`` as gensim stores them. Returns ``kv``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape[0] != len(vocab):
        raise ValueError(f"{vectors.shape[0]} vectors for a vocabulary of {len(vocab)} words")
    kv.vector_size = vectors.shape[1]
    kv.vectors = vectors
    kv.index_to_key = list(vocab.index_to_key)
    kv.key_to_index = dict(vocab.key_to_index)
    kv.norms = None  # gensim caches the norms: they belong to the old vectors
    kv.expandos = {}
    kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
    kv.expandos["count"][:] = vocab.counts
    if tree is not None:  # gensim's per-word Huffman code and inner nodes (hierarchical softmax)
        kv.expandos["code"] = np.array(
            [tree.codes[w, :n].astype(np.uint8) for w, n in enumerate(tree.lengths)] + [None],
            dtype=object)[:-1]
        kv.expandos["point"] = np.array(
            [tree.points[w, :n].astype(np.uint32) for w, n in enumerate(tree.lengths)] + [None],
            dtype=object)[:-1]
    return kv


def vocabulary_of(kv: KeyedVectors, with_tree: bool = False):
    """The :class:`~torch_w2v.vocab.Vocabulary` ``kv`` holds (its words and ``count``s), or
    None when it holds no counts (vectors read from a word2vec file); ``with_tree``: with the
    Huffman tree of its words' ``point``/``code`` (gensim's), where it holds them."""
    from .vocab import HuffmanTree, Vocabulary

    expandos = getattr(kv, "expandos", None) or {}
    counts = expandos.get("count")
    if counts is None or len(counts) != len(kv.index_to_key):
        return None
    tree = None
    points, codes = expandos.get("point"), expandos.get("code")
    if with_tree and points is not None and codes is not None and len(points) == len(counts):
        tree = HuffmanTree.from_paths(list(points), list(codes))
    return Vocabulary(list(kv.index_to_key), np.asarray(counts, dtype=np.int64),
                      dict(kv.key_to_index), tree)
