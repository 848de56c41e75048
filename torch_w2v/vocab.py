"""Vocabulary: counting, trimming, frequency-sorted ids, subsampling and negative-sampling weights.

The rules follow gensim's ``Word2Vec.build_vocab`` so that a vocabulary built here has the same
words, counts and order as gensim's on the same corpus and parameters.

Examples
--------
>>> from collections import Counter
>>> vocab = build_vocab(Counter("a a a b b c".split()), min_count=2)
>>> vocab.index_to_key
['a', 'b']
>>> vocab.counts.tolist()
[3, 2]
>>> keep_probabilities(vocab.counts, sample=0).tolist()
[1.0, 1.0]
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from gensim.utils import RULE_DEFAULT, RULE_DISCARD, RULE_KEEP

__all__ = ["EmptyVocabulary", "HuffmanTree", "Vocabulary", "build_vocab", "count_words",
           "effective_min_count", "grow_vocab", "trim_decision",
           "huffman_tree", "keep_probabilities", "noise_distribution",
           "percentile_keep_probabilities"]


class EmptyVocabulary(ValueError, RuntimeError):
    """No word to train: the corpus is empty, or no word is frequent enough (a ``ValueError``;
    a ``RuntimeError`` too, as gensim raises one)."""


@dataclass
class Vocabulary:
    """Words with their counts; word ``i`` is ``index_to_key[i]``.

    Attributes
    ----------
    index_to_key : list of str
        The words, most frequent first when built with ``sorted_vocab=True``.
    counts : ndarray of int64
        Raw corpus count of each word.
    key_to_index : dict
        Inverse of ``index_to_key``.
    tree : HuffmanTree or None
        A Huffman tree the hierarchical-softmax table already follows (a model imported from
        gensim, whose heap breaks ties its own way); None: the tree is built from the counts.
    """

    index_to_key: list
    counts: np.ndarray
    key_to_index: dict = field(default_factory=dict)
    tree: HuffmanTree | None = None

    def __post_init__(self):
        self.counts = np.asarray(self.counts, dtype=np.int64)
        if not self.key_to_index:
            self.key_to_index = {word: i for i, word in enumerate(self.index_to_key)}
        if self.tree is not None and len(self.tree.lengths) != len(self.index_to_key):
            raise ValueError(f"a Huffman tree of {len(self.tree.lengths)} words for a "
                             f"vocabulary of {len(self.index_to_key)}")

    def __len__(self) -> int:
        return len(self.index_to_key)

    def hs_tree(self) -> HuffmanTree:
        """The Huffman tree hierarchical softmax trains with: :attr:`tree`, else the counts'."""
        return self.tree if self.tree is not None else huffman_tree(self.counts)


def _prune(counter: Counter, min_reduce: int) -> None:
    """Drop words seen fewer than ``min_reduce`` times (gensim's ``prune_vocab``), in place."""
    for word in [w for w, c in counter.items() if c < min_reduce]:
        del counter[word]


def count_words(sentences: Iterable, max_vocab_size: int | None = None) -> tuple:
    """Count words over an iterable of token lists.

    Parameters
    ----------
    sentences : iterable of list of str
        The corpus (already validated by :mod:`torch_w2v.corpus`).
    max_vocab_size : int, optional
        Like gensim: whenever more distinct words than this are held, the rarest are pruned with a
        rising threshold, so memory stays bounded on huge corpora.

    Returns
    -------
    counter : collections.Counter
    total_words : int
        Number of tokens seen, pruned or not.
    n_sentences : int
    """
    counter: Counter = Counter()
    total = n_sentences = 0
    min_reduce = 1
    for sentence in sentences:
        counter.update(sentence)
        total += len(sentence)
        n_sentences += 1
        if max_vocab_size and len(counter) > max_vocab_size:
            _prune(counter, min_reduce)
            min_reduce += 1
    return counter, total, n_sentences


def trim_decision(word, count, min_count, trim_rule) -> bool:
    """Whether ``word`` seen ``count`` times stays: ``trim_rule``'s answer, else ``min_count``."""
    if trim_rule is not None:
        rule = trim_rule(word, count, min_count)
        if rule == RULE_DISCARD:
            return False
        if rule == RULE_KEEP:
            return True
        if rule != RULE_DEFAULT:
            raise ValueError(
                f"trim_rule returned {rule!r} for {word!r}; it must return one of gensim.utils."
                "RULE_DISCARD, RULE_KEEP or RULE_DEFAULT"
            )
    return count >= min_count


