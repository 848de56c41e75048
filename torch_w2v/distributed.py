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
  the last agreement of the most frequent rows are merged in one all-reduce, summed and capped
  where they were aligned; every row is merged at each epoch's end (see :class:`TableMerger`),
  so every rank ends every epoch with the same vectors;
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
import time

import numpy as np
import torch

from . import environment
from .train import LoopHook

__all__ = ["Distributed", "TableMerger", "byte_share", "init_from_environment",
           "merged_prefix", "sync_chunk_tokens", "timeout_seconds"]

logger = logging.getLogger("torch_w2v")

STALE_TOKENS = 65536  # a 2-rank run's chunk: sets every run's chunk (sync_chunk_tokens)
SMALLEST_CHUNK = 1024
SLOW_MERGES = 0.5  # the share of an epoch's time in merges above which rank 0 warns
MEASURED_RANKS = 8  # the most ranks simulated close to one process (docs/distributed.md)
MEASURED = (f"the merges were measured to train close to one process up to {MEASURED_RANKS} "
            "ranks (analogy accuracy at most 0.013 lower); 16 lost 0.012-0.024, and 32 and 64 "
            "diverged (docs/distributed.md)")  # what a run of more ranks is told


def timeout_seconds() -> float:
    """How long a rank waits for the others at a collective: ``$TORCH_W2V_DIST_TIMEOUT``
    seconds, default 300, for every process group (``init_from_environment``'s, or one your
    script made with another timeout)."""
    return environment.seconds("TORCH_W2V_DIST_TIMEOUT", 300.0)


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

    def merge_changes(self, tables, anchors, more: bool, rows=None,
                      agree: bool = False) -> tuple:
        """Add up the ranks' changes to ``tables`` since ``anchors`` (the tables as last agreed)
        in one collective, each row's changes combined by :data:`MERGE_RULE`; the merged rows of
        tables and anchors become the result. ``rows`` (per table, sorted row indices; None:
        every row) limits the merge to those rows: the others keep their changes for a later
        merge. Returns whether any rank still has chunks of this epoch to train (``more`` on
        one), and whether any rank asks for every row to agree now (``agree`` on one: a
        checkpoint follows)."""
        rows = rows or [None] * len(tables)
        counts = [t.shape[0] if r is None else len(r) for t, r in zip(tables, rows)]
        sizes = [n * (t.shape[1] + 1) for n, t in zip(counts, tables)]
        flat = self._buffer(sum(sizes) + 2, tables[0])
        parts = [part.view(n, -1) for part, n in zip(torch.split(flat[:-2], sizes), counts)]
        for table, anchor, picked, part in zip(tables, anchors, rows, parts):
            change = part[:, :-1]  # each row: its change, then the change's squared norm
            if picked is None:
                torch.sub(table, anchor, out=change)
            else:
                torch.sub(table[picked], anchor[picked], out=change)
            torch.sum(change * change, dim=1, out=part[:, -1])
        flat[-2], flat[-1] = float(more), float(agree)
        self._all_reduce(flat)
        self.merges += 1
        self.bytes_merged += flat.numel() * flat.element_size()
        for table, anchor, picked, part in zip(tables, anchors, rows, parts):
            change = MERGE_RULES[MERGE_RULE](part[:, :-1], part[:, -1], self.world_size)
            if picked is None:
                anchor += change
                table.copy_(anchor)
            else:
                anchor.index_add_(0, picked, change)
                table[picked] = anchor[picked]
        return bool(flat[-2].item() > 0), bool(flat[-1].item() > 0)

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


ALIGNED_CAP = 2.0


