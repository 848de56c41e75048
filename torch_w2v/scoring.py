"""gensim's ``Word2Vec.score``: the log probability of sentences under a hierarchical-softmax
model (Taddy, "Document Classification by Inversion of Distributed Language Representations").

Each word of a sentence (words outside the vocabulary dropped, as in training) is predicted
through its Huffman path: by every other word within ``window`` (skip-gram), or by the mean or
sum of its window's vectors (CBOW); a step down the path with code ``c`` and score ``s`` adds
``log sigmoid((1 - 2c) s)``. The window is the full one (no random shrinking), as in gensim.
gensim's compiled scorer skips the terms with ``|s| >= 6`` (its lookup table's range); this
computes every term exactly, as gensim's own Python reference did.

Examples
--------
>>> import numpy as np
>>> from gensim.models import KeyedVectors
>>> from torch_w2v.vocab import huffman_tree
>>> kv = KeyedVectors(2)
>>> kv.add_vectors(["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
>>> syn1 = np.zeros((2, 2), np.float32)  # zero output vectors: every step costs log 2
>>> scores = score_sentences([["a", "b"]], kv, syn1, huffman_tree(np.array([2, 1])), window=5,
...                          skip_gram=True, cbow_mean=True)
>>> np.round(scores / np.log(0.5), 3).tolist()  # two pairs, one step each
[2.0]
"""
from __future__ import annotations

import numpy as np

__all__ = ["score_sentences"]

MAX_SENTENCE = 10_000  # gensim scores the first 10,000 known words of a sentence


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def score_sentences(sentences, kv, syn1, tree, *, window: int, skip_gram: bool,
                    cbow_mean: bool, limit: int = 10 ** 6) -> np.ndarray:
    """One log probability per sentence (at most ``limit`` sentences), float32.

    Parameters
    ----------
    sentences : iterable of list of str
    kv : gensim.models.KeyedVectors
        The input vectors and the words' ids.
    syn1 : ndarray, shape (>= len(kv) - 1, d)
        Hierarchical softmax's output vectors, one row per inner node.
    tree : torch_w2v.vocab.HuffmanTree
        The words' paths (``points``, ``codes``, ``lengths``).
    window : int
    skip_gram, cbow_mean : bool
    limit : int
    """
    vectors = np.asarray(kv.vectors, dtype=np.float64)
    nodes = np.asarray(syn1, dtype=np.float64)
    sign_all, mask_all = _path_signs(tree)
    scores = []
    for sentence in sentences:
        if len(scores) >= limit:
            break
        ids = np.array([kv.key_to_index[w] for w in sentence if w in kv.key_to_index],
                       dtype=np.int64)[:MAX_SENTENCE]
        paths = nodes[tree.points[ids]]  # (n, depth, d)
        sign, mask = sign_all[ids], mask_all[ids]
        if skip_gram:
            total = _score_skip_gram(vectors[ids], paths, sign, mask, window)
        else:
            total = _score_cbow(vectors[ids], paths, sign, mask, window, cbow_mean)
        scores.append(total)
    return np.array(scores, dtype=np.float32)


def _path_signs(tree) -> tuple:
    """Each word's ``+1``/``-1`` per step of its Huffman path (code 0/1), and which steps are
    real (paths are padded to the deepest)."""
    mask = np.arange(tree.points.shape[1])[None, :] < tree.lengths[:, None]
    return 1.0 - 2.0 * tree.codes.astype(np.float64), mask


def _path_log_probability(hidden, paths, sign, mask) -> float:
    """The summed log probability of words, each predicted by its row of ``hidden`` through
    its Huffman path (``paths``: the path's node vectors, one row of nodes per word)."""
    logits = np.einsum("nd,nkd->nk", hidden, paths)
    return float((_log_sigmoid(sign * logits) * mask).sum())


