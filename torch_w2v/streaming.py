"""Streaming a corpus file: encoded once, kept on disk as word ids, read back every epoch.

:func:`count_and_record` counts the vocabulary and records the text as first-seen word ids in an
:class:`IdFile` in one pass; :class:`StreamingCorpus` serves the epochs from that file (or, where
there is none, from the text, writing the file during its first pass), so memory stays bounded
by a chunk and the text is tokenised once.

Examples
--------
>>> import numpy as np
>>> counter, total, sentences, recording = count_and_record([["the", "cat"], ["a", "cat"]])
>>> counter, total, sentences
(Counter({'cat': 2, 'the': 1, 'a': 1}), 4, 2)
>>> corpus = StreamingCorpus(None, {"cat": 0, "the": 1}, total, recording=recording)
>>> [(ids.tolist(), sentence.tolist(), raw) for ids, sentence, raw in corpus.chunks(65536)]
[([1, 0, 0], [0, 0, 1], 4)]
>>> corpus.close()
"""
from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import threading
import warnings
import weakref
from collections import Counter
from collections.abc import Iterable
from itertools import repeat

import numpy as np

from .corpus import _drop_out_of_vocabulary, _raw_flushes, _vocabulary_encoder
from .io import owned_prefix, remove_stale_owned

__all__ = ["StreamingCorpus", "IdFile", "FirstSeenIds", "count_and_record", "read_ahead",
           "record_flushes"]


class FirstSeenIds:
    """Counts words while giving each an id in the order words are first seen, so a corpus can
    be encoded in the same pass that counts it (the ids are remapped to the vocabulary's later).

    Examples
    --------
    >>> first_seen = FirstSeenIds()
    >>> first_seen.encode(["b", "a", "b"]).tolist(), first_seen.encode(["c", "a"]).tolist()
    ([0, 1, 0], [2, 1])
    >>> first_seen.counter()
    Counter({'b': 2, 'a': 2, 'c': 1})
    """

    def __init__(self):
        self.index: Counter = Counter()  # word -> id while counting; word -> count at the end
        self.counts = np.zeros(0, np.int64)

    def encode(self, words: list) -> np.ndarray:
        """The ids of ``words``, new words getting the next ids; counts them."""
        index = self.index
        ids = np.fromiter(map(index.get, words, repeat(-1)), np.int32, len(words))
        for i in np.flatnonzero(ids < 0).tolist():  # first occurrences in this run only
            ids[i] = index.setdefault(words[i], len(index))
        if len(index) > len(self.counts):  # grown by doubling: few copies
            grown = np.zeros(max(2 * len(self.counts), len(index), 1024), np.int64)
            grown[:len(self.counts)] = self.counts
            self.counts = grown
        np.add.at(self.counts, ids, 1)  # no vocabulary-sized temporary per run
        return ids

    def counter(self) -> Counter:
        """Word counts, words in first-seen order (as a ``Counter`` fed the same text has them;
        a word's id is its position in this order).

        The id dictionary becomes the counter, in place (no second dictionary of every word
        seen), so :meth:`encode` cannot be called afterwards.
        """
        counter, self.index = self.index, None
        for word, count in zip(counter, self.counts):  # values only: allowed while iterating
            counter[word] = int(count)
        return counter


