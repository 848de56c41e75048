import bz2
import gzip
import tempfile
import time

import numpy as np
import pytest

from torch_w2v import TorchWord2Vec
from torch_w2v.corpus import CorpusFile, encode_corpus


@pytest.mark.parametrize("opener,suffix", [(open, ".txt"), (gzip.open, ".txt.gz"), (bz2.open, ".txt.bz2")])
def test_corpus_file_reads_plain_and_compressed(tmp_path, opener, suffix):
    path = tmp_path / f"c{suffix}"
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("the cat  sat\n\n" + " ".join(["long"] * 20000) + "\nnaïve café\n")
    sentences = list(CorpusFile(str(path)))
    assert sentences[0] == ["the", "cat", "sat"]
    assert len(sentences[1]) == 20000  # no 10,000-token cut, unlike gensim's LineSentence
    assert sentences[2] == ["naïve", "café"]
    assert list(CorpusFile(str(path))) == sentences  # re-iterable


def test_encode_drops_out_of_vocabulary_and_empty_sentences():
    enc = encode_corpus([["a", "x", "b"], ["x"], ["b", "a"]], {"a": 0, "b": 1})
    assert enc.ids.tolist() == [0, 1, 1, 0]
    assert enc.sentence_lengths.tolist() == [2, 2]
    assert enc.raw_words == 6


def test_chunks_cover_corpus_with_sentence_indices():
    rng = np.random.default_rng(0)
    sentences = [["a"] * int(n) for n in rng.integers(1, 40, 300)]
    enc = encode_corpus(sentences, {"a": 0})
    expected = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
    ids, sent, raw = zip(*enc.chunks(97))
    assert np.array_equal(np.concatenate(sent), expected)
    assert sum(map(len, ids)) == len(expected) and sum(raw) == enc.raw_words


def _fit(corpus, **fit_kw):
    est = TorchWord2Vec(vector_size=5, min_count=1, epochs=1, progress=False)
    return est.fit(corpus, **fit_kw)


@pytest.mark.parametrize("bad,error,match", [
    ("just a string", TypeError, "single string"),
    (["the cat sat", "a dog"], TypeError, "split your text"),
    ([["ok"], "the cat"], TypeError, "sentence 1 is a string"),
    ([["a", 1, "b"]], TypeError, "token 1 is a int"),
    ([["a", b"bytes"]], TypeError, "must be a str"),
    ([{"a": 1}], TypeError, "sentence 0 is a dict"),
    ([], ValueError, "empty"),
    ([[], []], ValueError, "empty"),
    (None, ValueError, "no corpus"),
    (42, TypeError, "iterable of token lists"),
])
def test_bad_corpus_is_a_clear_error(bad, error, match):
    with pytest.raises(error, match=match):
        _fit(bad)


def test_one_shot_generator_is_refused():
    gen = (s for s in [["a", "b"], ["b", "c"]])
    with pytest.raises(TypeError, match="one-shot iterator"):
        _fit(gen)


def test_unhashable_tokens_are_a_clear_error():
    with pytest.raises(TypeError):
        _fit([[["nested"], "a"]])


def test_empty_vocabulary_names_min_count():
    with pytest.raises(ValueError, match="min_count=5"):
        TorchWord2Vec(progress=False).fit([["a", "b"], ["c"]])


def test_corpus_file_and_sentences_together_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        _fit([["a"]], corpus_file=str(tmp_path / "x"))


def test_missing_corpus_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        _fit(None, corpus_file=str(tmp_path / "missing.txt"))


def test_gensim_corpora_are_accepted(tmp_path):
    from gensim.models.word2vec import LineSentence, PathLineSentences, Text8Corpus

    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "c.txt"
    path.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 20)
    for corpus in (LineSentence(str(path)), Text8Corpus(str(path)),
                   PathLineSentences(str(tmp_path / "d"))):
        assert "cat" in _fit(corpus).wv


def test_streaming_corpus_yields_the_same_ids_as_the_encoded_one(tmp_path):
    from torch_w2v.corpus import StreamingCorpus

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


def test_read_ahead_hands_errors_to_the_consumer():
    from torch_w2v.corpus import read_ahead

    def broken():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(read_ahead(broken()))


