"""The compiled text path: a corpus file read, tokenised, counted and encoded in C++.

A :class:`~torch_w2v.corpus.CorpusFile` with the default tokeniser (``line.split()`` over the
lines of a UTF-8 text) is counted by ``torch.classes.torch_w2v.TextCounter``
(``torch_w2v/csrc/text.cpp``) instead of Python: the same words, counts, first-seen order and
ids, several times faster. Blocks are read (and decompressed, for ``.gz``/``.bz2``/URLs) by
smart_open in a background thread while the counter tokenises the previous one, and the ids are
cut into the same flushes of whole sentences as the Python path, so what is recorded, and so
what is trained, is identical.

Examples
--------
>>> import os, tempfile
>>> from torch_w2v.corpus import CorpusFile
>>> path = os.path.join(tempfile.mkdtemp(), "c.txt")
>>> _ = open(path, "w").write("the cat\\u00a0sat\\r\\n\\nthe dog\\n")
>>> counter, total, sentences, recording = count_and_record_file(path)   # doctest: +SKIP
>>> counter, total, sentences                                          # doctest: +SKIP
(Counter({'the': 2, 'cat': 1, 'sat': 1, 'dog': 1}), 5, 2)
>>> applies(CorpusFile(path))
True
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .corpus import ENCODING_ADVICE, CorpusFile, reading_errors
from .streaming import StreamingCorpus, read_ahead, record_flushes

__all__ = ["BLOCK_BYTES", "applies", "count_and_record_file"]

BLOCK_BYTES = 1 << 22


def applies(sentences) -> bool:
    """Whether ``sentences`` is a UTF-8 :class:`CorpusFile` with the default tokeniser."""
    return (isinstance(sentences, CorpusFile)
            and type(sentences).tokenize is CorpusFile.tokenize
            and sentences.encoding.lower().replace("-", "").replace("_", "") == "utf8")


def _blocks(path, byte_range=None):
    from smart_open import open as smart_open

    from .corpus import LineRange

    opened = LineRange(path, *byte_range) if byte_range else smart_open(path, "rb")
    with opened as stream:
        while True:
            block = stream.read(BLOCK_BYTES)
            if not block:
                return
            yield block


def _flushes(pieces, flush_tokens: int):
    """Re-cut ``(ids, sentence_lengths)`` pieces into flushes of whole sentences that close as
    soon as they hold ``flush_tokens`` tokens, as :func:`torch_w2v.corpus._raw_flushes` cuts a
    stream of sentences.

    Examples
    --------
    >>> pieces = [(np.arange(5), np.array([2, 3])), (np.arange(5, 9), np.array([1, 3]))]
    >>> [(i.tolist(), n.tolist()) for i, n in _flushes(pieces, 4)]
    [([0, 1, 2, 3, 4], [2, 3]), ([5, 6, 7, 8], [1, 3])]
    """
    ids_parts, length_parts, pending = [], [], 0  # the flush in progress
    for ids, lengths in pieces:
        ends = np.cumsum(lengths)
        first_sentence, first_token = 0, 0  # where this piece's unflushed part starts
        while True:  # the first sentence whose end completes the flush
            last = int(np.searchsorted(ends, first_token + flush_tokens - pending))
            if last >= len(ends):
                break
            stop = int(ends[last])
            ids_parts.append(ids[first_token:stop])
            length_parts.append(lengths[first_sentence:last + 1])
            yield np.concatenate(ids_parts), np.concatenate(length_parts)
            ids_parts, length_parts, pending = [], [], 0
            first_sentence, first_token = last + 1, stop
        if first_sentence < len(lengths):
            ids_parts.append(ids[first_token:])
            length_parts.append(lengths[first_sentence:])
            pending += len(ids) - first_token
    if length_parts:
        yield np.concatenate(ids_parts), np.concatenate(length_parts)


def count_and_record_file(path, byte_range=None) -> tuple:
    """Count the words of a UTF-8 corpus file and record it as first-seen ids, in C++.

    The same result as :func:`torch_w2v.streaming.count_and_record` on
    ``CorpusFile(path)``: ``(counter, total_words, sentences, recording)``; with
    ``byte_range``, of the lines that start in that range of a local file
    (:class:`~torch_w2v.corpus.LineRange`).

    Raises
    ------
    ValueError
        If the file is not valid UTF-8 (naming the file and the byte).
    """
    import torch

    from . import ops

    if not ops.load():
        raise RuntimeError(f"the compiled text path is unavailable: {ops.unavailable_reason()}")
    counter = torch.classes.torch_w2v.TextCounter()

    def counted():
        with reading_errors(path):
            try:
                for block in read_ahead(_blocks(path, byte_range)):
                    ids, lengths = counter.feed(
                        torch.frombuffer(bytearray(block), dtype=torch.uint8), False)
                    yield ids.numpy(), lengths.numpy()
                ids, lengths = counter.feed(torch.empty(0, dtype=torch.uint8), True)
                yield ids.numpy(), lengths.numpy()
            except ValueError as err:  # the counter's: not UTF-8, or a token without end
                first_line = f"{path}: {err}".splitlines()[0]
                advice = f": {ENCODING_ADVICE}" if "UTF-8" in first_line else ""
                raise ValueError(first_line + advice) from None

    kept: list = []
    total, sentences = record_flushes(_flushes(counted(), StreamingCorpus.FLUSH_TOKENS),
                                      kept.append)
    words = bytes(counter.words().numpy()).decode("utf-8").split("\n")[:-1]
    counts = Counter(dict(zip(words, counter.word_counts().tolist())))
    recording = kept[-1]
    if recording is not None:
        recording.words = counts  # its keys, in id order, give the remap to the vocabulary
    return counts, total, sentences, recording