def _score_skip_gram(u, paths, sign, mask, window) -> float:
    """Every word ``i`` predicted by each word ``i + o``, ``0 < |o| <= window``."""
    n, total = len(u), 0.0
    for offset in range(-window, window + 1):
        if offset == 0 or abs(offset) >= n:
            continue
        centre = np.arange(max(0, -offset), min(n, n - offset))
        total += _path_log_probability(u[centre + offset], paths[centre], sign[centre],
                                       mask[centre])
    return total


def _score_cbow(u, paths, sign, mask, window, mean) -> float:
    """Every word predicted by the sum (or mean) of its window's other words."""
    n = len(u)
    if n < 2:
        return 0.0
    cumulative = np.concatenate([np.zeros((1, u.shape[1])), np.cumsum(u, axis=0)])
    i = np.arange(n)
    lo, hi = np.maximum(i - window, 0), np.minimum(i + window + 1, n)
    hidden = cumulative[hi] - cumulative[lo] - u  # the window without the word itself
    if mean:
        hidden /= (hi - lo - 1)[:, None]
    return _path_log_probability(hidden, paths, sign, mask)


SCORE_WINDOW = 5  # every model is scored on the same pairs, whatever window it trained with


def held_out_pairs(ids: np.ndarray, sentence_lengths: np.ndarray,
                   window: int = SCORE_WINDOW) -> tuple:
    """Every ``(context, centre)`` pair of word ids within ``window`` of each other inside a
    sentence, as two arrays.

    Examples
    --------
    >>> held_out_pairs(np.array([1, 2, 3]), np.array([2, 1]), window=5)
    (array([1, 2]), array([2, 1]))
    """
    sentence = np.repeat(np.arange(len(sentence_lengths)), sentence_lengths)
    contexts, centres = [], []
    for offset in range(1, window + 1):
        same = sentence[offset:] == sentence[:-offset] if len(ids) > offset else np.zeros(0, bool)
        left, right = ids[:-offset][same], ids[offset:][same]
        contexts += [left, right]
        centres += [right, left]
    if not contexts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(contexts).astype(np.int64), np.concatenate(centres).astype(np.int64)


def mean_log_likelihood(input_vectors: np.ndarray, output_vectors: np.ndarray, mode, tree,
                        contexts: np.ndarray, centres: np.ndarray, noise: np.ndarray,
                        batch: int = 4096) -> float:
    """The mean log probability of each centre word given one context word, normalised over
    the whole vocabulary, whichever objective trained the tables.

    With a negative-sampling table: at its optimum, negative sampling's score ``s`` of a pair
    is ``log P(centre | context) - log(k noise(centre))`` (Levy and Goldberg 2014), so the
    probability it estimates is ``softmax(s + log noise)`` over the vocabulary (``noise``: the
    noise distribution it was trained with). Otherwise: hierarchical softmax's Huffman-tree
    probability, normalised by construction. Neither depends on ``negative``, ``window``,
    ``sg`` or ``cbow_mean``, so models trained with any of them compare."""
    vectors = np.asarray(input_vectors, dtype=np.float64)
    words = len(vectors)
    if mode.negative:
        table = np.asarray(output_vectors[:words], dtype=np.float64)
        log_noise = np.log(noise)
    else:
        nodes = np.asarray(output_vectors[mode.hs_offset(words):], dtype=np.float64)
        sign_all, mask_all = _path_signs(tree)
    total = 0.0
    for start in range(0, len(contexts), batch):
        u, centre = vectors[contexts[start:start + batch]], centres[start:start + batch]
        if mode.negative:
            logits = u @ table.T + log_noise
            top = logits.max(1)
            normaliser = top + np.log(np.exp(logits - top[:, None]).sum(1))
            total += float((logits[np.arange(len(u)), centre] - normaliser).sum())
        else:
            total += _path_log_probability(u, nodes[tree.points[centre]], sign_all[centre],
                                           mask_all[centre])
    return total / max(len(contexts), 1)