class StreamingCorpus:
    """The same interface as :class:`EncodedCorpus`, but memory stays bounded by a chunk, not
    the corpus.

    The corpus is read as *flushes* of whole sentences of at least 65,536 tokens, and a chunk is
    one flush or more, in order. The encoded flushes are kept on disk in an :class:`IdFile` (4
    bytes a token, in the directory ``tempfile`` picks: ``TMPDIR``): either one recorded while
    the vocabulary was counted (``recording``), or one written during the first pass over the
    text, which then reads and encodes it in a background thread. Later passes read the ids
    instead of tokenising the text again. Where the file cannot be written (a full or read-only
    disk), every pass reads the text, with a warning. :meth:`close` deletes the file.

    Parameters
    ----------
    sentences : re-iterable of list of str
    key_to_index : dict
    raw_words : int
        Tokens in the corpus (known from the vocabulary pass).
    cache : bool, default True
        Keep the encoded ids on disk between passes.
    recording : IdFile, optional
        The corpus encoded in first-seen ids while counting (:func:`count_and_record`).
    """

    FLUSH_TOKENS = 1 << 16

    def __init__(self, sentences: Iterable, key_to_index: dict, raw_words: int,
                 cache: bool = True, recording: IdFile | None = None):
        self.sentences = sentences
        self.key_to_index = key_to_index
        self.raw_words = raw_words
        self.cache = cache
        self._ids: IdFile | None = recording
        self._remap = None
        if recording is not None:
            self._remap = _vocabulary_encoder(key_to_index)(recording.words)
            recording.words = None  # only the remap is needed from here on

    def chunks(self, chunk_tokens: int):
        """Yield ``(ids, sentence_index, raw_words)`` for runs of whole flushes of at least
        ``chunk_tokens`` raw tokens (the last one may hold fewer); a flush of twice
        ``chunk_tokens`` or more is cut, between sentences, into about equal chunks of about
        ``chunk_tokens`` (distributed runs merge the ranks' work after every chunk, ask for
        small ones, and wait for the slowest rank: chunks of equal size keep them in step)."""
        parts, raw_words = [], 0
        for ids, lengths, raw in self._flushes():
            pieces = round(raw / chunk_tokens)
            if pieces >= 2:
                if parts:
                    yield self._chunk(parts, raw_words)
                    parts, raw_words = [], 0
                yield from self._cut(ids, lengths, raw, pieces)
                continue
            parts.append((ids, lengths))
            raw_words += raw
            if raw_words >= chunk_tokens:
                yield self._chunk(parts, raw_words)
                parts, raw_words = [], 0
        if parts:
            yield self._chunk(parts, raw_words)

    @classmethod
    def _cut(cls, ids, lengths, raw_words, pieces):
        """One flush as ``pieces`` chunks of whole sentences of about equal size (each ending
        at the first sentence end at or past its share); ``raw_words`` spread over them by
        their share."""
        ends = np.cumsum(lengths)
        cuts = np.unique(np.searchsorted(ends, np.arange(1, pieces) * len(ids) // pieces))
        sentence_bounds = np.concatenate([[0], cuts + 1, [len(lengths)]]).astype(np.int64)
        sentence_bounds = np.unique(np.minimum(sentence_bounds, len(lengths)))
        token_bounds = np.concatenate([[0], ends])[sentence_bounds]
        for (s0, s1), (t0, t1) in zip(zip(sentence_bounds, sentence_bounds[1:]),
                                      zip(token_bounds, token_bounds[1:])):
            raw = (raw_words * int(t1)) // len(ids) - (raw_words * int(t0)) // len(ids)
            yield cls._chunk([(ids[t0:t1], lengths[s0:s1])], raw)

    @staticmethod
    def _chunk(parts, raw_words):
        ids = np.concatenate([p[0] for p in parts])
        lengths = np.concatenate([p[1] for p in parts])
        return ids, np.repeat(np.arange(len(lengths), dtype=np.int64), lengths), raw_words

    def _flushes(self):
        """``(ids, sentence_lengths, raw_words)`` of each flush, out-of-vocabulary tokens (and
        emptied sentences) removed."""
        if self._ids is not None:
            flushes = self._ids.read()
        else:
            flushes = _raw_flushes(self.sentences, _vocabulary_encoder(self.key_to_index),
                                   self.FLUSH_TOKENS)
            if self.cache:
                flushes = _recorded(flushes, self._keep_ids)
            flushes = read_ahead(flushes)
        for ids, lengths in flushes:
            raw_words = len(ids)
            if self._remap is not None:
                ids = self._remap[ids]
            yield (*_drop_out_of_vocabulary(ids, lengths), raw_words)

    def _keep_ids(self, id_file: IdFile | None) -> None:
        """Read later passes from ``id_file``; None: it could not be written, and later passes
        read the text without trying again (one warning is enough)."""
        if id_file is None:
            self.cache = False
        self._ids = id_file

    def to_encoded(self):
        """The whole corpus in memory as an :class:`~torch_w2v.corpus.EncodedCorpus` (one pass),
        the kept ids deleted."""
        from .corpus import EncodedCorpus

        parts = list(self._flushes())
        self.close()
        return EncodedCorpus(np.concatenate([np.zeros(0, np.int32)] + [p[0] for p in parts]),
                             np.concatenate([np.zeros(0, np.int64)] + [p[1] for p in parts]),
                             self.raw_words)

    def close(self) -> None:
        """Delete the kept ids (the corpus stays usable: the next pass reads the text)."""
        if self._ids is not None:
            self._ids.delete()
            self._ids = None
            self._remap = None


def _warn_no_id_file(err: OSError) -> None:
    warnings.warn(f"could not keep the encoded corpus on disk ({err}); every epoch reads "
                  "the text instead (slower). Point TMPDIR at a disk with room to fix this",
                  RuntimeWarning, stacklevel=3)


def count_and_record(sentences: Iterable) -> tuple:
    """Count the words of ``sentences`` and record the text as first-seen ids in an
    :class:`IdFile`, in one pass.

    Returns
    -------
    counter : Counter
        Word counts, words in first-seen order.
    total_words : int
    sentences : int
    recording : IdFile or None
        None (after a warning) where the file could not be written.
    """
    first_seen = FirstSeenIds()
    kept: list = []
    flushes = _raw_flushes(sentences, first_seen.encode, StreamingCorpus.FLUSH_TOKENS)
    total, lines = record_flushes(flushes, kept.append)
    counter = first_seen.counter()
    recording = kept[-1]
    if recording is not None:
        recording.words = counter  # its keys, in id order, give the remap to the vocabulary
    return counter, total, lines, recording


def record_flushes(flushes, keep) -> tuple:
    """Write ``(ids, sentence_lengths)`` flushes to a new :class:`IdFile` (``keep`` gets it,
    or None: :func:`_recorded`); returns the tokens and sentences they held."""
    tokens = sentences = 0
    for ids, lengths in _recorded(flushes, keep):
        tokens += len(ids)
        sentences += len(lengths)
    return tokens, sentences


def _recorded(flushes, keep):
    """Pass ``(ids, sentence_lengths)`` flushes through, writing them to a new :class:`IdFile`.

    ``keep(id_file)`` gets the file once every flush is written (a pass left unfinished keeps
    nothing), or ``keep(None)``, after a warning, as soon as the file cannot be written.
    """
    try:
        id_file = IdFile()
    except OSError as err:
        _warn_no_id_file(err)
        keep(None)
        yield from flushes
        return
    for flush in flushes:
        if id_file is not None:
            try:
                id_file.append(*flush)
            except OSError as err:
                _warn_no_id_file(err)
                id_file.delete()
                id_file = None
                keep(None)
        yield flush
    if id_file is not None:
        try:
            id_file.finish()  # writes what is still buffered: the disk can fill here too
        except OSError as err:
            _warn_no_id_file(err)
            id_file.delete()
            id_file = None
        keep(id_file)


CORPUS_FILES = "torch_w2v-corpus"  # the id files' folders in $TMPDIR


class IdFile:
    """Encoded flushes of a corpus in two temporary files (int32 ids, -1 for words outside the
    vocabulary, and int64 sentence lengths), read back flush by flush."""

    def __init__(self):
        remove_stale_owned(tempfile.gettempdir(), CORPUS_FILES)  # of fits killed earlier
        self.directory = tempfile.mkdtemp(prefix=owned_prefix(CORPUS_FILES))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, True)
        self.ids_path = os.path.join(self.directory, "ids.int32")
        self.lengths_path = os.path.join(self.directory, "lengths.int64")
        self.sizes: list = []  # (tokens, sentences) of each flush
        self.words = None  # the words first-seen ids stand for, in id order, if they are those
        # open for the file's lifetime: appended flush by flush, closed by finish()/delete()
        self._ids = open(self.ids_path, "wb")  # noqa: SIM115
        self._lengths = open(self.lengths_path, "wb")  # noqa: SIM115

    def append(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        self._ids.write(ids.astype(np.int32, copy=False).tobytes())
        self._lengths.write(lengths.astype(np.int64, copy=False).tobytes())
        self.sizes.append((len(ids), len(lengths)))

    def finish(self) -> None:
        self._ids.close()
        self._lengths.close()

    def read(self):
        """Yield each flush's ``(ids, sentence_lengths)``."""
        with open(self.ids_path, "rb") as ids, open(self.lengths_path, "rb") as lengths:
            for n_ids, n_sentences in self.sizes:
                yield np.fromfile(ids, np.int32, n_ids), np.fromfile(lengths, np.int64, n_sentences)

    def delete(self) -> None:
        """Remove the files; what is still buffered is dropped (on a full disk, flushing it
        would fail again)."""
        for stream in (self._ids, self._lengths):
            with contextlib.suppress(OSError):
                stream.close()
        self._cleanup()


def read_ahead(iterable, depth: int = 2):
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead of the consumer.

    Reading and encoding text is Python work; the training step releases the GIL, so the two
    overlap. Exceptions in the reader are raised in the consumer.

    Examples
    --------
    >>> list(read_ahead(iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item) -> bool:
        """Hand ``item`` over unless the consumer has stopped; False once it has."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterable:
                if not put(item):
                    return
            put(done)
        except BaseException as err:  # handed to the consumer
            put(err)

    thread = threading.Thread(target=produce, name="torch_w2v-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
