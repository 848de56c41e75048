import logging
import pickle

import numpy as np
import pytest
from gensim.models import KeyedVectors
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from torch_w2v import Callback, TorchWord2Vec

FAST = dict(vector_size=16, min_count=2, epochs=3, progress=False, batch_size=512)


@pytest.fixture
def fitted(corpus):
    return TorchWord2Vec(**FAST).fit(corpus)


def test_fit_returns_self_with_real_keyed_vectors(corpus):
    est = TorchWord2Vec(**FAST)
    assert est.fit(corpus) is est
    assert isinstance(est.wv, KeyedVectors) and est.wv is est.wv_
    assert est.wv.vectors.dtype == np.float32 and est.wv.vectors.shape[1] == 16
    assert est.output_vectors_.shape == est.wv.vectors.shape
    assert est.corpus_words_ == sum(map(len, corpus))


def test_vectors_are_frequency_sorted_with_counts(fitted, corpus):
    from collections import Counter

    counts = Counter(w for s in corpus for w in s)
    got = [int(fitted.wv.get_vecattr(w, "count")) for w in fitted.wv.index_to_key]
    assert got == [counts[w] for w in fitted.wv.index_to_key]
    assert got == sorted(got, reverse=True)


def test_not_fitted_errors():
    est = TorchWord2Vec()
    with pytest.raises(NotFittedError):
        est.wv
    with pytest.raises(NotFittedError):
        est.transform(["a"])


def test_params_roundtrip_and_clone():
    est = TorchWord2Vec(vector_size=7, window=3, device="cpu")
    params = est.get_params()
    assert params["vector_size"] == 7 and params["window"] == 3
    twin = TorchWord2Vec().set_params(**params)
    assert twin.get_params() == params
    assert clone(est).get_params() == params


def test_init_stores_only():
    est = TorchWord2Vec(vector_size=-3)  # nonsense is caught by fit, not __init__
    assert est.vector_size == -3
    with pytest.raises(ValueError, match="vector_size"):
        est.fit([["a"]])


@pytest.mark.parametrize("param,value,match", [
    ("negative", -1, "negative must be an integer >= 0"),
    ("negative", 0, "negative=0 and hs=0 leave nothing to train"),
    ("sg", 2, "sg must be 0 or 1"),
    ("hs", "yes", "hs must be 0 or 1"),
    ("cbow_mean", 0.5, "cbow_mean must be 0 or 1"),
    ("vector_size", 0, "vector_size"),
    ("window", 0, "window"),
    ("alpha", 0, "alpha must be a finite number > 0"),
    ("ns_exponent", float("nan"), "ns_exponent must be a finite number"),
    ("ns_exponent", float("inf"), "ns_exponent must be a finite number"),
    ("seed", 2 ** 64, "seed must be an integer >= 0 and < 9223372036854775808"),
    ("device", "meta", "CPUs and CUDA GPUs only"),
    ("device", "mps", "CPUs and CUDA GPUs only"),
    ("alpha", -1.0, "alpha"),
    ("min_alpha", 1.0, "must not exceed alpha"),
    ("epochs", 0, "epochs"),
    ("min_count", 2.5, "min_count"),
    ("sample", -1e-3, "sample"),
    ("batch_size", 0, "batch_size"),
    ("update_cap", 0, "update_cap"),
    ("step", "fast", "step must be one of"),
    ("device", "tpu", "device"),
    ("shrink_windows", "yes", "True or False"),
    ("callbacks", [print], "Callback"),
    ("trim_rule", 5, "trim_rule"),
    ("workers", 0, "workers"),
])
def test_nonsense_parameters_raise_value_error(param, value, match):
    with pytest.raises(ValueError, match=match):
        TorchWord2Vec(**{**FAST, param: value}).fit([["a", "b"]] * 3)


def test_numpy_scalar_parameters_train_checkpoint_and_save(corpus, tmp_path):
    """np.int64/np.float64 (from a NumPy grid, say) work as the numbers they hold: checkpoints
    and model files are JSON, which NumPy scalars are not."""
    params = {**FAST, "workers": 1, "vector_size": np.int64(12), "seed": np.int64(3),
              "alpha": np.float32(0.03),
              "checkpoint_dir": str(tmp_path / "ck")}
    est = TorchWord2Vec(**params).fit(corpus)
    assert est.wv.vector_size == 12
    est.save(tmp_path / "m.npz")
    again = TorchWord2Vec.load(tmp_path / "m.npz")
    assert again.vector_size == 12 and type(again.vector_size) is int
    assert again.seed == 3 and again.alpha == pytest.approx(0.03)
    plain = {**params, "vector_size": 12, "seed": 3, "alpha": float(np.float32(0.03)),
             "checkpoint_dir": None}
    assert np.array_equal(TorchWord2Vec(**plain).fit(corpus).wv.vectors, est.wv.vectors)


