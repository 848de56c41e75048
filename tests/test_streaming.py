"""Streaming a corpus file: the id file recorded while counting, passes, fallbacks, read-ahead."""
import os
import tempfile
import time

import numpy as np
import pytest

from torch_w2v.corpus import encode_corpus


def test_streaming_corpus_yields_the_same_ids_as_the_encoded_one(tmp_path):
    from torch_w2v.streaming import StreamingCorpus

    rng = np.random.default_rng(1)
    sentences = [[f"w{i}" for i in rng.integers(0, 30, int(n))] for n in rng.integers(0, 50, 200)]
    vocab = {f"w{i}": i for i in range(20)}  # w20..w29 are out of vocabulary
    encoded = encode_corpus(sentences, vocab)
    streaming = StreamingCorpus(sentences, vocab, encoded.raw_words)
    ids, sent, raw = zip(*streaming.chunks(64))
    assert np.array_equal(np.concatenate(ids), encoded.ids)
    assert sum(raw) == encoded.raw_words
    lengths = [np.bincount(s).tolist() for s in sent]
    assert [n for part in lengths for n in part] == encoded.sentence_lengths.tolist()


def test_streaming_chunks_cut_large_flushes_to_the_size_asked(monkeypatch):
    """Distributed runs merge after every chunk and ask for chunks much smaller than a flush:
    they get them (not one chunk per flush), with every token once, in order."""
    from torch_w2v.streaming import StreamingCorpus

    monkeypatch.setattr(StreamingCorpus, "FLUSH_TOKENS", 256)
    sentences = [[f"w{i % 7}" for i in range(n)] for n in range(1, 60)]  # 1770 tokens
    vocab = {f"w{i}": i for i in range(7)}
    encoded = encode_corpus(sentences, vocab)
    chunks = list(StreamingCorpus(sentences, vocab, encoded.raw_words).chunks(64))
    assert len(chunks) >= encoded.raw_words // 128
    assert all(len(ids) < 2 * 64 + 60 for ids, _, _ in chunks)
    assert np.array_equal(np.concatenate([ids for ids, _, _ in chunks]), encoded.ids)
    assert sum(raw for _, _, raw in chunks) == encoded.raw_words


def test_read_ahead_hands_errors_to_the_consumer():
    from torch_w2v.streaming import read_ahead

    def broken():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(read_ahead(broken()))


class _CountingCorpus:
    """A re-iterable corpus that counts how often it is read."""

    def __init__(self, sentences):
        self.sentences, self.passes = sentences, 0

    def __iter__(self):
        self.passes += 1
        return iter(self.sentences)


def _chunk_arrays(corpus, chunk_tokens):
    return [(ids.tolist(), sent.tolist(), raw) for ids, sent, raw in corpus.chunks(chunk_tokens)]


@pytest.fixture
def small_flushes(monkeypatch, tmp_path):
    """Flushes of 16 tokens (so small texts span many), id files under tmp_path/tmp."""
    from torch_w2v.streaming import StreamingCorpus

    monkeypatch.setattr(StreamingCorpus, "FLUSH_TOKENS", 16)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    return temp


def _random_text(seed=2, n_sentences=300):
    rng = np.random.default_rng(seed)
    return _CountingCorpus([[f"w{i}" for i in rng.integers(0, 30, int(n))]
                            for n in rng.integers(0, 50, n_sentences)])


def test_streaming_corpus_reads_the_text_once_then_its_ids(small_flushes):
    from torch_w2v.streaming import StreamingCorpus

    text = _random_text()
    vocab = {f"w{i}": i for i in range(20)}
    streaming = StreamingCorpus(text, vocab, sum(map(len, text.sentences)))
    first = _chunk_arrays(streaming, 64)
    assert list(small_flushes.iterdir())  # the ids went to a file under TMPDIR
    assert _chunk_arrays(streaming, 64) == first == _chunk_arrays(streaming, 64)
    bigger = _chunk_arrays(streaming, 100)
    assert text.passes == 1
    assert all(raw >= 100 for *_, raw in bigger[:-1]) and len(bigger) < len(first)
    assert [i for ids, *_ in bigger for i in ids] == [i for ids, *_ in first for i in ids]
    streaming.close()
    assert not list(small_flushes.iterdir())
    assert _chunk_arrays(streaming, 64) == first and text.passes == 2