def _capped(summed: torch.Tensor, squares: torch.Tensor, world: int) -> torch.Tensor:
    """The ranks' summed changes of some rows, each scaled down where it is longer than
    independent changes add up to: ``|sum|^2 <= ALIGNED_CAP x (sum of |change|^2)``.

    Changes of a rare word's row come from different contexts on different ranks and are
    nearly orthogonal: their sum's squared length is about the sum of their squared lengths,
    and the sum stands, as one process would have applied them. The changes of a frequent
    word's row all pull towards the same target: R of them add up to R times one, which
    overshoots (4 ranks diverged with the plain sum); capped, they add up to about
    ``sqrt(2 R)`` times one. Measured (benchmarks/simulate_ranks.py, docs/distributed.md):
    within tolerance of one process at 2 to 16 ranks where the plain sum with a tenth of the
    tokens averaged diverged at 8; it diverges at 8 ranks merging every 4,096 tokens or more,
    on abc webtext and on a five times larger corpus. ``world`` (the ranks) is not needed here."""
    norms = (summed * summed).sum(1)
    bound = ALIGNED_CAP * squares
    scale = torch.where(norms > bound, torch.sqrt(bound / norms.clamp_min(1e-30)),
                        torch.ones_like(norms))
    return summed * scale.unsqueeze(1)


def _mean(summed: torch.Tensor, squares: torch.Tensor, world: int) -> torch.Tensor:
    """The ranks' mean change of some rows (model averaging: pWord2Vec's merge, and local
    SGD's). Never longer than the longest rank's change: stable at every period measured, but
    a rare word's row, changed by one rank, moves by ``1 / world`` of that change: measured
    with the simulator, 8 ranks learn little at the default learning rate (docs/distributed.md,
    "Long periods")."""
    return summed / world


def _aligned_mean(summed: torch.Tensor, squares: torch.Tensor, world: int) -> torch.Tensor:
    """The ranks' summed changes of some rows, each divided by how aligned the changes were:
    ``|sum|^2 / (sum of |change|^2)``, between 1 and ``world``.

    Orthogonal changes (a rare word's row, trained in different contexts on different ranks)
    have an alignment of 1 and are summed; ``world`` equal changes (a frequent word's row that
    every rank trained to the same target) have an alignment of ``world`` and are averaged.
    Measured with the simulator (docs/distributed.md, "Long periods"): with a larger learning
    rate it trains 8 ranks merging every 16,384-65,536 tokens where the capped sum diverges,
    0.01-0.02 below one process's analogy accuracy, but it diverges in other settings
    (4 ranks every 65,536 tokens, 16 every 16,384): not the default.

    Examples
    --------
    >>> same = torch.tensor([[3.0, 0.0]])  # 3 ranks' equal changes [1, 0], summed
    >>> _aligned_mean(same, torch.tensor([3.0]), 3)
    tensor([[1., 0.]])
    >>> apart = torch.tensor([[1.0, 1.0]])  # 2 ranks' orthogonal changes [1, 0] and [0, 1]
    >>> _aligned_mean(apart, torch.tensor([2.0]), 2)
    tensor([[1., 1.]])
    """
    alignment = (summed * summed).sum(1) / squares.clamp_min(1e-30)
    return summed / alignment.clamp(1.0, float(world)).unsqueeze(1)


