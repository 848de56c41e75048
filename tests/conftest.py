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


def call_op(tables, ids, sentence, *, keep=None, noise=(None, None, None), window=2,
            negative=2, shrink_windows=False, subsample_slots=False, full_windows_only=False,
            seed=7, lr=(0.05, 0.05), threads=1, tree=None, cbow=False, cbow_mean=True,
            lockf=None):
    """Call the op on one chunk; ``noise`` = (values, accept, alias), default one noise word 0;
    ``tree``: a HuffmanTree for hierarchical softmax."""
    from torch_w2v import ops

    assert ops.load(), ops.unavailable_reason()
    rows = tables.input_vectors.shape[0]
    keep = torch.ones(rows) if keep is None else keep
    values, accept, alias = noise
    if negative:
        values = torch.zeros(1, dtype=torch.int64) if values is None else values
        accept = torch.ones(len(values)) if accept is None else accept
        alias = torch.zeros_like(values) if alias is None else alias
    paths = (None, None, None)
    if tree is not None:
        paths = tuple(map(torch.from_numpy, (tree.points, tree.codes, tree.lengths)))
    totals = torch.ops.torch_w2v.train_chunk(
        tables.input_vectors, tables.output_vectors, torch.as_tensor(ids, dtype=torch.int32),
        torch.as_tensor(sentence, dtype=torch.int64), keep, values, accept, alias, *paths, lockf,
        window=window, negative=negative, cbow=cbow, cbow_mean=cbow_mean,
        shrink_windows=shrink_windows, subsample_slots=subsample_slots,
        full_windows_only=full_windows_only, seed=seed, lr_start=lr[0], lr_end=lr[1],
        threads=threads)
    return float(totals[0]), int(totals[1])
