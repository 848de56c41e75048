"""Data-parallel training under ``torch.distributed`` (``torchrun``): the process group and the
merges that keep the ranks' tables in step. :class:`torch_w2v.topology.DataParallel` is what a
run asks; this module does the communication.

A fit opts in with ``distributed=True`` (``torch-w2v train`` does under ``torchrun``) inside a
process group (``init_from_environment()``, or ``torch.distributed.init_process_group`` in
your own script) and then trains data-parallel, pWord2Vec's way:

- every rank reads and trains its own share of the corpus: for ``corpus_file`` the lines that
  start in its byte range of the file (a plain local file), for token lists its contiguous
  slice of the sentences; no rank reads the whole corpus every epoch;
- the vocabulary is counted jointly: each rank counts its share, the counts are gathered in
  rank order, so words, counts and order equal a single process's count;
- each rank trains its own copy of the tables and, after every chunk
  (:func:`sync_chunk_tokens`: 65536 tokens with 2 ranks, 2427 with 4), the ranks' changes since
  the last agreement are merged in one all-reduce: summed, except for the most frequent words'
  rows (those covering a tenth of the tokens), which take the mean change (see
  :class:`TableMerger` for why, measured); so every rank ends every epoch with the same vectors;
- the learning rate follows each rank's share of the words, which is the global schedule for
  shares of equal size; the history's loss, pairs and words are sums over the ranks.

Collectives run on the tables' device: gloo for CPUs, NCCL for GPUs. A rank that dies makes the
others fail at their next collective with a ``RuntimeError`` naming distributed training; one
that hangs, after :func:`timeout_seconds` (``$TORCH_W2V_DIST_TIMEOUT``, default 300), whatever
timeout the process group was made with. Ranks started with other parameters or corpora
refuse before training.
"""
from __future__ import annotations

import datetime
import logging
import os

import numpy as np
import torch

from .train import LoopHook

__all__ = ["Distributed", "TableMerger", "byte_share", "heaviest_rows", "init_from_environment",
           "merged_prefix", "sync_chunk_tokens", "timeout_seconds"]

logger = logging.getLogger("torch_w2v")

MEAN_SHARE = 0.1  # the rows of the most frequent words covering this share take the mean
STALE_TOKENS = 65536  # a 2-rank run's chunk: sets every run's chunk (sync_chunk_tokens)
SMALLEST_CHUNK = 1024


def timeout_seconds() -> float:
    """How long a rank waits for the others at a collective: ``$TORCH_W2V_DIST_TIMEOUT``
    seconds, default 300, for every process group (``init_from_environment``'s, or one your
    script made with another timeout)."""
    value = os.environ.get("TORCH_W2V_DIST_TIMEOUT") or "300"
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(f"TORCH_W2V_DIST_TIMEOUT={value!r}: give a number of seconds > 0")
    return seconds


def init_from_environment() -> bool:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1):
    gloo on CPUs, NCCL on GPUs, a timeout of ``$TORCH_W2V_DIST_TIMEOUT`` seconds (default 300).
    Returns whether a group is up."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        timeout = timeout_seconds()
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    return True


