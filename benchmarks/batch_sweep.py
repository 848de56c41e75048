"""Stability of large batches: final loss and quality on gensim's Wikipedia sample across batch
sizes for the batched step, with and without ``update_cap``, next to the fused step (which
trains chunks of text block by block: it has no batch size).

    python benchmarks/batch_sweep.py              # writes benchmarks/results/batch-sweep.md
    python benchmarks/batch_sweep.py --device cuda --sizes 65536,262144,1048576,4194304
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2048,8192,32768,131072,524288")
    parser.add_argument("--steps", default="fused,batched")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)

    from torch_w2v import TorchWord2Vec
    from torch_w2v.datasets import wiki_sample
    from torch_w2v.evaluate import SentencePieces, evaluate
    from torch_w2v.io import atomic_write_text

    corpus = list(SentencePieces(wiki_sample()))
    rows = []
    configs = [(step, cap) for step in args.steps.split(",")
               for cap in ((256, None) if step == "batched" else (256,))]
    for step, cap in configs:
        sizes = list(map(int, args.sizes.split(","))) if step == "batched" else [None]
        for size in sizes:
            est = TorchWord2Vec(batch_size=size, step=step, update_cap=cap, device=args.device,
                                workers=args.workers, progress=False)
            try:
                est.fit(corpus)
                row = {"final_loss": est.history_[-1]["loss"], **evaluate(est.wv)}
            except FloatingPointError:
                row = {"final_loss": float("nan"), "diverged": True}
            row.update(step=step, update_cap=cap, batch_size=size)
            rows.append(row)
            print(json.dumps(row), flush=True)
    lines = ["| step | update_cap | batch (pairs) | final loss | analogy | WS353 | SimLex |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        q = [f"{r[k]:.4f}" if k in r else "diverged"
             for k in ("analogy", "wordsim353", "simlex999")]
        size = f"{r['batch_size']:,}" if r["batch_size"] else "-"
        cap = r["update_cap"] if r["step"] == "batched" else "-"
        lines.append(f"| {r['step']} | {cap} | {size} | "
                     f"{r['final_loss']:.4f} | " + " | ".join(q) + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "batch-sweep.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "batch-sweep.json", json.dumps(rows, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
