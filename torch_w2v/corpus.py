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

import io
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat

import numpy as np
from smart_open import open as smart_open

__all__ = [
    "CorpusFile",
    "LineRange",
    "EncodedCorpus",
    "check_reiterable",
    "checked_sentences",
    "check_tokens",
    "encode_corpus",
    "resolve_corpus",
]

_FLUSH_TOKENS = 1 << 20


COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lzma", ".zip")  # what smart_open decompresses
ENCODING_ADVICE = ("pass fit(corpus_file=..., encoding=...) with the file's encoding (e.g. "
                   "'latin-1'), or convert the file to UTF-8")
_DAMAGED = (EOFError, OSError)  # gzip.BadGzipFile, bz2's OSError, truncated streams ...


def _decompression_errors() -> tuple:
    import lzma
    import zlib

    return (zlib.error, lzma.LZMAError)


@contextmanager
def reading_errors(path, encoding: str = "utf-8", where=None):
    """Turn what reading a corpus file can raise deep inside (a codec, a decompressor) into a
    ``ValueError`` that names the file and the fix; the system's errors (a missing file, no
    permission) stay as they are.

    Examples
    --------
    >>> try:
    ...     with reading_errors("c.txt"):
    ...         bytes([99, 97, 102, 0xE9]).decode("utf-8")
    ... except ValueError as err:
    ...     print(str(err)[:46])
    c.txt: the text is not valid utf-8 (byte 0xe9)
    """
    try:
        yield
    except UnicodeDecodeError as err:
        place = f" {where()}" if where is not None else ""
        raise ValueError(f"{path}: the text is not valid {encoding} (byte "
                         f"0x{err.object[err.start]:02x}{place}): {ENCODING_ADVICE}") from None
    except _decompression_errors() + _DAMAGED as err:
        if isinstance(err, OSError) and (err.errno is not None  # the system's: missing, denied
                                         or not str(path).endswith(COMPRESSED)):
            raise
        raise ValueError(f"{path}: the compressed file is damaged or is not what its name says "
                         f"({type(err).__name__}: {err}); check or re-download it") from None




def check_readable_url(path) -> None:
    """Raise ``ImportError`` before training for an http(s) URL when the HTTP transport of
    smart_open is not installed, naming the extra to install."""
    if str(path).lower().startswith(("http://", "https://")):
        try:
            import requests  # noqa: F401  (smart_open's http transport)
        except ImportError:
            raise ImportError(f"{path}: reading http(s) URLs needs smart_open's HTTP "
                              "transport: pip install 'torch_w2v[http]' (or "
                              "'smart_open[http]')") from None


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

    def __init__(self, path, encoding: str = "utf-8", byte_range=None):
        self.path = path
        self.encoding = encoding
        self.byte_range = byte_range

    def __iter__(self):
        read = [0]  # lines so far: text is decoded in blocks, so a bad byte lies at or after

        def where():
            return f"in or after line {read[0] + 1}"

        with reading_errors(self.path, self.encoding, where), self._text() as lines:
            for line in lines:
                read[0] += 1
                tokens = self.tokenize(line)
                if tokens:
                    yield tokens

    def _text(self):
        if self.byte_range is None:
            return smart_open(self.path, "r", encoding=self.encoding)
        return io.TextIOWrapper(io.BufferedReader(LineRange(self.path, *self.byte_range)),
                                encoding=self.encoding)

    def share(self, start: int, end: int) -> CorpusFile:
        """The same file's lines whose first byte lies in ``[start, end)`` (a plain local file:
        a share of it for one rank of distributed training)."""
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__, byte_range=(start, end))
        return twin

    def tokenize(self, line: str) -> list:
        """The tokens of one line (whitespace-separated); subclasses change the rules here."""
        return line.split()

    def __repr__(self) -> str:
        return f"CorpusFile({str(self.path)!r})"


class LineRange(io.RawIOBase):
    r"""A raw binary stream over the lines of a local file whose first byte lies in
    ``[start, end)``: a line belongs to the range its first byte falls in, so the ranges of
    ``0, s, 2s, ...`` split a file into whole lines, each in one range.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "c.txt")
    >>> _ = open(path, "wb").write(b"ab c\nde\nfgh\n")
    >>> [LineRange(path, s, e).read() for s, e in ((0, 4), (4, 8), (8, 12))]
    [b'ab c\n', b'de\n', b'fgh\n']
    """

    def __init__(self, path, start: int, end: int):
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115  (closed with this stream)
        size = os.fstat(self._file.fileno()).st_size
        self.begin = self._line_start(min(start, size))
        self.stop = self._line_start(min(end, size))
        self._file.seek(self.begin)

    def _line_start(self, position: int) -> int:
        """The first line start at or after ``position``."""
        if position == 0:
            return 0
        self._file.seek(position - 1)
        self._file.readline()
        return self._file.tell()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.stop - self._file.tell()
        if left <= 0:
            return 0
        data = self._file.read(min(len(buffer), left))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def resolve_corpus(sentences, corpus_file, encoding: str = "utf-8") -> Iterable:
    """Pick the corpus from ``fit``'s two ways of passing one, with clear errors."""
    if corpus_file is not None and sentences is not None:
        raise ValueError("pass either sentences or corpus_file to fit, not both")
    if corpus_file is not None:
        if not isinstance(corpus_file, (str, bytes)) and not hasattr(corpus_file, "__fspath__"):
            raise TypeError(
                f"corpus_file must be a path or URL string, got {type(corpus_file).__name__}; "
                "pass token lists as the first argument of fit instead"
            )
        try:
            "".encode(encoding)
        except (LookupError, TypeError):
            raise ValueError(f"encoding={encoding!r} is not a text encoding Python knows; "
                             "e.g. 'utf-8' or 'latin-1'") from None
        check_readable_url(corpus_file)
        return CorpusFile(corpus_file, encoding)
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

    def close(self) -> None:
        """Nothing to release: the ids live in memory (as :class:`~.streaming.StreamingCorpus`
        has it, so a run closes either)."""


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
