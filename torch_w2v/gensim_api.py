"""``torch_w2v.Word2Vec``: gensim's ``Word2Vec`` interface on this project's engine.

Code written for gensim runs with only the import changed: the constructor's signature and
defaults are gensim's (CBOW, ``sg=0``, is gensim's default here too), a corpus given to the
constructor is trained at once, and ``build_vocab``, ``train``, ``get_latest_training_loss``,
``wv``, ``corpus_count``, ``corpus_total_words`` and ``CallbackAny2Vec`` callbacks behave as
gensim's do. Files are this project's safe format (``save``/``load``: no pickle).

Examples
--------
>>> from gensim.test.utils import common_texts
>>> from torch_w2v import Word2Vec
>>> model = Word2Vec(sentences=common_texts, vector_size=100, window=5, min_count=1, workers=4)
>>> vector = model.wv['computer']  # get numpy vector of a word
>>> sims = model.wv.most_similar('computer', topn=10)  # get other similar words
>>> model.train([["hello", "world"]], total_examples=1, epochs=1)  # no known word in it
(0, 2)

What differs from gensim, on purpose:

- sentences are trained in full (gensim keeps the first 10,000 tokens of each);
- ``get_latest_training_loss()`` is the true summed loss of the last ``train`` call (gensim's
  running loss is known to undercount) and is kept whether or not ``compute_loss`` is set;
- ``hashfxn`` is accepted and has no effect: the initial vectors are seeded by ``seed`` through
  PyTorch's generator, not by hashing words (a warning says so if one is given); ``batch_words``
  sizes gensim's thread jobs and has no effect either (torch_w2v's threads take pieces of 2,048
  tokens); ``null_word=1`` (a padding word for a concatenating layer Word2Vec does not have) is
  refused;
- ``save``/``load`` write and read this project's files; a gensim pickle is refused with a
  message naming the safe way across (word2vec-format vectors).
"""
from __future__ import annotations

import logging
import time
import warnings
from collections import Counter

import numpy as np

from . import checkpoints
from .callbacks import Callback
from .corpus import check_reiterable, check_tokens, checked_sentences, resolve_corpus
from .fitted import FittedModel
from .keyedvectors import to_keyed_vectors
from .modes import Mode
from .params import KnownParameters, validate_params
from .run import NothingToTrain, TrainingRun, exclusive_training, initial_tables
from .vocab import build_vocab, count_words, effective_min_count, grow_vocab

__all__ = ["Word2Vec"]

logger = logging.getLogger("torch_w2v")

# gensim's names that map to TorchWord2Vec parameters of the same meaning
_SHARED = ("vector_size", "alpha", "window", "min_count", "max_vocab_size", "sample", "seed",
           "workers", "min_alpha", "sg", "hs", "negative", "ns_exponent", "cbow_mean", "epochs",
           "trim_rule", "max_final_vocab", "shrink_windows", "device", "step", "batch_size",
           "progress")
# stored in model files (no code, no corpus)
_STORED = ("vector_size", "alpha", "window", "min_count", "max_vocab_size", "sample", "seed",
           "workers", "min_alpha", "sg", "hs", "negative", "ns_exponent", "cbow_mean", "epochs",
           "null_word", "sorted_vocab", "batch_words", "compute_loss", "comment",
           "max_final_vocab", "shrink_windows", "device", "step", "batch_size", "progress")


