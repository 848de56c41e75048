"""One training run: corpus → vocabulary → sampler → backend → loop → :class:`FittedModel`.

A :class:`TrainingRun` owns everything a ``fit`` or ``partial_fit`` builds, and nothing outside
it changes until it returns: the estimator assigns the result only after the run succeeded, so a
failed run leaves the estimator as it was. Its attributes are what callbacks see.

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

import os
import sys
import threading
import warnings
import weakref
from contextlib import contextmanager
from itertools import islice

import torch

from . import checkpoints, ops, text
from .backends import select_backend
from .callbacks import ValidationLoss
from .corpus import (
    COMPRESSED,
    CorpusFile,
    check_tokens,
    checked_sentences,
    encode_corpus,
    resolve_corpus,
)
from .distributed import Distributed, EpochSync, byte_share, sync_chunk_tokens
from .fitted import FittedModel
from .io import unwritable_words
from .keyedvectors import to_keyed_vectors
from .model import EmbeddingTables, check_memory
from .modes import Mode
from .params import resolve_device
from .sampling import BATCH_CHUNK_TOKENS, BatchSampler, ChunkFeed, WordDistributions
from .streaming import StreamingCorpus, count_and_record
from .train import Position, train_epochs
from .vocab import (
    build_vocab,
    count_words,
    grow_vocab,
    huffman_tree,
    keep_probabilities,
    noise_distribution,
    percentile_keep_probabilities,
)

__all__ = ["NothingToTrain", "TrainingRun", "initial_tables", "prepare_backend"]


class NothingToTrain(ValueError):
    """The text holds no word of the vocabulary (``raw_words`` tokens, all unknown)."""

    def __init__(self, raw_words: int):
        super().__init__("no word of this text is in the vocabulary: nothing to train")
        self.raw_words = raw_words


def prepare_backend(params: dict):
    """``(device, backend)`` a run with ``params`` uses, made ready to train (a compiled op is
    built or loaded here): benchmarks call it before they start the clock.

    Examples
    --------
    >>> from torch_w2v import TorchWord2Vec
    >>> device, backend = prepare_backend(TorchWord2Vec(device="cpu", step="batched").get_params())
    >>> str(device), backend.name
    ('cpu', 'batched')
    """
    device = resolve_device(params["device"])
    return device, select_backend(params["step"], device, Mode.from_params(params), params)


class TrainingRun:
    """One training run of word2vec with validated parameters.

    Parameters
    ----------
    params : dict
        :class:`~torch_w2v.TorchWord2Vec` parameters (``get_params()``), already validated.
    previous : FittedModel, optional
        Continue from this model (``partial_fit``): its words keep their ids and vectors.

    Attributes
    ----------
    params : dict
    mode : Mode
        The training mode (:mod:`torch_w2v.modes`).
    vocab : Vocabulary or None
        Set once the corpus is counted.
    device : torch.device or None
    backend : Backend or None
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
        self.previous = previous
        self.mode = Mode.from_params(self.params)
        self.vocab = None
        self.device = None
        self.backend = None
        self.tables = None
        self.position = Position()
        self.dist = Distributed.current()  # under torchrun: data-parallel (torch_w2v.distributed)
        progress = self.params["progress"]
        self.progress = ((_stderr_is_terminal() if progress is None else progress)
                         and (self.dist is None or self.dist.rank == 0))
        self.corpus_words = 0

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
        vectors = self.tables.input_vectors.detach().cpu().numpy().copy()
        return to_keyed_vectors(self.vocab, vectors)

    # -- the run -------------------------------------------------------------------------------

    def fit(self, sentences, *, streaming: bool = False, resume: bool = False,
            validation=None, vocab=None, total_words=None) -> FittedModel:
        """Train on ``sentences`` (checked re-iterable token lists) and return the result.

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
        vocab : Vocabulary, optional
            Train with this vocabulary (``previous``'s, gensim's ``train``): the text is not
            counted, words outside it are skipped, and counts stay as they are.
        total_words : int, optional
            With ``vocab`` and ``streaming``: the text's tokens, if known (else counted).

        Raises
        ------
        NothingToTrain
            If the text holds no word of the vocabulary.
        """
        if self.params["checkpoint_dir"] and (self.dist is None or self.dist.rank == 0):
            checkpoints.check_writable(self.params["checkpoint_dir"])
        if self.dist is not None:  # this rank's share of the text
            sentences = self._share(sentences)
        if vocab is not None:
            self.vocab, recording = vocab, None
            if streaming and total_words is None:
                total_words = sum(len(s) for s in checked_sentences(sentences))
        else:
            counter, total_words, recording = self._count(sentences, streaming)
        try:
            if vocab is None:
                self.vocab = self._vocabulary(counter)
                del counter
            checkpoint = None
            if resume:
                checkpoint = checkpoints.latest(self.params["checkpoint_dir"], self.params,
                                                self.vocab)
            corpus = self._encode(sentences, streaming, total_words, recording)
        except BaseException:
            if recording is not None:
                recording.delete()
            raise
        try:
            return self._train(corpus, checkpoint, validation)
        finally:
            corpus.close()  # the encoded ids a streaming corpus kept on disk

    def _count(self, sentences, streaming):
        """Word counts, token count and the text recorded as ids in the same pass: in C++ for a
        UTF-8 :class:`CorpusFile` (:mod:`torch_w2v.text`), in Python for other streamed corpora;
        not with ``max_vocab_size`` (gensim prunes the counts sentence by sentence)."""
        recording = None
        max_vocab_size = self.params["max_vocab_size"]
        if max_vocab_size is None and text.applies(sentences) and ops.load():
            counter, total, recording = text.count_and_record_file(sentences.path,
                                                                   sentences.byte_range)
        elif streaming and max_vocab_size is None:
            counter, total, recording = count_and_record(checked_sentences(sentences))
        else:
            counter, total, _ = count_words(checked_sentences(sentences), max_vocab_size)
        local_total = total
        if self.dist is not None:  # the whole corpus's counts, in its first-seen order
            counter, total = self.dist.merge_counts(counter, total)
        if total == 0:
            raise ValueError("the corpus is empty: it holds no tokens to train on")
        check_tokens(counter)
        self.corpus_words = total
        return counter, local_total, recording

    def _share(self, sentences):
        """This rank's contiguous share of the corpus, after checking that every rank runs the
        same parameters on the same corpus."""
        p = self.params
        if p["max_vocab_size"] is not None or p["checkpoint_every"] is not None:
            raise ValueError("distributed training supports neither max_vocab_size (gensim "
                             "prunes sentence by sentence, which ranks cannot share) nor "
                             "checkpoint_every (checkpoints are taken at epoch ends, when "
                             "the ranks agree): leave them None")
        if isinstance(sentences, CorpusFile):
            path = os.fspath(sentences.path)
            if not os.path.isfile(path) or path.endswith(COMPRESSED):
                raise ValueError(f"distributed training reads each rank's share of {path} by "
                                 "byte offsets: give a plain, uncompressed local file (e.g. "
                                 "`gunzip -k` it first)")
            size = os.path.getsize(path)
            self.dist.check_same(p, f"{os.path.basename(path)} ({size} bytes)")
            return sentences.share(*byte_share(size, self.dist.rank, self.dist.world_size))
        n = len(sentences) if hasattr(sentences, "__len__") else sum(1 for _ in sentences)
        self.dist.check_same(p, f"{n} sentences")
        return SentenceSlice(sentences, self.dist.share(n))

    def _vocabulary(self, counter):
        p = self.params
        if self.previous is not None:
            vocab = grow_vocab(self.previous.vocab, counter, p["min_count"], p["trim_rule"])
            _warn_unwritable(vocab.index_to_key[len(self.previous.vocab):])  # the new words
            return vocab
        vocab = build_vocab(counter, p["min_count"], p["max_final_vocab"], p["trim_rule"],
                            p["sorted_vocab"])
        if len(vocab) == 0:
            raise ValueError(
                f"the vocabulary is empty: no word occurs min_count={p['min_count']} times "
                f"(the most frequent occurs {max(counter.values())} times); "
                "lower min_count or give a larger corpus")
        _warn_unwritable(vocab.index_to_key)
        return vocab

    def _encode(self, sentences, streaming, total_words, recording):
        if streaming:  # memory bounded by a chunk; encoded ids kept on disk between epochs
            return StreamingCorpus(sentences, self.vocab.key_to_index, total_words,
                                   recording=recording)
        if recording is not None:  # counted in C++: the ids are recorded already
            corpus = StreamingCorpus(sentences, self.vocab.key_to_index, total_words,
                                     recording=recording).to_encoded()
        else:
            corpus = encode_corpus(checked_sentences(sentences),  # 4 bytes a token
                                   self.vocab.key_to_index)
        if not len(corpus.ids):
            raise NothingToTrain(corpus.raw_words)
        return corpus

    def _train(self, corpus, checkpoint, validation) -> FittedModel:
        p = self.params
        self.device, self.backend = prepare_backend(p)
        batch_size = p["batch_size"] or self.backend.default_batch_size(self.device,
                                                                        corpus.raw_words)
        self._check_memory(batch_size)
        earlier = list(self.previous.history) if self.previous is not None else []
        seed = p["seed"] + len(earlier)  # a continued model draws new random streams
        self.tables = self._tables(seed)
        distributions = self._distributions()
        rank = self.dist.rank if self.dist is not None else 0
        if self.dist is not None and not self.corpus_words:  # not counted here (a given vocab)
            self.corpus_words = int(self.dist.sum_numbers(corpus.raw_words)[0])
        if self.backend.consumes == "chunks":  # it samples the text itself
            chunk_tokens = self.backend.chunk_tokens
            if self.dist is not None:  # ranks merge their changes after every chunk
                chunk_tokens = sync_chunk_tokens(self.dist.world_size, chunk_tokens)
            feed = ChunkFeed(seed, chunk_tokens, stream=rank)
        else:
            chunk_tokens = None  # the sampler's default
            if self.dist is not None:  # ranks merge their changes after every chunk
                chunk_tokens = sync_chunk_tokens(self.dist.world_size, BATCH_CHUNK_TOKENS)
            feed = self._sampler(distributions, batch_size, seed + 1_000_003 * rank,
                                 chunk_tokens)
        sync = None
        if self.dist is not None:
            sync = EpochSync(self.dist, self.tables, self.mode, self.vocab.counts)
        if checkpoint is not None:
            self.position = checkpoints.restore(checkpoint, self.tables, feed.generator)
        save = None
        if p["checkpoint_dir"] and rank == 0:  # distributed: rank 0, once the ranks agree
            def save(position):
                checkpoints.save(p["checkpoint_dir"], p, self.vocab, self.tables,
                                 feed.generator, position, corpus.raw_words)
        callbacks = list(p["callbacks"])
        if validation is not None:  # first, so the other callbacks see val_loss
            held_out = encode_corpus(checked_sentences(resolve_corpus(validation, None)),
                                     self.vocab.key_to_index)  # read once: any iterable will do
            callbacks.insert(0, ValidationLoss(held_out,
                                               self._sampler(distributions, batch_size, seed)))
        step = self.backend.make_step(self.tables, p, distributions)
        history = train_epochs(self.tables, feed, corpus, step, epochs=p["epochs"],
                               alpha=p["alpha"], min_alpha=p["min_alpha"],
                               callbacks=callbacks, run=self, progress=self.progress,
                               position=self.position, checkpoint=save,
                               checkpoint_every=p["checkpoint_every"], sync=sync,
                               mode=self.mode)
        call = earlier[-1].get("run", 0) + 1 if earlier else 0  # which fit/partial_fit call
        return FittedModel(
            vocab=self.vocab,
            input_vectors=self.tables.input_vectors.detach().cpu().numpy(),
            output_vectors=self.tables.output_vectors.detach().cpu().numpy(),
            history=earlier + [dict(h, run=call) for h in history],
            corpus_words=self.corpus_words or corpus.raw_words, device=str(self.device))

    def _check_memory(self, batch_size: int) -> None:
        """Refuse tables (with the optimizer's state, a distributed run's copies) or batches
        larger than the device's free memory, before allocating any."""
        p = self.params
        copies = 1 + 2 * (p["optimizer"] != "sgd") + 2 * (self.dist is not None)
        batch_bytes = 0
        if self.backend.consumes != "chunks":  # batches of gathered vectors and their grads
            batch_bytes = 3 * batch_size * (1 + self.mode.negative) * p["vector_size"] * 4
        check_memory(len(self.vocab), p["vector_size"], self.mode, self.device, copies,
                     batch_bytes)

    def _tables(self, seed):
        return initial_tables(len(self.vocab), self.params["vector_size"], self.mode, seed,
                              self.previous).to(self.device)

    def _distributions(self) -> WordDistributions:
        p, counts = self.params, self.vocab.counts
        if p["subsampling"] == "percentile":
            keep = percentile_keep_probabilities(counts, p["subsample_percentile"])
        else:
            keep = keep_probabilities(counts, p["sample"])
        tree = huffman_tree(counts) if self.mode.hs else None
        return WordDistributions(keep, noise_distribution(counts, p["ns_exponent"]), tree)

    def _sampler(self, distributions, batch_size, seed, chunk_tokens=None):
        p = self.params
        return BatchSampler(
            distributions.keep, distributions.noise,
            window=p["window"], negative=self.mode.negative, shrink_windows=p["shrink_windows"],
            batch_size=batch_size, device=self.device,
            generator=torch.Generator(self.device).manual_seed(seed),
            subsample_independently=p["subsampling"] == "percentile",
            full_windows_only=p["full_windows_only"],
            noise_table_size=p["noise_table_size"] if p["noise_sampler"] == "table" else None,
            tree=distributions.tree, hs_offset=self.mode.hs_offset(len(self.vocab)),
            chunk_tokens=chunk_tokens,
        )


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


