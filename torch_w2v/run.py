"""One training run: corpus → vocabulary → sampler → backend → loop → :class:`FittedModel`.

A :class:`TrainingRun` owns everything a ``fit`` or ``partial_fit`` (or the gensim facade's
``build_vocab`` and ``train``) builds, and nothing outside it changes until it returns: the
estimator assigns the result only after the run succeeded, so a failed run leaves the estimator
as it was. Its phases are public so that both classes take the same path:

- :meth:`~TrainingRun.scan` reads the corpus once: counts (:mod:`torch_w2v.counting`);
- :meth:`~TrainingRun.vocabulary` builds (or, continuing a model, grows) the vocabulary;
- :meth:`~TrainingRun.train` encodes the corpus (from the scan's recording when it has one, so
  a file is read once per fit), makes the tables, the feed, the step and the loop's hooks, and
  trains.

Its attributes are what callbacks see.

Examples
--------
>>> from gensim.test.utils import common_texts
>>> from torch_w2v import TorchWord2Vec
>>> params = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).get_params()
>>> fitted = TrainingRun(params).fit(common_texts)
>>> fitted.input_vectors.shape, len(fitted.history)
((12, 8), 1)
"""
from __future__ import annotations

import sys
import threading
import warnings
import weakref
from contextlib import contextmanager

import numpy as np
import torch

from . import checkpoints
from .callbacks import ValidationLoss
from .config import TrainingConfig
from .corpus import checked_sentences, encode_corpus, resolve_corpus
from .counting import Scan, scan_corpus
from .fitted import FittedModel
from .io import unwritable_words
from .keyedvectors import to_keyed_vectors
from .model import EmbeddingTables, check_memory, float32_array
from .modes import Mode
from .sampling import BatchSampler, ChunkFeed, WordDistributions
from .streaming import StreamingCorpus
from .topology import topology_for
from .train import DivergenceCheck, EpochLog, Position, ProgressBar, Schedule, train_epochs
from .vocab import (
    EmptyVocabulary,
    build_vocab,
    grow_vocab,
    keep_probabilities,
    noise_distribution,
    percentile_keep_probabilities,
)

__all__ = ["EmptyVocabulary", "NothingToTrain", "TrainingRun", "exclusive_training",
           "initial_tables"]


class NothingToTrain(ValueError):
    """The text holds no word of the vocabulary (``raw_words`` tokens, all unknown)."""

    def __init__(self, raw_words: int):
        super().__init__("no word of this text is in the vocabulary: nothing to train")
        self.raw_words = raw_words