MERGE_RULES = {"capped": _capped, "mean": _mean, "aligned_mean": _aligned_mean}
MERGE_RULE = "capped"  # what merge_changes uses; benchmarks/simulate_ranks.py --rule sets it


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
    For 1M words at 100 dimensions that is about 5 MB a merge instead of 800 MB. The schedule
    counts the merges of the epoch, so a run resumed from a checkpoint follows it on.

    **Checkpoints**: rank 0 writes the tables as they stand, so where a checkpoint follows a
    chunk (``checkpoint_due``, rank 0's checkpointer's; it travels to the other ranks in the
    chunk's merge), that merge is followed by one of every row, and every rank's place in the
    epoch (its words, loss sums) is gathered into :attr:`rank_positions` for the checkpoint:
    it holds the state every rank is in, and a run resumed from it ends where the
    uninterrupted run ends.

    **How**: each merged row takes the ranks' summed change, capped where the changes were
    aligned (:func:`_capped`): summed as one process would apply them, without the overshoot
    of R ranks pulling a frequent word's row the same way."""

    def __init__(self, group: Distributed, tables, mode, counts, sparse: bool = True):
        self.group = group
        self.tables = [tables.input_vectors.data, tables.output_vectors.data]
        self.anchors = None  # the state last agreed on: taken when training begins
        counts = np.asarray(counts, dtype=np.float64)
        words = torch.from_numpy(np.argsort(-counts, kind="stable"))  # most frequent first
        orders = []
        if mode.negative:  # the words' rows: trained as targets and as noise words
            orders.append(words)
        if mode.hs:  # the inner nodes, from the root (the last one) down
            root = mode.hs_offset(len(counts)) + len(counts) - 2
            orders.append(torch.arange(root, root - (len(counts) - 1), -1))
        self.orders = [words, orders]
        self.sparse = sparse
        self._rows = {}  # prefix length -> the rows each table merges
        self.position = None  # the run's Position: merges_done is the schedule's place
        self.checkpoint_due = None  # rank 0: position -> whether a checkpoint follows
        self.rank_positions = None  # every rank's Position.state() where one last followed
        self.seconds = 0.0  # spent in this epoch's merges, waits for the slowest rank included
        self._counted = (0, 0)  # the group's merges and bytes when this epoch began
        self._slow_warned = False

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
        self._counted = (self.group.merges, self.group.bytes_merged)
        self.position = run.position  # restored from a checkpoint: mid-epoch, merges go on

    def on_epoch_begin(self, run, epoch):
        self.position.merges_done = 0

    def _merge(self, more: bool, every_row: bool = False, agree: bool = False) -> bool:
        """One merge round (of every row, and a gather of every rank's place, where any rank
        asked ``agree``: a checkpoint follows); returns whether any rank has chunks left."""
        self.position.merges_done += 1
        rows = None if every_row else self.rows(self.position.merges_done)
        start = time.perf_counter()
        try:
            others, agreed = self.group.merge_changes(self.tables, self.anchors, more, rows,
                                                      agree)
            if agreed:  # a checkpoint follows: every row, and where every rank stands
                if rows is not None:
                    self.group.merge_changes(self.tables, self.anchors, more, None)
                self.rank_positions = self.group.gather(self.position.state())
            return others
        finally:
            self.seconds += time.perf_counter() - start

    def on_chunk_end(self, run, position):
        due = self.checkpoint_due is not None and self.checkpoint_due(position)
        self._merge(more=True, agree=due)

    def epoch_totals(self, run, totals):
        """Join the other ranks' remaining rounds until none has chunks left, merge every row
        once (every rank then holds the same tables), and return the ranks' sums of
        ``totals``."""
        while self._merge(more=False):
            pass
        self._merge(more=False, every_row=True)
        return self.group.sum_numbers(*totals, device=self.tables[0].device)

    def on_epoch_end(self, run, epoch, logs):
        """Rank 0 logs what the epoch's merges cost, and warns once when they took more than
        :data:`SLOW_MERGES` of its time: the ranks then train slower than fewer would."""
        merges = self.group.merges - self._counted[0]
        megabytes = (self.group.bytes_merged - self._counted[1]) / max(merges, 1) / 1e6
        share = self.seconds / max(logs["seconds"], 1e-9)
        if self.group.rank == 0:
            logger.info("epoch %d: %d merges of %.1f MB took %.2f s, %.0f%% of the epoch",
                        epoch, merges, megabytes, self.seconds, 100 * share)
            if share > SLOW_MERGES and not self._slow_warned:
                self._slow_warned = True
                logger.warning(
                    "merging the %d ranks' tables took %.0f%% of epoch %d (%.2f of %.2f s, "
                    "%d merges of %.1f MB, waits for the slowest rank included): the merges "
                    "cost more than the training they keep in step, and fewer ranks would "
                    "train faster (on one machine, one process with more workers does); "
                    "docs/distributed.md, 'Scaling on paper'", self.group.world_size,
                    100 * share, epoch, self.seconds, logs["seconds"], merges, megabytes)
        self.seconds, self._counted = 0.0, (self.group.merges, self.group.bytes_merged)
