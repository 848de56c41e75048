"""What importing each library costs in resident memory, before any training.

Each line runs in a fresh Python process that imports the modules one after the other and reads
its RSS (``VmRSS`` of ``/proc/self/status``, in MB) after each import, so the increments add up
to what a trainer holds before it reads its corpus. It explains most of the peak-RSS gap between
torch_w2v and gensim in ``bench.py``'s results.

Usage::

    python benchmarks/import_memory.py [--json results/import-memory.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

# each chain is what one trainer imports, in order; later modules reuse earlier ones' imports
CHAINS = {
    "gensim": ["numpy", "gensim.models"],
    "torch_w2v": ["numpy", "torch", "sklearn.base", "gensim.models.keyedvectors", "torch_w2v"],
}

_MEASURE = """
import importlib, json, sys
def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
steps = [("python", rss())]
for name in sys.argv[1:]:
    importlib.import_module(name)
    steps.append((name, rss()))
print(json.dumps(steps))
"""


def measure(modules: list) -> list:
    """``[(module, rss_mb_after_it), ...]`` from a fresh interpreter, ``("python", ...)`` first."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *modules], check=True,
                         capture_output=True, text=True).stdout
    return [tuple(step) for step in json.loads(out)]


def markdown(results: dict) -> str:
    lines = ["| trainer | import | RSS after (MB) | added (MB) |", "|---|---|---|---|"]
    for trainer, steps in results.items():
        previous = 0.0
        for name, rss in steps:
            lines.append(f"| {trainer} | {name} | {rss:.0f} | {rss - previous:+.0f} |")
            previous = rss
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    results = {trainer: measure(modules) for trainer, modules in CHAINS.items()}
    print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
