"""Speed, memory and quality of torch_w2v against gensim's Word2Vec, same corpus, same parameters.

Each training runs in its own process (so peak RSS is that trainer's alone), both trainers read
the same corpus file (``fit(corpus_file=...)`` / ``Word2Vec(corpus_file=...)``, both streaming),
and they alternate for ``--rounds`` rounds. Reported: the median of the per-round words/s ratios
(torch_w2v / gensim), each trainer's median words/s and peak RSS (torch_w2v's also at epoch
ends, in training), and quality (analogy, WordSim353, SimLex-999) on real text. Round r uses
seed 1 + r for both trainers, so quality is a mean over seeds (on small corpora one seed's
WordSim353 can move by 0.04).

    python benchmarks/bench.py                                   # gensim's Wikipedia sample
    python benchmarks/bench.py --corpus ../shared/corpora/dev_abc_webtext.txt.gz
    python benchmarks/bench.py --synthetic 1000000,10000000,50000000 --rounds 1
    python benchmarks/bench.py --busy 1                          # one busy-loop process too
    python benchmarks/bench.py --trainers torch_w2v,torch_w2v:bfloat16,gensim  # bfloat16 tables
    python benchmarks/bench.py --device cuda --trainers torch_w2v,gensim   # on a GPU machine

``--busy N`` runs N busy-loop processes (one core's worth of work each) for the whole run, both
trainers alike: the speed a machine doing other work gives.

Results go to ``--out`` (default ``benchmarks/results``): ``NAME.json``, ``NAME.md`` (a markdown
table for docs/benchmarks.md) and ``NAME.png``.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAINERS = ("torch_w2v", "gensim")


# -- corpora ------------------------------------------------------------------------------------

def wiki_sample_file(directory: Path) -> Path:
    """gensim's Wikipedia sample as a text file, articles cut at 10,000 tokens (gensim's limit),
    so both trainers see the same text."""
    from torch_w2v.datasets import wiki_sample
    from torch_w2v.evaluate import SentencePieces
    from torch_w2v.io import write_sentences

    target = directory / "wiki-sample-pieces.txt"
    if not target.exists():
        print(f"preparing {target} (once)", flush=True)
        write_sentences(target, SentencePieces(wiki_sample()))
    return target


def prepared_file(directory: Path, source: str) -> Path:
    """``source`` (any smart_open path) as plain text with lines cut at 10,000 tokens: gensim's
    corpus_file mode reads neither compressed files nor longer lines."""
    from torch_w2v.corpus import CorpusFile
    from torch_w2v.evaluate import SentencePieces
    from torch_w2v.io import write_sentences

    target = directory / (Path(source).name.split(".")[0] + "-pieces.txt")
    if not target.exists():
        print(f"preparing {target} from {source} (once)", flush=True)
        write_sentences(target, SentencePieces(CorpusFile(source)))
    return target


def synthetic_file(directory: Path, n_tokens: int, vocab_size: int, seed: int = 0) -> Path:
    """A reproducible corpus of ``n_tokens`` Zipf-distributed words (exponent 1, ``vocab_size``
    distinct words), sentences of 5 to 40 tokens."""
    import numpy as np

    from torch_w2v.io import write_sentences

    target = directory / f"zipf-{n_tokens}-{vocab_size}-{seed}.txt"
    if target.exists():
        return target
    print(f"generating {target} (once)", flush=True)
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocab_size + 1)
    cumulative = np.cumsum(weights / weights.sum())
    words = np.array([f"w{i}" for i in range(vocab_size)], dtype=object)

    def sentences():
        done = 0
        while done < n_tokens:
            block = min(1_000_000, n_tokens - done)
            ids = np.minimum(np.searchsorted(cumulative, rng.random(block)), vocab_size - 1)
            cuts = np.cumsum(rng.integers(5, 41, block // 5 + 1))
            cuts = cuts[cuts < block]
            for part in np.split(words[ids], cuts):
                yield part.tolist()
            done += block

    write_sentences(target, sentences())
    return target


def count_tokens(path: Path) -> int:
    from torch_w2v.corpus import CorpusFile

    return sum(len(s) for s in CorpusFile(str(path)))


# -- one training run, in its own process -------------------------------------------------------

def _rss_mb(field: str = "VmHWM") -> float:
    """This process's peak resident memory (``field="VmRSS"``: its current one). VmHWM belongs
    to the process image (getrusage's ru_maxrss is inherited through fork from the parent,
    which has torch loaded)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(args) -> None:
    """Train one trainer once and write its measurements as JSON (called in a subprocess)."""
    params = json.loads(args.params)
    trainer, _, dtype = args.worker.partition(":")
    if trainer == "torch_w2v":
        from torch_w2v import TorchWord2Vec
        from torch_w2v.callbacks import Callback
        from torch_w2v.config import TrainingConfig

        in_training = []

        class TrainingMemory(Callback):  # resident memory at each epoch's end
            def on_epoch_end(self, run, epoch, logs):
                in_training.append(_rss_mb("VmRSS"))

        estimator = TorchWord2Vec(**params, dtype=dtype or "float32", progress=False,
                                  callbacks=[TrainingMemory()])
        TrainingConfig.from_params(estimator.get_params())  # a first use builds the op: untimed
        baseline = _rss_mb()
        start = time.perf_counter()
        wv = estimator.fit(corpus_file=args.corpus_file).wv
        seconds = time.perf_counter() - start
        extra = {"final_loss": estimator.history_[-1]["loss"],
                 "rss_in_training_mb": max(in_training)}
    else:  # params are gensim's keyword arguments here; torch is not imported before measuring
        from gensim.models import Word2Vec

        baseline = _rss_mb()
        start = time.perf_counter()
        wv = Word2Vec(corpus_file=args.corpus_file, **params).wv
        seconds = time.perf_counter() - start
        extra = {}
    result = {"trainer": args.worker, "seconds": seconds, "peak_rss_mb": _rss_mb(),
              "rss_after_imports_mb": baseline, "vocab_size": len(wv), **extra}
    if args.quality:  # after the memory reading: evaluation imports torch_w2v (and torch)
        from torch_w2v.evaluate import evaluate

        result.update(evaluate(wv))
    Path(args.worker_json).write_text(json.dumps(result))