def byte_share(size: int, rank: int, world: int) -> tuple:
    """The byte range ``[start, end)`` of rank ``rank``'s share of a ``size``-byte file: a line
    belongs to the share its first byte falls in.

    Examples
    --------
    >>> [byte_share(10, r, 3) for r in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    return size * rank // world, size * (rank + 1) // world


class Distributed:
    """The process group a run trains in.

    Attributes
    ----------
    rank, world_size : int
    """

    def __init__(self, group=None, backend=None):
        import torch.distributed as dist

        self._dist = backend or dist  # another backend: benchmarks/simulate_ranks.py's threads
        self.group = group
        self.rank = self._dist.get_rank(group)
        self.world_size = self._dist.get_world_size(group)
        self.timeout = datetime.timedelta(seconds=timeout_seconds())
        self.merges = 0  # merges of the tables so far
        self.bytes_merged = 0  # bytes of table changes this rank sent into merges
        self._flat = None  # the merge buffer (_buffer)

    @classmethod
    def current(cls) -> Distributed | None:
        """The default process group when one is initialised with more than one rank."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return cls()
        return None

    def gather(self, value) -> list:
        """Every rank's ``value`` (picklable), in rank order."""
        self.sum_numbers(0)  # a barrier under this run's timeout (the gather has none of its own)
        gathered = [None] * self.world_size
        try:
            self._dist.all_gather_object(gathered, value, group=self.group)
        except RuntimeError as err:
            raise self._failure(err) from err
        return gathered

    # -- keeping the tables in sync ------------------------------------------------------------

    def merge_changes(self, tables, anchors, scales, more: bool, rows=None) -> bool:
        """Add up the ranks' changes to ``tables`` since ``anchors`` (the tables as last agreed)
        in one collective, each row's sum times its ``scales`` entry (per table: a column of
        1 for the sum, ``1 / ranks`` for the mean); the merged rows of tables and anchors
        become the result. ``rows`` (per table, sorted row indices; None: every row) limits
        the merge to those rows: the others keep their changes for a later merge. Returns
        whether any rank still has chunks of this epoch to train (``more`` on one)."""
        rows = rows or [None] * len(tables)
        sizes = [t.numel() if r is None else len(r) * t.shape[1] for t, r in zip(tables, rows)]
        flat = self._buffer(sum(sizes) + 1, tables[0])
        parts = list(torch.split(flat[:-1], sizes))
        for table, anchor, picked, part in zip(tables, anchors, rows, parts):
            if picked is None:
                torch.sub(table.view(-1), anchor.view(-1), out=part)
            else:
                torch.sub(table[picked], anchor[picked], out=part.view(len(picked), -1))
        flat[-1] = float(more)
        self._all_reduce(flat)
        self.merges += 1
        self.bytes_merged += flat.numel() * flat.element_size()
        for table, anchor, scale, picked, part in zip(tables, anchors, scales, rows, parts):
            change = part.view(-1, table.shape[1])
            if picked is None:
                anchor.addcmul_(change, scale)
                table.copy_(anchor)
            else:
                change.mul_(scale[picked])
                anchor.index_add_(0, picked, change)
                table[picked] = anchor[picked]
        return bool(flat[-1].item() > 0)

    def _buffer(self, size: int, like: torch.Tensor) -> torch.Tensor:
        """A flat buffer of ``size`` elements, kept between merges (a fresh one per merge costs
        its page faults every time)."""
        buffer = self._flat
        if buffer is None or buffer.numel() < size or buffer.device != like.device:
            buffer = self._flat = torch.empty(size, dtype=like.dtype, device=like.device)
        return buffer[:size]

    def sum_numbers(self, *numbers, device="cpu") -> list:
        """Sums over the ranks of some numbers (floats), through ``device`` (NCCL needs a
        GPU tensor)."""
        values = torch.tensor([float(x) for x in numbers], dtype=torch.float64, device=device)
        self._all_reduce(values)
        return values.tolist()

    def _all_reduce(self, tensor) -> None:
        """Sum ``tensor`` over the ranks, waiting at most :func:`timeout_seconds`, whatever
        timeout the process group was made with (gloo's default is 30 minutes)."""
        try:
            work = self._dist.all_reduce(tensor, group=self.group, async_op=True)
            work.wait(timeout=self.timeout)
        except RuntimeError as err:
            raise self._failure(err) from err

    def _failure(self, err) -> RuntimeError:
        return RuntimeError(f"distributed training stopped on rank {self.rank}: another rank "
                            f"died, hung past the timeout or failed ({str(err).splitlines()[0]});"
                            " see the other ranks' logs, then resume from the last checkpoint")