class TrainingRun:
    """One training run of word2vec with validated parameters.

    Parameters
    ----------
    params : dict
        :class:`~torch_w2v.TorchWord2Vec` parameters (``get_params()``), already validated.
    previous : FittedModel, optional
        Continue from this model (``partial_fit``, gensim's ``train`` after ``build_vocab``):
        its words keep their ids and vectors.

    Attributes
    ----------
    params : dict
    config : TrainingConfig
        The resolved settings (:mod:`torch_w2v.config`).
    mode : Mode
        The training mode (:mod:`torch_w2v.modes`).
    topology : SingleProcess or DataParallel
        One process, or a rank of data-parallel training (:mod:`torch_w2v.topology`).
    vocab : Vocabulary or None
        Set once the corpus is counted.
    device : torch.device
    backend : Backend
        The backend training the batches (:mod:`torch_w2v.backends`).
    tables : EmbeddingTables or None
        The embedding tables, on ``device``, as trained so far (updated in place: copy what
        you keep; :meth:`keyed_vectors` does).
    position : Position
        Where training stands: ``epoch`` (in progress or next), ``words_done`` (raw words
        trained, all epochs), ``history`` (one dict per finished epoch of this run).
    progress : bool
        Whether a progress bar is shown.
    """

    def __init__(self, params: dict, previous: FittedModel | None = None):
        self.params = dict(params)
        self.config = TrainingConfig.from_params(self.params)
        self.topology = topology_for(self.config.distributed)
        self.mode, self.device, self.backend = self.config.mode, self.config.device, \
            self.config.backend
        self.previous = previous
        self.vocab = None
        self.tables = None
        self.position = Position()
        self.corpus_words = 0
        shown = _stderr_is_terminal() if self.config.progress is None else self.config.progress
        self.progress = shown and self.topology.writes

    @property
    def epoch(self) -> int:
        """The epoch in progress (or the next one to start), counted from 1."""
        return self.position.epoch

    @property
    def history(self) -> list:
        """One dict per finished epoch of this run (as in ``history_``)."""
        return self.position.history

    def keyed_vectors(self):
        """The input vectors as trained so far, as a gensim ``KeyedVectors`` (a copy)."""
        vectors = float32_array(self.tables.input_vectors, copy=True)
        return to_keyed_vectors(self.vocab, vectors)

    # -- the phases ----------------------------------------------------------------------------

    def fit(self, sentences, *, streaming: bool = False, resume: bool = False,
            validation=None) -> FittedModel:
        """Count ``sentences`` (checked re-iterable token lists), build the vocabulary, train.

        Parameters
        ----------
        sentences : re-iterable of list of str
        streaming : bool
            ``sentences`` reads a file: keep memory bounded by a chunk (the encoded ids wait on
            disk between epochs) instead of encoding the corpus in memory.
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir`` if there is one.
        validation : iterable of list of str, optional
            Held-out text; each epoch's history gets its mean loss, ``val_loss``.
        """
        scan = self.scan(sentences, streaming)
        try:
            vocab = self.vocabulary(scan)
        except BaseException:
            scan.release()
            raise
        return self.train(vocab, scan=scan, streaming=streaming, resume=resume,
                          validation=validation)

    def scan(self, sentences, streaming: bool = False) -> Scan:
        """Read the corpus once and count it (:func:`torch_w2v.counting.scan_corpus`), after
        the checks that need no reading."""
        self._check_before_reading(sentences)
        scan = scan_corpus(sentences, streaming=streaming,
                           max_vocab_size=self.config.max_vocab_size, topology=self.topology)
        self.corpus_words = scan.total_words
        return scan

    def vocabulary(self, scan: Scan):
        """The vocabulary of ``scan``'s counts; continuing ``previous``, its words grown by the
        new text's (:func:`torch_w2v.vocab.grow_vocab`).

        Raises
        ------
        EmptyVocabulary
            If no word is frequent enough.
        """
        c = self.config
        if self.previous is not None:
            vocab = grow_vocab(self.previous.vocab, scan.counter, c.min_count, c.trim_rule)
            _warn_unwritable(vocab.index_to_key[len(self.previous.vocab):])  # the new words
            return vocab
        vocab = build_vocab(scan.counter, c.min_count, c.max_final_vocab, c.trim_rule,
                            c.sorted_vocab)
        if len(vocab) == 0:
            raise EmptyVocabulary(
                f"the vocabulary is empty: no word occurs min_count={c.min_count} times "
                f"(the most frequent occurs {max(scan.counter.values())} times); lower "
                "min_count or give a larger corpus")
        _warn_unwritable(vocab.index_to_key)
        return vocab

    def train(self, vocab, *, scan: Scan | None = None, sentences=None, streaming: bool = False,
              total_words: int | None = None, resume: bool = False,
              validation=None) -> FittedModel:
        """Train with ``vocab`` on what ``scan`` read (from its recording, if any), or on
        ``sentences`` not counted by this run (words outside ``vocab`` are skipped; a streamed
        file's ``total_words`` is counted if not given). Consumes ``scan``'s recording.

        Raises
        ------
        NothingToTrain
            If the text holds no word of the vocabulary.
        """
        self.vocab = vocab
        if scan is not None:
            self.corpus_words = scan.total_words
        try:
            if scan is None:
                self._check_before_reading(sentences)
                corpus = self._encode(self.topology.share(sentences), streaming, total_words)
            else:
                corpus = self._encode(scan.corpus, streaming, scan.local_words, scan.recording)
                scan.recording = None  # the corpus owns it now
        finally:
            if scan is not None:
                scan.release()
        try:
            if not self.corpus_words:  # not counted by this run
                self.corpus_words = int(self.topology.total(corpus.raw_words)[0])
            checkpoint = None
            if resume:
                checkpoint = checkpoints.latest(self.config.checkpoint_dir, self.params, vocab)
            return self._train(corpus, checkpoint, validation)
        finally:
            corpus.close()  # the encoded ids a streaming corpus kept on disk

    # -- the parts -------------------------------------------------------------------------------

    def _check_before_reading(self, sentences) -> None:
        if self.config.checkpoint_dir and self.topology.writes:
            checkpoints.check_writable(self.config.checkpoint_dir)
        self.topology.check_same(self.params, sentences)

    def _encode(self, sentences, streaming: bool, raw_words, recording=None):
        """The corpus as word ids: streamed through an id file on disk, or in memory."""
        if streaming:  # memory bounded by a chunk; encoded ids kept on disk between epochs
            if raw_words is None:
                raw_words = sum(len(s) for s in checked_sentences(sentences))
            return StreamingCorpus(sentences, self.vocab.key_to_index, raw_words,
                                   recording=recording)
        if recording is not None:  # counted in C++: the ids are recorded already
            corpus = StreamingCorpus(sentences, self.vocab.key_to_index, raw_words,
                                     recording=recording).to_encoded()
        else:
            corpus = encode_corpus(checked_sentences(sentences),  # 4 bytes a token
                                   self.vocab.key_to_index)
        self._check_trainable(len(corpus.ids), corpus.raw_words)
        return corpus

    def _check_trainable(self, known_tokens: int, raw_words: int) -> None:
        """Refuse text without a word of the vocabulary; in a distributed run, on every rank
        when any rank's share has none (a corpus too small for its ranks)."""
        everyone = self.topology.each(known_tokens)
        if len(everyone) == 1:
            if not known_tokens:
                raise NothingToTrain(raw_words)
            return
        empty = [rank for rank, known in enumerate(everyone) if not known]
        if empty:
            raise ValueError(f"rank(s) {empty} of {len(everyone)} hold no word of the vocabulary "
                             "in their share of the corpus: the corpus is too small to share "
                             f"among {len(everyone)} ranks; give more text or fewer ranks")

    def _train(self, corpus, checkpoint, validation) -> FittedModel:
        c = self.config
        batch_size = c.batch_size_for(corpus.raw_words)
        self._check_memory(batch_size)
        earlier = list(self.previous.history) if self.previous is not None else []
        seed = c.seed + len(earlier)  # a continued model draws new random streams
        self.tables = initial_tables(len(self.vocab), c.vector_size, self.mode, seed,
                                     self.previous, c.table_dtype).to(self.device)
        distributions = self._distributions()
        feed = self._feed(distributions, batch_size, seed)
        if checkpoint is not None:
            self.position = checkpoints.restore(checkpoint, self.tables, feed.generator,
                                                self.topology.world_size, corpus.raw_words,
                                                self.topology.rank)
        hooks = self._hooks(corpus, feed, distributions, batch_size, seed, validation)
        step = self.backend.make_step(self.tables, c, distributions)
        schedule = Schedule(c.alpha, c.min_alpha, corpus.raw_words * c.epochs)
        history = train_epochs(feed, corpus, step, schedule, epochs=c.epochs,
                               position=self.position, hooks=hooks, run=self,
                               device=self.device)
        self.tables.to_float32_()  # bfloat16: widened in place, no copy
        call = earlier[-1].get("run", 0) + 1 if earlier else 0  # which fit/partial_fit call
        return FittedModel(
            vocab=self.vocab,
            input_vectors=float32_array(self.tables.input_vectors),
            output_vectors=float32_array(self.tables.output_vectors),
            history=earlier + [dict(h, run=call) for h in history],
            corpus_words=self.corpus_words or corpus.raw_words, device=str(self.device),
            lockf=self.previous.lockf_for(len(self.vocab)) if self.previous is not None else None)

    def _feed(self, distributions, batch_size: int, seed: int):
        """What the loop iterates: chunks of text for a backend that samples itself, else
        batches from a sampler; each rank of a distributed run draws its own numbers."""
        stream = self.topology.stream
        if self.config.consumes_chunks:
            return ChunkFeed(seed, self.topology.chunk_tokens(self.backend.chunk_tokens),
                             stream=stream)
        chunk_tokens = None
        if self.topology.distributed:  # ranks merge their changes after every chunk
            chunk_tokens = self.topology.chunk_tokens(BatchSampler.CHUNK_TOKENS)
        return self._sampler(distributions, batch_size, seed + 1_000_003 * stream, chunk_tokens)

    def _hooks(self, corpus, feed, distributions, batch_size, seed, validation) -> list:
        """The loop's hooks, in the order they run: merges, the divergence check, validation,
        checkpoints, the epoch's log line, users' callbacks, the progress bar."""
        c = self.config
        hooks = []
        merger = self.topology.merger(self.tables, self.mode, self.vocab.counts)
        if merger is not None:
            hooks.append(merger)
        hooks.append(DivergenceCheck(self.tables, self.mode, self.topology.divergence_advice))
        if validation is not None:
            held_out = encode_corpus(checked_sentences(resolve_corpus(validation, None)),
                                     self.vocab.key_to_index)  # read once: any iterable will do
            hooks.append(ValidationLoss(held_out, self._sampler(distributions, batch_size, seed)))
        if c.checkpoint_dir and self.topology.writes:  # distributed: rank 0, once ranks agree
            def save(position):
                checkpoints.save(c.checkpoint_dir, self.params, self.vocab, self.tables,
                                 feed.generator, position, corpus.raw_words,
                                 self.topology.world_size,
                                 merger.rank_positions if merger is not None else None)
            checkpointer = checkpoints.Checkpointer(save, self.position, c.checkpoint_every,
                                                    c.checkpoint_dir)
            if merger is not None:  # every row agrees before a mid-epoch checkpoint
                merger.checkpoint_due = checkpointer.due
            hooks.append(checkpointer)
        hooks.append(EpochLog(c.epochs))
        hooks.extend(c.callbacks)
        if self.progress:
            hooks.append(ProgressBar(corpus.raw_words * c.epochs, self.position))
        return hooks

    def _check_memory(self, batch_size: int) -> None:
        """Refuse tables (with the optimizer's state, a distributed run's copies) or batches
        larger than the device's free memory, before allocating any."""
        c = self.config
        copies = 1 + 2 * (c.optimizer != "sgd") + self.topology.table_copies()
        batch_bytes = 0
        if not c.consumes_chunks:  # batches of gathered vectors and their grads
            batch_bytes = 3 * batch_size * (1 + self.mode.negative) * c.vector_size * 4
        check_memory(len(self.vocab), c.vector_size, self.mode, self.device, copies,
                     batch_bytes)

    def _distributions(self) -> WordDistributions:
        c, counts = self.config, self.vocab.counts
        if c.subsampling == "percentile":
            keep = percentile_keep_probabilities(counts, c.subsample_percentile)
        else:
            keep = keep_probabilities(counts, c.sample)
        tree = self.vocab.hs_tree() if self.mode.hs else None
        lockf = self.previous.lockf_for(len(counts)) if self.previous is not None else None
        if lockf is not None and c.optimizer != "sgd":
            raise ValueError(f"vectors_lockf freezes rows for SGD; optimizer={c.optimizer!r} "
                             "would move them: use optimizer='sgd', or unfreeze the rows")
        return WordDistributions(keep, noise_distribution(counts, c.ns_exponent), tree, lockf)

    def _sampler(self, distributions, batch_size, seed, chunk_tokens=None) -> BatchSampler:
        return BatchSampler.from_config(
            self.config, distributions, batch_size=batch_size,
            generator=torch.Generator(self.device).manual_seed(seed),
            hs_offset=self.mode.hs_offset(len(self.vocab)), chunk_tokens=chunk_tokens)