def test_fit_from_corpus_file_streams_and_matches_vocabulary(tmp_path, corpus):
    path = tmp_path / "c.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(" ".join(s) for s in corpus))
    from_file = TorchWord2Vec(vector_size=8, epochs=2, progress=False).fit(corpus_file=str(path))
    from_list = TorchWord2Vec(vector_size=8, epochs=2, progress=False).fit(corpus)
    assert from_file.wv.index_to_key == from_list.wv.index_to_key
    assert from_file.corpus_words_ == from_list.corpus_words_
    assert from_file.history_[-1]["words"] == from_list.corpus_words_


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
    from torch_w2v.corpus import StreamingCorpus

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
    from torch_w2v.corpus import StreamingCorpus

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
    from torch_w2v.corpus import StreamingCorpus, count_and_record
    from torch_w2v.vocab import build_vocab, count_words

    text = _random_text(seed=5)
    counter, total, recording = count_and_record(text)
    expected_counter, expected_total, _ = count_words(text.sentences)
    assert list(counter.items()) == list(expected_counter.items())  # first-seen order too
    assert total == expected_total
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
    from torch_w2v.corpus import StreamingCorpus

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


@pytest.mark.parametrize("fails", ["creating", "writing"])
def test_streaming_corpus_reads_the_text_every_pass_when_it_cannot_write(monkeypatch, fails,
                                                                          small_flushes):
    from torch_w2v.corpus import IdFile, StreamingCorpus, count_and_record

    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if fails == "creating":
        monkeypatch.setattr(tempfile, "mkdtemp", no_room)
    else:
        monkeypatch.setattr(IdFile, "append", no_room)
    text = _CountingCorpus([["a", "b"]] * 100)
    with pytest.warns(RuntimeWarning, match="No space left on device.*TMPDIR"):
        counter, total, recording = count_and_record(text)
    assert recording is None and counter == {"a": 100, "b": 100}
    streaming = StreamingCorpus(text, {"a": 0, "b": 1}, 200)
    with pytest.warns(RuntimeWarning, match="No space left on device.*TMPDIR"):
        first = _chunk_arrays(streaming, 64)
    assert _chunk_arrays(streaming, 64) == first
    assert text.passes == 3
    assert not list(small_flushes.iterdir())


def test_fit_from_corpus_file_is_reproducible_and_leaves_no_files(tmp_path, monkeypatch, corpus):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(s) for s in corpus))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    params = dict(vector_size=8, epochs=3, workers=1, progress=False, seed=3)
    from_file = TorchWord2Vec(**params).fit(corpus_file=str(path))  # epochs 2, 3 from the cache
    assert not list(temp.iterdir())
    from_list = TorchWord2Vec(**params).fit(corpus)  # one chunk both ways: the same batches
    assert sum(map(len, corpus)) < 65536
    assert np.array_equal(from_file.wv.vectors, from_list.wv.vectors)


@pytest.mark.parametrize("params", [{}, {"max_vocab_size": 120}])
def test_fit_and_partial_fit_from_files_equal_fits_from_lists(tmp_path, params):
    from conftest import zipf_corpus

    first, more = zipf_corpus(n_sentences=300, seed=0), zipf_corpus(n_sentences=200, seed=1)
    more = [s + ["newword"] for s in more]
    files = []
    for name, sentences in (("first.txt", first), ("more.txt", more)):
        files.append(str(tmp_path / name))
        (tmp_path / name).write_text("\n".join(" ".join(s) for s in sentences))
    settings = dict(vector_size=8, epochs=2, workers=1, progress=False, min_count=2, **params)
    from_files = TorchWord2Vec(**settings).fit(corpus_file=files[0])
    from_lists = TorchWord2Vec(**settings).fit(first)
    from_files.partial_fit(corpus_file=files[1])
    from_lists.partial_fit(more)
    assert from_files.wv.index_to_key == from_lists.wv.index_to_key  # counts, order, ties
    assert "newword" in from_files.wv
    assert np.array_equal(from_files.vocab_.counts, from_lists.vocab_.counts)
    assert np.array_equal(from_files.wv.vectors, from_lists.wv.vectors)
