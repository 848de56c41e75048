"""One-shot GPU check: the CUDA tests, then torch_w2v on the GPU against gensim on every CPU core
of the same machine, same parameters, same files.

    python benchmarks/gpu_check.py --out DIR          # about 5 minutes on one H100, 16 cores

On the project's lent GPU machines (torch 2.11 with CUDA and Triton, no network, no gensim or
smart_open), from the project root, after ``../shared/gpu/wheels.sh`` has put their wheels in
``.whl/`` here and with ``.whl`` carried::

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \\
      && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 \\
      && python3 benchmarks/gpu_check.py --out $OUT

Steps, the most important first; ``DIR/gpu_check.json`` is rewritten after each, so a run cut
short keeps what it measured:

1. the CUDA tests (the Triton kernel on CUDA tensors, backend choice, a GPU fit);
2. quality: the wiki sample, torch_w2v on the GPU and gensim on all cores, 5 epochs each;
3. speed: a 50M-token synthetic corpus from a file, 5 epochs: training words/s (the epochs
   alone), end-to-end words/s (vocabulary pass included), peak GPU memory, the ratio to gensim;
4. where the time goes: ``torch.profiler`` over one epoch of a 5M-token corpus (the kernel,
   the sampler's kernels, host work, copies);
5. a large vocabulary: over 1M distinct words (``min_count=1``) at 300 dimensions, one epoch,
   float32 and then bfloat16 tables (the batched step: half the tables' GPU memory);
6. the CPU curve: torch_w2v's fused CPU step and gensim at 1, 2, 4, 8, 16 threads (and every
   core), skip-gram and CBOW, one epoch of the first ``4M x threads`` tokens (at most 64M) of
   one synthetic corpus file, so a run takes a few seconds at every thread count: words/s and
   the ratio per thread count; on every core also torch_w2v with ``dtype="bfloat16"``.

``DIR/gpu_check.png`` plots the words/s and quality side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

PARAMS = dict(vector_size=100, window=5, min_count=5, negative=5, sample=1e-3, epochs=5, seed=1)


def _save(report: dict, out: Path) -> None:
    from torch_w2v.io import atomic_write_text

    atomic_write_text(out / "gpu_check.json", json.dumps(report, indent=2, default=str))


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def environment() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cpus": os.cpu_count(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    for name in ("triton", "gensim", "numpy"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    return info


def cuda_tests(timeout: float) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/test_triton.py", "tests/test_backends.py",
               "tests/test_estimator.py::test_cuda_training_matches_cpu_batched_quality"]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        tail = (done.stdout + done.stderr)[-3000:]
        return {"returncode": done.returncode, "tail": tail}
    except subprocess.TimeoutExpired as err:
        return {"returncode": None, "tail": f"timed out after {timeout:.0f} s: {err}"}


DEVICE = "cuda"  # --device cpu: a dry run of this script on a machine without a GPU


def train_torch_w2v(path: Path, **params) -> dict:
    import torch

    from torch_w2v import TorchWord2Vec
    from torch_w2v.config import TrainingConfig

    estimator = TorchWord2Vec(**{**PARAMS, **params}, device=DEVICE, progress=False)
    backend = TrainingConfig.from_params(estimator.get_params()).backend
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    estimator.fit(corpus_file=str(path))
    seconds = time.perf_counter() - start
    epochs = estimator.history_
    words = sum(h["words"] for h in epochs)
    train_seconds = sum(h["seconds"] for h in epochs)
    return {"backend": backend.name, "seconds": seconds, "words": words,
            "words_per_sec": words / seconds, "train_words_per_sec": words / train_seconds,
            "before_training_seconds": seconds - train_seconds,
            "peak_gpu_memory_mb": (torch.cuda.max_memory_allocated() / 2**20
                                   if DEVICE == "cuda" else None),
            "vocab_size": len(estimator.wv), "final_loss": epochs[-1]["loss"],
            "wv": estimator.wv}


def train_gensim(path: Path, workers: int) -> dict:
    from gensim.models import Word2Vec

    start = time.perf_counter()
    model = Word2Vec(corpus_file=str(path), sg=1, hs=0, workers=workers, **PARAMS)
    seconds = time.perf_counter() - start
    words = model.corpus_total_words * PARAMS["epochs"]
    return {"seconds": seconds, "words": words, "words_per_sec": words / seconds,
            "vocab_size": len(model.wv), "wv": model.wv}


def compare(path: Path, workers: int, quality: bool) -> dict:
    from torch_w2v.evaluate import evaluate

    result = {}
    for name, train in (("torch_w2v", lambda: train_torch_w2v(path)),
                        ("gensim", lambda: train_gensim(path, workers))):
        run = train()
        wv = run.pop("wv")
        if quality:
            run.update(evaluate(wv))
        result[name] = run
        scores = {k: round(run[k], 4) for k in ("analogy", "wordsim353", "simlex999") if k in run}
        print(f"  {name}: {run['words_per_sec']:,.0f} words/s end to end"
              + (f", {run['train_words_per_sec']:,.0f} training" if "train_words_per_sec" in run
                 else "") + (f", quality {scores}" if scores else ""), flush=True)
    result["ratio_end_to_end"] = (result["torch_w2v"]["words_per_sec"]
                                  / result["gensim"]["words_per_sec"])
    return result


def profile(path: Path) -> dict:
    """One epoch under torch.profiler: the top operators by GPU and by CPU time."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from torch_w2v import TorchWord2Vec

    estimator = TorchWord2Vec(**{**PARAMS, "epochs": 1}, device=DEVICE, progress=False)
    estimator.fit(corpus_file=str(path))  # warm: kernels compiled, caches filled
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        start = time.perf_counter()
        estimator.fit(corpus_file=str(path))
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    events = prof.key_averages()
    device_total = sum(e.self_device_time_total for e in events) / 1e6
    kernel = sum(e.self_device_time_total for e in events if "sgns" in e.key) / 1e6
    copies = sum(e.self_device_time_total for e in events if "Memcpy" in e.key) / 1e6
    return {
        "wall_seconds": wall, "gpu_busy_seconds": device_total,
        "sgns_kernel_seconds": kernel, "copy_seconds": copies,
        "other_gpu_seconds": device_total - kernel - copies,
        "training_seconds": estimator.history_[-1]["seconds"],
        "top_gpu": events.table(sort_by="self_device_time_total", row_limit=15),
        "top_cpu": events.table(sort_by="self_cpu_time_total", row_limit=15),
    }