_TRAINING = weakref.WeakSet()  # the estimators in a fit now
_TRAINING_LOCK = threading.Lock()


@contextmanager
def exclusive_training(estimator):
    """Refuse a second fit of ``estimator`` while one runs (from another thread): both would
    assign the fitted attributes, and the loser's result would be half of each."""
    with _TRAINING_LOCK:
        if estimator in _TRAINING:
            raise RuntimeError(
                f"this {type(estimator).__name__} is already being fitted (from another thread);"
                " fit one estimator per thread: sklearn.base.clone(estimator) gives a copy")
        _TRAINING.add(estimator)
    try:
        yield
    finally:
        with _TRAINING_LOCK:
            _TRAINING.discard(estimator)


def _warn_unwritable(words) -> None:
    """Warn at fit time about words the word2vec text format cannot hold (they train, and
    torch_w2v's model files keep them, but a word2vec file of them would not load back)."""
    bad = unwritable_words(words)
    if bad:
        warnings.warn(
            f"{len(bad)} word(s) of the vocabulary, such as {bad[0]!r}, are empty or hold "
            "whitespace: they train, and est.save() keeps them, but the word2vec format cannot "
            "(save_word2vec_format refuses them); split such tokens, or replace their "
            "whitespace (e.g. 'New_York'), before fitting", UserWarning, stacklevel=4)


