"""The vocabulary pass: one read of a corpus that counts its words, for both classes.

:func:`scan_corpus` counts a corpus the fastest way that applies -- in C++ for a UTF-8
:class:`~torch_w2v.corpus.CorpusFile` (:mod:`torch_w2v.text`), in Python otherwise -- and, for
a streamed file, records the text as word ids in the same pass, so training never tokenises it
again. Under data-parallel training each rank counts its share and the counts are joined
(:meth:`torch_w2v.topology.DataParallel.joint_counts`). The :class:`Scan` it returns is what
``TorchWord2Vec.fit`` and ``torch_w2v.Word2Vec.build_vocab`` build their vocabulary from, and
what training reads the corpus from.

Examples
--------
>>> from torch_w2v.topology import SingleProcess
>>> scan = scan_corpus([["a", "b"], ["a"]], streaming=False, max_vocab_size=None,
...                    topology=SingleProcess())
>>> scan.counter, scan.total_words, scan.sentences
(Counter({'a': 2, 'b': 1}), 3, 2)
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from . import ops, text
from .corpus import check_tokens, checked_sentences
from .streaming import count_and_record
from .vocab import EmptyVocabulary, count_words

__all__ = ["Scan", "scan_corpus"]


@dataclass
class Scan:
    """What one read of a corpus found.

    Attributes
    ----------
    counter : Counter
        Word counts of the whole corpus (every rank's), words in first-seen order.
    total_words, sentences : int
        Raw tokens and non-empty sentences of the whole corpus.
    local_words : int
        Raw tokens of the part this process read (its share under data-parallel training).
    corpus : re-iterable of list of str
        What was read: the corpus, or this rank's share of it.
    recording : IdFile or None
        The part read, as first-seen word ids on disk (streamed files), for training to read
        instead of the text.
    source : tuple or None
        Which file it read, as it was then (path, size, modification time): a later call on
        the same unchanged file may train from the recording.
    """

    counter: Counter
    total_words: int
    sentences: int
    local_words: int
    corpus: object
    recording: object = None
    source: tuple | None = None

    def release(self) -> None:
        """Delete the recording (training took it, or it is no longer needed)."""
        if self.recording is not None:
            self.recording.delete()
            self.recording = None

    def matches(self, corpus) -> bool:
        """Whether ``corpus`` is what this scan read, unchanged (so its recording holds it)."""
        return self.recording is not None and self.source is not None and \
            _source(corpus) == self.source


def _source(corpus):
    path = getattr(corpus, "path", None)
    if path is None or "://" in str(path) or not os.path.isfile(path):
        return None
    stat = os.stat(path)
    return (os.path.abspath(os.fspath(path)), getattr(corpus, "byte_range", None),
            getattr(corpus, "encoding", None), stat.st_size, stat.st_mtime_ns)


def scan_corpus(sentences, *, streaming: bool, max_vocab_size, topology) -> Scan:
    """Count ``sentences`` (checked re-iterable token lists, or a ``CorpusFile``) once.

    Parameters
    ----------
    sentences : re-iterable
        The whole corpus; ``topology`` takes this process's share.
    streaming : bool
        A file read as a stream: record it as ids while counting (not with ``max_vocab_size``,
        whose pruning needs the counts sentence by sentence, as gensim prunes).
    max_vocab_size : int or None
    topology : SingleProcess or DataParallel

    Raises
    ------
    ValueError
        If the corpus holds no token; ``TypeError`` for a token that is not a string.
    """
    share = topology.share(sentences)
    recording = None
    if max_vocab_size is None and text.applies(share) and ops.load():
        counter, local, lines, recording = text.count_and_record_file(share.path,
                                                                      share.byte_range)
    elif streaming and max_vocab_size is None:
        counter, local, lines, recording = count_and_record(checked_sentences(share))
    else:
        counter, local, lines = count_words(checked_sentences(share), max_vocab_size)
    try:
        counter, total, lines = topology.joint_counts(counter, local, lines)
        if total == 0:
            raise EmptyVocabulary("the corpus is empty: it holds no tokens to train on")
        check_tokens(counter)
    except BaseException:
        if recording is not None:
            recording.delete()
        raise
    return Scan(counter, total, lines, local, share, recording, _source(share))
