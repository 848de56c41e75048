"""Continued training (partial_fit) and determinism across save / load / continue."""
import numpy as np
import pytest
from conftest import zipf_corpus

import torch_w2v
from torch_w2v import TorchWord2Vec

FAST = dict(vector_size=16, min_count=2, epochs=2, progress=False, batch_size=512, workers=1)


@pytest.fixture
def first():
    return zipf_corpus(n_sentences=300, vocab=150, seed=0)


@pytest.fixture
def more():
    extra = zipf_corpus(n_sentences=200, vocab=150, seed=1)
    return [s + ["newword", "newword", "rareword"] for s in extra]


def test_partial_fit_keeps_vectors_and_adds_new_words(first, more):
    est = TorchWord2Vec(**FAST).fit(first)
    old_words = list(est.wv.index_to_key)
    old_counts = est.vocab_.counts.copy()
    before = est.wv.vectors.copy()
    est.partial_fit(more)
    assert est.wv.index_to_key[: len(old_words)] == old_words  # old ids unchanged
    assert "newword" in est.wv and "rareword" in est.wv  # 200 occurrences each >= min_count
    assert est.wv.key_to_index["newword"] >= len(old_words)
    from collections import Counter

    added = Counter(w for s in more for w in s)
    for i, word in enumerate(old_words[:20]):
        assert est.vocab_.counts[i] == old_counts[i] + added[word]
    assert int(est.wv.get_vecattr("newword", "count")) == added["newword"]
    assert est.wv.vectors.shape == (len(est.vocab_), 16) == est.output_vectors_.shape
    assert not np.array_equal(est.wv.vectors[: len(old_words)], before)  # trained further
    assert [h["run"] for h in est.history_] == [0, 0, 1, 1]


def test_partial_fit_new_words_need_min_count_in_new_text(first):
    est = TorchWord2Vec(**FAST).fit(first)
    est.partial_fit(first[:50] + [["once", "w0", "w1"]])
    assert "once" not in est.wv


def test_partial_fit_on_unfitted_is_fit(first):
    a = TorchWord2Vec(**FAST).partial_fit(first)
    b = TorchWord2Vec(**FAST).fit(first)
    assert np.array_equal(a.wv.vectors, b.wv.vectors)


def test_partial_fit_with_only_unknown_rare_words_is_a_clear_error(first):
    est = TorchWord2Vec(**FAST).fit(first)
    with pytest.raises(ValueError, match="nothing to train"):
        est.partial_fit([["zzz", "yyy"]])


def test_continue_is_reproducible_and_survives_save_load(first, more, tmp_path):
    a = TorchWord2Vec(**FAST).fit(first)
    a.save(str(tmp_path / "a.npz"))
    a.partial_fit(more)
    b = TorchWord2Vec(**FAST).fit(first).partial_fit(more)
    c = torch_w2v.load(str(tmp_path / "a.npz")).set_params(progress=False).partial_fit(more)
    for other in (b, c):
        assert other.wv.index_to_key == a.wv.index_to_key
        assert np.array_equal(other.wv.vectors, a.wv.vectors)
        assert np.array_equal(other.output_vectors_, a.output_vectors_)


def test_partial_fit_warns_about_new_words_holding_whitespace():
    est = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False)
    est.fit([["a", "b", "c"]] * 3)
    with pytest.warns(UserWarning, match=r"1 word\(s\) .* such as 'New York'"):
        est.partial_fit([["a", "New York"]] * 3)


@pytest.mark.parametrize("step", ["fused", "batched"])
@pytest.mark.parametrize("mode", [dict(sg=1, negative=5), dict(sg=0, hs=1, negative=0)])
def test_partial_fit_freezes_the_rows_vectors_lockf_zeroes(tmp_path, first, more, step, mode):
    """gensim's vectors_lockf, the estimator's documented way to freeze known words: rows at 0
    keep their vectors, others and new words train; it survives save/load and later calls."""
    est = TorchWord2Vec(**{**FAST, **mode, "step": step}).fit(first)
    known = len(est.wv)
    lockf = np.ones(known, np.float32)
    lockf[: known // 2] = 0
    est.wv.vectors_lockf = lockf
    frozen = est.wv.vectors[: known // 2].copy()
    moving = est.wv.vectors[known // 2:].copy()
    est.partial_fit(more)
    assert len(est.wv) > known  # new words joined
    assert np.array_equal(est.wv.vectors[: known // 2], frozen)
    assert not np.allclose(est.wv.vectors[known // 2: known], moving)
    assert np.array_equal(est.wv.vectors_lockf[:known], lockf)
    assert (est.wv.vectors_lockf[known:] == 1).all()  # new words train fully
    est.save(tmp_path / "m.npz")
    again = TorchWord2Vec.load(tmp_path / "m.npz")
    assert np.array_equal(again.wv.vectors_lockf, est.wv.vectors_lockf)
    again.partial_fit(more)
    assert np.array_equal(again.wv.vectors[: known // 2], frozen)


def test_continuing_from_nan_vectors_is_refused_naming_the_rows(first, more):
    est = TorchWord2Vec(**FAST).fit(first)
    est.wv.vectors[3, 1] = np.nan
    word = est.wv.index_to_key[3]
    with pytest.raises(ValueError, match=rf"NaN or infinite values in 1 rows \(first: \[3\], "
                                         rf"words \['{word}'\]\)"):
        est.partial_fit(more)
    facade = torch_w2v.Word2Vec(first, vector_size=8, min_count=2, workers=1, epochs=1)
    facade.syn1neg[0] = np.inf
    with pytest.raises(ValueError, match="output table"):
        facade.train(more, total_examples=len(more), epochs=1)
