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
"""
from __future__ import annotations

import logging
import statistics
import time
from contextlib import contextmanager

from gensim.test.utils import datapath

__all__ = ["evaluate", "compare", "format_comparison", "gensim_params", "SentencePieces"]

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


def evaluate(kv, restrict_vocab: int = 300_000) -> dict:
    """Analogy accuracy and word-similarity correlations of ``kv``.

    Returns
    -------
    dict
        ``analogy`` (accuracy on questions-words.txt, case-insensitive, the ``restrict_vocab``
        most frequent words), and ``wordsim353`` / ``simlex999`` (Spearman correlation), each a
        float in the same units gensim reports; NaN where no item of a set is in the
        vocabulary.
    """
    with _quiet_gensim():
        analogy, _ = kv.evaluate_word_analogies(datapath(ANALOGIES), restrict_vocab=restrict_vocab)
        scores = {"analogy": float(analogy)}
        for name, filename in WORD_PAIRS.items():
            try:
                _, spearman, _ = kv.evaluate_word_pairs(datapath(filename),
                                                        restrict_vocab=restrict_vocab)
                scores[name] = float(spearman[0])
            except ValueError:  # no pair of the set is in the vocabulary
                scores[name] = float("nan")
    return scores


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
    import os

    p = estimator.get_params()
    shared = ["vector_size", "window", "min_count", "max_vocab_size", "max_final_vocab", "sample",
              "negative", "ns_exponent", "alpha", "min_alpha", "epochs", "seed", "shrink_windows",
              "sorted_vocab", "trim_rule"]
    out = {name: p[name] for name in shared}
    out.update(sg=1, hs=0, workers=p["workers"] or os.cpu_count() or 1)
    if out["max_vocab_size"] is None:
        del out["max_vocab_size"]
    return out


def _timed_fit(train):
    start = time.perf_counter()
    wv = train()
    return wv, time.perf_counter() - start


def compare(sentences, *, rounds: int = 1, corpus_name: str = "corpus", **params) -> dict:
    """Train torch_w2v and gensim's Word2Vec with the same parameters on the same corpus.

    The trainers alternate for ``rounds`` rounds; speed is the median over rounds, quality the
    mean over rounds (with several workers both trainers vary from run to run). Both see the corpus through :class:`SentencePieces` (gensim would cut
    sentences longer than 10,000 tokens), and both are timed from the corpus to trained vectors
    (vocabulary building included).

    Parameters
    ----------
    sentences : re-iterable of list of str
    rounds : int
    corpus_name : str
        Label for the report.
    **params
        :class:`~torch_w2v.TorchWord2Vec` parameters (gensim's names).

    Returns
    -------
    dict
        ``corpus``, ``words`` (raw tokens), ``params``, ``rounds``, ``results`` (per trainer:
        ``seconds``, ``words_per_sec``, ``vocab_size``, ``analogy``, ``wordsim353``,
        ``simlex999``, ``seconds_all``) and ``speed_ratio`` (torch_w2v / gensim words/s).
    """
    from gensim.models import Word2Vec

    from .estimator import TorchWord2Vec

    corpus = SentencePieces(sentences)
    estimator = TorchWord2Vec(**{"progress": False, **params})
    trainers = {
        "torch_w2v": lambda: TorchWord2Vec(**estimator.get_params()).fit(corpus).wv,
        "gensim": lambda: Word2Vec(corpus, **gensim_params(estimator)).wv,
    }
    seconds = {name: [] for name in trainers}
    scores = {name: [] for name in trainers}
    vocab_size = {}
    for _ in range(rounds):
        for name, train in trainers.items():
            with _quiet_gensim():
                wv, elapsed = _timed_fit(train)
            seconds[name].append(elapsed)
            scores[name].append(evaluate(wv))
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
    return {
        "corpus": corpus_name, "words": words, "rounds": rounds,
        "params": {k: v for k, v in estimator.get_params().items()
                   if k not in ("callbacks", "trim_rule")},
        "results": results,
        "speed_ratio": results["torch_w2v"]["words_per_sec"] / results["gensim"]["words_per_sec"],
    }


def format_comparison(result: dict) -> str:
    """The comparison as a plain-text table (markdown-compatible)."""
    rows = [("train seconds (median)", "seconds", "{:.2f}"),
            ("words/s (median)", "words_per_sec", "{:,.0f}"),
            ("vocabulary", "vocab_size", "{:,}"),
            ("analogy accuracy (mean)", "analogy", "{:.4f}"),
            ("WordSim353 Spearman (mean)", "wordsim353", "{:.4f}"),
            ("SimLex-999 Spearman (mean)", "simlex999", "{:.4f}")]
    names = list(result["results"])
    lines = [f"corpus: {result['corpus']} ({result['words']:,} tokens), "
             f"epochs {result['params']['epochs']}, rounds {result['rounds']}",
             "| metric | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for label, key, fmt in rows:
        cells = [fmt.format(result["results"][n][key]) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(f"speed ratio torch_w2v / gensim: {result['speed_ratio']:.2f}x")
    return "\n".join(lines)
