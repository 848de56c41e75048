"""Training batches: subsampling, dynamic windows and negative sampling, vectorised in torch.

Everything here is a tensor op on the training device driven by a seeded ``torch.Generator``: no
Python loop runs per token or per pair, and the same code runs on CPU and CUDA.

The batch layout is one *block* per centre word (the pWord2Vec / HogBatch layout): the centre's
context words (up to ``2 * window``, masked at sentence edges) are scored against the centre
itself (the positive) and ``negative`` noise words shared by that centre's context words. Scoring
a batch is then one batched matrix multiply, ``(B, 2r, d) @ (B, d, 1 + K)``, where centres are
grouped by their effective window ``r`` so that no slot is padding except at sentence edges. As
in word2vec's skip-gram, the *context* word's input vector predicts the centre word through the
output vectors.

Examples
--------
>>> import torch
>>> ids = torch.tensor([4, 5, 6, 7])
>>> sentence = torch.tensor([0, 0, 0, 1])
>>> ctx, mask = context_windows(ids, sentence, centres=torch.arange(4), reach=1)
>>> ctx.tolist(), mask.tolist()
([[4, 5], [4, 6], [5, 7], [6, 7]], [[False, True], [True, True], [True, False], [False, False]])
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from .model import negative_labels

__all__ = ["BATCH_CHUNK_TOKENS", "Batch", "BatchSampler", "Chunk", "ChunkFeed", "NoiseSampler",
           "TableNoiseSampler", "WordDistributions", "alias_table", "context_windows",
           "keep_draw", "noise_sampler", "subsample"]

BATCH_CHUNK_TOKENS = 1 << 16  # the batch sampler's chunk (at least two batches' centres)


@dataclass
class WordDistributions:
    """Per-word sampling probabilities of a run, on the host.

    Attributes
    ----------
    keep : ndarray of float
        Subsampling keep probability of each word.
    noise : ndarray of float
        Noise-word distribution (``count ** ns_exponent``, normalised).
    tree : HuffmanTree, optional
        The words' Huffman tree, for hierarchical softmax.
    lockf : ndarray of float32, optional
        gensim's ``vectors_lockf``: the share of its step each word's input vector takes (0
        freezes it), one value for all words or one per word; None: every row trains.
    """

    keep: np.ndarray
    noise: np.ndarray
    tree: object = None
    lockf: np.ndarray | None = None

    def lockf_on(self, device) -> torch.Tensor | None:
        """``lockf`` as a float32 tensor on ``device`` (None if every row trains fully)."""
        if self.lockf is None:
            return None
        return torch.as_tensor(np.asarray(self.lockf, dtype=np.float32), device=device)


@dataclass
class Batch:
    """One training step's worth of blocks.

    Attributes
    ----------
    contexts : LongTensor, shape (B, 2r)
        Context word ids of each block, ``r`` the batch's effective window (masked slots hold
        some valid id).
    context_mask : BoolTensor, shape (B, 2r)
        Which context slots are real.
    targets : LongTensor, shape (B, T)
        Output-table rows each block is scored against (:mod:`torch_w2v.modes`): with negative
        sampling, column 0 the centre word (label 1) then K noise words (label 0); with
        hierarchical softmax, the inner nodes of the centre's Huffman path.
    target_mask : BoolTensor, shape (B, T)
        False for noise words equal to the centre word (skipped, as word2vec does) and for the
        padding after a short Huffman path.
    raw_words : int
        Raw corpus words this batch accounts for (drives the learning-rate schedule).
    chunk_end : bool
        Last batch of its sampling chunk: every random draw for the chunk is made, so a
        checkpoint taken here resumes exactly.
    labels : FloatTensor, shape (B, T), optional
        Each target's label; None: negative sampling's, 1 for column 0 and 0 for the rest.
    effective_words : int or Tensor
        In-vocabulary words of the chunk that subsampling kept (on its first batch; 0 on the
        others), as gensim counts "effective words".
    """

    contexts: torch.Tensor
    context_mask: torch.Tensor
    targets: torch.Tensor
    target_mask: torch.Tensor
    raw_words: int
    chunk_end: bool = False
    labels: torch.Tensor | None = None
    effective_words: int | torch.Tensor = 0

    def label_matrix(self) -> torch.Tensor:
        """``labels``, or negative sampling's (1 for column 0, 0 for the rest) if None."""
        return negative_labels(self.targets) if self.labels is None else self.labels

    def split(self, max_pairs: int):
        """Consecutive sub-batches of at most ``max_pairs`` context slots (at least one block
        each), views of this one; ``raw_words`` stays with the batch.

        Examples
        --------
        >>> ids = torch.zeros(5, 4, dtype=torch.int64)
        >>> batch = Batch(ids, ids.bool(), ids[:, :2], ids[:, :2].bool(), raw_words=9)
        >>> [len(b.contexts) for b in batch.split(8)]
        [2, 2, 1]
        """
        blocks = max(1, max_pairs // max(1, self.contexts.shape[1]))
        for start in range(0, len(self.contexts), blocks):
            part = slice(start, start + blocks)
            yield Batch(self.contexts[part], self.context_mask[part], self.targets[part],
                        self.target_mask[part], raw_words=0,
                        labels=None if self.labels is None else self.labels[part])


@dataclass
class Chunk:
    """A piece of encoded text for a backend that samples itself.

    Attributes
    ----------
    ids : ndarray of int32, shape (n,)
        In-vocabulary word ids, in corpus order.
    sentence : ndarray of int64, shape (n,)
        Sentence index of each token (windows stay inside a sentence).
    raw_words : int
        Raw corpus words this chunk accounts for (drives the learning-rate schedule).
    seed : int
        Seeds every random draw of the chunk (a function of the run's seed, the epoch and the
        chunk's index, so a resumed run draws the same).
    chunk_end : bool
        Always True: a checkpoint may follow any chunk.
    """

    ids: np.ndarray
    sentence: np.ndarray
    raw_words: int
    seed: int
    chunk_end: bool = True


class ChunkFeed:
    """An epoch's chunks of encoded text, each with its own seed (see :class:`Chunk`).

    Examples
    --------
    >>> from torch_w2v.corpus import EncodedCorpus
    >>> corpus = EncodedCorpus(np.arange(5, dtype=np.int32), np.array([2, 3]), raw_words=6)
    >>> [(c.ids.tolist(), c.sentence.tolist()) for c in ChunkFeed(1, 3).epoch(corpus, epoch=1)]
    [([0, 1, 2], [0, 0, 1]), ([3, 4], [1, 1])]
    """

    generator = None  # nothing to checkpoint: the seeds follow from (seed, epoch, chunk)

    def __init__(self, seed: int, chunk_tokens: int, stream: int = 0):
        self.seed = seed
        self.chunk_tokens = chunk_tokens
        self.stream = stream  # a rank of distributed training draws its own numbers

    def epoch(self, corpus, skip_chunks: int = 0, epoch: int = 1):
        """Yield the chunks of one pass over ``corpus``, leaving out the first ``skip_chunks``."""
        for index, (ids, sentence, raw_words) in enumerate(corpus.chunks(self.chunk_tokens)):
            if index >= skip_chunks:
                yield Chunk(ids, sentence, raw_words, self.chunk_seed(epoch, index))

    def chunk_seed(self, epoch: int, index: int) -> int:
        """A signed 64-bit seed for chunk ``index`` of ``epoch``."""
        key = f"{self.seed}/{epoch}/{index}" + (f"/{self.stream}" if self.stream else "")
        key = key.encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little",
                              signed=True)