def test_counting_pass_records_the_text_for_every_epoch(small_flushes):
    from torch_w2v.streaming import StreamingCorpus, count_and_record
    from torch_w2v.vocab import build_vocab, count_words

    text = _random_text(seed=5)
    counter, total, sentences, recording = count_and_record(text)
    expected_counter, expected_total, expected_sentences = count_words(text.sentences)
    assert list(counter.items()) == list(expected_counter.items())  # first-seen order too
    assert (total, sentences) == (expected_total, expected_sentences)
    vocab = build_vocab(counter, min_count=245)  # leaves about half the words out
    assert 0 < len(vocab) < len(counter)
    recorded = StreamingCorpus(text, vocab.key_to_index, total, recording=recording)
    from_text = StreamingCorpus(text.sentences, vocab.key_to_index, total, cache=False)
    assert _chunk_arrays(recorded, 64) == _chunk_arrays(from_text, 64)
    assert _chunk_arrays(recorded, 64) == _chunk_arrays(from_text, 64)
    assert text.passes == 1  # the counting pass only
    recorded.close()
    assert not list(small_flushes.iterdir())


def test_streaming_corpus_keeps_no_ids_of_an_unfinished_pass(small_flushes):
    from torch_w2v.streaming import StreamingCorpus

    text = _CountingCorpus([["a", "b", "c"]] * 1000)
    streaming = StreamingCorpus(text, {"a": 0, "b": 1}, 3000)
    chunks = streaming.chunks(64)
    next(chunks)
    chunks.close()  # the consumer stopped (an error in training, say)
    deadline = time.monotonic() + 5
    while list(small_flushes.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the reader thread notices within 0.1 s and drops its files
    assert not list(small_flushes.iterdir())
    expected = _chunk_arrays(StreamingCorpus(text.sentences, {"a": 0, "b": 1}, 3000, False), 64)
    assert _chunk_arrays(streaming, 64) == expected
    assert text.passes == 2


class _FillingFile:
    """A binary file on a disk that fills after ``room`` bytes: writes past it fail with
    ENOSPC, and so does closing while they left data unwritten (as a buffered file's flush)."""

    def __init__(self, path, mode, room):
        self._file, self._room, self._pending = open(path, mode), room, False  # noqa: SIM115

    def write(self, data):
        if len(data) > self._room:
            self._pending = True
            raise OSError(28, "No space left on device")
        self._room -= len(data)
        return self._file.write(data)

    def close(self):
        self._file.close()
        if self._pending:
            raise OSError(28, "No space left on device")


@pytest.mark.parametrize("fails", ["creating", "writing", "filling"])
def test_streaming_corpus_reads_the_text_every_pass_when_it_cannot_write(monkeypatch, fails,
                                                                          small_flushes):
    import torch_w2v.streaming as streaming_module
    from torch_w2v.streaming import IdFile, StreamingCorpus, count_and_record

    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if fails == "creating":
        monkeypatch.setattr(tempfile, "mkdtemp", no_room)
    elif fails == "writing":
        monkeypatch.setattr(IdFile, "append", no_room)
    else:  # the disk fills mid-pass: the id file's clean-up must not fail again
        monkeypatch.setattr(streaming_module, "open",
                            lambda path, mode="r": _FillingFile(path, mode, 200), raising=False)
    text = _CountingCorpus([["a", "b"]] * 100)
    with pytest.warns(RuntimeWarning, match="No space left on device.*TMPDIR"):
        counter, total, sentences, recording = count_and_record(text)
    assert recording is None and counter == {"a": 100, "b": 100} and sentences == 100
    streaming = StreamingCorpus(text, {"a": 0, "b": 1}, 200)
    with pytest.warns(RuntimeWarning, match="No space left on device.*TMPDIR"):
        first = _chunk_arrays(streaming, 64)
    assert _chunk_arrays(streaming, 64) == first
    assert text.passes == 3
    assert not list(small_flushes.iterdir())


def test_id_files_a_killed_fit_left_are_removed_by_the_next(tmp_path, monkeypatch):
    """A fit killed with SIGKILL left its id files (4 bytes a token) in $TMPDIR for good."""
    import socket
    import subprocess
    import sys

    from torch_w2v.streaming import CORPUS_FILES, IdFile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # a pid now unused
    stale = tmp_path / f"{CORPUS_FILES}-{socket.gethostname()}-{dead}-abc"
    stale.mkdir()
    (stale / "ids.int32").write_bytes(b"\0" * 64)
    other_host = tmp_path / f"{CORPUS_FILES}-elsewhere-{dead}-abc"
    other_host.mkdir()
    live = IdFile()
    assert not stale.exists() and other_host.exists()  # only this host's dead processes'
    assert os.path.basename(live.directory).startswith(
        f"{CORPUS_FILES}-{socket.gethostname()}-{os.getpid()}-")
    live.delete()
