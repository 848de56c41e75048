"""R ranks of data-parallel training simulated in one process: quality at scale without a
cluster.

Each simulated rank is a thread that runs the real fit (``TorchWord2Vec(distributed=True)``:
the real sharding, joint count, chunking, random streams and merge code of
:mod:`torch_w2v.distributed`) over a collective that adds the ranks' tensors in rank order once
every rank has contributed (a barrier, no sockets). The result does not depend on how the
threads are scheduled, and with one worker per rank it equals a real ``torchrun`` run of as many
ranks bit for bit (tests/test_distributed.py checks 2). It costs one process's training time
(the ranks share this machine's cores) plus the merges, so R = 64 runs on a laptop.

    python benchmarks/simulate_ranks.py --corpus wiki.txt --ranks 1,2,4,8,16,32,64 --seeds 1,2
    python benchmarks/simulate_ranks.py --corpus big.txt --ranks 1,8 --period 65536 \\
        --rule aligned_mean --alpha 0.075     # long periods (docs/distributed.md)

prints and writes (``--out``) a table: per R, the merges, the bytes each rank sent per merge
and per token, and the quality (analogy, WordSim353, SimLex-999) next to one process's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from torch_w2v import TorchWord2Vec  # noqa: E402
from torch_w2v import distributed as dist_module  # noqa: E402
from torch_w2v.evaluate import evaluate  # noqa: E402


class ThreadCollective:
    """All-reduce (sum, in rank order) and all-gather across ``world`` threads."""

    def __init__(self, world: int):
        self.world = world
        self.barrier = threading.Barrier(world)
        self.slots = [None] * world
        self.result = None

    def _exchange(self, rank: int, value, combine):
        self.slots[rank] = value
        self.barrier.wait()
        if rank == 0:
            self.result = combine(self.slots)
        self.barrier.wait()
        result = self.result
        self.barrier.wait()  # nobody reads slots or result of this round any more
        return result

    def backend(self, rank: int):
        """What a :class:`torch_w2v.distributed.Distributed` calls, for rank ``rank``."""
        collective = self

        class Done:  # a finished collective's handle
            @staticmethod
            def wait(timeout=None):
                return True

        class Backend:
            @staticmethod
            def get_rank(group=None):
                return rank

            @staticmethod
            def get_world_size(group=None):
                return collective.world

            @staticmethod
            def all_reduce(tensor, group=None, async_op=False):
                def add(tensors):
                    total = tensors[0].clone()
                    for other in tensors[1:]:
                        total += other
                    return total
                tensor.copy_(collective._exchange(rank, tensor, add))
                return Done()

            @staticmethod
            def all_gather_object(out, value, group=None):
                out[:] = collective._exchange(rank, value, list)
        return Backend


def simulate(ranks: int, fit_params: dict, corpus_file: str, sparse: bool = True,
             **fit_options) -> list:
    """Fit ``ranks`` simulated ranks (``fit_options``, e.g. ``resume=True``, go to every rank's
    ``fit``); returns their estimators (all hold the same vectors) and rank 0's merge count and
    bytes."""
    collective = ThreadCollective(ranks)
    local = threading.local()
    current = dist_module.Distributed.current
    merger_init = dist_module.TableMerger.__init__

    def sparse_or_dense(self, *args, **kwargs):
        merger_init(self, *args, **{**kwargs, "sparse": sparse})

    estimators, groups, errors = [None] * ranks, [None] * ranks, []

    def rank_main(rank):
        try:
            local.group = groups[rank] = dist_module.Distributed(
                backend=collective.backend(rank))
            est = TorchWord2Vec(**fit_params, distributed=True, progress=False)
            estimators[rank] = est.fit(corpus_file=corpus_file, **fit_options)
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append((rank, err))
            collective.barrier.abort()

    dist_module.Distributed.current = classmethod(lambda cls: getattr(local, "group", None))
    dist_module.TableMerger.__init__ = sparse_or_dense
    try:
        threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(ranks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        dist_module.Distributed.current = current
        dist_module.TableMerger.__init__ = merger_init
    if errors:
        raise RuntimeError(f"simulated rank {errors[0][0]} failed") from errors[0][1]
    return estimators, groups[0]


def merge_bytes(vocab: int, dims: int, merges: int, sparse: bool = True) -> float:
    """Mean bytes one rank sends into a merge (both tables, negative sampling) over ``merges``
    merges of :func:`torch_w2v.distributed.merged_prefix`'s schedule, as merge_changes packs
    them (each row's change and its squared norm, float32)."""
    if not sparse:
        return 2 * vocab * (dims + 1) * 4
    rows = sum(dist_module.merged_prefix(k, vocab) for k in range(1, merges + 1)) / merges
    return 2 * rows * (dims + 1) * 4


def projection(ranks: int, tokens: float, vocab: int, dims: int, words_per_second: float,
               period: int, bandwidth: float = 10e9 / 8, latency: float = 50e-6,
               epoch_end_full: bool = True) -> dict:
    """The parallel efficiency of one epoch of ``tokens`` on ``ranks`` ranks that each train
    ``words_per_second`` and merge every ``period`` tokens, over a ring all-reduce
    (``2 (R - 1) / R`` of the bytes through each link at ``bandwidth`` bytes/s, plus
    ``2 (R - 1)`` steps of ``latency``)."""
    share = tokens / ranks
    merges = max(1, int(share // period))
    ring = 2 * (ranks - 1) / ranks

    def seconds(size):
        return ring * size / bandwidth + 2 * (ranks - 1) * latency

    per_merge = merge_bytes(vocab, dims, merges)
    communication = merges * seconds(per_merge)
    if epoch_end_full:
        communication += seconds(merge_bytes(vocab, dims, 1, sparse=False))
    compute = share / words_per_second
    return {"ranks": ranks, "merges": merges, "bytes_per_merge": per_merge,
            "dense_fraction": per_merge / merge_bytes(vocab, dims, 1, sparse=False),
            "compute_s": compute, "communication_s": communication,
            "efficiency": compute / (compute + communication)}


def longest_period() -> int:
    """The longest period a simulated rank can train between merges: a merge follows every
    chunk of its backend (the fused op's where it is built, else the batched step's)."""
    from torch_w2v import ops
    from torch_w2v.backends.cpu_fused import CpuFused
    from torch_w2v.sampling import BATCH_CHUNK_TOKENS

    return CpuFused.chunk_tokens if ops.load() else BATCH_CHUNK_TOKENS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="a plain text file, a sentence a line")
    parser.add_argument("--ranks", default="1,2,4,8")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dense", action="store_true", help="merge whole tables (the old way)")
    parser.add_argument("--period", type=int, default=None, metavar="TOKENS",
                        help="tokens a rank trains between merges at every R, instead of "
                        "sync_chunk_tokens' rule (at most the backend's chunk: 131072 "
                        "tokens with the fused op)")
    parser.add_argument("--rule", choices=sorted(dist_module.MERGE_RULES),
                        default=dist_module.MERGE_RULE,
                        help="how a merge combines the ranks' changes of a row "
                        "(distributed.MERGE_RULES; default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="starting learning rate of the runs with R > 1 ranks (one process, "
                        "the baseline, keeps the estimator's default)")
    parser.add_argument("--out", default=str(HERE / "results" / "simulate_ranks.json"))
    args = parser.parse_args(argv)
    longest = longest_period()
    if args.period and args.period > longest:
        parser.error(f"--period {args.period}: a rank merges after every chunk of its backend, "
                     f"at most {longest} tokens; give at most that")
    torch.set_num_threads(1)
    dist_module.MERGE_RULE = args.rule
    rows, report = [], {}
    for ranks in map(int, args.ranks.split(",")):
        runs = []
        for seed in map(int, args.seeds.split(",")):
            params = dict(workers=1, seed=seed, epochs=args.epochs)
            if ranks == 1:
                est = TorchWord2Vec(**params, progress=False).fit(corpus_file=args.corpus)
                merges, sent = 0, 0
            else:
                if args.period:  # the rule's numerator that gives this period at R ranks
                    dist_module.STALE_TOKENS = args.period * (ranks - 1) ** 3
                    dist_module.SMALLEST_CHUNK = min(args.period, dist_module.SMALLEST_CHUNK)
                if args.alpha is not None:
                    params["alpha"] = args.alpha
                try:
                    estimators, group = simulate(ranks, params, args.corpus, not args.dense)
                except RuntimeError as err:
                    if not isinstance(err.__cause__, FloatingPointError):
                        raise
                    print(f"{ranks} ranks, seed {seed}: diverged ({err.__cause__})", flush=True)
                    runs = []
                    break
                est, merges, sent = estimators[0], group.merges, group.bytes_merged
            words = sum(h["words"] for h in est.history_)
            runs.append({"merges": merges, "bytes_per_merge": sent / max(merges, 1),
                         "bytes_per_token": sent * ranks / words,
                         "loss": est.history_[-1]["loss"], **evaluate(est.wv)})
            print(f"{ranks} ranks, seed {seed}: {runs[-1]}", flush=True)
        if not runs:
            report[ranks] = "diverged"
            rows.append(f"| {ranks} | diverged | | | | | | |")
            continue
        summary = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
        report[ranks] = summary
        rows.append(f"| {ranks} | {summary['merges']:.0f} | {summary['bytes_per_merge'] / 1e6:.2f}"
                    f" | {summary['bytes_per_token']:.1f} | {summary['loss']:.3f} | "
                    f"{summary['analogy']:.4f} | {summary['wordsim353']:.4f} | "
                    f"{summary['simlex999']:.4f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"corpus": args.corpus, "dense": args.dense,
                                          "rule": args.rule, "alpha": args.alpha,
                                          "period": args.period, "seeds": args.seeds,
                                          "ranks": report}, indent=2))
    print("| ranks | merges (rank 0) | MB per merge | bytes per token | loss | analogy | "
          "WS353 | SimLex |\n|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