def test_transform_words_and_sentences(fitted):
    words = fitted.wv.index_to_key[:3]
    out = fitted.transform(words)
    assert out.shape == (3, 16) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1], fitted.wv[words[1]])
    docs = fitted.transform([words[:2], ["never-seen"], []])
    np.testing.assert_allclose(docs[0], fitted.wv[words[:2]].mean(0), rtol=1e-6)
    assert not docs[1].any() and not docs[2].any()
    with pytest.raises(KeyError, match="never-seen"):
        fitted.transform(["never-seen"])
    sentence = " ".join(words)
    with pytest.raises(KeyError, match="sentence as one string.*pass token lists"):
        fitted.transform([sentence])


def test_same_seed_one_worker_gives_identical_vectors(corpus):
    a = TorchWord2Vec(**FAST, seed=3, workers=1).fit(corpus)
    b = TorchWord2Vec(**FAST, seed=3, workers=1).fit(corpus)
    c = TorchWord2Vec(**FAST, seed=4, workers=1).fit(corpus)
    assert np.array_equal(a.wv.vectors, b.wv.vectors)
    assert np.array_equal(a.output_vectors_, b.output_vectors_)
    assert not np.array_equal(a.wv.vectors, c.wv.vectors)


def test_batched_step_is_identical_across_thread_counts(corpus):
    import torch

    threads = torch.get_num_threads()  # the batched step runs on PyTorch's intra-op threads
    try:
        torch.set_num_threads(2)
        a = TorchWord2Vec(**FAST, step="batched").fit(corpus)
        torch.set_num_threads(1)
        b = TorchWord2Vec(**FAST, step="batched").fit(corpus)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(a.wv.vectors, b.wv.vectors)


def test_hogwild_workers_differ_only_slightly(corpus):
    """Two workers draw the same windows and noise words as one (the draws follow from the
    positions); only the order of the lock-free updates differs."""
    def cosines(x, y):
        return (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)

    a = TorchWord2Vec(**FAST, workers=1).fit(corpus)
    b = TorchWord2Vec(**FAST, workers=2).fit(corpus)
    other_seed = TorchWord2Vec(**FAST, workers=1, seed=2).fit(corpus)
    assert cosines(a.wv.vectors, b.wv.vectors).mean() > 0.9
    assert cosines(a.wv.vectors, other_seed.wv.vectors).mean() < 0.6
    assert b.history_[-1]["loss"] == pytest.approx(a.history_[-1]["loss"], rel=0.01)


def test_history_has_one_entry_per_epoch_and_loss_falls(corpus):
    est = TorchWord2Vec(**{**FAST, "epochs": 5, "min_alpha": 0.001}).fit(corpus)
    assert [h["epoch"] for h in est.history_] == [1, 2, 3, 4, 5]
    for h in est.history_:
        assert set(h) >= {"loss", "words", "seconds", "lr", "words_per_sec", "pairs"}
        assert h["words"] == est.corpus_words_ and h["pairs"] > 0
    losses = [h["loss"] for h in est.history_]
    assert losses[-1] < losses[0]
    assert est.history_[-1]["lr"] < est.history_[0]["lr"]
    # each epoch shows the rate where it ended (it showed the last chunk's start: 0.00508
    # after 5 epochs with min_alpha=0.0001)
    for h in est.history_:
        assert h["lr"] == pytest.approx(est.alpha - (est.alpha - est.min_alpha) * h["epoch"] / 5,
                                        rel=1e-6)


def test_loss_starts_at_the_log2_value(corpus):
    # output vectors start at zero and stay there with a tiny lr, so every scored logit costs
    # log 2: (1 + K) log 2 per pair, a little less as noise words equal to the centre are skipped
    est = TorchWord2Vec(**{**FAST, "epochs": 1, "alpha": 1e-9, "min_alpha": 1e-9}).fit(corpus)
    assert 0.98 * 6 * np.log(2) < est.history_[0]["loss"] <= 6 * np.log(2)


def test_callbacks_are_called_in_order(corpus):
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, estimator):
            calls.append("train_begin")

        def on_epoch_begin(self, estimator, epoch):
            calls.append(f"begin{epoch}")

        def on_epoch_end(self, estimator, epoch, logs):
            calls.append(f"end{epoch}:{logs['epoch']}")

        def on_train_end(self, estimator, history):
            calls.append(f"train_end{len(history)}")

    TorchWord2Vec(**{**FAST, "epochs": 2, "callbacks": [Recorder()]}).fit(corpus)
    assert calls == ["train_begin", "begin1", "end1:1", "begin2", "end2:2", "train_end2"]


