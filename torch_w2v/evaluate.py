"""Quality benchmarks on any KeyedVectors, and the side-by-side run against gensim's Word2Vec.

The scores are gensim's own ``evaluate_word_analogies`` / ``evaluate_word_pairs`` on the
evaluation sets gensim ships, so numbers are comparable with any gensim model.

Examples
--------
>>> from gensim.test.utils import common_texts
>>> from torch_w2v import TorchWord2Vec
>>> wv = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).fit(common_texts).wv
>>> sorted(evaluate(wv))
['analogy', 'simlex999', 'wordsim353']
>>> report = evaluate_all(wv, name="tiny")
>>> report.analogies[0].total, round(report.analogies[0].oov_share, 2)
(0, 1.0)
"""
from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gensim.test.utils import datapath

from .loadgen import busy_cores
from .params import gensim_names, resolve_workers, stored_params

logger = logging.getLogger("torch_w2v")

__all__ = ["evaluate", "evaluate_all", "evaluate_analogies", "evaluate_word_pairs", "Evaluation",
           "AnalogyResult", "WordPairResult", "compare", "format_comparison", "gensim_params",
           "SentencePieces"]

ANALOGIES = "questions-words.txt"
WORD_PAIRS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
GENSIM_MAX_SENTENCE = 10_000  # gensim silently truncates longer sentences


@contextmanager
def _quiet_gensim():
    """gensim logs every skipped out-of-vocabulary pair at INFO; keep that out of our output."""
    log = logging.getLogger("gensim")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


@dataclass
class AnalogyResult:
    """Analogy accuracy, overall and per section, as gensim computes it.

    ``oov_share`` is the share of questions skipped because a word is outside the vocabulary
    (or outside its ``restrict_vocab`` most frequent words).
    """

    path: str
    accuracy: float
    correct: int
    total: int
    oov_share: float
    sections: list = field(default_factory=list)  # dicts: section, correct, total, accuracy


@dataclass
class WordPairResult:
    """Correlation of the vectors' cosine similarities with human judgements."""

    path: str
    pearson: float
    spearman: float
    oov_share: float


def _count_questions(path) -> int:
    with open(path, encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip() and not line.startswith(":"))


def evaluate_analogies(kv, path=None, restrict_vocab: int = 300_000,
                       case_insensitive: bool = True) -> AnalogyResult:
    """Accuracy on an analogy file in word2vec's ``questions-words.txt`` format (the default),
    computed by gensim's ``evaluate_word_analogies`` with the same arguments."""
    path = str(path or datapath(ANALOGIES))
    with _quiet_gensim():
        accuracy, sections = kv.evaluate_word_analogies(
            path, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive)
    rows = [{"section": sec["section"], "correct": len(sec["correct"]),
             "total": len(sec["correct"]) + len(sec["incorrect"])}
            for sec in sections if sec["section"] != "Total accuracy"]
    for row in rows:
        row["accuracy"] = row["correct"] / row["total"] if row["total"] else float("nan")
    correct = sum(r["correct"] for r in rows)
    total = sum(r["total"] for r in rows)
    questions = _count_questions(path)
    return AnalogyResult(path, float(accuracy), correct, total,
                         1 - total / questions if questions else float("nan"), rows)


def evaluate_word_pairs(kv, path=None, restrict_vocab: int = 300_000,
                        case_insensitive: bool = True) -> WordPairResult:
    """Pearson and Spearman correlation on a tab-separated ``word word score`` file (default
    WordSim353), by gensim's ``evaluate_word_pairs``; NaN where no pair is in the vocabulary."""
    path = str(path or datapath(WORD_PAIRS["wordsim353"]))
    try:
        with _quiet_gensim():
            pearson, spearman, oov = kv.evaluate_word_pairs(
                path, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive)
        return WordPairResult(path, float(pearson[0]), float(spearman[0]), float(oov) / 100)
    except ValueError:  # no pair of the set is in the vocabulary
        return WordPairResult(path, float("nan"), float("nan"), 1.0)


@dataclass
class Evaluation:
    """Analogy and word-pair results for one set of vectors; prints as a table, serialises to
    JSON (:meth:`to_json`)."""

    name: str
    vocab_size: int
    analogies: list = field(default_factory=list)   # AnalogyResult
    word_pairs: list = field(default_factory=list)  # WordPairResult

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        lines = [f"{self.name} ({self.vocab_size:,} words)",
                 "| benchmark | score | measure | out of vocabulary |", "|---|---|---|---|"]
        for a in self.analogies:
            lines.append(f"| {Path(a.path).name} | {a.accuracy:.4f} | accuracy "
                         f"({a.correct}/{a.total}) | {a.oov_share:.1%} |")
        for p in self.word_pairs:
            lines.append(f"| {Path(p.path).name} | {p.spearman:.4f} | Spearman "
                         f"(Pearson {p.pearson:.4f}) | {p.oov_share:.1%} |")
        return "\n".join(lines)

    def sections_table(self) -> str:
        """Per-section analogy accuracy, one table per analogy file."""
        lines = []
        for a in self.analogies:
            lines += [f"{Path(a.path).name}", "| section | accuracy | correct / total |",
                      "|---|---|---|"]
            lines += [f"| {r['section']} | {r['accuracy']:.4f} | {r['correct']}/{r['total']} |"
                      for r in a.sections]
        return "\n".join(lines)


