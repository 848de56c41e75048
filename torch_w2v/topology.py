"""Where a run's work happens: one process, or data-parallel ranks under ``torch.distributed``.

A run asks its topology every question that depends on it, and nothing else in the run
branches on it:

======================  ========================  =============================================
question                :class:`SingleProcess`    :class:`DataParallel`
======================  ========================  =============================================
``share(corpus)``       the whole corpus          this rank's contiguous share
``joint_counts(...)``   the counts as they are    every rank's counts, added in rank order
``chunk_tokens(n)``     ``n``                     the merge period (:mod:`torch_w2v.distributed`)
``stream``              0                         the rank: each draws its own numbers
``writes``              True                      rank 0 only (checkpoints, progress)
``merger(...)``         None                      the loop hook that merges the ranks' tables
``each(value)``         ``[value]``               every rank's value, in rank order
``divergence_advice``   nothing                   fewer ranks (when training diverges)
======================  ========================  =============================================

Distributed training is opted into (``distributed=True``, or ``torch-w2v train`` under
``torchrun``): a fit inside an initialised process group without it trains alone, so a rank
that fits a small model of its own never waits for the others.

Examples
--------
>>> topology = topology_for(False)
>>> topology.share([["a"], ["b"]]), topology.chunk_tokens(4096), topology.writes
([['a'], ['b']], 4096, True)
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from itertools import islice

__all__ = ["DataParallel", "SingleProcess", "fingerprint", "topology_for"]

logger = logging.getLogger("torch_w2v")


class SingleProcess:
    """One process trains the whole corpus (see the module docstring)."""

    rank = 0
    world_size = 1
    stream = 0
    writes = True
    distributed = False
    divergence_advice = ""  # added to the advice when training diverges

    def share(self, sentences):
        return sentences

    def check_same(self, params: dict, sentences) -> None:
        """Nothing to compare with."""

    def joint_counts(self, counter, total: int, sentences: int) -> tuple:
        return counter, total, sentences

    def chunk_tokens(self, largest: int) -> int:
        return largest

    def table_copies(self) -> int:
        """Copies of the tables training keeps besides the tables (a merge's anchors)."""
        return 0

    def merger(self, tables, mode, counts):
        """The loop hook that keeps the tables in step with other ranks' (None: alone)."""
        return None

    def total(self, *numbers) -> list:
        """Sums over the ranks of some numbers."""
        return [float(x) for x in numbers]

    def each(self, value) -> list:
        """Every rank's ``value``, in rank order."""
        return [value]


class DataParallel(SingleProcess):
    """Ranks of a process group train shares of the corpus and merge their tables
    (:mod:`torch_w2v.distributed` has the merge and why it is so).

    Parameters
    ----------
    group : torch_w2v.distributed.Distributed
    """

    distributed = True

    def __init__(self, group):
        from .distributed import MEASURED, MEASURED_RANKS

        self.group = group
        self.rank = group.rank
        self.world_size = group.world_size
        self.stream = group.rank
        self.writes = group.rank == 0
        self.divergence_advice = (f"; or, in this run of {self.world_size} ranks, the ranks' "
                                  f"merged changes overshot: {MEASURED}; train on fewer ranks")
        if self.writes and self.world_size > MEASURED_RANKS:
            logger.warning("training data-parallel on %d ranks: %s", self.world_size, MEASURED)

    def share(self, sentences):
        """This rank's contiguous share: the lines starting in its byte range of a plain file,
        or its slice of re-iterable sentences."""
        from .corpus import COMPRESSED, CorpusFile
        from .distributed import byte_share

        if isinstance(sentences, CorpusFile):
            path = os.fspath(sentences.path)
            if not os.path.isfile(path) or path.endswith(COMPRESSED):
                raise ValueError(f"distributed training reads each rank's share of {path} by "
                                 "byte offsets: give a plain, uncompressed local file (e.g. "
                                 "`gunzip -k` it first)")
            return sentences.share(*byte_share(os.path.getsize(path), self.rank,
                                               self.world_size))
        n = len(sentences) if hasattr(sentences, "__len__") else sum(1 for _ in sentences)
        return SentenceSlice(sentences, slice(n * self.rank // self.world_size,
                                              n * (self.rank + 1) // self.world_size))

    def check_same(self, params: dict, sentences) -> None:
        """Refuse (``ValueError``, on every rank) ranks started with other parameters than
        rank 0's trained ones, or another corpus (by :func:`fingerprint`)."""
        from .params import trained_params

        mine = json.loads(json.dumps(trained_params(params), default=repr))
        everyone = self.group.gather((mine, fingerprint(sentences)))
        first_params, first_corpus = everyone[0]
        for rank, (theirs, their_corpus) in enumerate(everyone):
            changed = sorted(k for k in first_params if first_params[k] != theirs.get(k))
            if changed:
                names = ", ".join(f"{k}={theirs.get(k)!r} (rank 0: {first_params[k]!r})"
                                  for k in changed)
                raise ValueError(f"rank {rank} was started with other parameters: {names}; "
                                 "start every rank with the same ones")
            if their_corpus != first_corpus:
                raise ValueError(f"rank {rank} was started on another corpus ({their_corpus}; "
                                 f"rank 0: {first_corpus}); give every rank the same corpus")

    def joint_counts(self, counter, total: int, sentences: int) -> tuple:
        """Every rank's counts of its share, added in rank order: the counts, first-seen order
        included, of the whole corpus; and its token and sentence totals."""
        from collections import Counter

        merged: Counter = Counter()
        tokens = lines = 0
        for their_counter, their_total, their_sentences in self.group.gather(
                (counter, total, sentences)):
            for word, count in their_counter.items():
                merged[word] += count
            tokens += their_total
            lines += their_sentences
        return merged, tokens, lines

    def chunk_tokens(self, largest: int) -> int:
        from .distributed import sync_chunk_tokens

        return sync_chunk_tokens(self.world_size, largest)

    def table_copies(self) -> int:
        return 2  # the anchors and the merge buffer

    def merger(self, tables, mode, counts):
        from .distributed import TableMerger

        return TableMerger(self.group, tables, mode, counts)

    def total(self, *numbers) -> list:
        return self.group.sum_numbers(*numbers)

    def each(self, value) -> list:
        return self.group.gather(value)


class SentenceSlice:
    """A re-iterable slice of a re-iterable corpus (one rank's share)."""

    def __init__(self, sentences, part: slice):
        self.sentences, self.part = sentences, part

    def __iter__(self):
        return islice(self.sentences, self.part.start, self.part.stop)

    def __len__(self) -> int:
        return self.part.stop - self.part.start


SAMPLED_BLOCKS, BLOCK_BYTES, SAMPLED_SENTENCES = 64, 4096, 4096


def fingerprint(sentences) -> str:
    """What ranks compare to know they were given the same corpus, without reading it whole:
    a file's name and size and a SHA-256 of 64 blocks of 4 KiB spread over it; a corpus in
    memory's length and a SHA-256 of up to 4,096 sentences spread over it (of every sentence
    for one without random access, which costs one more pass over it).

    Examples
    --------
    >>> fingerprint([["a", "b"], ["c"]]) == fingerprint([["a", "b"], ["c"]])
    True
    >>> fingerprint([["a", "b"], ["c"]]) == fingerprint([["a", "b"], ["d"]])
    False
    """
    digest = hashlib.sha256()
    path = getattr(sentences, "path", None)
    if path is not None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            return path
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            for k in range(SAMPLED_BLOCKS):
                f.seek(size * k // SAMPLED_BLOCKS)
                digest.update(f.read(BLOCK_BYTES))
        return f"{os.path.basename(path)} ({size} bytes, sampled SHA-256 {digest.hexdigest()[:16]})"
    sampled = hasattr(sentences, "__getitem__") and hasattr(sentences, "__len__")
    chosen = sentences  # streamed: every sentence, one more pass
    if sampled:
        n = len(sentences)
        picks = sorted({n * k // SAMPLED_SENTENCES for k in range(SAMPLED_SENTENCES)}) if n else []
        chosen = (sentences[i] for i in picks)
    read = 0
    for sentence in chosen:
        digest.update("\x1f".join(map(str, sentence)).encode("utf-8", "replace") + b"\x1e")
        read += 1
    n = n if sampled else read
    return f"{n} sentences ({'sampled ' if sampled else ''}SHA-256 {digest.hexdigest()[:16]})"


def topology_for(distributed: bool):
    """:class:`DataParallel` over the default process group with ``distributed=True``, else
    :class:`SingleProcess` (also inside an initialised group: opted into, never implied).

    Raises
    ------
    ValueError
        With ``distributed=True`` outside a process group of two ranks or more.
    """
    if not distributed:
        return SingleProcess()
    from .distributed import Distributed

    group = Distributed.current()
    if group is None:
        raise ValueError("distributed=True needs an initialised torch.distributed process group "
                         "of two ranks or more: start the script with torchrun (torchrun "
                         "--nproc-per-node N script.py) and call "
                         "torch_w2v.distributed.init_from_environment() first, or leave "
                         "distributed=False")
    return DataParallel(group)