def test_progress_bar_and_log(corpus, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="torch_w2v"):
        TorchWord2Vec(**{**FAST, "epochs": 1, "progress": True}).fit(corpus)
    err = capsys.readouterr().err
    assert "word" in err and "100%" in err
    assert any("epoch 1/1" in r.message and "words/s" in r.message for r in caplog.records)


@pytest.mark.parametrize("step", ["batched", "fused"])
def test_diverging_run_stops_with_a_clear_error(corpus, step):
    with pytest.raises(FloatingPointError, match="alpha"):
        TorchWord2Vec(**{**FAST, "alpha": 1e30, "update_cap": None, "step": step}).fit(corpus)


@pytest.mark.parametrize("step", ["batched", "fused"])
def test_large_batches_stay_stable(corpus, step):
    big = TorchWord2Vec(**{**FAST, "epochs": 5, "batch_size": 10**6, "step": step}).fit(corpus)
    small = TorchWord2Vec(**{**FAST, "epochs": 5, "batch_size": 256, "step": step}).fit(corpus)
    assert np.isfinite(big.wv.vectors).all()
    assert big.history_[-1]["loss"] < big.history_[0]["loss"]
    assert big.history_[-1]["loss"] < small.history_[0]["loss"]


def test_pickles(fitted):
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.wv.vectors, fitted.wv.vectors)


def test_pipeline_and_grid_search(corpus):
    labels = np.array([int("w0" in s) for s in corpus])
    pipe = Pipeline([("w2v", TorchWord2Vec(**FAST)), ("clf", LogisticRegression(max_iter=500))])
    pipe.fit(corpus, labels)
    assert pipe.predict(corpus).shape == (len(corpus),)
    search = GridSearchCV(pipe, {"w2v__vector_size": [8, 16]}, cv=2).fit(corpus, labels)
    # each candidate was fitted with its own parameters, and the refit uses the winner's
    assert list(search.cv_results_["param_w2v__vector_size"]) == [8, 16]
    best = search.best_estimator_.named_steps["w2v"]
    assert best.wv.vector_size == best.vector_size == search.best_params_["w2v__vector_size"]
    assert search.best_estimator_.named_steps["clf"].coef_.shape[1] == best.vector_size


def test_word2vec_format_round_trip(fitted, tmp_path):
    from torch_w2v.io import save_word2vec_format

    text, binary, vocab = tmp_path / "v.txt", tmp_path / "v.bin", tmp_path / "vocab.txt"
    save_word2vec_format(fitted.wv, text, fvocab=vocab)
    save_word2vec_format(fitted.wv, binary, binary=True)
    back_text = KeyedVectors.load_word2vec_format(str(text), fvocab=str(vocab))
    back_bin = KeyedVectors.load_word2vec_format(str(binary), binary=True)
    assert back_text.index_to_key == fitted.wv.index_to_key
    np.testing.assert_array_equal(back_bin.vectors, fitted.wv.vectors)
    np.testing.assert_allclose(back_text.vectors, fitted.wv.vectors, rtol=1e-6, atol=1e-7)
    word = fitted.wv.index_to_key[0]
    assert back_text.get_vecattr(word, "count") == fitted.wv.get_vecattr(word, "count")
    # gensim's own writer on the exported vectors works too
    fitted.wv.save_word2vec_format(str(tmp_path / "g.txt"), fvocab=str(tmp_path / "g.vocab"))
    count = fitted.wv.get_vecattr(word, "count")
    assert (tmp_path / "g.vocab").read_text().split("\n")[0] == f"{word} {count}"


def test_word2vec_writer_refuses_unrepresentable_words(tmp_path):
    from torch_w2v.io import save_word2vec_format

    est = TorchWord2Vec(**{**FAST, "min_count": 1}).fit([["has space", "ok"]] * 3)
    with pytest.raises(ValueError, match="whitespace"):
        save_word2vec_format(est.wv, tmp_path / "v.txt")
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_restrict_vocab_means_most_frequent(fitted):
    top = fitted.wv.index_to_key[:20]
    sims = fitted.wv.most_similar(top[5], restrict_vocab=20)
    assert {w for w, _ in sims} <= set(top)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_matches_cpu_batched_quality(corpus):
    gpu = TorchWord2Vec(**{**FAST, "device": "cuda", "epochs": 5}).fit(corpus)
    cpu = TorchWord2Vec(**{**FAST, "step": "batched", "epochs": 5}).fit(corpus)
    assert gpu.device_.type == "cuda" and np.isfinite(gpu.wv.vectors).all()
    assert gpu.history_[-1]["loss"] == pytest.approx(cpu.history_[-1]["loss"], rel=0.05)


