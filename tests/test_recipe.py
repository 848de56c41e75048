"""The original tutorial's recipe as options: each one does what it says."""
import numpy as np
import pytest
import torch

from torch_w2v import TorchWord2Vec
from torch_w2v.callbacks import NearestNeighbours
from torch_w2v.corpus import encode_corpus
from torch_w2v.datasets import WikiText
from torch_w2v.sampling import BatchSampler, TableNoiseSampler
from torch_w2v.vocab import percentile_keep_probabilities

FAST = dict(vector_size=16, min_count=2, epochs=3, progress=False, workers=1)


def test_percentile_rule_matches_the_formula():
    counts = np.array([500, 200, 100, 50, 20, 10, 5, 2])
    freq = counts / counts.sum()
    t = np.percentile(freq, 85)
    np.testing.assert_allclose(percentile_keep_probabilities(counts, 85), np.sqrt(t / (freq + t)))


def test_table_sampler_fills_in_proportion_with_every_word_once():
    dist = np.array([0.7, 0.2999, 0.0001])
    table = TableNoiseSampler(dist, 1000, "cpu").table
    counts = np.bincount(table.numpy(), minlength=3)
    assert counts[0] == 700 and counts[1] == 300 and counts[2] == 1


def _sampler(**kw):
    args = dict(window=2, negative=3, shrink_windows=False, batch_size=10_000, device="cpu",
                generator=torch.Generator().manual_seed(0))
    args.update(kw)
    return BatchSampler(np.full(50, 0.5), np.full(50, 0.02), **args)


def test_independent_subsampling_keeps_positions_and_thins_slots():
    corpus = encode_corpus([[f"w{i % 50}" for i in range(5000)]], {f"w{i}": i for i in range(50)})
    batches = list(_sampler(subsample_independently=True).epoch(corpus))
    centres = sum(len(b.targets) for b in batches)
    slots = sum(int(b.context_mask.sum()) for b in batches)
    assert 0.4 < centres / 5000 < 0.6  # each centre kept with p 0.5
    assert 0.4 < slots / (4 * centres) < 0.6  # each context slot kept with p 0.5, independently
    for b in batches:  # tokens are not removed: contexts are still the true neighbours
        distance = (b.contexts - b.targets[:, :1]).abs() % 50
        assert ((distance[b.context_mask] == 1) | (distance[b.context_mask] == 2)
                | (distance[b.context_mask] == 49) | (distance[b.context_mask] == 48)).all()


def test_full_windows_only_drops_sentence_edges():
    corpus = encode_corpus([[f"w{i}" for i in range(10)]], {f"w{i}": i for i in range(10)})
    sampler = BatchSampler(np.ones(10), np.full(10, 0.1), window=2, negative=2,
                           shrink_windows=False, batch_size=100, device="cpu",
                           generator=torch.Generator().manual_seed(0), full_windows_only=True)
    centres = sorted(int(c) for b in sampler.epoch(corpus) for c in b.targets[:, 0])
    assert centres == [2, 3, 4, 5, 6, 7]
    assert all(b.context_mask.all() for b in sampler.epoch(corpus))


@pytest.mark.parametrize("optimizer", ["adam", "sparse_adam"])
def test_adam_optimisers_train_through_autograd(corpus, optimizer):
    est = TorchWord2Vec(**FAST, optimizer=optimizer, alpha=0.01, min_alpha=0.001).fit(corpus)
    losses = [h["loss"] for h in est.history_]
    assert losses[-1] < losses[0] and np.isfinite(est.wv.vectors).all()


def test_max_norm_bounds_the_vectors(corpus):
    est = TorchWord2Vec(**FAST, max_norm=0.05, alpha=0.1).fit(corpus)
    assert np.linalg.norm(est.wv.vectors, axis=1).max() < 0.05 + 0.2
    free = TorchWord2Vec(**FAST, alpha=0.05, step="batched").fit(corpus)  # (0.1 diverges)
    assert np.linalg.norm(free.wv.vectors, axis=1).max() > 0.3


def test_the_whole_recipe_trains(corpus):
    est = TorchWord2Vec(**{**FAST, "min_count": 5}, window=4, shrink_windows=False,
                        full_windows_only=True, subsampling="percentile",
                        subsample_percentile=85, noise_sampler="table", noise_table_size=10_000,
                        negative=10, optimizer="adam", alpha=0.005, min_alpha=0.005).fit(corpus)
    assert est.history_[-1]["loss"] < est.history_[0]["loss"]


def test_validation_loss_and_test_words_in_history(corpus, caplog):
    import logging

    train, held_out = corpus[:350], corpus[350:]
    with caplog.at_level(logging.INFO, logger="torch_w2v"):
        est = TorchWord2Vec(**{**FAST, "epochs": 4},
                            callbacks=[NearestNeighbours(["w0", "w10"], topn=3)]).fit(
            train, validation=held_out)
    vals = [h["val_loss"] for h in est.history_]
    assert all(np.isfinite(vals)) and vals[-1] < vals[0]
    neighbours = est.history_[-1]["neighbours"]
    assert set(neighbours) == {"w0", "w10"} and len(neighbours["w0"]) == 3
    assert neighbours["w0"][0][0] in est.wv  # real words with their similarity
    assert any("neighbours w0:" in r.message for r in caplog.records)
    assert any("validation loss" in r.message for r in caplog.records)


def test_wikitext_reader(tmp_path):
    path = tmp_path / "wiki.train.tokens"
    path.write_text(" \n = Robert Boulter = \n \n Robert Boulter is an English film , television "
                    "and theatre actor . He had a guest @-@ starring role in 2000 , at 1 @,@ 500 "
                    "m and 3 @.@ 5 km <unk> . \n = = Career = = \n \n In 2006 Boulter starred "
                    "<unk> . \n")
    sentences = list(WikiText(str(path)))
    assert len(sentences) == 2
    assert "guest-starring" in sentences[0] and "1,500" in sentences[0] and "3.5" in sentences[0]
    assert sentences[0][0] == "robert" and "<unk>" in sentences[0]
    assert "<unk>" not in list(WikiText(str(path), keep_unk=False))[1]
    assert list(WikiText(str(path), lowercase=False))[0][0] == "Robert"
    est = TorchWord2Vec(vector_size=4, min_count=1, epochs=1, progress=False)
    est.fit(WikiText(str(path)))
    assert "boulter" in est.wv
