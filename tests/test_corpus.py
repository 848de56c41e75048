import bz2
import gzip
import tempfile

import numpy as np
import pytest

from torch_w2v import TorchWord2Vec
from torch_w2v.corpus import CorpusFile, encode_corpus


@pytest.mark.parametrize("opener,suffix",
                         [(open, ".txt"), (gzip.open, ".txt.gz"), (bz2.open, ".txt.bz2")])
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


def test_fit_from_corpus_file_streams_and_matches_vocabulary(tmp_path, corpus):
    path = tmp_path / "c.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(" ".join(s) for s in corpus))
    from_file = TorchWord2Vec(vector_size=8, epochs=2, progress=False).fit(corpus_file=str(path))
    from_list = TorchWord2Vec(vector_size=8, epochs=2, progress=False).fit(corpus)
    assert from_file.wv.index_to_key == from_list.wv.index_to_key
    assert from_file.corpus_words_ == from_list.corpus_words_
    assert from_file.history_[-1]["words"] == from_list.corpus_words_


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


@pytest.mark.parametrize("as_arrays", [
    lambda texts: [np.array(s) for s in texts],  # one 1-D array of str per sentence
    lambda texts: [np.array(texts[0])] + [list(s) for s in texts[1:]],  # arrays and lists mixed
])
def test_sentences_as_numpy_arrays_train_as_lists_do(as_arrays):
    from gensim.test.utils import common_texts

    params = dict(vector_size=8, min_count=1, epochs=2, progress=False, workers=1)
    from_lists = TorchWord2Vec(**params).fit(common_texts)
    from_arrays = TorchWord2Vec(**params).fit(as_arrays(common_texts))
    assert from_arrays.wv.index_to_key == from_lists.wv.index_to_key
    assert np.array_equal(from_arrays.wv.vectors, from_lists.wv.vectors)
    assert all(type(w) is str for w in from_arrays.wv.index_to_key)


def test_a_2d_array_of_tokens_is_a_corpus_of_equal_length_sentences():
    texts = [["a", "b", "c"], ["b", "c", "d"], ["c", "d", "a"]]
    params = dict(vector_size=8, min_count=1, epochs=2, progress=False, workers=1)
    assert np.array_equal(TorchWord2Vec(**params).fit(np.array(texts)).wv.vectors,
                          TorchWord2Vec(**params).fit(texts).wv.vectors)


@pytest.fixture
def latin_file(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café olé the cat\nthe dog sat\n".encode("latin-1"))
    return path


@pytest.mark.parametrize("extra", [{}, {"max_vocab_size": 100}])  # the C++ and Python readers
def test_a_file_not_in_its_encoding_names_the_file_byte_and_fix(latin_file, extra):
    est = TorchWord2Vec(min_count=1, epochs=1, progress=False, **extra)
    with pytest.raises(ValueError, match=r"latin.txt: the text is not valid (UTF-8|utf-8).*"
                                         r"0xe9.*encoding="):
        est.fit(corpus_file=str(latin_file))
    est.fit(corpus_file=str(latin_file), encoding="latin-1")
    assert "café" in est.wv.key_to_index


def test_an_unknown_encoding_is_refused_before_reading(latin_file):
    with pytest.raises(ValueError, match="encoding='latin-9' is not a text encoding"):
        TorchWord2Vec(progress=False).fit(corpus_file=str(latin_file), encoding="latin-9")


@pytest.mark.parametrize("damage", ["not gzip", "truncated"])
@pytest.mark.parametrize("extra", [{}, {"max_vocab_size": 100}])
def test_a_damaged_compressed_file_is_a_clear_error(tmp_path, damage, extra):
    data = gzip.compress(b"the cat sat\n" * 1000)
    path = tmp_path / "c.txt.gz"
    path.write_bytes(b"plain bytes" if damage == "not gzip" else data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"c.txt.gz: the compressed file is damaged"):
        TorchWord2Vec(min_count=1, epochs=1, progress=False, **extra).fit(corpus_file=str(path))


def test_an_http_corpus_without_the_http_transport_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "requests", None)  # as if smart_open[http] were missing
    with pytest.raises(ImportError, match=r"pip install 'torch_w2v\[http\]'"):
        TorchWord2Vec(progress=False).fit(corpus_file="https://example.com/corpus.txt")


def test_tokens_holding_whitespace_warn_at_fit_time():
    texts = [["New York", "is", "big"], ["line\nbreak", "is", "odd"]] * 3
    with pytest.warns(UserWarning, match=r"2 word\(s\) .* hold whitespace.*New_York"):
        est = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).fit(texts)
    assert "New York" in est.wv.key_to_index  # trained all the same


def test_plain_tokens_do_not_warn(recwarn):
    TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).fit([["a", "b"]] * 3)
    assert not [w for w in recwarn if "whitespace" in str(w.message)]