def test_fused_step_on_cuda_is_refused_clearly():
    import torch

    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="cpu only"):
            TorchWord2Vec(**{**FAST, "device": "cuda", "step": "fused"}).fit([["a", "b"]] * 3)
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            TorchWord2Vec(**{**FAST, "device": "cuda"}).fit([["a", "b"]] * 3)


@pytest.mark.parametrize("step", ["fused", "batched"])
def test_effective_words_count_what_subsampling_kept(corpus, step):
    from torch_w2v.vocab import keep_probabilities

    exact = TorchWord2Vec(**{**FAST, "sample": 0, "step": step}).fit(corpus)
    in_vocab = int(exact.vocab_.counts.sum())
    assert [h["effective_words"] for h in exact.history_] == [in_vocab] * 3
    sampled = TorchWord2Vec(**{**FAST, "sample": 1e-3, "step": step}).fit(corpus)
    expected = float((sampled.vocab_.counts * keep_probabilities(sampled.vocab_.counts,
                                                                1e-3)).sum())
    for h in sampled.history_:
        assert h["effective_words"] == pytest.approx(expected, rel=0.03)


LEE = None


def _lee():
    global LEE
    if LEE is None:
        from gensim.models.word2vec import LineSentence
        from gensim.test.utils import datapath

        LEE = list(LineSentence(datapath("lee_background.cor")))
    return LEE


def test_score_is_a_held_out_log_likelihood_comparable_across_objectives():
    """The score was minus a training loss, which each noise word adds a term to: a search
    over negative picked negative=1 (-1.33, -3.88, -13.3 for 1/5/20). It is now the mean log
    probability of held-out word pairs, normalised over the vocabulary, for every objective."""
    train, held_out = _lee()[:250], _lee()[250:]
    params = dict(vector_size=32, min_count=2, epochs=5, progress=False, workers=1)
    scores = {}
    for name, extra in {"negative=1": dict(negative=1), "negative=5": {},
                        "negative=20": dict(negative=20), "hs": dict(hs=1, negative=0),
                        "cbow": dict(sg=0)}.items():
        est = TorchWord2Vec(**params, **extra).fit(train)
        scores[name] = est.score(held_out)
        assert est.score(held_out) == scores[name]  # the same pairs every call
        assert -np.log(len(est.wv)) < scores[name] < 0  # better than a uniform guess
    assert max(scores.values()) - min(scores.values()) < 1.0, scores
    with pytest.raises(ValueError, match="held-out text"):
        est.score([["never-seen", "words"]])


def test_grid_search_without_labels_uses_score(corpus):
    search = GridSearchCV(TorchWord2Vec(**{**FAST, "epochs": 1}),
                          {"window": [2, 5], "negative": [1, 20]}, cv=2).fit(corpus)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all()
    assert hasattr(search.best_estimator_, "wv_")


@pytest.mark.parametrize("name,suggestion", [("size", "vector_size"), ("iter", "epochs"),
                                             ("windw", "window"), ("negatve", "negative")])
def test_unknown_parameters_name_the_closest_one(name, suggestion):
    with pytest.raises(TypeError, match=f"'{name}'; did you mean '{suggestion}'"):
        TorchWord2Vec(**{name: 3})


def test_unwritable_checkpoint_dir_is_refused_before_training(corpus, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    calls = []

    class Spy(Callback):
        def on_train_begin(self, run):
            calls.append(run)

    with pytest.raises(ValueError, match="checkpoint_dir .* is not writable"):
        TorchWord2Vec(**FAST, checkpoint_dir=str(blocker / "ck"), callbacks=[Spy()]).fit(corpus)
    assert not calls


def test_one_estimator_fitted_from_two_threads_at_once_is_refused(corpus):
    import threading

    started, release = threading.Event(), threading.Event()

    class Hold(Callback):
        def on_epoch_end(self, run, epoch, logs):
            started.set()
            release.wait(60)

    est = TorchWord2Vec(**FAST, callbacks=[Hold()])
    first = threading.Thread(target=est.fit, args=(corpus,))
    first.start()
    try:
        assert started.wait(60)
        with pytest.raises(RuntimeError, match="already being fitted.*clone"):
            est.fit(corpus)
        with pytest.raises(RuntimeError, match="already being fitted"):
            est.partial_fit(corpus)
    finally:
        release.set()
        first.join(60)
    assert est.wv.vector_size == 16  # the first fit finished and assigned its result
    est.fit(corpus)  # and the estimator is free again