def keep_draw(word_ids, keep_prob, generator):
    """True where a word occurrence survives subsampling (probability ``keep_prob[id]``)."""
    draw = torch.rand(word_ids.shape, generator=generator, device=word_ids.device)
    return draw < keep_prob[word_ids]


def subsample(ids, sentence, keep_prob, generator):
    """Drop each token with probability ``1 - keep_prob[id]``; returns the kept ids and
    sentences."""
    keep = keep_draw(ids, keep_prob, generator)
    return ids[keep], sentence[keep]


def context_windows(ids, sentence, centres, reach: int):
    """Context ids and mask ``(n, 2 * reach)`` of the centre positions ``centres``.

    Slots that fall outside the chunk or in another sentence are masked out.
    """
    n = ids.shape[0]
    device = ids.device
    offsets = torch.cat(
        [torch.arange(-reach, 0, device=device), torch.arange(1, reach + 1, device=device)]
    )  # (2r,)
    positions = centres.unsqueeze(1) + offsets  # (c, 2r)
    mask = (positions >= 0) & (positions < n)
    positions.clamp_(0, max(n - 1, 0))
    mask &= sentence[positions] == sentence[centres].unsqueeze(1)
    return ids[positions], mask


def alias_table(distribution: np.ndarray):
    """Walker's alias tables for ``distribution`` (Vose's construction, O(V)).

    Drawing slot ``i`` uniformly, then keeping ``i`` with probability ``accept[i]`` and taking
    ``alias[i]`` otherwise, samples exactly from ``distribution``.

    Examples
    --------
    >>> accept, alias = alias_table(np.array([0.5, 0.25, 0.25]))
    >>> accept.tolist(), alias.tolist()
    ([1.0, 0.75, 0.75], [0, 0, 0])
    """
    n = len(distribution)
    scaled = (np.asarray(distribution, dtype=np.float64) * n / np.sum(distribution)).tolist()
    accept = [1.0] * n
    alias = list(range(n))
    small = [i for i, p in enumerate(scaled) if p < 1.0]
    large = [i for i, p in enumerate(scaled) if p >= 1.0]
    while small and large:
        s, big = small.pop(), large[-1]
        accept[s], alias[s] = scaled[s], big
        scaled[big] -= 1.0 - scaled[s]
        if scaled[big] < 1.0:
            small.append(large.pop())
    return np.array(accept), np.array(alias, dtype=np.int64)  # leftovers keep accept = 1