def run_once(trainer: str, corpus_file: Path, params: dict, quality: bool, tmp: Path) -> dict:
    out = tmp / f"{trainer}.json"
    if trainer == "gensim":
        from torch_w2v import TorchWord2Vec
        from torch_w2v.evaluate import gensim_params

        params = gensim_params(TorchWord2Vec(**params))
    command = [sys.executable, __file__, "--worker", trainer, "--corpus-file", str(corpus_file),
               "--params", json.dumps(params), "--worker-json", str(out)]
    if quality:
        command.append("--quality")
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


# -- a benchmark: rounds over one corpus --------------------------------------------------------

def benchmark(name: str, corpus_file: Path, params: dict, rounds: int, quality: bool,
              trainers, tmp: Path, busy: int = 0) -> dict:
    print(f"[{name}] counting tokens of {corpus_file}", flush=True)
    words = count_tokens(corpus_file)
    runs = {t: [] for t in trainers}
    for r in range(rounds):
        for trainer in trainers:  # round r uses seed 1 + r for both: quality is a seed average
            run = run_once(trainer, corpus_file, {**params, "seed": params["seed"] + r}, quality,
                           tmp)
            run["words_per_sec"] = words * params["epochs"] / run["seconds"]
            runs[trainer].append(run)
            print(f"[{name}] round {r + 1}/{rounds} {trainer}: {run['words_per_sec']:,.0f} "
                  f"words/s, peak RSS {run['peak_rss_mb']:.0f} MB", flush=True)
    summary = {}
    for trainer, trainer_runs in runs.items():
        last = trainer_runs[-1]
        # quality varies from run to run (several threads, small corpora): mean over rounds
        scores = {k: statistics.mean(r[k] for r in trainer_runs)
                  for k in ("analogy", "wordsim353", "simlex999") if k in last}
        summary[trainer] = {
            "words_per_sec": statistics.median(r["words_per_sec"] for r in trainer_runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in trainer_runs),
            "rss_after_imports_mb": statistics.median(r["rss_after_imports_mb"]
                                                      for r in trainer_runs),
            **({"rss_in_training_mb": max(r["rss_in_training_mb"] for r in trainer_runs)}
               if "rss_in_training_mb" in last else {}),
            "vocab_size": last["vocab_size"],
            **scores,
            **{f"{k}_range": [min(r[k] for r in trainer_runs), max(r[k] for r in trainer_runs)]
               for k in scores},
        }
    result = {"name": name, "corpus_file": str(corpus_file), "words": words, "params": params,
              "rounds": rounds, "busy": busy, "summary": summary, "runs": runs}
    if "gensim" in trainers:  # each torch_w2v trainer's words/s over gensim's of its round
        by_trainer = {trainer: [t["words_per_sec"] / g["words_per_sec"]
                                for t, g in zip(runs[trainer], runs["gensim"])]
                      for trainer in trainers if trainer != "gensim"}
        result["speed_ratio_medians"] = {t: statistics.median(r) for t, r in by_trainer.items()}
        if "torch_w2v" in by_trainer:
            result["speed_ratio_median"] = result["speed_ratio_medians"]["torch_w2v"]
            result["speed_ratios"] = by_trainer["torch_w2v"]
    return result


