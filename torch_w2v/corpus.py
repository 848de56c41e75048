"""Corpus input: what ``fit`` accepts, how it is checked, and its encoding into int32 id arrays.

A corpus is any *re-iterable* of token lists: a list of lists, gensim's ``LineSentence``,
``Text8Corpus`` or ``PathLineSentences``, or :class:`CorpusFile` for a path or URL (anything
smart_open opens: local files, ``.gz``/``.bz2``, ``s3://``, ``https://``), one sentence per line.

Examples
--------
>>> corpus = [["the", "cat", "sat"], ["the", "dog"]]
>>> check_reiterable(corpus, epochs=5) is corpus
True
>>> encoded = encode_corpus(corpus, {"the": 0, "cat": 1})
>>> encoded.ids.tolist(), encoded.sentence_lengths.tolist()
([0, 1, 0], [2, 1])
"""
from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import warnings
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import Iterable, Optional

import numpy as np
from smart_open import open as smart_open

__all__ = [
    "CorpusFile",
    "EncodedCorpus",
    "StreamingCorpus",
    "FirstSeenIds",
    "IdFile",
    "count_and_record",
    "check_reiterable",
    "checked_sentences",
    "check_tokens",
    "encode_corpus",
    "resolve_corpus",
]

_FLUSH_TOKENS = 1 << 20


class CorpusFile:
    """Sentences from a text file, one per line, tokens separated by whitespace.

    Re-iterable, streamed (never held in memory) and opened with smart_open, so ``path`` may be a
    local path, a ``.gz``/``.bz2`` file or a URL (``s3://``, ``https://``, ...). Unlike gensim's
    ``LineSentence``, long lines are not cut at 10,000 tokens.

    Parameters
    ----------
    path : str or os.PathLike
    encoding : str, default "utf-8"

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "c.txt")
    >>> _ = open(path, "w").write("the cat sat\\n\\nthe dog\\n")
    >>> list(CorpusFile(path))
    [['the', 'cat', 'sat'], ['the', 'dog']]
    """

    def __init__(self, path, encoding: str = "utf-8"):
        self.path = path
        self.encoding = encoding

    def __iter__(self):
        with smart_open(self.path, "r", encoding=self.encoding) as lines:
            for line in lines:
                tokens = self.tokenize(line)
                if tokens:
                    yield tokens

    def tokenize(self, line: str) -> list:
        """The tokens of one line (whitespace-separated); subclasses change the rules here."""
        return line.split()

    def __repr__(self) -> str:
        return f"CorpusFile({str(self.path)!r})"


def resolve_corpus(sentences, corpus_file) -> Iterable:
    """Pick the corpus from ``fit``'s two ways of passing one, with clear errors."""
    if corpus_file is not None and sentences is not None:
        raise ValueError("pass either sentences or corpus_file to fit, not both")
    if corpus_file is not None:
        if not isinstance(corpus_file, (str, bytes)) and not hasattr(corpus_file, "__fspath__"):
            raise TypeError(
                f"corpus_file must be a path or URL string, got {type(corpus_file).__name__}; "
                "pass token lists as the first argument of fit instead"
            )
        return CorpusFile(corpus_file)
    if sentences is None:
        raise ValueError(
            "no corpus: call fit(sentences) with an iterable of token lists, "
            "or fit(corpus_file='path/or/url.txt')"
        )
    if isinstance(sentences, (str, bytes)):
        raise TypeError(
            "fit got a single string; pass a list of token lists such as "
            "[['the', 'cat'], ['a', 'dog']], or fit(corpus_file=...) for a path"
        )
    if not hasattr(sentences, "__iter__"):
        raise TypeError(
            f"the corpus must be an iterable of token lists, got {type(sentences).__name__}"
        )
    return sentences


def check_reiterable(sentences, epochs: int):
    """Refuse one-shot iterators: the corpus is read once for the vocabulary, then trained on.

    Raises
    ------
    TypeError
        If ``sentences`` is an iterator (a generator, ``map``, a file object), which would be
        empty on the second pass.
    """
    if isinstance(sentences, Iterator):
        raise TypeError(
            f"the corpus is a one-shot iterator ({type(sentences).__name__}): it can be read only "
            f"once, but training reads it for the vocabulary and then for {epochs} epoch(s). "
            "Pass a list, or a re-iterable object such as gensim's LineSentence, "
            "torch_w2v.corpus.CorpusFile, or a class whose __iter__ returns a new generator"
        )
    return sentences