class NoiseSampler:
    """Draws noise words from a distribution (``count ** ns_exponent``) with the alias method:
    exact, and O(1) per draw on any device."""

    def __init__(self, distribution: np.ndarray, device):
        accept, alias = alias_table(distribution)
        self.accept = torch.as_tensor(accept, dtype=torch.float32, device=device)
        self.alias = torch.as_tensor(alias, device=device)
        self.device = device

    def __call__(self, shape, generator) -> torch.Tensor:
        slot = torch.randint(0, len(self.alias), shape, generator=generator, device=self.device)
        keep = torch.rand(shape, generator=generator, device=self.device) < self.accept[slot]
        return torch.where(keep, slot, self.alias[slot])

    def alias_form(self):
        """``(values, accept, alias)``: a draw takes a slot ``i`` uniformly, then
        ``values[i]`` with probability ``accept[i]``, else ``alias[i]``."""
        return torch.arange(len(self.alias), device=self.device), self.accept, self.alias


class TableNoiseSampler:
    """The original tutorial's sampler: a table of ``size`` word ids, each word filling a share
    proportional to its noise probability (at least one slot), sampled uniformly.

    Examples
    --------
    >>> table = TableNoiseSampler(np.array([0.75, 0.25]), 8, "cpu").table
    >>> table.tolist()
    [0, 0, 0, 0, 0, 0, 1, 1]
    """

    def __init__(self, distribution: np.ndarray, size: int, device):
        slots = np.maximum(1, np.round(np.asarray(distribution) * size)).astype(np.int64)
        self.table = torch.as_tensor(np.repeat(np.arange(len(slots)), slots), device=device)
        self.device = device

    def __call__(self, shape, generator) -> torch.Tensor:
        slot = torch.randint(0, len(self.table), shape, generator=generator, device=self.device)
        return self.table[slot]

    def alias_form(self):
        """The table as :meth:`NoiseSampler.alias_form`: every slot keeps its own word."""
        return (self.table, torch.ones(len(self.table), device=self.device),
                torch.zeros_like(self.table))


def noise_sampler(distribution: np.ndarray, device, table_size=None):
    """The exact alias sampler of ``distribution``, or with ``table_size`` the tutorial's
    table of that many entries."""
    if table_size is None:
        return NoiseSampler(distribution, device)
    return TableNoiseSampler(distribution, table_size, device)