def effective_min_count(counter: Counter, min_count: int, max_final_vocab: int | None) -> int:
    """``min_count``, raised until at most ``max_final_vocab`` words remain (gensim's rule).

    Examples
    --------
    >>> effective_min_count(Counter({"a": 9, "b": 5, "c": 3}), 2, max_final_vocab=2)
    4
    """
    if max_final_vocab is None or max_final_vocab >= len(counter):
        return min_count
    by_count = sorted(counter.values(), reverse=True)
    return max(min_count, by_count[max_final_vocab] + 1)


def build_vocab(
    counter: Counter,
    min_count: int = 5,
    max_final_vocab: int | None = None,
    trim_rule: Callable | None = None,
    sorted_vocab: bool = True,
) -> Vocabulary:
    """Turn word counts into a :class:`Vocabulary`.

    Parameters
    ----------
    counter : Counter
        Word counts from :func:`count_words`.
    min_count : int
        Words seen fewer times are dropped.
    max_final_vocab : int, optional
        Raise the effective ``min_count`` until at most this many words remain (gensim's rule).
    trim_rule : callable, optional
        ``trim_rule(word, count, min_count)`` returning ``gensim.utils.RULE_DISCARD``, ``RULE_KEEP``
        or ``RULE_DEFAULT``.
    sorted_vocab : bool
        Sort by descending count, ties ordered exactly as gensim orders them.
    """
    threshold = effective_min_count(counter, min_count, max_final_vocab)
    words = [w for w, c in counter.items() if trim_decision(w, c, threshold, trim_rule)]
    counts = np.fromiter((counter[w] for w in words), np.int64, len(words))
    if sorted_vocab:
        # gensim's exact order: descending count, ties in reverse first-seen order
        order = np.lexsort((-np.arange(len(counts)), -counts))
        words, counts = [words[i] for i in order], counts[order]
    return Vocabulary(words, counts)


