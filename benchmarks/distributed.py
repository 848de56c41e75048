"""Data-parallel training under torchrun on one machine: time and quality of 1, 2 and 4 ranks
(one thread each) against one process with one thread, and the cost of a sync.

    python benchmarks/distributed.py [--corpus FILE ...] [--ranks 1,2,4] [--seeds 1,2,3]

Each configuration runs as its own ``torchrun --nproc-per-node N`` job (one rank: a plain
process); rank 0 times its ``fit`` and scores the vectors. The sync measurement times, on 2
gloo ranks, the merge of the tables after a chunk (one all-reduce of both tables), for the
corpus's vocabulary at 100 dimensions. Results: ``--out``/distributed.json and a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORKER = r'''
import json, os, sys, time
from torch_w2v import TorchWord2Vec
from torch_w2v.callbacks import Callback
from torch_w2v.distributed import Distributed, init_from_environment
from torch_w2v.evaluate import evaluate

corpus, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
init_from_environment()
merges = []


class CountMerges(Callback):
    def on_train_end(self, run, history):
        group = getattr(run.topology, "group", None)
        merges.append((group.merges, group.bytes_merged) if group is not None else (0, 0))


dist = Distributed.current()
est = TorchWord2Vec(workers=1, seed=seed, progress=False, callbacks=[CountMerges()],
                    distributed=dist is not None)
start = time.perf_counter()
est.fit(corpus_file=corpus)
seconds = time.perf_counter() - start
if dist is None or dist.rank == 0:
    result = {"seconds": seconds, "words": sum(h["words"] for h in est.history_),
              "loss": est.history_[-1]["loss"], **evaluate(est.wv),
              "vocab": len(est.wv), "merges": merges[0][0],
              "bytes_per_merge": merges[0][1] / max(merges[0][0], 1)}
    json.dump(result, open(out, "w"))
if dist is not None:
    import torch.distributed as td
    td.destroy_process_group()
'''

SYNC = r'''
import json, sys, time
from types import SimpleNamespace
import numpy as np
import torch.distributed as td
from torch_w2v.distributed import Distributed, TableMerger, init_from_environment
from torch_w2v.model import EmbeddingTables
from torch_w2v.modes import Mode
from torch_w2v.train import Position

vocab, dim, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
init_from_environment()
dist = Distributed.current()
tables = EmbeddingTables(vocab, dim)
zipf = 1e6 / np.arange(1, vocab + 1)  # word counts as real text has them
result = {}
for sparse in (False, True):
    merger = TableMerger(dist, tables, Mode(), zipf, sparse=sparse)
    run = SimpleNamespace(position=Position())  # what a merger reads of a training run
    merger.on_train_begin(run)
    for _ in range(4):
        merger.on_chunk_end(run, run.position)
    td.barrier()
    merges, sent = dist.merges, dist.bytes_merged
    start = time.perf_counter()
    for _ in range(64):
        merger.on_chunk_end(run, run.position)
    name = "sparse" if sparse else "dense"
    result[name + "_seconds"] = (time.perf_counter() - start) / 64
    result[name + "_bytes"] = (dist.bytes_merged - sent) / (dist.merges - merges)
if dist.rank == 0:
    json.dump(result, open(out, "w"))
td.destroy_process_group()
'''


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(ranks: int, script: str, args: list) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"}
    if ranks == 1:
        command = [sys.executable, f.name, *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                   str(ranks), "--master-port", str(_port()), f.name, *args]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    os.unlink(f.name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="+", default=[str(HERE / "results" / "corpora" /
                                                            "wiki-sample-pieces.txt")])
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    lines = ["| corpus | ranks | merges | fit seconds (median) | time ratio | final loss | analogy "
             "| WS353 | SimLex |", "|---|---|---|---|---|---|---|---|---|"]
    for corpus in args.corpus:
        name = Path(corpus).name
        report[name] = {}
        for ranks in map(int, args.ranks.split(",")):
            runs = []
            for seed in map(int, args.seeds.split(",")):
                target = out / f"dist-{ranks}-{seed}.json"
                _run(ranks, WORKER, [corpus, str(seed), str(target)])
                runs.append(json.loads(target.read_text()))
                print(f"{name}: {ranks} rank(s), seed {seed}: {runs[-1]}", flush=True)
            summary = {k: statistics.mean(r[k] for r in runs)
                       for k in ("loss", "analogy", "wordsim353", "simlex999")}
            summary["seconds"] = statistics.median(r["seconds"] for r in runs)
            summary["vocab"] = runs[0]["vocab"]
            summary["merges"] = runs[0]["merges"]
            report[name][ranks] = summary
            base = report[name][min(report[name])]["seconds"]
            lines.append(f"| {name} | {ranks} | {summary['merges']} | {summary['seconds']:.2f} | "
                         f"{summary['seconds'] / base:.2f} | {summary['loss']:.4f} | "
                         f"{summary['analogy']:.4f} | {summary['wordsim353']:.4f} | "
                         f"{summary['simlex999']:.4f} |")
        first = report[name][min(report[name])]
        target = out / "dist-sync.json"
        _run(2, SYNC, [str(first["vocab"]), "100", str(target)])
        report[name]["sync"] = json.loads(target.read_text())
        print(f"{name}: sync {report[name]['sync']}", flush=True)
    (out / "distributed.json").write_text(json.dumps(report, indent=2))
    table = "\n".join(lines)
    (out / "distributed.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