def checked_sentences(sentences) -> Iterator:
    """Yield the sentences, raising a clear ``TypeError`` for anything that is not a token list."""
    for index, sentence in enumerate(sentences):
        if isinstance(sentence, (list, tuple)):
            yield sentence
        elif isinstance(sentence, (str, bytes)):
            raise TypeError(
                f"sentence {index} is a string ({sentence[:40]!r}), but each sentence must be a "
                "list of tokens: split your text first, e.g. [line.split() for line in lines], "
                "or pass fit(corpus_file=path) to read a one-sentence-per-line file"
            )
        elif isinstance(sentence, np.ndarray) and sentence.ndim == 1:
            yield sentence.tolist()
        else:
            raise TypeError(
                f"sentence {index} is a {type(sentence).__name__}, but each sentence must be a "
                "list of string tokens"
            )


def check_tokens(words: Iterable) -> None:
    """Raise ``TypeError`` naming the first token that is not a string (checked once per word)."""
    for word in words:
        if not isinstance(word, str):
            raise TypeError(
                f"token {word!r} is a {type(word).__name__}; every token must be a str "
                "(convert with [str(t) for t in sentence], or decode bytes first)"
            )


@dataclass
class EncodedCorpus:
    """A corpus as one int32 array of in-vocabulary word ids plus each sentence's length.

    Out-of-vocabulary tokens are removed before windowing, as in word2vec and gensim.

    Attributes
    ----------
    ids : ndarray of int32, shape (n_tokens,)
    sentence_lengths : ndarray of int64, shape (n_sentences,)
    raw_words : int
        Tokens in the original corpus, out-of-vocabulary ones included (the learning-rate schedule
        and words/s count these, as gensim does).
    """

    ids: np.ndarray
    sentence_lengths: np.ndarray
    raw_words: int

    def chunks(self, chunk_tokens: int):
        """Yield ``(ids, sentence_index, raw_words)`` for consecutive slices of about
        ``chunk_tokens`` tokens; ``raw_words`` spreads the corpus's raw count over the slices."""
        n = len(self.ids)
        bounds = np.cumsum(self.sentence_lengths)
        for start in range(0, n, chunk_tokens):
            stop = min(start + chunk_tokens, n)
            first = int(np.searchsorted(bounds, start, side="right"))
            last = int(np.searchsorted(bounds, stop - 1, side="right"))
            starts = np.concatenate([[start], bounds[first:last]])
            sentence_index = np.repeat(
                np.arange(first, last + 1, dtype=np.int64), np.diff(np.append(starts, stop))
            )
            raw = (self.raw_words * stop) // n - (self.raw_words * start) // n
            yield self.ids[start:stop], sentence_index, raw


def _drop_out_of_vocabulary(ids: list, lengths: list) -> tuple:
    """One flush of encoded sentences as arrays, without the -1 (out-of-vocabulary) ids."""
    ids_arr = np.asarray(ids, dtype=np.int32)
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    in_vocab = ids_arr >= 0
    if not in_vocab.all():
        kept_before = np.concatenate([[0], np.cumsum(in_vocab, dtype=np.int64)])
        ends = np.cumsum(lengths_arr)
        lengths_arr = kept_before[ends] - kept_before[ends - lengths_arr]
        ids_arr = ids_arr[in_vocab]
    return ids_arr, lengths_arr[lengths_arr > 0]


def _raw_flushes(sentences: Iterable, encode, flush_tokens: int):
    """Yield ``(ids, sentence_lengths)`` for runs of whole sentences holding at least
    ``flush_tokens`` tokens (the last run may hold fewer), every token encoded by
    ``encode(words) -> int32 array`` (-1 for a word outside the vocabulary)."""
    words: list = []
    lengths: list = []
    for sentence in sentences:
        words += sentence
        lengths.append(len(sentence))
        if len(words) >= flush_tokens:
            yield encode(words), np.asarray(lengths, dtype=np.int64)
            words, lengths = [], []
    if lengths:
        yield encode(words), np.asarray(lengths, dtype=np.int64)


def _vocabulary_encoder(key_to_index: dict):
    """``encode(words)``: their ids in ``key_to_index``, -1 for the others."""
    get = key_to_index.get

    def encode(words: list) -> np.ndarray:
        # map + fromiter keeps the per-token work in C: ~30% faster than a list comprehension
        return np.fromiter(map(get, words, repeat(-1)), np.int32, len(words))

    return encode