def evaluate_all(kv, name: str = "vectors", analogies=None, word_pairs=None,
                 restrict_vocab: int = 300_000, case_insensitive: bool = True) -> Evaluation:
    """Every benchmark on ``kv``: by default questions-words.txt, WordSim353 and SimLex-999
    (the sets gensim ships); pass paths to use your own files in the same formats."""
    analogies = list(analogies) if analogies is not None else [datapath(ANALOGIES)]
    word_pairs = (list(word_pairs) if word_pairs is not None
                  else [datapath(f) for f in WORD_PAIRS.values()])
    kw = {"restrict_vocab": restrict_vocab, "case_insensitive": case_insensitive}
    return Evaluation(name, len(kv), [evaluate_analogies(kv, p, **kw) for p in analogies],
                      [evaluate_word_pairs(kv, p, **kw) for p in word_pairs])


def evaluate(kv, restrict_vocab: int = 300_000, with_oov: bool = False) -> dict:
    """The three headline scores of ``kv`` as a flat dict.

    Returns
    -------
    dict
        ``analogy`` (accuracy on questions-words.txt, case-insensitive, the ``restrict_vocab``
        most frequent words), and ``wordsim353`` / ``simlex999`` (Spearman correlation), each a
        float in the same units gensim reports; NaN where no item of a set is in the
        vocabulary. ``with_oov``: also ``analogy_oov`` etc., the share of each set's items
        skipped as out of the vocabulary.
    """
    analogies = evaluate_analogies(kv, restrict_vocab=restrict_vocab)
    scores, oov = {"analogy": analogies.accuracy}, {"analogy_oov": analogies.oov_share}
    for name, filename in WORD_PAIRS.items():
        pairs = evaluate_word_pairs(kv, datapath(filename), restrict_vocab)
        scores[name], oov[f"{name}_oov"] = pairs.spearman, pairs.oov_share
    return {**scores, **oov} if with_oov else scores


class SentencePieces:
    """Re-iterable view of a corpus with sentences cut into pieces of at most ``max_len`` tokens.

    gensim's Word2Vec trains only the first 10,000 tokens of a sentence; feeding both trainers
    the same pieces makes them see the same text.
    """

    def __init__(self, sentences, max_len: int = GENSIM_MAX_SENTENCE):
        self.sentences = sentences
        self.max_len = max_len

    def __iter__(self):
        for sentence in self.sentences:
            for start in range(0, len(sentence), self.max_len):
                yield sentence[start:start + self.max_len]


def gensim_params(estimator) -> dict:
    """Keyword arguments for ``gensim.models.Word2Vec`` equivalent to ``estimator``'s parameters."""
    p = estimator.get_params()
    out = {name: p[name] for name in gensim_names() if name in p and name != "callbacks"}
    out.update(workers=resolve_workers(p["workers"]))
    if out["max_vocab_size"] is None:
        del out["max_vocab_size"]
    return out


def _timed_fit(train):
    start = time.perf_counter()
    wv = train()
    return wv, time.perf_counter() - start


class Comparison(dict):
    """:func:`compare`'s result: a dict (JSON-able) that prints as the comparison table."""

    def __str__(self) -> str:
        return format_comparison(self)

    __repr__ = __str__


def _busy_label(busy: int) -> str:
    return f"{busy} busy-loop process(es) sharing the cores"


def _machine_state(busy: int) -> str:
    """What else ran on the machine: the busy-loop processes asked for, or what the load
    average says (a busy machine is not called idle)."""
    if busy:
        return _busy_label(busy)
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return "load unknown"
    cores = os.cpu_count() or 1
    if load < 0.5:
        return "idle"
    return f"not idle: load average {load:.1f} on {cores} cores before the runs"


