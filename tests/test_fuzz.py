"""Fuzzed corpora: every input either trains correctly or raises a clear ValueError/TypeError."""
import numpy as np
import pytest
from gensim.models import KeyedVectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torch_w2v import TorchWord2Vec
from torch_w2v.io import save_word2vec_format

TINY = dict(vector_size=4, min_count=1, epochs=1, progress=False, workers=1, batch_size=64)

tokens = st.one_of(
    st.text(max_size=8),                                   # unicode, spaces, newlines, empty
    st.sampled_from(["the", "cat", "sat", "naïve", "日本", "a b", "x\ny", "", "\t"]),
    st.integers(), st.none(), st.binary(max_size=4), st.floats(allow_nan=True),
    st.lists(st.text(max_size=3), max_size=2),             # nested lists
)
sentences = st.one_of(
    st.lists(tokens, max_size=12),
    st.tuples(st.text(max_size=5), st.text(max_size=5)),
    st.text(max_size=20),
    st.integers(), st.none(), st.binary(max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
corpora = st.lists(sentences, max_size=8)
fuzz = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
# fuzzed tokens hold whitespace on purpose: the fit-time warning about them is expected here
pytestmark = pytest.mark.filterwarnings("ignore:.*hold whitespace:UserWarning")


@fuzz
@given(corpus=corpora)
def test_any_corpus_trains_or_raises_clearly(corpus):
    try:
        est = TorchWord2Vec(**TINY).fit(corpus)
    except (ValueError, TypeError) as err:
        assert str(err)  # a message, not a bare exception from deep inside numpy/torch
        return
    assert np.isfinite(est.wv.vectors).all()
    assert all(isinstance(w, str) for w in est.wv.index_to_key)
    assert est.history_[0]["words"] == sum(len(s) for s in corpus)


@fuzz
@given(corpus=st.lists(st.lists(st.text(max_size=6), min_size=1, max_size=10), min_size=1,
                       max_size=6))
def test_word2vec_files_load_back_or_are_refused(corpus, tmp_path_factory):
    try:
        est = TorchWord2Vec(**TINY).fit(corpus)
    except ValueError:  # e.g. only empty-string tokens... still a clear error
        return
    path = tmp_path_factory.mktemp("w2v") / "v.txt"
    try:
        save_word2vec_format(est.wv, path)
    except ValueError as err:
        assert "word2vec format" in str(err)
        assert not path.exists()
        return
    back = KeyedVectors.load_word2vec_format(str(path))
    assert back.index_to_key == est.wv.index_to_key


def test_huge_sentence_trains_in_full():
    rng = np.random.default_rng(0)
    sentence = [f"w{i}" for i in rng.integers(0, 500, 300_000)]
    est = TorchWord2Vec(**{**TINY, "batch_size": 8192}).fit([sentence])
    assert est.history_[0]["words"] == 300_000
    assert est.history_[0]["pairs"] > 300_000  # windows across the whole sentence were trained