def markdown(results) -> str:
    lines = ["| corpus | tokens | mode | busy | trainer | words/s (median) | ratio vs gensim | "
             "peak RSS MB (after imports) | RSS in training MB | vocab | analogy | WS353 | "
             "SimLex |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        for trainer, s in res["summary"].items():
            medians = res.get("speed_ratio_medians", {})
            ratio = f"{medians[trainer]:.2f}x" if trainer in medians else ""
            q = [f"{s[k]:.4f}" if k in s else "-" for k in ("analogy", "wordsim353", "simlex999")]
            training = f"{s['rss_in_training_mb']:.0f}" if "rss_in_training_mb" in s else "-"
            lines.append(f"| {res['name']} | {res['words']:,} | {_mode(res['params'])} | "
                         f"{res.get('busy', 0)} | {trainer} | "
                         f"{s['words_per_sec']:,.0f} | {ratio} | {s['peak_rss_mb']:.0f} "
                         f"({s['rss_after_imports_mb']:.0f}) | {training} | {s['vocab_size']:,} | "
                         + " | ".join(q) + " |")
    return "\n".join(lines)


def _mode(params: dict) -> str:
    """A short name of the training mode: "sg-ns", "cbow-hs", "sg-hs+ns", ..."""
    arch = "sg" if params.get("sg", 1) else "cbow"
    parts = (["hs"] if params.get("hs") else []) + (["ns"] if params.get("negative", 5) else [])
    return f"{arch}-{'+'.join(parts)}"


def _short_label(result) -> str:
    """A plot label: the corpus and its size (for synthetic corpora the vocabulary it kept), the
    mode if not skip-gram with negative sampling, and the busy-loop processes, if any."""
    size = f"{result['words'] / 1e6:.1f}M tokens"
    busy = f"\nbusy {result['busy']}" if result.get("busy") else ""
    mode = _mode(result["params"])
    busy += f"\n{mode}" if mode != "sg-ns" else ""
    if not result["name"].startswith("zipf"):  # "dev_abc_webtext.txt.gz" -> "dev_abc_webtext"
        name = result["name"].split(".")[0].replace("gensim ", "")
        return f"{name[:16]}\n{size}{busy}"
    vocab = next(iter(result["summary"].values()))["vocab_size"]
    return f"zipf, {size}\n{vocab:,} words{busy}"


def plot(results, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed (pip install 'torch_w2v[bench]'): no plot written")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_speed, ax_mem) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [_short_label(r) for r in results]
    width = 0.38
    for i, trainer in enumerate(TRAINERS):
        xs = [j + (i - 0.5) * width for j in range(len(results))]
        speeds = [r["summary"].get(trainer, {}).get("words_per_sec", 0) / 1e3 for r in results]
        rss = [r["summary"].get(trainer, {}).get("peak_rss_mb", 0) for r in results]
        base = [r["summary"].get(trainer, {}).get("rss_after_imports_mb", 0) for r in results]
        ax_speed.bar(xs, speeds, width, label=trainer, color=f"C{i}")
        ax_mem.bar(xs, rss, width, label=trainer, color=f"C{i}")
        ax_mem.bar(xs, base, width, fill=False, hatch="//", edgecolor="black", linewidth=0,
                   label="after imports" if i == 0 else None)
    for ax, title in ((ax_speed, "training speed (k words/s, median)"),
                      (ax_mem, "peak RSS (MB), own process; hatched: after imports")):
        ax.set_xticks(range(len(results)), labels, fontsize=8 if len(results) < 5 else 7)
        ax.set_title(title)
        ax.set_ylim(top=ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
        ax.legend(loc="upper left", fontsize=8, ncols=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", help="a corpus file, one sentence per line (default: "
                                         "gensim's Wikipedia sample)")
    parser.add_argument("--synthetic", help="comma-separated token counts of Zipf corpora, "
                                            "e.g. 1000000,10000000,50000000")
    parser.add_argument("--vocab", default="100000",
                        help="comma-separated vocabulary sizes for --synthetic (default 100000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--sg", type=int, default=1, help="1 skip-gram (default), 0 CBOW")
    parser.add_argument("--hs", type=int, default=0, help="1 hierarchical softmax")
    parser.add_argument("--negative", type=int, default=5, help="noise words (0: none)")
    parser.add_argument("--trainers", default="torch_w2v,gensim",
                        help="comma-separated: torch_w2v, gensim, and torch_w2v:DTYPE for "
                        "torch_w2v with dtype=DTYPE (e.g. torch_w2v:bfloat16)")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="N busy-loop processes share the cores for the whole run")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="train nothing: join earlier runs' JSON files into one table and "
                             "plot (e.g. corpus sizes measured with different --rounds)")
    parser.add_argument("--name", help="output file stem (default: from the corpus)")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--corpus-file", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--worker-json", help=argparse.SUPPRESS)
    parser.add_argument("--quality", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        results = [res for path in args.merge for res in json.loads(path.read_text())]
        write_results(results, out, args.name or "merged")
        return 0
    params = {"epochs": args.epochs, "workers": args.workers, "device": args.device,
              "batch_size": args.batch_size, "seed": 1, "sg": args.sg, "hs": args.hs,
              "negative": args.negative}
    trainers = args.trainers.split(",")
    unknown = [t for t in trainers if t.partition(":")[0] not in TRAINERS]
    if unknown:
        parser.error(f"unknown trainer {unknown[0]!r}: use torch_w2v, gensim or torch_w2v:DTYPE")
    if any(t.startswith("torch_w2v") for t in trainers):  # build the op here, not in a timed run
        from torch_w2v import TorchWord2Vec
        from torch_w2v.config import TrainingConfig

        print("preparing torch_w2v's backend (builds the fused CPU op on first use)", flush=True)
        backend = TrainingConfig.from_params(TorchWord2Vec(**params).get_params()).backend
        print(f"torch_w2v trains with the {backend.name!r} backend", flush=True)
    jobs = []  # (name, file, quality)
    if args.synthetic:
        for n in args.synthetic.split(","):
            for v in args.vocab.split(","):
                path = synthetic_file(out / "corpora", int(float(n)), int(float(v)))
                jobs.append((f"zipf {int(float(n)):,} tok / {int(float(v)):,} words", path, False))
    elif args.corpus:
        jobs.append((Path(args.corpus).name, prepared_file(out / "corpora", args.corpus), True))
    else:
        jobs.append(("gensim wiki sample", wiki_sample_file(out / "corpora"), True))
    from torch_w2v.loadgen import busy_cores

    if args.busy:
        print(f"{args.busy} busy-loop process(es) share the cores for the whole run", flush=True)
    with busy_cores(args.busy):
        results = [benchmark(name, path, params, args.rounds, quality, trainers, out, args.busy)
                   for name, path, quality in jobs]
    stem = args.name or ("synthetic" if args.synthetic else
                         (Path(args.corpus).name.split(".")[0] if args.corpus else "wiki-sample"))
    write_results(results, out, stem)
    return 0


def write_results(results: list, out: Path, stem: str) -> None:
    """``stem``.json, .md and .png under ``out``, and the table and speed ratios on stdout."""
    from torch_w2v.io import atomic_write_text

    atomic_write_text(out / f"{stem}.json", json.dumps(results, indent=2))
    table = markdown(results)
    atomic_write_text(out / f"{stem}.md", table + "\n")
    plot(results, out / f"{stem}.png")
    print(table)
    for res in results:
        for trainer, median in res.get("speed_ratio_medians", {}).items():
            print(f"{res['name']} (busy {res.get('busy', 0)}): median words/s ratio "
                  f"{trainer} / gensim = {median:.2f}x")
    print(f"written: {out / stem}.json .md .png")


if __name__ == "__main__":
    sys.exit(main())