def compare(sentences, *, rounds: int = 1, corpus_name: str = "corpus", busy: int = 0,
            progress: bool = True, **params) -> Comparison:
    """Train torch_w2v and gensim's Word2Vec with the same parameters on the same corpus.

    The trainers alternate for ``rounds`` rounds; speed is the median over rounds, quality the
    mean over rounds (with several workers both trainers vary from run to run). Both see the
    corpus through :class:`SentencePieces` (gensim would cut sentences longer than 10,000
    tokens), and both are timed from the corpus to trained vectors (vocabulary building
    included).

    Parameters
    ----------
    sentences : re-iterable of list of str
    rounds : int
    corpus_name : str
        Label for the report.
    busy : int, default 0
        Busy-loop processes sharing the cores while both trainers train
        (:func:`torch_w2v.loadgen.busy_cores`): the speed of a machine doing other work.
    progress : bool, default True
        Say on stderr what runs (each round, each trainer), as the INFO log does.
    **params
        :class:`~torch_w2v.TorchWord2Vec` parameters (gensim's names).

    Returns
    -------
    Comparison
        A dict that prints as the table: ``corpus``, ``words`` (raw tokens), ``params``,
        ``rounds``, ``machine``, ``results`` (per trainer: ``seconds``, ``words_per_sec``,
        ``vocab_size``, ``analogy``, ``wordsim353``, ``simlex999``, their ``*_oov`` shares,
        ``seconds_all``; torch_w2v's also ``history``, its per-epoch loss) and
        ``speed_ratio`` (torch_w2v / gensim words/s).
    """
    from gensim.models import Word2Vec

    from .config import TrainingConfig
    from .estimator import TorchWord2Vec
    from .params import validate_params

    def say(message, *args):
        logger.info(message, *args)
        if progress and not logger.isEnabledFor(logging.INFO):
            print(message % args, file=sys.stderr, flush=True)

    machine = _machine_state(busy)  # before our own runs raise the load
    corpus = SentencePieces(sentences)
    estimator = TorchWord2Vec(**{"progress": False, **params})
    validate_params(estimator.get_params())
    say("compare: preparing torch_w2v (a first use compiles its CPU op: 10-60 s, once) ...")
    backend = TrainingConfig.from_params(estimator.get_params()).backend  # builds: untimed
    say("compare: %d round(s), each torch_w2v (the %r backend) then gensim, each timed from "
        "the corpus to trained vectors, then scored", rounds, backend.name)
    fitted = {}

    def train_torch_w2v():
        fitted["torch_w2v"] = TorchWord2Vec(**estimator.get_params()).fit(corpus)
        return fitted["torch_w2v"].wv

    trainers = {
        "torch_w2v": train_torch_w2v,
        "gensim": lambda: Word2Vec(corpus, **gensim_params(estimator)).wv,
    }
    seconds = {name: [] for name in trainers}
    scores = {name: [] for name in trainers}
    vocab_size = {}
    for r in range(rounds):
        for name, train in trainers.items():
            say("round %d/%d: training %s ...", r + 1, rounds, name)
            with _quiet_gensim(), busy_cores(busy):
                wv, elapsed = _timed_fit(train)
            say("round %d/%d: %s trained in %.2f s; scoring its vectors ...", r + 1, rounds,
                name, elapsed)
            seconds[name].append(elapsed)
            scores[name].append(evaluate(wv, with_oov=True))
            vocab_size[name] = len(wv)
    words = sum(len(s) for s in corpus)
    total = words * estimator.epochs
    results = {}
    for name in trainers:
        median = statistics.median(seconds[name])
        quality = {k: statistics.mean(s[k] for s in scores[name]) for k in scores[name][0]}
        results[name] = {"seconds": median, "words_per_sec": total / median,
                         "vocab_size": vocab_size[name], **quality,
                         "seconds_all": seconds[name]}
    results["torch_w2v"]["history"] = fitted["torch_w2v"].history_  # last round's
    return Comparison({
        "corpus": corpus_name, "words": words, "rounds": rounds, "busy": busy,
        "machine": machine, "params": stored_params(estimator.get_params()),
        "results": results,
        "speed_ratio": results["torch_w2v"]["words_per_sec"] / results["gensim"]["words_per_sec"],
    })


def _paren(text: str) -> str:
    return f" ({text})" if text else ""


def format_comparison(result: dict) -> str:
    """The comparison as a plain-text table (markdown-compatible)."""
    rounds = result["rounds"]
    median, mean = (f"median of {rounds}", f"mean of {rounds}") if rounds > 1 else ("", "")
    rows = [(f"seconds to train, vocabulary pass included{_paren(median)}", "seconds", "{:.2f}"),
            (f"words/s{_paren(median)}", "words_per_sec", "{:,.0f}"),
            ("vocabulary", "vocab_size", "{:,}"),
            (f"analogy accuracy{_paren(mean)}", "analogy", "{:.4f}"),
            (f"WordSim353 Spearman{_paren(mean)}", "wordsim353", "{:.4f}"),
            (f"SimLex-999 Spearman{_paren(mean)}", "simlex999", "{:.4f}"),
            ("analogy questions out of vocabulary", "analogy_oov", "{:.1%}"),
            ("WordSim353 pairs out of vocabulary", "wordsim353_oov", "{:.1%}"),
            ("SimLex-999 pairs out of vocabulary", "simlex999_oov", "{:.1%}")]
    names = list(result["results"])
    busy = result.get("busy", 0)
    machine = result.get("machine") or (_busy_label(busy) if busy else "idle")  # older runs
    rows = [row for row in rows if all(row[1] in result["results"][n] for n in names)]
    lines = [f"corpus: {result['corpus']} ({result['words']:,} tokens), "
             f"epochs {result['params']['epochs']}, rounds {result['rounds']}, "
             f"machine: {machine}",
             "| metric | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for label, key, fmt in rows:
        cells = [fmt.format(result["results"][n][key]) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(f"speed ratio torch_w2v / gensim: {result['speed_ratio']:.2f}x")
    return "\n".join(lines)
