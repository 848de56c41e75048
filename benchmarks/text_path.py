"""Tokens/s of the text path: counting a corpus file and recording it as word ids, in Python
(``streaming.count_and_record`` over ``CorpusFile``) and in C++ (``text.count_and_record_file``).

    python benchmarks/text_path.py FILE [FILE ...] [--rounds 3]

Each path runs in its own process per round (a cold Python heap, the file in the page cache
after the first read); reported: the median tokens/s of each and their ratio.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def run_worker(path: str, compiled: bool) -> dict:
    from torch_w2v import ops, text
    from torch_w2v.corpus import CorpusFile
    from torch_w2v.streaming import count_and_record

    ops.load()  # built or loaded before the clock starts
    start = time.perf_counter()
    if compiled:
        counter, total, recording = text.count_and_record_file(path)
    else:
        counter, total, recording = count_and_record(CorpusFile(path))
    seconds = time.perf_counter() - start
    recording.delete()
    return {"tokens": total, "words": len(counter), "seconds": seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=["python", "compiled"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args.files[0], args.worker == "compiled")))
        return 0
    for path in args.files:
        speed = {"python": [], "compiled": []}
        for _ in range(args.rounds):
            for name in speed:
                out = subprocess.run([sys.executable, __file__, path, "--worker", name],
                                     check=True, capture_output=True, text=True).stdout
                result = json.loads(out)
                speed[name].append(result["tokens"] / result["seconds"])
        python, compiled = (statistics.median(speed[k]) for k in ("python", "compiled"))
        print(f"{path}: {result['tokens']:,} tokens, {result['words']:,} distinct words; "
              f"python {python / 1e6:.2f}M tokens/s, compiled {compiled / 1e6:.2f}M tokens/s "
              f"({compiled / python:.1f}x; medians of {args.rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
