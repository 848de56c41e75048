"""``torch_w2v.Word2Vec``: gensim's ``Word2Vec`` interface on this project's engine.

Code written for gensim runs with only the import changed: the constructor's signature and
defaults are gensim's (CBOW, ``sg=0``, is gensim's default here too), a corpus given to the
constructor is trained at once, and ``build_vocab`` (with its pieces ``scan_vocab``,
``prepare_vocab``, ``prepare_weights``), ``train``, ``score``, ``predict_output_word``,
``get_latest_training_loss``, ``reset_from``, ``wv`` (one live ``KeyedVectors``, updated in
place, with ``vectors_lockf`` honoured), ``syn1neg``/``syn1``, ``corpus_count``,
``corpus_total_words`` and ``CallbackAny2Vec`` callbacks behave as gensim's do. Both classes
take one path through the engine (:class:`torch_w2v.run.TrainingRun`): a ``corpus_file`` is
read once by ``build_vocab`` and recorded as word ids, and ``train`` on the same file trains
from that recording.

Examples
--------
>>> from gensim.test.utils import common_texts
>>> from torch_w2v import Word2Vec
>>> model = Word2Vec(sentences=common_texts, vector_size=100, window=5, min_count=1, workers=4)
>>> vector = model.wv['computer']  # get numpy vector of a word
>>> sims = model.wv.most_similar('computer', topn=10)  # get other similar words
>>> model.train([["hello", "world"]], total_examples=1, epochs=1)  # no known word in it
(0, 2)

What differs from gensim, on purpose (the full list is in docs/gensim.md):

- sentences are trained in full (gensim keeps the first 10,000 tokens of each);
- ``get_latest_training_loss()`` is the true summed loss of the last ``train`` call (gensim's
  running loss is known to undercount) and is kept whether or not ``compute_loss`` is set;
- ``hashfxn`` and ``batch_words`` have no effect (a warning says so when they are given);
  ``null_word=1`` is refused;
- ``save`` writes this project's safe format (no pickle); ``load`` reads it, and gensim's own
  model files (safely: no code from the file runs), as :meth:`Word2Vec.from_gensim` takes a
  live gensim model and :meth:`Word2Vec.to_gensim` gives one back.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections import Counter

import numpy as np
from gensim.models import KeyedVectors

from . import modelfile
from .callbacks import Callback
from .corpus import check_reiterable, resolve_corpus
from .fitted import FittedModel
from .keyedvectors import update_keyed_vectors, vocabulary_of
from .model import float32_array
from .modes import Mode
from .params import bind, parameters, params_of, plain, signature, stored_params, validate_params
from .run import NothingToTrain, TrainingRun, exclusive_training, initial_tables
from .vocab import (
    EmptyVocabulary,
    build_vocab,
    effective_min_count,
    keep_probabilities,
    trim_decision,
)

__all__ = ["Word2Vec"]

logger = logging.getLogger("torch_w2v")

_SIGNATURE = signature("gensim", positional=1 << 10, leading=("sentences", "corpus_file"))
_NAMES = {p.name for p in params_of("gensim")}


class _ClassOnly:
    """A classmethod that refuses to be called on an instance, as gensim's ``load`` does
    (``model.load(path)`` would return a new model and leave ``model`` as it was)."""

    def __init__(self, method):
        self.method = method
        self.__doc__ = method.__doc__

    def __get__(self, instance, owner):
        if instance is None:
            return self.method.__get__(owner, owner)

        def refuse(*args, **kwargs):
            raise AttributeError(f"{self.method.__name__} is a class method: call "
                                 f"{owner.__name__}.{self.method.__name__}(path), which returns"
                                 " the loaded model")
        return refuse


@parameters("gensim")
class Word2Vec:
    """gensim's ``Word2Vec``, trained by torch_w2v (see the module docstring).

    Parameters
    ----------
    sentences : iterable of list of str, optional
        Re-iterable sentences; given (or ``corpus_file``), the model is trained at once.
    corpus_file : str, optional
        A path or URL, one whitespace-tokenised sentence per line.
    {parameters}

    Attributes
    ----------
    wv : gensim.models.KeyedVectors
        The word vectors: one object for the model's life, updated in place by
        ``build_vocab``, ``train`` and ``reset_from``; ``wv.vectors_lockf`` (one value, or one
        per word) scales each word's steps (0 freezes it).
    syn1neg, syn1 : ndarray of shape (len(wv), vector_size)
        The output tables of negative sampling and of hierarchical softmax (whose last row,
        like gensim's, is unused); absent when their objective is off.
    corpus_count, corpus_total_words : int or None
        Sentences and raw words of the last ``build_vocab`` corpus (None, as in gensim, for a
        model from an old gensim file that did not record them).
    raw_vocab : collections.Counter
        The last ``scan_vocab``'s counts (until ``prepare_vocab`` uses them).
    effective_min_count : int
        ``min_count`` as ``max_final_vocab`` raised it.
    train_count, total_train_time : int, float
    running_training_loss : float
        The summed loss of the last ``train`` call.
    min_alpha_yet_reached : float
        The learning rate where the last ``train`` ended.
    """

    KNOWN_PARAMS = frozenset(_NAMES)  # what its model files hold

    def __init__(self, *args, **kwargs):
        values = bind(type(self), _SIGNATURE, self, args, kwargs)
        sentences, corpus_file = values.pop("sentences"), values.pop("corpus_file")
        for name, value in values.items():
            setattr(self, name, value)
        self._check()
        self._warn_without_effect()
        self.wv = KeyedVectors(vector_size=self.vector_size, dtype=np.float32)
        self.wv.vectors_lockf = np.ones(1, dtype=np.float32)
        self.corpus_count = self.corpus_total_words = self.train_count = 0
        self.effective_min_count = self.min_count
        self.total_train_time = self.running_training_loss = 0.0
        self.min_alpha_yet_reached = float(self.alpha)
        self.raw_vocab = None
        self._scan = None  # the last scan's recording of a corpus file, for train to read
        self._history = []
        if sentences is not None or corpus_file is not None:
            self.build_vocab(sentences, corpus_file=corpus_file, trim_rule=self.trim_rule)
            self.train(sentences, corpus_file=corpus_file, total_examples=self.corpus_count,
                       total_words=self.corpus_total_words, epochs=self.epochs,
                       start_alpha=self.alpha, end_alpha=self.min_alpha,
                       compute_loss=self.compute_loss, callbacks=self.callbacks)

    __init__.__signature__ = _SIGNATURE

    # -- parameters ----------------------------------------------------------------------------

    def _check(self) -> None:
        validate_params({name: plain(getattr(self, name)) for name in _NAMES}, "gensim")

    def _warn_without_effect(self) -> None:
        if self.hashfxn is not hash:
            warnings.warn("hashfxn has no effect in torch_w2v: the initial vectors are seeded by "
                          "seed through PyTorch's generator, not by hashing words", UserWarning,
                          stacklevel=4)
        if self.batch_words != 10000:
            warnings.warn("batch_words has no effect in torch_w2v: its threads take pieces of "
                          "2,048 tokens whatever the batch", UserWarning, stacklevel=4)

    def _params(self, **overrides) -> dict:
        """:class:`~torch_w2v.TorchWord2Vec` parameters equivalent to this model's."""
        params = {p.name: p.default for p in params_of("estimator")}
        params.update({name: plain(getattr(self, name)) for name in params
                       if name in _NAMES and name != "callbacks"})
        params.update({"sorted_vocab": bool(self.sorted_vocab), "callbacks": [], **overrides})
        validate_params(params)
        return params

    @property
    def layer1_size(self) -> int:
        """The hidden layer's size: ``vector_size`` (gensim's name)."""
        return self.vector_size

    @property
    def cum_table(self) -> np.ndarray:
        """gensim's cumulative noise table (``count ** ns_exponent``, scaled to ``2**31 - 1``),
        from the counts; training draws from the same distribution by the alias method."""
        counts = self._counts()
        weights = np.cumsum(counts.astype(np.float64) ** self.ns_exponent)
        return np.round(weights / weights[-1] * (2 ** 31 - 1)).astype(np.uint32)

    # -- the live state ------------------------------------------------------------------------

    def _counts(self) -> np.ndarray:
        vocab = vocabulary_of(self.wv)
        if vocab is None:
            raise RuntimeError("you must first build vocabulary before training the model: "
                               "this model's wv holds no word counts (vectors read from a "
                               "word2vec file); call build_vocab")
        return vocab.counts

    def _state(self) -> FittedModel:
        """The model as training continues from it: ``wv`` (vectors, counts, ``vectors_lockf``)
        and the output tables, whatever was assigned to them."""
        vocab = self._vocabulary()
        if vocab is None:
            self._counts()  # raises, naming the fix
        size = len(vocab)
        parts = []
        if self.negative:
            parts.append(np.asarray(self.syn1neg, dtype=np.float32)[:size])
        if self.hs:
            parts.append(np.asarray(self.syn1, dtype=np.float32)[:max(size - 1, 0)])
        output = np.concatenate(parts) if parts else np.zeros((0, self.vector_size), np.float32)
        return FittedModel(vocab, np.asarray(self.wv.vectors, dtype=np.float32), output,
                           list(self._history), self.corpus_total_words or 0,
                           lockf=getattr(self.wv, "vectors_lockf", None))

    def _vocabulary(self):
        """``wv``'s vocabulary (None without counts) with, for hierarchical softmax, the Huffman
        tree of its words' ``point``/``code``: the tree :meth:`_show` wrote there, unless those
        were replaced since (then read back from them)."""
        written, tree = getattr(self, "_written_tree", (None, None))
        if not self.hs or written is None or self.wv.expandos.get("point") is not written:
            return vocabulary_of(self.wv, with_tree=bool(self.hs))
        vocab = vocabulary_of(self.wv)
        return None if vocab is None else dataclasses.replace(vocab, tree=tree)

    def _show(self, vocab, input_vectors, output_vectors) -> None:
        """Make ``wv``, ``syn1neg`` and ``syn1`` hold a state, in place where they can."""
        mode = Mode.from_params(self._params())
        tree = vocab.hs_tree() if self.hs else None
        lockf = getattr(self.wv, "vectors_lockf", np.ones(1, dtype=np.float32))
        update_keyed_vectors(self.wv, vocab, input_vectors, tree)
        self._written_tree = (self.wv.expandos.get("point"), tree)  # spares reading it back
        lockf = np.asarray(lockf, dtype=np.float32)
        if len(lockf) not in (1, len(vocab)):  # grown: new words train
            lockf = np.concatenate([lockf, np.ones(len(vocab) - len(lockf), np.float32)])
        self.wv.vectors_lockf = lockf
        size, width = len(vocab), self.vector_size
        if self.negative:
            self.syn1neg = np.asarray(output_vectors[:size], dtype=np.float32)
        if self.hs:  # gensim's shape: one row per word, the last one unused
            start = mode.hs_offset(size)
            self.syn1 = np.concatenate([output_vectors[start:start + size - 1],
                                        np.zeros((1 if size else 0, width), np.float32)])

    # -- vocabulary ----------------------------------------------------------------------------

    def build_vocab(self, corpus_iterable=None, corpus_file=None, update=False, progress_per=10000,
                    keep_raw_vocab=False, trim_rule=None, **kwargs):
        """Count a corpus and build the vocabulary, with fresh vectors (or, ``update=True``,
        keep the known words' and add the new ones, as :meth:`TorchWord2Vec.partial_fit`).

        ``progress_per`` has no effect (the counting pass logs its totals).
        """
        _no_unknown("build_vocab", kwargs)
        total_words, corpus_count = self.scan_vocab(corpus_iterable, corpus_file,
                                                    trim_rule=trim_rule)
        self.corpus_count, self.corpus_total_words = corpus_count, total_words
        self.prepare_vocab(update=update, keep_raw_vocab=keep_raw_vocab, trim_rule=trim_rule)
        self.prepare_weights(update=update)

    def scan_vocab(self, corpus_iterable=None, corpus_file=None, progress_per=10000,
                   workers=None, trim_rule=None):
        """Count the words of a corpus (one read; a ``corpus_file`` is recorded as word ids
        for :meth:`train`): returns ``(total_words, corpus_count)`` and keeps the counts in
        ``raw_vocab``."""
        self._check()
        corpus = check_reiterable(resolve_corpus(corpus_iterable, corpus_file), 1)
        self._forget_scan()
        run = TrainingRun(self._params())
        self._scan = run.scan(corpus, streaming=corpus_file is not None)
        self.raw_vocab = self._scan.counter
        logger.info("collected %d word types from a corpus of %d raw words and %d sentences",
                    len(self.raw_vocab), self._scan.total_words, self._scan.sentences)
        return self._scan.total_words, self._scan.sentences

    def prepare_vocab(self, update=False, keep_raw_vocab=False, trim_rule=None, min_count=None,
                      sample=None, dry_run=False):
        """Build the vocabulary from ``raw_vocab`` (or, ``update=True``, add its new words):
        returns gensim's report (``drop_unique``, ``retain_total``, ``downsample_unique``,
        ``downsample_total``, ``num_retained_words``); ``dry_run`` only reports."""
        if self.raw_vocab is None:
            raise RuntimeError("prepare_vocab needs counts: call scan_vocab (or build_vocab) "
                               "first")
        min_count = self.min_count if min_count is None else min_count
        sample = self.sample if sample is None else sample
        rule = trim_rule if trim_rule is not None else self.trim_rule
        if update:
            vocab = self._grown_vocab(min_count, rule)
        else:
            threshold = effective_min_count(self.raw_vocab, min_count, self.max_final_vocab)
            vocab = build_vocab(self.raw_vocab, min_count, self.max_final_vocab, rule,
                                bool(self.sorted_vocab))
            if not dry_run:
                self.effective_min_count = threshold
        report = _report(self.raw_vocab, vocab, sample, self.effective_min_count, rule, update)
        if dry_run:
            return report
        if len(vocab) == 0:
            raise EmptyVocabulary(f"the vocabulary is empty: no word occurs min_count={min_count}"
                                  " times; lower min_count or give a larger corpus")
        _log_report(report, self.raw_vocab, self.effective_min_count)
        self._pending_vocab = vocab
        if not keep_raw_vocab:
            self.raw_vocab = None
        return report

    def _grown_vocab(self, min_count, rule):
        if vocabulary_of(self.wv) is None:
            raise RuntimeError("build_vocab(update=True) needs a vocabulary: build one first")
        return TrainingRun(self._params(min_count=min_count, trim_rule=rule),
                           previous=self._state()).vocabulary(self._scan_or_counts())

    def _scan_or_counts(self):
        from .counting import Scan

        if self._scan is not None and self._scan.counter is self.raw_vocab:
            return self._scan
        return Scan(self.raw_vocab, sum(self.raw_vocab.values()), 0, 0, None)

    def prepare_weights(self, update=False):
        """Fresh vectors for the vocabulary :meth:`prepare_vocab` built (gensim's rule,
        seeded); with ``update``, the known words keep theirs."""
        vocab = getattr(self, "_pending_vocab", None)
        if vocab is None:
            raise RuntimeError("prepare_weights needs a vocabulary: call prepare_vocab first")
        previous = self._state() if update else None
        if not update:
            self._history = []
            self.wv.vectors_lockf = np.ones(1, dtype=np.float32)
        tables = initial_tables(len(vocab), self.vector_size, Mode.from_params(self._params()),
                                self.seed, previous)
        self._show(vocab, tables.input_vectors.detach().numpy(),
                   tables.output_vectors.detach().numpy())
        self._pending_vocab = None

    def build_vocab_from_freq(self, word_freq, keep_raw_vocab=False, corpus_count=None,
                              trim_rule=None, update=False):
        """Build the vocabulary from a ``{word: count}`` mapping instead of a corpus (as gensim:
        ``corpus_count`` is the number of sentences to report)."""
        self._check()
        self._forget_scan()
        self.raw_vocab = Counter({word: int(count) for word, count in word_freq.items()})
        self.corpus_count = corpus_count or 0
        self.corpus_total_words = sum(self.raw_vocab.values())
        self.prepare_vocab(update=update, keep_raw_vocab=keep_raw_vocab, trim_rule=trim_rule)
        self.prepare_weights(update=update)

    def _forget_scan(self) -> None:
        if self._scan is not None:
            self._scan.release()
            self._scan = None

    # -- training ------------------------------------------------------------------------------

    def train(self, corpus_iterable=None, corpus_file=None, total_examples=None, total_words=None,
              epochs=None, start_alpha=None, end_alpha=None, word_count=0, queue_factor=2,
              report_delay=1.0, compute_loss=False, callbacks=(), **kwargs):
        """Train the vectors on a corpus with the current vocabulary; returns
        ``(effective_words, raw_words)``: the words subsampling kept and all words, summed over
        the epochs, as gensim counts them.

        ``total_examples``/``total_words`` are required as in gensim (``total_words`` also
        spares a ``corpus_file`` a counting pass); ``word_count``, ``queue_factor`` and
        ``report_delay`` have no effect. A ``corpus_file`` that :meth:`build_vocab` read is not
        read again: training reads its recorded word ids.
        """
        _no_unknown("train", kwargs)
        start_alpha = self.alpha if start_alpha is None else start_alpha
        end_alpha = self.min_alpha if end_alpha is None else end_alpha
        self._check_training(epochs, total_examples, total_words, start_alpha)
        corpus = check_reiterable(resolve_corpus(corpus_iterable, corpus_file), epochs)
        callbacks = list(callbacks) or list(self.callbacks)
        params = self._params(
            epochs=epochs, alpha=start_alpha, min_alpha=end_alpha,
            callbacks=[_GensimCallbacks(self, callbacks)] if callbacks else [])
        previous = self._state()
        scan = self._scan if self._scan is not None and self._scan.matches(corpus) else None
        self._scan = None if scan is not None else self._scan
        start = time.perf_counter()
        try:
            with exclusive_training(self):
                run = TrainingRun(params, previous=previous)
                fitted = run.train(previous.vocab, scan=scan, sentences=corpus,
                                   streaming=corpus_file is not None,
                                   total_words=total_words if corpus_file is not None else None)
        except NothingToTrain as nothing:
            self.running_training_loss = 0.0
            return 0, nothing.raw_words * epochs
        new = fitted.history[len(previous.history):]
        self._finish_training(fitted, new, end_alpha, time.perf_counter() - start)
        return (sum(h["effective_words"] for h in new), sum(h["words"] for h in new))

    def _check_training(self, epochs, total_examples, total_words, start_alpha) -> None:
        """gensim's checks, in gensim's order and with its exception types."""
        self._check()
        if self.hs and self.negative:
            logger.warning("Both hierarchical softmax and negative sampling are activated. "
                           "This is probably a mistake. You should set either 'hs=0' or "
                           "'negative=0' to disable one of them.")
        if start_alpha > self.min_alpha_yet_reached:
            logger.warning("Effective 'alpha' higher than previous training cycles")
        if not self.wv.key_to_index:
            raise RuntimeError("you must first build vocabulary before training the model "
                               "(build_vocab), as in gensim")
        if total_examples is None and total_words is None:
            raise ValueError("train() needs total_examples or total_words (as gensim does): "
                             "pass total_examples=model.corpus_count")
        if epochs is None or epochs <= 0:
            raise ValueError("train() needs epochs (gensim asks for it too): pass "
                             "epochs=model.epochs")

    def _finish_training(self, fitted: FittedModel, new: list, end_alpha, seconds) -> None:
        self._history = list(fitted.history)
        self._show(fitted.vocab, fitted.input_vectors, fitted.output_vectors)
        self.total_train_time += seconds
        self.train_count += 1
        self.min_alpha_yet_reached = float(end_alpha)
        self.running_training_loss = sum(h["loss"] * h["pairs"] for h in new)
        raw, effective = sum(h["words"] for h in new), sum(h["effective_words"] for h in new)
        logger.info("training on %d raw words (%d effective words) took %.1fs, %.0f effective "
                    "words/s", raw, effective, seconds, effective / max(seconds, 1e-9))

    def reset_from(self, other_model) -> None:
        """Take ``other_model``'s vocabulary and corpus size, with fresh vectors (gensim's
        ``reset_from``; to train several models on one corpus)."""
        vocab = vocabulary_of(other_model.wv)
        if vocab is None:
            raise RuntimeError("the other model has no vocabulary yet")
        self.corpus_count = other_model.corpus_count
        self.corpus_total_words = other_model.corpus_total_words
        self._pending_vocab = vocab
        self.prepare_weights(update=False)

    def score(self, sentences, total_sentences=int(1e6), chunksize=100, queue_factor=2,
              report_delay=1):
        """The log probability of each sentence under the model, as gensim defines it for
        hierarchical softmax: every word predicted by every other word within ``window``
        (skip-gram), or by the mean or sum of its window (CBOW), through its Huffman path.
        Returns a float32 array, one score per sentence (at most ``total_sentences``).

        Raises
        ------
        RuntimeError
            Without hierarchical softmax (as gensim), or before ``build_vocab``.
        """
        from .scoring import score_sentences

        if not self.wv.key_to_index:
            raise RuntimeError("you must first build vocabulary before scoring new data")
        if not self.hs:
            raise RuntimeError("score is defined for hierarchical softmax: train with hs=1 (and "
                               "negative=0), as gensim requires")
        tree = self._vocabulary().hs_tree()
        return score_sentences(sentences, self.wv, self.syn1, tree, window=self.window,
                               skip_gram=bool(self.sg), cbow_mean=bool(self.cbow_mean),
                               limit=total_sentences)

    def estimate_memory(self, vocab_size=None, report=None) -> dict:
        """Bytes the tables take for ``vocab_size`` words (default: the vocabulary's), as
        gensim's estimate, with this project's vocabulary overhead (about 200 bytes a word)."""
        vocab_size = vocab_size or len(self.wv)
        report = dict(report or {})
        row = self.vector_size * np.dtype(np.float32).itemsize
        report["vocab"] = vocab_size * 200
        report["vectors"] = vocab_size * row
        if self.hs:
            report["syn1"] = vocab_size * row
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
        if not hasattr(self, "syn1neg") or not hasattr(self.wv, "vectors"):
            raise RuntimeError("Parameters required for predicting the output words not found: "
                               "the model has no trained syn1neg (build_vocab and train it)")
        indices = [self.wv.get_index(w) for w in context_words_list if w in self.wv]
        if not indices:
            logger.warning("all the context words are outside the vocabulary")
            return None
        hidden = self.wv.vectors[indices].sum(0)
        if self.cbow_mean:
            hidden /= len(indices)
        scores = self.syn1neg @ hidden
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        top = np.argsort(-probabilities, kind="stable")[:topn]
        return [(self.wv.index_to_key[i], float(probabilities[i])) for i in top]

    # -- files ---------------------------------------------------------------------------------

    def save(self, fname_or_handle, *args, **kwargs):
        """Save the model to a path or URL in this project's safe format (atomic; loading it
        never runs code). Callbacks, ``trim_rule`` and ``hashfxn`` are code: not saved.
        gensim's own arguments (``separately``, ``sep_limit``, ...) have no effect."""
        if not self.wv.key_to_index:
            raise RuntimeError("nothing to save: the model has no vocabulary yet")
        if str(fname_or_handle).endswith(".model"):
            warnings.warn(f"{fname_or_handle}: torch_w2v writes its own safe format, which "
                          "gensim cannot read; for gensim, save model.to_gensim(), or the "
                          "vectors with model.wv.save_word2vec_format(path)", UserWarning,
                          stacklevel=2)
        params = stored_params({name: getattr(self, name) for name in _NAMES})
        extra = {"corpus_count": self.corpus_count,
                 "corpus_total_words": self.corpus_total_words,
                 "train_count": self.train_count, "effective_min_count": self.effective_min_count,
                 "min_alpha_yet_reached": self.min_alpha_yet_reached}
        modelfile.save_model(fname_or_handle, "Word2Vec", params, self._state(), extra)

    @_ClassOnly
    @classmethod
    def load(cls, fname, mmap=None, **kwargs):
        """Load a model written by :meth:`save`, or by gensim's own ``Word2Vec.save`` (gensim
        1.x to 4.x, with its ``.npy`` side files, compressed ``.gz``/``.bz2`` or memory-mapped
        with ``mmap='r'``), ready to train further.

        Reading never runs code from the file and never trains: gensim's pickle goes through an
        allow-list unpickler (:mod:`torch_w2v.gensim_models`) that refuses, naming it, any
        global a gensim model does not hold.

        Raises
        ------
        ValueError
            If the file is damaged, or not a model (the message says what it is).
        AttributeError
            If a gensim file holds something other than a ``Word2Vec`` (``KeyedVectors``), as
            gensim's own ``load`` raises.
        """
        from . import gensim_models

        if gensim_models.is_pickle(fname):
            record = gensim_models.read_gensim_file(fname, mmap=mmap)
            return cls._from_gensim_state(gensim_models.gensim_state(record, str(fname)))
        return cls._from_saved(modelfile.load_model(fname, {"Word2Vec": cls.KNOWN_PARAMS}))

    @classmethod
    def _from_saved(cls, saved: modelfile.SavedModel):
        model = cls(**saved.params)
        model._history = list(saved.fitted.history)
        model._show(saved.fitted.vocab, saved.fitted.input_vectors, saved.fitted.output_vectors)
        if saved.fitted.lockf is not None:
            model.wv.vectors_lockf = saved.fitted.lockf
        for name in ("corpus_count", "corpus_total_words", "train_count",
                     "effective_min_count", "min_alpha_yet_reached"):
            if isinstance(saved.extra.get(name), (int, float)):
                setattr(model, name, saved.extra[name])
        return model

    @classmethod
    def from_gensim(cls, model):
        """This class's model holding a live gensim ``Word2Vec``'s state (parameters, words in
        their order with their counts, vectors, ``syn1neg``/``syn1`` and the Huffman tree they
        follow, ``vectors_lockf``, corpus sizes), ready to train further; ``model`` is left as
        it was.

        Examples
        --------
        >>> from gensim.models import Word2Vec as GensimWord2Vec
        >>> from gensim.test.utils import common_texts
        >>> theirs = GensimWord2Vec(common_texts, vector_size=8, min_count=1, seed=1)
        >>> ours = Word2Vec.from_gensim(theirs)
        >>> bool((ours.wv.vectors == theirs.wv.vectors).all()), ours.wv.index_to_key[:2]
        (True, ['system', 'graph'])
        """
        from . import gensim_models

        return cls._from_gensim_state(gensim_models.gensim_state(model, repr(model)))

    def to_gensim(self):
        """A gensim ``Word2Vec`` holding this model's state (the inverse of
        :meth:`from_gensim`): gensim can train it further and save it in its own format."""
        from . import gensim_models

        return gensim_models.to_gensim(self)

    @classmethod
    def _from_gensim_state(cls, state):
        from .vocab import HuffmanTree, Vocabulary

        model = cls(**state.params)
        tree = None
        if state.syn1 is not None:
            if state.points is None:
                logger.warning("the gensim model stores no Huffman paths: hierarchical "
                               "softmax's table is used with a tree built from the counts")
            else:
                tree = HuffmanTree.from_paths(state.points, state.codes)
        vocab = Vocabulary(state.words, state.counts, tree=tree)
        parts = [table[:len(vocab) - (name == "syn1")] for name, table in
                 (("syn1neg", state.syn1neg), ("syn1", state.syn1)) if table is not None]
        output = np.concatenate(parts) if parts else np.zeros((0, model.vector_size), np.float32)
        model._show(vocab, state.vectors, output)
        model.wv.vectors_lockf = state.lockf
        model.corpus_count = model.corpus_total_words = None  # unknown: as gensim, until counted
        for name, value in state.extra.items():
            setattr(model, name, value)
        model.effective_min_count = model.min_count
        return model

    def __repr__(self) -> str:
        wv = getattr(self, "wv", None)
        return (f"Word2Vec<vocab={len(wv) if wv is not None else 0}, "
                f"vector_size={getattr(self, 'vector_size', '?')}, "
                f"alpha={getattr(self, 'alpha', '?')}>")


def _report(raw_vocab, vocab, sample, min_count, rule, update) -> dict:
    """gensim's ``prepare_vocab`` report on ``raw_vocab`` and the words kept."""
    kept = [w for w, c in raw_vocab.items() if trim_decision(w, c, min_count, rule)]
    retain_total = sum(raw_vocab[w] for w in kept)
    counts = np.array([raw_vocab[w] for w in kept], dtype=np.float64)
    keep = keep_probabilities(counts, sample) if len(counts) else counts
    return {"drop_unique": len(raw_vocab) - len(kept), "retain_total": retain_total,
            "downsample_unique": int((keep < 1.0).sum()),
            "downsample_total": int((keep * counts).sum()),
            "num_retained_words": len(kept) if not update else len(vocab)}


def _log_report(report: dict, raw_vocab, min_count: int) -> None:
    """gensim's INFO lines on what the vocabulary keeps of the corpus."""
    words, total = len(raw_vocab), sum(raw_vocab.values())
    logger.info("effective_min_count=%d retains %d unique words (%.2f%% of original %d, drops "
                "%d)", min_count, words - report["drop_unique"],
                100 * (words - report["drop_unique"]) / max(words, 1), words,
                report["drop_unique"])
    logger.info("effective_min_count=%d leaves %d word corpus (%.2f%% of original %d); "
                "downsampling leaves estimated %d word corpus (%.1f%% of prior %d)", min_count,
                report["retain_total"], 100 * report["retain_total"] / max(total, 1), total,
                report["downsample_total"],
                100 * report["downsample_total"] / max(report["retain_total"], 1),
                report["retain_total"])


def _no_unknown(method: str, kwargs: dict) -> None:
    if kwargs:
        name = next(iter(kwargs))
        raise TypeError(f"Word2Vec.{method}() got an unexpected keyword argument {name!r}")


class _GensimCallbacks(Callback):
    """Calls gensim ``CallbackAny2Vec`` callbacks with the :class:`Word2Vec` model, whose
    ``wv``, ``syn1neg``/``syn1``, history and ``running_training_loss`` show the training so
    far (so a callback that saves the model saves what was trained)."""

    def __init__(self, model: Word2Vec, callbacks):
        self.model = model
        self.callbacks = list(callbacks)
        self._earlier = None

    def _show(self, run) -> None:
        model = self.model
        if self._earlier is None:
            self._earlier = list(model._history)
        model._history = self._earlier + list(run.history)
        model._show(run.vocab, float32_array(run.tables.input_vectors, copy=True),
                    float32_array(run.tables.output_vectors, copy=True))
        model.running_training_loss = sum(h["loss"] * h["pairs"] for h in run.history)

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
