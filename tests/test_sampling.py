import numpy as np
import torch

from torch_w2v.corpus import encode_corpus
from torch_w2v.sampling import BatchSampler, NoiseSampler, context_windows, subsample


def _sampler(keep, noise, **kw):
    params = dict(window=3, negative=4, shrink_windows=True, batch_size=64, device="cpu",
                  generator=torch.Generator().manual_seed(0), chunk_tokens=50)
    params.update(kw)
    return BatchSampler(keep, noise, **params)


def test_contexts_stay_in_sentence_and_window():
    ids = torch.arange(10)
    sentence = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    ctx, mask = context_windows(ids, sentence, torch.arange(10), reach=2)
    for centre in range(10):
        got = set(ctx[centre][mask[centre]].tolist())
        want = {j for j in range(10)
                if 0 < abs(j - centre) <= 2 and sentence[j] == sentence[centre]}
        assert got == want


def test_epoch_pairs_are_all_real_and_within_window():
    corpus = encode_corpus([[f"w{i}" for i in range(n)] for n in (1, 5, 40, 2, 300)],
                           {f"w{i}": i for i in range(300)})
    sampler = _sampler(np.ones(300), np.full(300, 1 / 300))
    total_words = 0
    for batch in sampler.epoch(corpus):
        centre = batch.targets[:, 0:1]
        distance = (batch.contexts - centre).abs()[batch.context_mask]
        assert distance.min() >= 1 and distance.max() <= 3  # ids equal positions here
        assert batch.contexts.shape[1] <= 6 and batch.context_mask.any(1).all()
        total_words += batch.raw_words
    assert total_words == corpus.raw_words


def test_dynamic_window_reach_is_uniform():
    corpus = encode_corpus([[f"w{i % 50}" for i in range(20000)]], {f"w{i}": i for i in range(50)})
    sampler = _sampler(np.ones(50), np.full(50, 0.02), window=4, batch_size=10**6,
                       chunk_tokens=10**6)
    widths = [b.contexts.shape[1] // 2
              for b in sampler.epoch(corpus) for _ in range(len(b.contexts))]
    share = np.bincount(widths, minlength=5)[1:] / len(widths)
    np.testing.assert_allclose(share, 0.25, atol=0.02)


def test_fixed_window_when_not_shrinking():
    corpus = encode_corpus([[f"w{i}" for i in range(100)]], {f"w{i}": i for i in range(100)})
    sampler = _sampler(np.ones(100), np.full(100, 0.01), shrink_windows=False)
    assert {b.contexts.shape[1] for b in sampler.epoch(corpus)} == {6}


def test_noise_frequencies_follow_distribution():
    dist = np.array([0.5, 0.3, 0.15, 0.05])
    draws = NoiseSampler(dist, "cpu")((200_000,), torch.Generator().manual_seed(0))
    freq = np.bincount(draws.numpy(), minlength=4) / 200_000
    np.testing.assert_allclose(freq, dist, atol=0.005)


def test_subsampling_keeps_expected_share():
    ids = torch.zeros(100_000, dtype=torch.int64)
    kept, _ = subsample(ids, ids, torch.tensor([0.3]), torch.Generator().manual_seed(0))
    assert abs(len(kept) / 100_000 - 0.3) < 0.01


def test_noise_equal_to_centre_is_masked():
    corpus = encode_corpus([["a", "b"] * 200], {"a": 0, "b": 1})
    for batch in _sampler(np.ones(2), np.array([0.5, 0.5])).epoch(corpus):
        same = batch.targets[:, 1:] == batch.targets[:, :1]
        assert not (batch.target_mask[:, 1:] & same).any()
        assert batch.target_mask[:, 0].all()


def test_a_window_far_wider_than_any_sentence_trains_quickly_and_the_same():
    """window=10**6 on short sentences: reaches past the longest sentence are capped (the loop
    over window sizes stays short) and the same pairs are trained as with window = longest."""
    from torch_w2v import TorchWord2Vec

    texts = [["a", "b", "c", "d"], ["b", "c", "d", "e", "f"], ["e", "f", "a"]] * 20
    params = dict(vector_size=8, min_count=1, epochs=2, progress=False, step="batched",
                  shrink_windows=False, sample=0)
    huge = TorchWord2Vec(window=10 ** 6, **params).fit(texts)
    widest = TorchWord2Vec(window=4, **params).fit(texts)
    assert huge.history_[-1]["pairs"] == widest.history_[-1]["pairs"]
    np.testing.assert_allclose(huge.wv.vectors, widest.wv.vectors, rtol=1e-5, atol=1e-6)