def sync_chunk_tokens(world_size: int, largest: int) -> int:
    """The tokens a rank trains between two merges: ``STALE_TOKENS / (ranks - 1) ** 3`` (at
    most ``largest``, the backend's chunk; at least ``SMALLEST_CHUNK``).

    More ranks need much shorter periods: each rank misses the work of ``ranks - 1`` others,
    their summed changes to a row overshoot more, and each rank's share is smaller. Measured on
    the wiki sample (453k tokens, 5 epochs; docs/distributed.md has the table): 2 ranks merging
    every 65536 tokens train as well as one process; 4 ranks diverge at 16384 tokens each, lose
    up to 0.06 SimLex-999 at 4096 to 10922, and stay within the tolerances at 2427.

    Examples
    --------
    >>> [sync_chunk_tokens(n, 1 << 17) for n in (2, 3, 4, 8)]
    [65536, 8192, 2427, 1024]
    """
    return max(SMALLEST_CHUNK, min(largest, STALE_TOKENS // max(world_size - 1, 1) ** 3))


def heaviest_rows(weights: np.ndarray, share: float) -> torch.Tensor:
    """The indices of the heaviest rows that together hold ``share`` of the total weight.

    Examples
    --------
    >>> heaviest_rows(np.array([1.0, 6.0, 3.0]), 0.5).tolist()
    [1]
    >>> heaviest_rows(np.array([1.0, 6.0, 3.0]), 0.7).tolist()
    [1, 2]
    """
    if share <= 0:
        return torch.zeros(0, dtype=torch.int64)
    order = np.argsort(-weights, kind="stable")
    covered = int(np.searchsorted(np.cumsum(weights[order]), share * weights.sum() - 1e-9)) + 1
    return torch.from_numpy(order[:min(covered, len(weights))].copy())


PREFIX_ROWS = 1024  # pWord2Vec's: the most frequent rows every merge, twice as many every 2nd


def merged_prefix(merge: int, rows: int, first: int = PREFIX_ROWS) -> int:
    """How many of the most frequent rows merge number ``merge`` (1, 2, ...) merges:
    ``first`` rows, twice as many every second merge, four times every fourth, and so on
    (pWord2Vec's schedule), at most ``rows``. A row of frequency rank ``r`` is merged about
    every ``r / first`` merges, so a merge carries about ``first x log2(rows / first)`` rows,
    whatever the vocabulary.

    Examples
    --------
    >>> [merged_prefix(k, 10_000) for k in range(1, 9)]
    [1024, 2048, 1024, 4096, 1024, 2048, 1024, 8192]
    """
    return min(rows, first << ((merge & -merge).bit_length() - 1))


class TableMerger(LoopHook):
    """The loop hook that keeps the ranks' tables in step: after every chunk, and until no rank
    has chunks of the epoch left (a rank that finished joins the others' rounds), the ranks'
    changes to the tables are merged (:meth:`Distributed.merge_changes`); the epoch's totals
    become the sums over the ranks. The tables agree on every rank when training begins (the
    seeded initialisation, or the checkpoint it resumes from): that state is the first anchor.

    **Which rows**: a merge after a chunk carries the most frequent rows only, on pWord2Vec's
    geometric schedule (:func:`merged_prefix`): the words' rows in frequency order, and with
    hierarchical softmax the inner nodes from the root down (a frequent word's path starts
    there). A row not merged keeps its change since its last merge, and the next merge that
    takes it adds it whole, so no update is lost; the epoch ends with one merge of every row.
    For 1M words at 100 dimensions that is about 5 MB a merge instead of 800 MB.

    **Sum or mean**: the rows of the most frequent words covering ``MEAN_SHARE`` of the tokens
    (and as many inner nodes next to the root) take the ranks' mean change: every rank trained
    them dozens of times in a chunk, each towards the same target, and the sum of 4 ranks'
    changes overshoots (measured on the wiki sample, 4 ranks merging every 8192 tokens: the
    loss diverges with the sum). The other rows take the sum, as one process would apply them
    (their mean scales their updates by ``1 / ranks``: WordSim353 0.26 -> 0.16 with 2 ranks;
    the mean over the ranks that changed a row: 0.17). With the merges as often as
    :func:`sync_chunk_tokens` makes them, a tenth of the tokens is enough (4 ranks, 6 seeds:
    WordSim353 0.254 with a tenth, 0.233 with a quarter, 0.216 with 0.4)."""

    def __init__(self, group: Distributed, tables, mode, counts, sparse: bool = True):
        self.group = group
        self.tables = [tables.input_vectors.data, tables.output_vectors.data]
        self.anchors = None  # the state last agreed on: taken when training begins
        counts = np.asarray(counts, dtype=np.float64)
        words = torch.from_numpy(np.argsort(-counts, kind="stable"))  # most frequent first
        frequent = heaviest_rows(counts, MEAN_SHARE)
        outputs, orders = [], []
        if mode.negative:  # the words' rows: trained as targets and as noise words
            outputs.append(frequent)
            orders.append(words)
        if mode.hs:  # the inner nodes, from the root (the last one) down
            root = mode.hs_offset(len(counts)) + len(counts) - 2
            outputs.append(torch.arange(root, root - min(len(frequent), len(counts) - 1), -1))
            orders.append(torch.arange(root, root - (len(counts) - 1), -1))
        self.orders = [words, orders]
        self.scales = []
        for table, mean in zip(self.tables, [frequent, torch.cat(outputs) if outputs else None]):
            scale = torch.ones(table.shape[0], 1, dtype=table.dtype, device=table.device)
            if mean is not None:
                scale[mean.to(table.device)] = 1.0 / group.world_size
            self.scales.append(scale)
        self.sparse = sparse
        self._rows = {}  # prefix length -> the rows each table merges

    def rows(self, merge: int):
        """The rows each table merges in merge number ``merge`` (None: all)."""
        if not self.sparse:
            return None
        prefix = merged_prefix(merge, len(self.orders[0]))
        if prefix not in self._rows:
            device = self.tables[0].device
            words = self.orders[0][:prefix]
            outputs = [order[:prefix] for order in self.orders[1]]
            picked = [words, torch.cat(outputs) if outputs else words[:0]]
            self._rows[prefix] = [torch.sort(p)[0].to(device) for p in picked]
        return self._rows[prefix]

    def on_train_begin(self, run):
        self.anchors = [t.clone() for t in self.tables]

    def _merge(self, more: bool, every_row: bool = False) -> bool:
        rows = None if every_row else self.rows(self.group.merges + 1)
        return self.group.merge_changes(self.tables, self.anchors, self.scales, more, rows)

    def on_chunk_end(self, run, position):
        self._merge(more=True)

    def epoch_totals(self, run, totals):
        """Join the other ranks' remaining rounds until none has chunks left, merge every row
        once (every rank then holds the same tables), and return the ranks' sums of
        ``totals``."""
        while self._merge(more=False):
            pass
        self._merge(more=False, every_row=True)
        return self.group.sum_numbers(*totals, device=self.tables[0].device)