class BatchSampler:
    """Turns an encoded corpus into an epoch's stream of :class:`Batch` blocks.

    Parameters
    ----------
    keep_prob : ndarray
        Per-word subsampling keep probability (:func:`torch_w2v.vocab.keep_probabilities`).
    noise : ndarray
        Noise distribution (:func:`torch_w2v.vocab.noise_distribution`).
    window, negative, shrink_windows, batch_size
        As in :class:`torch_w2v.TorchWord2Vec`; ``batch_size`` counts (context, centre) slots.
    subsample_independently : bool
        The original tutorial's subsampling: tokens stay in the text (windows span them), and
        each centre and each context slot is kept with its word's probability, independently.
        Default: word2vec's, dropped tokens removed before windowing.
    full_windows_only : bool
        Train only centres whose whole window (``2 * reach`` slots) lies inside the sentence.
    noise_table_size : int, optional
        Draw noise words from a table of this many entries (the tutorial's sampler) instead of
        the exact alias method.
    tree : HuffmanTree, optional
        With hierarchical softmax: the centres' paths become targets, at output rows from
        ``hs_offset`` on.
    hs_offset : int
        First output row of the hierarchical-softmax nodes (:meth:`Mode.hs_offset`).
    chunk_tokens : int, optional
        Tokens windowed at once (default: 65,536 or twice ``batch_size``, whichever is more);
        memory for sampling is about 100 bytes a chunk token.
    """

    CHUNK_TOKENS = BATCH_CHUNK_TOKENS

    @classmethod
    def from_config(cls, config, distributions: WordDistributions, *, batch_size: int,
                    generator, hs_offset: int, chunk_tokens=None) -> BatchSampler:
        """The sampler of a run's :class:`~torch_w2v.config.TrainingConfig`."""
        return cls(
            distributions.keep, distributions.noise, window=config.window,
            negative=config.mode.negative, shrink_windows=config.shrink_windows,
            batch_size=batch_size, device=config.device, generator=generator,
            subsample_independently=config.subsampling == "percentile",
            full_windows_only=config.full_windows_only,
            noise_table_size=config.noise_table_size, tree=distributions.tree,
            hs_offset=hs_offset, chunk_tokens=chunk_tokens)

    def __init__(self, keep_prob, noise, *, window, negative, shrink_windows, batch_size,
                 device, generator, chunk_tokens=None, subsample_independently=False,
                 full_windows_only=False, noise_table_size=None, tree=None, hs_offset=0):
        self.keep_prob = torch.as_tensor(keep_prob, dtype=torch.float32, device=device)
        self.noise = noise_sampler(noise, device, noise_table_size) if negative else None
        self.paths = None
        if tree is not None:  # each word's path: output rows, labels 1 - code, and its mask
            self.paths = (torch.as_tensor(tree.points + hs_offset, device=device),
                          torch.as_tensor(1.0 - tree.codes, dtype=torch.float32, device=device),
                          torch.as_tensor(np.arange(tree.depth)[None, :] < tree.lengths[:, None],
                                          device=device))
        self.subsample_independently = subsample_independently
        self.full_windows_only = full_windows_only
        self.window = window
        self.negative = negative
        self.shrink_windows = shrink_windows
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.generator = generator
        # a batch never spans chunks: a chunk must hold a batch's worth of centres
        self.chunk_tokens = chunk_tokens or max(BATCH_CHUNK_TOKENS, 2 * batch_size)

    def epoch(self, corpus, skip_chunks: int = 0, epoch=None):
        """Yield the batches of one pass over ``corpus`` (an :class:`EncodedCorpus` or a
        :class:`~torch_w2v.streaming.StreamingCorpus`), leaving out its first ``skip_chunks``
        chunks (a resumed run has trained them) without drawing random numbers for them.
        ``epoch`` is not needed: the generator's stream carries on from epoch to epoch."""
        for index, (ids, sentence, raw_words) in enumerate(corpus.chunks(self.chunk_tokens)):
            if index >= skip_chunks:
                yield from self._chunk_batches(ids, sentence, raw_words)

    def _to_device(self, array):
        """A host array as an int64 tensor on the device; to a GPU through pinned memory, so the
        copy runs asynchronously."""
        tensor = torch.from_numpy(array)
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(self.device, dtype=torch.int64, non_blocking=True)

    def _chunk_batches(self, ids, sentence, raw_words):
        # A reach past the longest sentence finds no more context words: capping it changes
        # nothing trained, and bounds the loop below (window=10**6 on short sentences).
        # Measured on the host, before subsampling (which only shortens sentences): no sync.
        longest = int(np.bincount(sentence - sentence[0]).max()) if len(sentence) else 1
        widest = max(1, min(self.window, longest - 1))
        ids, sentence = self._to_device(ids), self._to_device(sentence)
        if not self.subsample_independently:
            ids, sentence = subsample(ids, sentence, self.keep_prob, self.generator)
        n = ids.shape[0]
        effective = n  # the percentile rule keeps centres one by one: counted below
        if self.shrink_windows and self.window > 1:
            reach = torch.randint(1, self.window + 1, (n,), generator=self.generator,
                                  device=self.device)
        else:
            reach = torch.full((n,), self.window, device=self.device)
        reach.clamp_(max=widest)
        # Centres are grouped by their effective window so a batch holds no padding slots beyond
        # sentence edges; the groups' batches are then interleaved in corpus order.
        pieces = []
        for r in range(1, widest + 1):
            centres = torch.nonzero(reach == r).squeeze(1)
            contexts, mask = context_windows(ids, sentence, centres, r)
            keep = mask.all(1) if self.full_windows_only else mask.any(1)
            if self.subsample_independently:
                mask &= keep_draw(contexts, self.keep_prob, self.generator)
                centre_kept = keep_draw(ids[centres], self.keep_prob, self.generator)
                effective -= (~centre_kept).sum()
                keep &= centre_kept & mask.any(1)
            centres, contexts, mask = centres[keep], contexts[keep], mask[keep]
            step = max(1, self.batch_size // (2 * r))
            size = centres.shape[0]
            for start in range(0, size, step):
                pieces.append((start / size, centres[start:start + step],
                               contexts[start:start + step], mask[start:start + step]))
        pieces.sort(key=lambda piece: piece[0])
        total = sum(piece[1].shape[0] for piece in pieces)
        if not total:  # an empty chunk still reports its words to the schedule
            empty = torch.empty((0, 1), dtype=torch.int64, device=self.device)
            yield Batch(empty, empty.bool(), empty, empty.bool(), raw_words, chunk_end=True,
                        effective_words=effective)
            return
        done = 0
        for index, (_, centres, contexts, mask) in enumerate(pieces):
            targets, target_mask, labels = self._targets(ids[centres])
            words = (raw_words * (done + centres.shape[0])) // total - (raw_words * done) // total
            done += centres.shape[0]
            yield Batch(contexts, mask, targets, target_mask, words,
                        chunk_end=index == len(pieces) - 1, labels=labels,
                        effective_words=effective if index == 0 else 0)

    def _targets(self, centre_ids):
        """Targets, mask and labels of the centres' blocks: the centre and noise words, then
        the Huffman path's nodes (labels None: negative sampling's alone)."""
        targets, masks, labels = [], [], []
        if self.noise is not None:
            noise = self.noise((centre_ids.shape[0], self.negative), self.generator)
            targets.append(torch.cat([centre_ids.unsqueeze(1), noise], 1))  # (c, 1 + K)
            masks.append(targets[-1] != centre_ids.unsqueeze(1))
            masks[-1][:, 0] = True
            labels.append(negative_labels(targets[-1]))
        if self.paths is None:
            return targets[0], masks[0], None
        points, path_labels, path_mask = self.paths
        targets.append(points[centre_ids])
        masks.append(path_mask[centre_ids])
        labels.append(path_labels[centre_ids])
        return torch.cat(targets, 1), torch.cat(masks, 1), torch.cat(labels, 1)