def encode_corpus(sentences: Iterable, key_to_index: dict) -> EncodedCorpus:
    """Encode a corpus into an :class:`EncodedCorpus`, dropping out-of-vocabulary tokens.

    Works in flushes of about a million tokens, so the Python-level intermediate lists stay small.
    """
    id_parts, length_parts = [np.zeros(0, np.int32)], [np.zeros(0, np.int64)]
    raw_words = 0
    for ids, lengths in _raw_flushes(sentences, _vocabulary_encoder(key_to_index), _FLUSH_TOKENS):
        raw_words += len(ids)
        ids, lengths = _drop_out_of_vocabulary(ids, lengths)
        id_parts.append(ids)
        length_parts.append(lengths)
    return EncodedCorpus(np.concatenate(id_parts), np.concatenate(length_parts), raw_words)


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
                 cache: bool = True, recording: Optional[IdFile] = None):
        self.sentences = sentences
        self.key_to_index = key_to_index
        self.raw_words = raw_words
        self.cache = cache
        self._ids: Optional[IdFile] = recording
        self._remap = None
        if recording is not None:
            self._remap = _vocabulary_encoder(key_to_index)(recording.words)
            recording.words = None  # only the remap is needed from here on

    def chunks(self, chunk_tokens: int):
        """Yield ``(ids, sentence_index, raw_words)`` for runs of whole flushes of at least
        ``chunk_tokens`` tokens (the last one may hold fewer)."""
        parts, raw_words = [], 0
        for ids, lengths, raw in self._flushes():
            parts.append((ids, lengths))
            raw_words += raw
            if raw_words >= chunk_tokens:
                yield self._chunk(parts, raw_words)
                parts, raw_words = [], 0
        if parts:
            yield self._chunk(parts, raw_words)

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
                flushes = self._write_ids(flushes)
            flushes = read_ahead(flushes)
        for ids, lengths in flushes:
            raw_words = len(ids)
            if self._remap is not None:
                ids = self._remap[ids]
            yield (*_drop_out_of_vocabulary(ids, lengths), raw_words)

    def _write_ids(self, flushes):
        """Pass ``flushes`` through, writing them to an :class:`IdFile` that later passes read
        once this pass has run to its end."""
        try:
            id_file = IdFile()
        except OSError as err:
            self._give_up_cache(err)
            yield from flushes
            return
        for flush in flushes:
            if id_file is not None:
                try:
                    id_file.append(*flush)
                except OSError as err:
                    self._give_up_cache(err)
                    id_file.delete()
                    id_file = None
            yield flush
        if id_file is not None:
            id_file.finish()
            self._ids = id_file

    def _give_up_cache(self, err: OSError) -> None:
        self.cache = False  # warned once; later passes read the text without trying again
        _warn_no_id_file(err)

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
    recording : IdFile or None
        None (after a warning) where the file could not be written.
    """
    first_seen = FirstSeenIds()
    try:
        recording = IdFile()
    except OSError as err:
        _warn_no_id_file(err)
        recording = None
    total = 0
    for ids, lengths in _raw_flushes(sentences, first_seen.encode, StreamingCorpus.FLUSH_TOKENS):
        total += len(ids)
        if recording is not None:
            try:
                recording.append(ids, lengths)
            except OSError as err:
                _warn_no_id_file(err)
                recording.delete()
                recording = None
    counter = first_seen.counter()
    if recording is not None:
        recording.finish()
        recording.words = counter  # its keys, in id order, give the remap to the vocabulary
    return counter, total, recording


class IdFile:
    """Encoded flushes of a corpus in two temporary files (int32 ids, -1 for words outside the
    vocabulary, and int64 sentence lengths), read back flush by flush."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="torch_w2v-corpus-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, True)
        self.ids_path = os.path.join(self.directory, "ids.int32")
        self.lengths_path = os.path.join(self.directory, "lengths.int64")
        self.sizes: list = []  # (tokens, sentences) of each flush
        self.words = None  # the words first-seen ids stand for, in id order, if they are those
        self._ids = open(self.ids_path, "wb")
        self._lengths = open(self.lengths_path, "wb")

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
        self._ids.close()
        self._lengths.close()
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