class Word2Vec(KnownParameters):
    """gensim's ``Word2Vec``, trained by torch_w2v (see the module docstring).

    Parameters
    ----------
    sentences : iterable of list of str, optional
        Re-iterable sentences; given (or ``corpus_file``), the model is trained at once.
    corpus_file : str, optional
        A path or URL, one whitespace-tokenised sentence per line.
    vector_size, alpha, window, min_count, max_vocab_size, sample, seed, workers, min_alpha, sg,
    hs, negative, ns_exponent, cbow_mean, epochs, trim_rule, sorted_vocab, max_final_vocab,
    shrink_windows
        As in gensim (and :class:`~torch_w2v.TorchWord2Vec`); ``sg=0`` (CBOW) by default.
    hashfxn, batch_words
        Accepted for compatibility, no effect (module docstring).
    null_word : {0}
        1 is refused.
    compute_loss : bool, default False
        Accepted; the loss is always computed (``get_latest_training_loss``).
    callbacks : sequence of gensim.models.callbacks.CallbackAny2Vec
        ``on_train_begin/end(model)``, ``on_epoch_begin/end(model)``; during training
        ``model.wv`` holds the vectors as trained so far.
    comment : str, optional
    device, step, batch_size, progress
        torch_w2v's own (:class:`~torch_w2v.TorchWord2Vec`): a GPU, a backend, a progress bar.

    Attributes
    ----------
    wv : gensim.models.KeyedVectors
    syn1neg, syn1 : ndarray
        The output tables of negative sampling and hierarchical softmax (empty if unused).
    corpus_count, corpus_total_words : int
        Sentences and raw words of the last ``build_vocab`` corpus.
    train_count, total_train_time : int, float
    running_training_loss : float
        The summed loss of the last ``train`` call.
    """

    def __init__(self, sentences=None, corpus_file=None, vector_size=100, alpha=0.025, window=5,
                 min_count=5, max_vocab_size=None, sample=1e-3, seed=1, workers=3,
                 min_alpha=0.0001, sg=0, hs=0, negative=5, ns_exponent=0.75, cbow_mean=1,
                 hashfxn=hash, epochs=5, null_word=0, trim_rule=None, sorted_vocab=1,
                 batch_words=10000, compute_loss=False, callbacks=(), comment=None,
                 max_final_vocab=None, shrink_windows=True, device="auto", step="auto",
                 batch_size=None, progress=None):
        self.vector_size, self.alpha, self.window = vector_size, alpha, window
        self.min_count, self.max_vocab_size, self.sample = min_count, max_vocab_size, sample
        self.seed, self.workers, self.min_alpha = seed, workers, min_alpha
        self.sg, self.hs, self.negative = sg, hs, negative
        self.ns_exponent, self.cbow_mean, self.hashfxn = ns_exponent, cbow_mean, hashfxn
        self.epochs, self.null_word, self.trim_rule = epochs, null_word, trim_rule
        self.sorted_vocab, self.batch_words = sorted_vocab, batch_words
        self.compute_loss, self.callbacks, self.comment = compute_loss, callbacks, comment
        self.max_final_vocab, self.shrink_windows = max_final_vocab, shrink_windows
        self.device, self.step, self.batch_size, self.progress = device, step, batch_size, progress
        self.corpus_count = self.corpus_total_words = self.train_count = 0
        self.effective_min_count = min_count
        self.total_train_time = self.running_training_loss = 0.0
        self._fitted: FittedModel | None = None
        self.wv = None
        self._check()
        if sentences is not None or corpus_file is not None:
            self.build_vocab(sentences, corpus_file=corpus_file, trim_rule=trim_rule)
            self.train(sentences, corpus_file=corpus_file, total_examples=self.corpus_count,
                       total_words=self.corpus_total_words, epochs=self.epochs,
                       start_alpha=self.alpha, end_alpha=self.min_alpha,
                       compute_loss=compute_loss, callbacks=callbacks)

    # -- parameters ----------------------------------------------------------------------------

    def _params(self, **overrides) -> dict:
        """TorchWord2Vec parameters equivalent to this model's, validated."""
        from .estimator import TorchWord2Vec

        shared = {name: getattr(self, name) for name in _SHARED}
        params = TorchWord2Vec(**{**shared, "sorted_vocab": bool(self.sorted_vocab),
                                  **overrides}).get_params()
        validate_params(params)
        return params

    def _check(self) -> None:
        if self.null_word not in (0, False):
            raise ValueError("null_word=1 pads a concatenating input layer, which Word2Vec has "
                             "not (gensim's Word2Vec ignores it too): leave null_word=0")
        if self.hashfxn is not hash:
            warnings.warn("hashfxn has no effect in torch_w2v: the initial vectors are seeded by "
                          "seed through PyTorch's generator, not by hashing words", UserWarning,
                          stacklevel=3)
        self._params()

    @property
    def layer1_size(self) -> int:
        """The hidden layer's size: ``vector_size`` (gensim's name)."""
        return self.vector_size

    @property
    def syn1neg(self) -> np.ndarray:
        """Negative sampling's output vectors, one row per word (empty without it)."""
        return self._output()[: len(self.wv) if self.negative else 0]

    @property
    def syn1(self) -> np.ndarray:
        """Hierarchical softmax's output vectors, one row per inner node (empty without it)."""
        mode = Mode.from_params(self._params())
        start = mode.hs_offset(len(self.wv)) if self.hs else len(self._output())
        return self._output()[start:]

    def _output(self) -> np.ndarray:
        if self._fitted is None:
            raise AttributeError("the model has no vocabulary yet: call build_vocab first")
        return self._fitted.output_vectors

    # -- gensim's methods ----------------------------------------------------------------------

    def build_vocab(self, corpus_iterable=None, corpus_file=None, update=False, progress_per=10000,
                    keep_raw_vocab=False, trim_rule=None, **kwargs):
        """Count a corpus and build the vocabulary, with fresh vectors (or, ``update=True``,
        keep the known words' and add the new ones, as :meth:`TorchWord2Vec.partial_fit`).

        ``progress_per`` and ``keep_raw_vocab`` are accepted and have no effect.
        """
        _no_unknown("build_vocab", kwargs)
        self._check()
        sentences = checked_sentences(resolve_corpus(corpus_iterable, corpus_file))
        counter, total, sentence_count = count_words(sentences, self.max_vocab_size)
        self._vocabulary(counter, total, sentence_count, update, trim_rule)

    def build_vocab_from_freq(self, word_freq, keep_raw_vocab=False, corpus_count=None,
                              trim_rule=None, update=False):
        """Build the vocabulary from a ``{word: count}`` mapping instead of a corpus (as gensim:
        ``corpus_count`` is the number of sentences to report; ``keep_raw_vocab`` has no
        effect)."""
        self._check()
        counter = Counter({word: int(count) for word, count in word_freq.items()})
        total = sum(counter.values())
        self._vocabulary(counter, total, corpus_count or 0, update, trim_rule)

    def _vocabulary(self, counter, total, sentence_count, update, trim_rule) -> None:
        if total == 0:
            raise ValueError("the corpus is empty: it holds no tokens to train on")
        check_tokens(counter)
        rule = trim_rule if trim_rule is not None else self.trim_rule
        if update:
            if self._fitted is None:
                raise RuntimeError("build_vocab(update=True) needs a vocabulary: build one first")
            vocab = grow_vocab(self._fitted.vocab, counter, self.min_count, rule)
            previous = self._fitted
        else:
            vocab = build_vocab(counter, self.min_count, self.max_final_vocab, rule,
                                bool(self.sorted_vocab))
            previous = None
            self.effective_min_count = effective_min_count(counter, self.min_count,
                                                           self.max_final_vocab)
        if len(vocab) == 0:
            raise ValueError(f"the vocabulary is empty: no word occurs min_count={self.min_count}"
                             " times; lower min_count or give a larger corpus")
        self.corpus_count, self.corpus_total_words = sentence_count, total
        self._fitted = self._fresh(vocab, previous)
        self.wv = to_keyed_vectors(vocab, self._fitted.input_vectors)

    def _fresh(self, vocab, previous: FittedModel | None) -> FittedModel:
        """Initial tables for ``vocab`` (gensim's rule, seeded), with ``previous``'s rows."""
        tables = initial_tables(len(vocab), self.vector_size, Mode.from_params(self._params()),
                                self.seed, previous)
        history = list(previous.history) if previous is not None else []
        return FittedModel(vocab, tables.input_vectors.detach().numpy(),
                           tables.output_vectors.detach().numpy(), history, 0)

    def train(self, corpus_iterable=None, corpus_file=None, total_examples=None, total_words=None,
              epochs=None, start_alpha=None, end_alpha=None, word_count=0, queue_factor=2,
              report_delay=1.0, compute_loss=False, callbacks=(), **kwargs):
        """Train the vectors on a corpus with the current vocabulary; returns
        ``(effective_words, raw_words)``: the words subsampling kept and all words, summed over
        the epochs, as gensim counts them.

        ``total_examples``/``total_words`` are accepted as in gensim (``total_words`` also spares
        a ``corpus_file`` a counting pass); ``word_count``, ``queue_factor`` and
        ``report_delay`` have no effect.
        """
        _no_unknown("train", kwargs)
        if self._fitted is None:
            raise RuntimeError("you must first build vocabulary before training the model "
                               "(build_vocab), as in gensim")
        if epochs is None:
            raise ValueError("train() needs epochs (gensim asks for it too): pass "
                             "epochs=model.epochs")
        if total_examples is None and total_words is None:
            raise ValueError("train() needs total_examples or total_words (as gensim does): "
                             "pass total_examples=model.corpus_count")
        sentences = check_reiterable(resolve_corpus(corpus_iterable, corpus_file), epochs)
        callbacks = list(callbacks) or list(self.callbacks)
        params = self._params(
            epochs=epochs, alpha=self.alpha if start_alpha is None else start_alpha,
            min_alpha=self.min_alpha if end_alpha is None else end_alpha,
            callbacks=[_GensimCallbacks(self, callbacks)] if callbacks else [])
        start = time.perf_counter()
        try:
            with exclusive_training(self):
                fitted = TrainingRun(params, previous=self._fitted).fit(
                    sentences, streaming=corpus_file is not None, vocab=self._fitted.vocab,
                    total_words=total_words if corpus_file is not None else None)
        except NothingToTrain as nothing:
            self.running_training_loss = 0.0
            return 0, nothing.raw_words * epochs
        self.total_train_time += time.perf_counter() - start
        self.train_count += 1
        new = fitted.history[len(self._fitted.history):]
        self._fitted = fitted
        self.wv = to_keyed_vectors(fitted.vocab, fitted.input_vectors)
        self.running_training_loss = sum(h["loss"] * h["pairs"] for h in new)
        return (sum(h["effective_words"] for h in new), sum(h["words"] for h in new))

    def reset_from(self, other_model) -> None:
        """Take ``other_model``'s vocabulary and corpus size, with fresh vectors (gensim's
        ``reset_from``; to train several models on one corpus)."""
        if other_model._fitted is None:
            raise RuntimeError("the other model has no vocabulary yet")
        self.corpus_count = other_model.corpus_count
        self.corpus_total_words = other_model.corpus_total_words
        self._fitted = self._fresh(other_model._fitted.vocab, None)
        self.wv = to_keyed_vectors(self._fitted.vocab, self._fitted.input_vectors)

    def estimate_memory(self, vocab_size=None, report=None) -> dict:
        """Bytes the tables take for ``vocab_size`` words (default: the vocabulary's), as
        gensim's estimate, with this project's vocabulary overhead (about 200 bytes a word)."""
        vocab_size = vocab_size or (len(self.wv) if self.wv is not None else 0)
        report = dict(report or {})
        row = self.vector_size * np.dtype(np.float32).itemsize
        report["vocab"] = vocab_size * 200
        report["vectors"] = vocab_size * row
        if self.hs:
            report["syn1"] = max(vocab_size - 1, 0) * row
        if self.negative:
            report["syn1neg"] = vocab_size * row
        report["total"] = sum(report.values())
        return report

    def get_latest_training_loss(self) -> float:
        """The summed loss of the last :meth:`train` call (all its examples)."""
        return self.running_training_loss

    def predict_output_word(self, context_words_list, topn=10):
        """The ``topn`` likeliest centre words given context words (words or indices), with
        their probabilities: gensim's crude CBOW-style softmax over the negative-sampling
        output vectors (so negative sampling only). None if no context word is known."""
        if not self.negative:
            raise RuntimeError("predict_output_word needs negative sampling (negative > 0), as "
                               "in gensim")
        indices = [w if isinstance(w, (int, np.integer)) else self.wv.get_index(w)
                   for w in context_words_list
                   if isinstance(w, (int, np.integer)) or w in self.wv]
        if not indices:
            logger.warning("all the context words are outside the vocabulary")
            return None
        hidden = self.wv.vectors[indices].sum(0)
        if self.cbow_mean:
            hidden /= len(indices)
        scores = self.syn1neg @ hidden
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        top = np.argsort(-probabilities)[:topn]
        return [(self.wv.index_to_key[i], float(probabilities[i])) for i in top]

    # -- files ---------------------------------------------------------------------------------

    def save(self, fname_or_handle, **kwargs):
        """Save the model to a path or URL in this project's safe format (atomic; loading it
        never runs code). Callbacks, ``trim_rule`` and ``hashfxn`` are code: not saved."""
        if self._fitted is None:
            raise RuntimeError("nothing to save: the model has no vocabulary yet")
        params = {name: getattr(self, name) for name in _STORED}
        extra = {"corpus_count": self.corpus_count, "corpus_total_words": self.corpus_total_words,
                 "train_count": self.train_count, "class": "Word2Vec"}
        checkpoints.save_model(fname_or_handle, {**params, "_gensim_api": extra}, self._fitted)

    @classmethod
    def load(cls, fname, mmap=None):
        """Load a model written by :meth:`save` (``mmap`` is accepted, no effect). A gensim
        pickle is refused with a message naming the safe alternative."""
        params, fitted = checkpoints.load_model(fname)
        extra = params.pop("_gensim_api", None)
        if extra is None:
            raise ValueError(f"{fname} holds a TorchWord2Vec model: load it with "
                             "torch_w2v.load() (or TorchWord2Vec.load)")
        model = cls(**params)
        model._fitted = fitted
        model.wv = to_keyed_vectors(fitted.vocab, fitted.input_vectors)
        model.corpus_count = extra["corpus_count"]
        model.corpus_total_words = extra["corpus_total_words"]
        model.train_count = extra["train_count"]
        return model

    def __repr__(self) -> str:
        size = len(self.wv) if self.wv is not None else 0
        return (f"Word2Vec<vocab={size}, vector_size={self.vector_size}, "
                f"alpha={self.alpha}>")


def _no_unknown(method: str, kwargs: dict) -> None:
    if kwargs:
        name = next(iter(kwargs))
        raise TypeError(f"Word2Vec.{method}() got an unexpected keyword argument {name!r}")


class _GensimCallbacks(Callback):
    """Calls gensim ``CallbackAny2Vec`` callbacks with the :class:`Word2Vec` model, whose ``wv``
    and ``running_training_loss`` show the training so far."""

    def __init__(self, model: Word2Vec, callbacks):
        self.model = model
        self.callbacks = list(callbacks)

    def _show(self, run) -> None:
        self.model.wv = run.keyed_vectors()
        self.model.running_training_loss = sum(h["loss"] * h["pairs"] for h in run.history)

    def _call(self, hook: str, run) -> None:
        self._show(run)
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self.model)

    def on_train_begin(self, run):
        self._call("on_train_begin", run)

    def on_epoch_begin(self, run, epoch):
        self._call("on_epoch_begin", run)

    def on_epoch_end(self, run, epoch, logs):
        self._call("on_epoch_end", run)

    def on_train_end(self, run, history):
        self._call("on_train_end", run)