def plot(report: dict, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (speed, quality) = plt.subplots(1, 2, figsize=(10, 4))
    labels, ours, theirs = [], [], []
    for key, label in (("speed_50m", "50M synthetic"), ("quality_wiki", "wiki sample")):
        if key in report:
            labels.append(label)
            ours.append(report[key]["torch_w2v"]["words_per_sec"] / 1e6)
            theirs.append(report[key]["gensim"]["words_per_sec"] / 1e6)
    xs = range(len(labels))
    speed.bar([x - 0.2 for x in xs], ours, 0.4, label=f"torch_w2v ({DEVICE})")
    speed.bar([x + 0.2 for x in xs], theirs, 0.4, label=f"gensim ({report['env']['cpus']} cores)")
    speed.set_xticks(list(xs), labels)
    speed.set_title("end-to-end words/s (millions), 5 epochs from a file")
    speed.legend()
    if "quality_wiki" in report:
        metrics = ["analogy", "wordsim353", "simlex999"]
        q = report["quality_wiki"]
        quality.bar([i - 0.2 for i in range(3)], [q["torch_w2v"][m] for m in metrics], 0.4,
                    label=f"torch_w2v ({DEVICE})")
        quality.bar([i + 0.2 for i in range(3)], [q["gensim"][m] for m in metrics], 0.4,
                    label="gensim")
        quality.set_xticks(range(3), metrics)
        quality.set_title("quality, wiki sample")
        quality.legend()
    fig.suptitle(f"{report['env']['gpu']}, torch {report['env']['torch']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def prefix_file(path: Path, tokens: int, total_tokens: int) -> Path:
    """The first lines of ``path`` holding about ``tokens`` of its ``total_tokens`` (cut by
    bytes at a line end: the same text at every size)."""
    if tokens >= total_tokens:
        return path
    target = path.with_name(f"{path.stem}-first-{tokens}.txt")
    if not target.exists():
        size = path.stat().st_size * tokens // total_tokens
        with open(path, "rb") as source:
            head = source.read(size)
        target.write_bytes(head[:head.rfind(b"\n") + 1])
    return target


def cpu_curve(path: Path, total_tokens: int, per_thread: int) -> dict:
    """torch_w2v (device cpu) and gensim at 1, 2, 4, ... threads, both modes, one epoch; on
    every core also torch_w2v with bfloat16 tables (where memory bandwidth is shared most)."""
    from gensim.models import Word2Vec

    from torch_w2v import TorchWord2Vec

    cores = os.cpu_count() or 1
    threads = sorted({t for t in (1, 2, 4, 8, 16) if t <= cores} | {cores})
    rows = []
    for sg in (1, 0):
        for t in threads:
            text = prefix_file(path, min(total_tokens, per_thread * t), total_tokens)
            params = {**PARAMS, "epochs": 1, "sg": sg}
            start = time.perf_counter()
            est = TorchWord2Vec(**params, workers=t, device="cpu", progress=False)
            est.fit(corpus_file=str(text))
            ours = time.perf_counter() - start
            words = est.history_[-1]["words"]
            start = time.perf_counter()
            Word2Vec(corpus_file=str(text), workers=t, **params)
            theirs = time.perf_counter() - start
            rows.append({"mode": "skip-gram" if sg else "CBOW", "threads": t, "words": words,
                         "torch_w2v_words_per_sec": words / ours,
                         "torch_w2v_train_words_per_sec": words / est.history_[-1]["seconds"],
                         "gensim_words_per_sec": words / theirs, "ratio": theirs / ours})
            if t == cores:
                start = time.perf_counter()
                TorchWord2Vec(**params, workers=t, device="cpu", dtype="bfloat16",
                              progress=False).fit(corpus_file=str(text))
                rows[-1]["torch_w2v_bfloat16_words_per_sec"] = words / (
                    time.perf_counter() - start)
            print(f"  {rows[-1]['mode']}, {t} threads, {words:,} words: torch_w2v "
                  f"{words / ours:,.0f} words/s, gensim {words / theirs:,.0f}, ratio "
                  f"{theirs / ours:.2f}", flush=True)
    return {"rows": rows}


def table(report: dict) -> str:
    """The numbers that matter, as one markdown table."""
    lines = ["| measurement | torch_w2v | gensim | ratio |", "|---|---|---|---|"]
    for key, label in (("quality_wiki", "wiki sample, 5 epochs"),
                       ("speed_50m", "synthetic corpus, 5 epochs")):
        if key in report:
            ours, theirs = report[key]["torch_w2v"], report[key]["gensim"]
            lines.append(f"| {label}: words/s end to end | {ours['words_per_sec']:,.0f} | "
                         f"{theirs['words_per_sec']:,.0f} | "
                         f"{ours['words_per_sec'] / theirs['words_per_sec']:.2f} |")
            lines.append(f"| {label}: training words/s | {ours['train_words_per_sec']:,.0f} "
                         "| | |")
            for metric in ("analogy", "wordsim353", "simlex999"):
                if metric in ours:
                    lines.append(f"| {label}: {metric} | {ours[metric]:.4f} | "
                                 f"{theirs[metric]:.4f} | |")
    for key, label in (("large_vocab", "float32"), ("large_vocab_bfloat16", "bfloat16")):
        if key in report:
            run = report[key]
            lines.append(f"| {run['vocab_size']:,} words x 300, {label} ({run['backend']}): "
                         f"training words/s; peak GPU MB | {run['train_words_per_sec']:,.0f}; "
                         f"{run['peak_gpu_memory_mb'] or 0:,.0f} | | |")
    for row in report.get("cpu_curve", {}).get("rows", []):
        lines.append(f"| CPU {row['mode']}, {row['threads']} threads: words/s | "
                     f"{row['torch_w2v_words_per_sec']:,.0f} | "
                     f"{row['gensim_words_per_sec']:,.0f} | {row['ratio']:.2f} |")
        if "torch_w2v_bfloat16_words_per_sec" in row:
            half = row["torch_w2v_bfloat16_words_per_sec"]
            lines.append(f"| CPU {row['mode']}, {row['threads']} threads, bfloat16: words/s | "
                         f"{half:,.0f} | | {half / row['gensim_words_per_sec']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--tokens", type=int, default=50_000_000,
                        help="tokens of the synthetic speed corpus (default 50M)")
    parser.add_argument("--skip", default="", help="comma-separated steps to leave out: "
                        "tests, quality, speed, profile, vocab, curve")
    parser.add_argument("--curve-tokens", type=int, default=4_000_000, metavar="N",
                        help="tokens per thread of the CPU curve's runs (default 4M; at most "
                        "16 x N tokens in all)")
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    import bench

    corpora = out / "corpora"
    report = {"env": environment()}
    workers = os.cpu_count() or 1
    print(json.dumps(report["env"]), flush=True)
    _save(report, out)
    if "tests" not in skip:
        start = _step("CUDA tests")
        report["tests"] = cuda_tests(timeout=240)
        print(report["tests"]["tail"][-1500:], flush=True)
        report["tests"]["seconds"] = time.perf_counter() - start
        _save(report, out)
    if "quality" not in skip:
        start = _step("quality: the wiki sample, 5 epochs")
        report["quality_wiki"] = compare(bench.wiki_sample_file(corpora), workers, quality=True)
        report["quality_wiki"]["seconds"] = time.perf_counter() - start
        _save(report, out)
    if "speed" not in skip:
        start = _step(f"speed: {args.tokens:,} synthetic tokens from a file, 5 epochs")
        path = bench.synthetic_file(corpora, args.tokens, 100_000)
        report["speed_50m"] = compare(path, workers, quality=False)
        report["speed_50m"]["seconds"] = time.perf_counter() - start
        _save(report, out)
    if "profile" not in skip:
        start = _step("profile: one epoch of 5M synthetic tokens")
        report["profile"] = profile(bench.synthetic_file(corpora, 5_000_000, 100_000))
        print(report["profile"]["top_gpu"], flush=True)
        report["profile"]["seconds"] = time.perf_counter() - start
        _save(report, out)
    if "vocab" not in skip:
        start = _step("large vocabulary: over 1M distinct words, 300 dimensions, one epoch")
        path = bench.synthetic_file(corpora, 20_000_000, 1_300_000)  # 1.12M words seen
        for dtype in ("float32", "bfloat16"):  # bfloat16: the batched step, half the tables
            run = train_torch_w2v(path, vector_size=300, min_count=1, epochs=1, dtype=dtype)
            run.pop("wv")
            key = "large_vocab" if dtype == "float32" else "large_vocab_bfloat16"
            report[key] = {**run, "seconds_step": time.perf_counter() - start}
            print(f"  {run['vocab_size']:,} words x 300, {dtype} ({run['backend']}): "
                  f"{run['train_words_per_sec']:,.0f} words/s training, peak GPU memory "
                  f"{run['peak_gpu_memory_mb'] or 0:,.0f} MB", flush=True)
            _save(report, out)
    if "curve" not in skip:
        start = _step("the CPU curve: torch_w2v and gensim at 1-16 threads")
        total = 16 * args.curve_tokens
        path = bench.synthetic_file(corpora, total, 100_000)
        report["cpu_curve"] = {**cpu_curve(path, total, args.curve_tokens),
                               "seconds": time.perf_counter() - start}
        _save(report, out)
    if DEVICE == "cuda":
        plot(report, out / "gpu_check.png")
    print("\n" + table(report), flush=True)
    print(f"written: {out / 'gpu_check.json'}"
          + (f" {out / 'gpu_check.png'}" if DEVICE == "cuda" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