class SentenceSlice:
    """A re-iterable slice of a re-iterable corpus (one rank's share)."""

    def __init__(self, sentences, part: slice):
        self.sentences, self.part = sentences, part

    def __iter__(self):
        return islice(self.sentences, self.part.start, self.part.stop)

    def __len__(self) -> int:
        return self.part.stop - self.part.start


def initial_tables(size: int, vector_size: int, mode: Mode, seed: int,
                   previous: FittedModel | None = None) -> EmbeddingTables:
    """Fresh tables for ``size`` words (gensim's initialisation, seeded), on the CPU; a
    continued model's known words (and Huffman nodes) keep their rows from ``previous``."""
    tables = EmbeddingTables(size, vector_size, mode.output_rows(size),
                             generator=torch.Generator().manual_seed(seed))
    if previous is not None:
        known = len(previous.vocab)
        before = torch.from_numpy(previous.output_vectors)
        with torch.no_grad():
            tables.input_vectors[:known] = torch.from_numpy(previous.input_vectors)
            if mode.negative:
                tables.output_vectors[:known] = before[:known]
            if mode.hs and known > 1:  # the tree is rebuilt; nodes keep rows by index
                old, new = mode.hs_offset(known), mode.hs_offset(size)
                tables.output_vectors[new:new + known - 1] = before[old:old + known - 1]
    return tables


def _stderr_is_terminal() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