def _check_finite(previous: FittedModel) -> None:
    """Training continues only from numbers: NaN or infinity in a table would train into a
    NaN loss (and look like a too-large learning rate)."""
    for name, table in (("the word vectors (wv.vectors)", previous.input_vectors),
                        ("the output table (syn1neg/syn1)", previous.output_vectors)):
        bad = ~np.isfinite(table).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            words = [previous.vocab.index_to_key[r] for r in rows[:5]
                     if r < len(previous.vocab)]
            raise ValueError(f"{name} hold NaN or infinite values in {len(rows)} rows (first: "
                             f"{rows[:5].tolist()}{', words ' + str(words) if words else ''}): "
                             "training cannot continue from them; assign finite vectors, or "
                             "train a new model")


def initial_tables(size: int, vector_size: int, mode: Mode, seed: int,
                   previous: FittedModel | None = None, dtype=torch.float32) -> EmbeddingTables:
    """Fresh tables for ``size`` words (gensim's initialisation, seeded), on the CPU, stored as
    ``dtype``; a continued model's known words (and Huffman nodes) keep their rows from
    ``previous``."""
    tables = EmbeddingTables(size, vector_size, mode.output_rows(size),
                             generator=torch.Generator().manual_seed(seed), dtype=dtype)
    if previous is not None:
        _check_finite(previous)
        known = len(previous.vocab)
        before = torch.from_numpy(previous.output_vectors)
        with torch.no_grad():
            writable = np.require(previous.input_vectors, requirements="W")  # mmap'd: a copy
            tables.input_vectors[:known] = torch.from_numpy(writable)
            if mode.negative:
                tables.output_vectors[:known] = before[:known]
            if mode.hs and known > 1:  # the tree is rebuilt; nodes keep rows by index
                old, new = mode.hs_offset(known), mode.hs_offset(size)
                tables.output_vectors[new:new + known - 1] = before[old:old + known - 1]
    return tables


def _stderr_is_terminal() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