def grow_vocab(vocab: Vocabulary, counter: Counter, min_count: int = 5,
               trim_rule: Callable | None = None) -> Vocabulary:
    """The vocabulary after more text: continued training's policy.

    Known words keep their ids and add the new text's counts to theirs. Unknown words join when
    the new text alone holds them ``min_count`` times (or ``trim_rule`` keeps them); they are
    appended after the known words, most frequent first, so old ids never change.

    Examples
    --------
    >>> old = Vocabulary(["a", "b"], [10, 5])
    >>> new = grow_vocab(old, Counter({"b": 1, "c": 3, "d": 1}), min_count=2)
    >>> new.index_to_key, new.counts.tolist()
    (['a', 'b', 'c'], [10, 6, 3])
    """
    counts = vocab.counts.copy()
    unseen = Counter()
    for word, count in counter.items():
        index = vocab.key_to_index.get(word)
        if index is None:
            unseen[word] = count
        else:
            counts[index] += count
    added = build_vocab(unseen, min_count, None, trim_rule, sorted_vocab=True)
    if not len(added):  # the same words: the tree the output table follows stays
        return Vocabulary(list(vocab.index_to_key), counts, dict(vocab.key_to_index), vocab.tree)
    return Vocabulary(list(vocab.index_to_key) + added.index_to_key,
                      np.concatenate([counts, added.counts]))


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of each word under word2vec's subsampling.

    ``min(1, (sqrt(c / t) + 1) * t / c)`` with ``t = sample * sum(counts)``; as in gensim, a
    ``sample`` of 1 or more is an absolute count threshold and 0 disables subsampling.

    Examples
    --------
    >>> keep_probabilities(np.array([1000, 10]), sample=1e-3).round(3).tolist()
    [0.033, 0.419]
    """
    counts = np.asarray(counts, dtype=np.float64)
    if not sample:
        return np.ones_like(counts)
    # gensim: a sample of 1 or more is a count, rounded down (``int(...)``)
    threshold = sample * counts.sum() if sample < 1.0 else int(sample * (3 + np.sqrt(5)) / 2)
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts)


def percentile_keep_probabilities(counts: np.ndarray, percentile: float = 85.0) -> np.ndarray:
    """The original tutorial's subsampling: keep probability ``sqrt(t / (f + t))``, with ``f``
    a word's relative frequency and ``t`` the ``percentile``-th percentile of the vocabulary's
    relative frequencies.

    Examples
    --------
    >>> percentile_keep_probabilities(np.array([90, 9, 1]), percentile=50).round(3).tolist()
    [0.302, 0.707, 0.949]
    """
    freq = np.asarray(counts, dtype=np.float64) / np.sum(counts)
    t = np.percentile(freq, percentile)
    return np.sqrt(t / (freq + t))


def noise_distribution(counts: np.ndarray, ns_exponent: float = 0.75) -> np.ndarray:
    """Negative-sampling distribution ``count ** ns_exponent``, normalised to sum to one.

    Examples
    --------
    >>> noise_distribution(np.array([16, 1]), ns_exponent=0.5).tolist()
    [0.8, 0.2]
    """
    weights = np.asarray(counts, dtype=np.float64) ** ns_exponent
    return weights / weights.sum()


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (``np.unique``, faster for millions of integers)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


@dataclass
class HuffmanTree:
    """word2vec's binary Huffman tree over the vocabulary, for hierarchical softmax.

    Inner node ``n`` (0 .. V-2, the root is V-2) owns row ``n`` of the hierarchical-softmax
    output table. Word ``w``'s path from the root is ``points[w, :lengths[w]]``, and
    ``codes[w, j]`` is the branch (0 left, 1 right) taken at ``points[w, j]``; a frequent word
    has a short path. Rows are padded to the longest path.

    Attributes
    ----------
    points : ndarray of int64, shape (V, depth)
    codes : ndarray of int8, shape (V, depth)
    lengths : ndarray of int64, shape (V,)
    """

    points: np.ndarray
    codes: np.ndarray
    lengths: np.ndarray

    @property
    def depth(self) -> int:
        return self.points.shape[1]

    @classmethod
    def from_parents(cls, parent: np.ndarray, branch: np.ndarray) -> HuffmanTree:
        """The tree whose node ``i`` (leaves ``0 .. V-1``, inner ``V .. 2V-2``, the root last)
        hangs from ``parent[i]`` on side ``branch[i]`` (the root's entries are ignored).

        Raises
        ------
        ValueError
            If that is not a binary tree rooted at node ``2V-2`` (a parent out of range, an
            inner node without two children, a cycle).
        """
        parent = np.asarray(parent, dtype=np.int64)
        branch = np.asarray(branch, dtype=np.int8)
        n = (len(parent) + 1) // 2
        if n < 2:
            return cls(np.zeros((n, 0), np.int64), np.zeros((n, 0), np.int8), np.zeros(n, np.int64))
        root = 2 * n - 2
        below = parent[:root]
        if (len(parent) != 2 * n - 1 or branch.shape != parent.shape or (below < n).any()
                or (below > root).any() or ((branch[:root] != 0) & (branch[:root] != 1)).any()
                or len(_distinct(below * 2 + branch[:root])) != root):
            raise ValueError("not a binary tree: every inner node needs one left and one right "
                             "child, every other node one inner parent")
        return cls._walk(parent, branch)

    @classmethod
    def _walk(cls, parent: np.ndarray, branch: np.ndarray) -> HuffmanTree:
        """The paths of a tree of ``n >= 2`` leaves given as parents (checked, or built)."""
        n = (len(parent) + 1) // 2
        root = 2 * n - 2
        # walk every leaf up to the root at once, one level per step, recording the path upwards
        up_points, up_codes = [], []
        node = np.arange(n)
        lengths = np.zeros(n, dtype=np.int64)
        while (node != root).any():
            if len(up_points) >= n:
                raise ValueError("not a binary tree: a path never reaches the root (a cycle)")
            moving = node != root
            up_codes.append(np.where(moving, branch[node], 0))
            node = np.where(moving, parent[node], node)
            up_points.append(np.where(moving, node - n, 0))
            lengths += moving
        depth = len(up_points)
        up_points, up_codes = np.stack(up_points, 1), np.stack(up_codes, 1)
        # reverse each path into root-first order
        j = np.arange(depth)[None, :]
        source = np.clip(lengths[:, None] - 1 - j, 0, depth - 1)
        valid = j < lengths[:, None]
        rows = np.arange(n)[:, None]
        points = np.where(valid, up_points[rows, source], 0).astype(np.int64)
        codes = np.where(valid, up_codes[rows, source], 0).astype(np.int8)
        return cls(points, codes, lengths)

    @classmethod
    def from_paths(cls, points: list, codes: list) -> HuffmanTree:
        """The tree of each word's path from the root, as gensim stores them (``point``: inner
        nodes ``0 .. V-2``, the root ``V-2`` first; ``code``: the branch taken at each).

        Raises
        ------
        ValueError
            If the paths do not make one binary tree over the words.

        Examples
        --------
        >>> tree = huffman_tree(np.array([5, 3, 1, 1]))
        >>> paths = [tree.points[w, :n] for w, n in enumerate(tree.lengths)]
        >>> again = HuffmanTree.from_paths(paths, [tree.codes[w, :n] for w, n in
        ...                                        enumerate(tree.lengths)])
        >>> bool((again.points == tree.points).all() and (again.codes == tree.codes).all())
        True
        """
        n = len(points)
        if n < 2:
            if any(len(path) for path in points):
                raise ValueError("a one-word tree has no inner node for a path to pass")
            return cls.from_parents(np.zeros(n, np.int64), np.zeros(n, np.int8))
        lengths = np.fromiter(map(len, points), np.int64, n)
        if not np.array_equal(lengths, np.fromiter(map(len, codes), np.int64, n)) or \
                not lengths.all():
            raise ValueError("every word needs a path from the root, as long as its code")
        path = np.concatenate(points).astype(np.int64) + n  # inner node ids
        code = np.concatenate(codes).astype(np.int64)
        ends = np.cumsum(lengths) - 1
        if ((path < n) | (path > 2 * n - 2)).any() or ((code != 0) & (code != 1)).any() or \
                (path[ends - lengths + 1] != 2 * n - 2).any():
            raise ValueError("a path does not start at the root or leaves the inner nodes")
        child = np.empty_like(path)  # the node each step leads to: the next one, or the word
        child[:-1] = path[1:]
        child[ends] = np.arange(n)
        edges = _distinct((child * (2 * n) + path) * 2 + code)  # each (child, parent, side)
        child, path, code = edges // (4 * n), edges // 2 % (2 * n), edges % 2
        if len(edges) != 2 * n - 2 or (np.diff(child) == 0).any():
            raise ValueError("the paths disagree on a node's parent, or skip an inner node")
        parent = np.full(2 * n - 1, 2 * n - 2, dtype=np.int64)
        branch = np.zeros(2 * n - 1, dtype=np.int8)
        parent[child], branch[child] = path, code
        return cls.from_parents(parent, branch)

    def parents(self) -> tuple:
        """``(parent, branch)`` of every node, as :meth:`from_parents` takes them."""
        n = len(self.lengths)
        parent = np.full(max(2 * n - 1, 0), 2 * n - 2, dtype=np.int64)
        branch = np.zeros(max(2 * n - 1, 0), dtype=np.int8)
        for depth in range(self.depth):
            on = self.lengths > depth
            last = self.lengths - 1 == depth
            child = np.where(last, np.arange(n), self.points[:, min(depth + 1, self.depth - 1)] + n)
            parent[child[on]] = self.points[on, depth] + n
            branch[child[on]] = self.codes[on, depth]
        return parent, branch


def huffman_tree(counts: np.ndarray) -> HuffmanTree:
    """The Huffman tree of ``counts`` (word2vec's construction: repeatedly join the two least
    frequent nodes; any vocabulary order).

    Examples
    --------
    >>> tree = huffman_tree(np.array([5, 3, 1, 1]))
    >>> tree.lengths.tolist()   # the most frequent word sits next to the root
    [1, 2, 3, 3]
    >>> [tree.points[w, :n].tolist() for w, n in enumerate(tree.lengths)]
    [[2], [2, 1], [2, 1, 0], [2, 1, 0]]
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    if n < 2:  # one word: no inner node; its path is empty
        return HuffmanTree(np.zeros((n, 0), np.int64), np.zeros((n, 0), np.int8),
                           np.zeros(n, np.int64))
    # two queues: leaves in ascending count order, then inner nodes in creation order (their
    # counts never decrease), so the two least frequent nodes are always at the fronts
    order = np.argsort(counts, kind="stable")
    leaf_counts = counts[order].tolist() + [float("inf")]  # sentinels end each queue
    leaf_ids = order.tolist()
    inner_counts = [0] * (n - 1) + [float("inf")]
    parent = [0] * (2 * n - 1)  # node ids: leaves 0..n-1, inner n..2n-2
    branch = [0] * (2 * n - 1)
    leaf = inner = 0
    for k in range(n - 1):
        total = 0
        for side in (0, 1):
            if leaf_counts[leaf] <= inner_counts[inner] or inner >= k:
                node, count = leaf_ids[leaf], leaf_counts[leaf]
                leaf += 1
            else:
                node, count = n + inner, inner_counts[inner]
                inner += 1
            parent[node], branch[node] = n + k, side
            total += count
        inner_counts[k] = total
    return HuffmanTree._walk(np.array(parent), np.array(branch, dtype=np.int8))  # valid as built
