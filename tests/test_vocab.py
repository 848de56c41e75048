from collections import Counter

import numpy as np
import pytest
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
from gensim.test.utils import datapath
from gensim.utils import RULE_DEFAULT, RULE_DISCARD, RULE_KEEP

from torch_w2v.vocab import build_vocab, count_words, keep_probabilities, noise_distribution


@pytest.fixture(scope="module")
def lee():
    return list(LineSentence(datapath("lee_background.cor")))


def _gensim_vocab(sentences, **kw):
    model = Word2Vec(vector_size=10, **kw)
    model.build_vocab(sentences)
    return model


@pytest.mark.parametrize("kw", [{"min_count": 5}, {"min_count": 1},
                                {"min_count": 2, "max_final_vocab": 500}])
def test_vocabulary_matches_gensim(lee, kw):
    counter, total, n = count_words(lee)
    vocab = build_vocab(counter, kw["min_count"], kw.get("max_final_vocab"))
    ref = _gensim_vocab(lee, **kw)
    assert vocab.index_to_key == ref.wv.index_to_key
    assert vocab.counts.tolist() == [ref.wv.get_vecattr(w, "count") for w in vocab.index_to_key]
    assert total == sum(map(len, lee)) and n == len(lee)


def test_keep_probabilities_match_gensim(lee):
    counter, _, _ = count_words(lee)
    vocab = build_vocab(counter, 5)
    ref = _gensim_vocab(lee, min_count=5, sample=1e-3)
    expected = np.array([ref.wv.get_vecattr(w, "sample_int") for w in vocab.index_to_key]) / 2**32
    np.testing.assert_allclose(keep_probabilities(vocab.counts, 1e-3), expected, atol=1e-6)


def test_sample_zero_keeps_everything():
    assert keep_probabilities(np.array([10**6, 1]), 0).tolist() == [1.0, 1.0]


def test_trim_rule_overrides_min_count():
    counter = Counter({"a": 10, "b": 1, "c": 10})

    def rule(word, count, min_count):
        return {"b": RULE_KEEP, "c": RULE_DISCARD}.get(word, RULE_DEFAULT)

    assert build_vocab(counter, min_count=5, trim_rule=rule).index_to_key == ["a", "b"]


def test_trim_rule_bad_return_is_a_clear_error():
    with pytest.raises(ValueError, match="RULE_DISCARD"):
        build_vocab(Counter({"a": 3}), trim_rule=lambda w, c, m: "yes")


def test_max_vocab_size_prunes_while_counting():
    sentences = [[f"rare{i}"] for i in range(100)] + [["common"] * 5] * 10
    counter, total, _ = count_words(sentences, max_vocab_size=20)
    assert len(counter) <= 21 and counter["common"] == 50 and total == 150


def test_unsorted_vocab_keeps_first_seen_order():
    vocab = build_vocab(Counter(["b", "a", "a"]), min_count=1, sorted_vocab=False)
    assert vocab.index_to_key == ["b", "a"]


def test_noise_distribution_is_count_power():
    dist = noise_distribution(np.array([81, 1]), ns_exponent=0.75)
    np.testing.assert_allclose(dist, np.array([27, 1]) / 28)
