import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _fixed_seeds():
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """Keep the wiki-sample cache out of the user's home, shared by the whole session."""
    monkeypatch.setenv("TORCH_W2V_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def zipf_corpus(n_sentences=400, length=30, vocab=200, seed=0):
    """Token lists with Zipf-like word frequencies and some structure: words come in topic
    groups, so co-occurrence carries signal."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab + 1)
    p = 1.0 / ranks
    p /= p.sum()
    sentences = []
    for _ in range(n_sentences):
        topic = rng.integers(0, 10)
        words = rng.choice(vocab, size=length, p=p)
        words = np.where(rng.random(length) < 0.5, (words // 10) * 10 + topic, words)
        sentences.append([f"w{w}" for w in words])
    return sentences


@pytest.fixture
def corpus():
    return zipf_corpus()
