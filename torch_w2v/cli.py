"""``torch-w2v``: train, evaluate and compare with gensim from the shell.

    torch-w2v compare                       # torch_w2v vs gensim on gensim's Wikipedia sample
    torch-w2v compare corpus.txt.gz --rounds 3 --json result.json --plot result.png
    torch-w2v train corpus.txt.gz -o vectors.txt --epochs 10 --model model.npz
    torch-w2v evaluate vectors.txt other.bin --sections
    torch-w2v plot vectors.txt king queen man woman -o words.png
    torch-w2v build                         # build the fused CPU op now (images, clusters)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

__all__ = ["main", "build_parser"]


def _add_estimator_flags(parser: argparse.ArgumentParser, leave_out=()) -> None:
    """One ``--flag`` per TorchWord2Vec parameter that is not code (but those in
    ``leave_out``), with its default and meaning, from the parameter table."""
    from .params import params_of

    group = parser.add_argument_group("training parameters (gensim's names and defaults)")
    for p in params_of("estimator"):
        if p.cli is None or p.name in leave_out:
            continue
        text = p.help() if callable(p.help) else p.help
        metavar = {"_str2bool": "BOOL"}.get(p.cli.__name__, p.cli.__name__.upper())
        if "default" not in text:
            text = f"{text} (default: {p.default})"
        group.add_argument(f"--{p.name.replace('_', '-')}", dest=p.name, type=p.cli,
                           default=p.default, metavar=metavar, help=text)


def _estimator_params(args) -> dict:
    from .params import params_of

    return {p.name: getattr(args, p.name) for p in params_of("estimator")
            if hasattr(args, p.name)}


def build_parser(flags_for=("compare", "train")) -> argparse.ArgumentParser:
    """The parser; the training flags (whose defaults and help import torch) only on the
    commands in ``flags_for`` (``main`` asks only for the command it runs, so that
    ``torch-w2v --help`` answers at once)."""
    parser = argparse.ArgumentParser(
        prog="torch-w2v",
        description="word2vec (skip-gram or CBOW, negative sampling and/or hierarchical "
                    "softmax) in PyTorch, with gensim-compatible vectors and a side-by-side "
                    "benchmark against gensim.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_compare(sub, with_flags="compare" in flags_for)
    _add_train(sub, with_flags="train" in flags_for)
    _add_evaluate(sub)
    _add_plot(sub)
    _add_build(sub)
    return parser


def _add_compare(sub, with_flags: bool) -> None:
    compare = sub.add_parser(
        "compare", help="train torch_w2v and gensim on the same corpus and print one table",
        description="Train torch_w2v and gensim's Word2Vec with the same parameters on the same "
                    "corpus and print train time, words/s, vocabulary size, analogy accuracy "
                    "and WordSim353 / SimLex-999 Spearman side by side.")
    compare.add_argument("corpus", nargs="?", default=None,
                         help="one sentence per line, any path/URL smart_open reads "
                              "(default: the Wikipedia sample shipped with gensim)")
    compare.add_argument("--rounds", type=int, default=1,
                         help="alternating rounds; speed is the median (default: 1)")
    compare.add_argument("--busy", type=int, default=0, metavar="N",
                         help="N busy-loop processes share the cores while both train, as on "
                              "a machine doing other work (default: 0, idle)")
    compare.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    compare.add_argument("--plot", metavar="PNG", help="also plot words/s, quality and loss "
                                                       "(needs matplotlib: torch_w2v[plot])")
    if with_flags:  # a benchmark writes no checkpoints and runs in one process
        _add_estimator_flags(compare, leave_out=("checkpoint_dir", "checkpoint_every",
                                                 "distributed"))


def _add_train(sub, with_flags: bool) -> None:
    train = sub.add_parser("train", help="train vectors and save them in word2vec format",
                           description="Train word vectors on CORPUS and write them in word2vec "
                                       "format, loadable with gensim's "
                                       "KeyedVectors.load_word2vec_format. Under torchrun "
                                       "(torchrun --nproc-per-node N -m torch_w2v train ...) "
                                       "the ranks train data-parallel on shares of CORPUS (a "
                                       "plain local file) and rank 0 writes the files.")
    train.add_argument("corpus", help="one sentence per line, any path/URL smart_open reads")
    train.add_argument("-o", "--output", required=True, help="where to write the vectors")
    train.add_argument("--encoding", default="utf-8",
                       help="the corpus's text encoding (default: utf-8)")
    train.add_argument("--binary", action="store_true", help="write word2vec binary format")
    train.add_argument("--vocab-output", metavar="PATH", help="also write 'word count' lines")
    train.add_argument("--model", metavar="PATH",
                       help="also save the whole model (torch_w2v.load reads it back)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint in --checkpoint-dir, if any")
    if with_flags:
        _add_estimator_flags(train)


def _add_evaluate(sub) -> None:
    evaluate = sub.add_parser("evaluate", help="score word2vec-format vector files",
                              description="Score one or more word2vec-format files (text or "
                                          "binary, detected) on analogies (questions-words) "
                                          "and WordSim353 / SimLex-999.")
    evaluate.add_argument("vectors", nargs="+", help="word2vec-format files")
    evaluate.add_argument("--analogies", metavar="PATH", action="append",
                          help="analogy file in questions-words.txt format (repeatable; "
                               "default: gensim's questions-words.txt)")
    evaluate.add_argument("--pairs", metavar="PATH", action="append",
                          help="tab-separated 'word word score' file (repeatable; default: "
                               "WordSim353 and SimLex-999)")
    evaluate.add_argument("--restrict-vocab", type=int, default=300_000, metavar="N",
                          help="only the N most frequent words count (default: 300000)")
    evaluate.add_argument("--sections", action="store_true",
                          help="also print per-section analogy accuracy")
    evaluate.add_argument("--json", metavar="PATH", help="also write the results as JSON")


def _add_plot(sub) -> None:
    plot = sub.add_parser("plot", help="draw chosen words' vectors in 2-D (PCA)",
                          description="Project chosen words' vectors onto their first two "
                                      "principal components and save a labelled scatter plot "
                                      "(needs matplotlib: pip install 'torch_w2v[plot]').")
    plot.add_argument("vectors", help="a word2vec-format file")
    plot.add_argument("words", nargs="+", help="the words to draw (at least two)")
    plot.add_argument("-o", "--output", required=True, help="PNG file to write")


def _add_build(sub) -> None:
    build = sub.add_parser(
        "build", help="build the fused CPU op ahead of time (for images and clusters)",
        description="Compile the fused CPU op for this machine, CPU and torch version, unless "
                    "it is cached, and load it once to check it. Training builds it on first "
                    "use otherwise. The cache is $TORCH_W2V_OPS_DIR, else "
                    "~/.cache/torch_w2v/ops; building is safe from several processes at once.")
    build.add_argument("--force", action="store_true",
                       help="compile again even if a build is cached")


def _corpus(path, encoding="utf-8"):
    from .corpus import resolve_corpus
    from .datasets import WIKI_SAMPLE, wiki_sample

    if path is None:
        return wiki_sample(), f"gensim {WIKI_SAMPLE}"
    return resolve_corpus(None, path, encoding), str(path)


def _run_compare(args) -> None:
    from .evaluate import compare, format_comparison

    corpus, name = _corpus(args.corpus)
    result = compare(corpus, rounds=args.rounds, corpus_name=name, busy=args.busy,
                     **_estimator_params(args))
    print(format_comparison(result))
    if args.json:
        from .io import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2, default=str))
    if args.plot:
        from .plots import plot_comparison

        print(f"plot: {plot_comparison(result, args.plot)}")


def _run_train(args) -> None:
    from .distributed import init_from_environment
    from .estimator import TorchWord2Vec
    from .io import save_word2vec_format

    distributed = init_from_environment()  # under torchrun: one rank of a data-parallel fit
    rank = 0
    if distributed:
        import torch.distributed as dist

        rank = dist.get_rank()
        if rank:
            logging.getLogger("torch_w2v").setLevel(logging.WARNING)
    try:
        corpus, _ = _corpus(args.corpus, args.encoding)
        est = TorchWord2Vec(**{**_estimator_params(args),
                               "distributed": distributed or args.distributed})
        if distributed:  # each rank reads its share of the file
            est.fit(corpus_file=args.corpus, encoding=args.encoding, resume=args.resume)
        else:
            est.fit(corpus, resume=args.resume)
        if rank == 0:  # every rank holds the same vectors: one writes them
            save_word2vec_format(est.wv, args.output, binary=args.binary,
                                 fvocab=args.vocab_output)
            if args.model:
                est.save(args.model)
            last = est.history_[-1]
            together = ""
            if distributed:
                import torch.distributed as dist

                together = f", {dist.get_world_size()} ranks trained together"
            print(f"{len(est.wv):,} words x {est.wv.vector_size} dims -> {args.output} "
                  f"(final loss {last['loss']:.4f}{together})")
    finally:
        if distributed:
            import torch.distributed as dist

            dist.destroy_process_group()


def _load_vectors(path):
    """A word2vec text or binary file (the format is detected)."""
    import os

    from gensim.models import KeyedVectors

    if not os.path.exists(path) and "://" not in path:
        raise FileNotFoundError(f"No such file: {path}")
    for binary in (False, True):
        try:
            return KeyedVectors.load_word2vec_format(path, binary=binary)
        except (UnicodeDecodeError, ValueError, EOFError, IndexError):
            continue
    raise ValueError(f"{path} is not a word2vec text or binary vector file")


def _run_evaluate(args) -> None:
    from .evaluate import evaluate_all

    reports = []
    for path in args.vectors:
        print(f"reading {path} ...", file=sys.stderr, flush=True)
        vectors = _load_vectors(path)
        print(f"scoring {len(vectors):,} words x {vectors.vector_size} dims (the analogy test "
              f"takes a while on large files) ...", file=sys.stderr, flush=True)
        report = evaluate_all(vectors, name=path, analogies=args.analogies,
                              word_pairs=args.pairs, restrict_vocab=args.restrict_vocab)
        reports.append(report)
        print(report)
        if args.sections:
            print(report.sections_table())
        print()
    if args.json:
        from .io import atomic_write_text

        atomic_write_text(args.json, json.dumps([r.to_dict() for r in reports], indent=2))


def _run_plot(args) -> None:
    from .plots import plot_words

    print(f"plot: {plot_words(_load_vectors(args.vectors), args.words, args.output)}")


def _run_build(args) -> None:
    import time

    from . import ops

    cached = ops.library_path().exists() and not args.force
    start = time.perf_counter()
    path = ops.build(force=args.force)
    if not ops.load():
        raise RuntimeError(f"the op library {path} does not load: {ops.unavailable_reason()}")
    how = "cached" if cached else f"built in {time.perf_counter() - start:.1f} s"
    print(f"fused CPU op ready ({how}): {path}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser(flags_for=(command,)).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("torch_w2v").setLevel(logging.INFO)
    runners = {"compare": _run_compare, "train": _run_train, "evaluate": _run_evaluate,
               "plot": _run_plot, "build": _run_build}
    try:
        runners[args.command](args)
    except (ValueError, TypeError, OSError, KeyError, ImportError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err  # unquoted
        print(f"torch-w2v {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
