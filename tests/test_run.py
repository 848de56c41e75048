"""The training run: fitted state assigned only after success, and what callbacks see."""
import threading

import numpy as np
import pytest
import torch
from conftest import zipf_corpus
from gensim.models import KeyedVectors

from torch_w2v import Callback, TorchWord2Vec
from torch_w2v.backends.cpu_fused import CpuFused
from torch_w2v.modes import Mode
from torch_w2v.run import TrainingRun

FAST = dict(vector_size=16, min_count=2, epochs=3, progress=False, batch_size=512, workers=1)


class Crash(RuntimeError):
    pass


@pytest.fixture
def crash_after(monkeypatch):
    """Make the fused step raise after ``n`` batches (a failure in the middle of training)."""
    def arm(n):
        make_step = CpuFused.make_step

        def failing(self, tables, params, distributions):
            step, calls = make_step(self, tables, params, distributions), [0]

            def wrapped(chunk, lr, lr_end):
                calls[0] += 1
                if calls[0] > n:
                    raise Crash("injected")
                return step(chunk, lr, lr_end)
            return wrapped

        monkeypatch.setattr(CpuFused, "make_step", failing)
    return arm


def _state(est):
    return (list(est.vocab_.index_to_key), est.wv.vectors.copy(), est.output_vectors_.copy(),
            [dict(h) for h in est.history_], est.corpus_words_)


def _assert_same_state(est, state):
    words, vectors, outputs, history, corpus_words = state
    assert list(est.vocab_.index_to_key) == list(est.wv.index_to_key) == words
    assert np.array_equal(est.wv.vectors, vectors)
    assert np.array_equal(est.output_vectors_, outputs)
    assert est.history_ == history and est.corpus_words_ == corpus_words


def test_a_failed_partial_fit_leaves_the_estimator_as_it_was(corpus, crash_after, tmp_path):
    est = TorchWord2Vec(**FAST).fit(corpus)
    before = _state(est)
    more = zipf_corpus(n_sentences=100, seed=1) + [["brand-new"] * 5]  # grows the vocabulary
    crash_after(1)  # one chunk an epoch here: the crash comes in epoch 2
    with pytest.raises(Crash):
        est.partial_fit(more)
    _assert_same_state(est, before)
    est.save(tmp_path / "model.npz")  # consistent: it saves and loads back
    again = TorchWord2Vec.load(tmp_path / "model.npz")
    _assert_same_state(again, before)


def test_a_failed_refit_leaves_the_estimator_as_it_was(corpus, crash_after):
    est = TorchWord2Vec(**FAST).fit(corpus)
    before = _state(est)
    crash_after(2)
    with pytest.raises(Crash):
        est.set_params(vector_size=8, min_count=1).fit(zipf_corpus(seed=2))
    _assert_same_state(est, before)


def test_a_failure_in_a_callback_or_an_interrupt_assigns_nothing(corpus):
    class Interrupt(Callback):
        def on_epoch_end(self, run, epoch, logs):
            if epoch == 2:
                raise KeyboardInterrupt

    est = TorchWord2Vec(**FAST, callbacks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        est.fit(corpus)
    assert not hasattr(est, "wv_") and not hasattr(est, "vocab_")
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]


def test_callbacks_see_the_run_state_and_the_estimator_untouched(corpus):
    seen = []

    class Watch(Callback):
        def __init__(self, estimator):
            self.estimator = estimator

        def on_train_begin(self, run):
            seen.append(("begin", run.epoch, len(run.history), hasattr(self.estimator, "wv_")))

        def on_epoch_end(self, run, epoch, logs):
            kv = run.keyed_vectors()
            assert isinstance(kv, KeyedVectors) and kv.index_to_key == run.vocab.index_to_key
            assert run.tables.input_vectors.shape == (len(run.vocab), 16)
            assert run.backend.name == "fused" and run.device.type == "cpu"
            assert run.params["vector_size"] == 16
            seen.append(("end", epoch, len(run.history), kv.vectors.copy()))

    est = TorchWord2Vec(**FAST)
    est.set_params(callbacks=[Watch(est)]).fit(corpus)
    assert seen[0] == ("begin", 1, 0, False)
    assert [(s[0], s[1], s[2]) for s in seen[1:]] == [("end", 1, 1), ("end", 2, 2), ("end", 3, 3)]
    assert not np.array_equal(seen[1][3], seen[2][3])  # live vectors, copied each epoch
    assert np.array_equal(seen[-1][3], est.wv.vectors)


def test_workers_apply_to_their_own_fit_only(corpus):
    """No process-wide thread setting changes, and a one-worker fit stays bit-identical while
    a two-worker fit trains in another thread."""
    threads = torch.get_num_threads()
    seen = []

    class Threads(Callback):
        def on_epoch_end(self, run, epoch, logs):
            seen.append(torch.get_num_threads())

    solo = TorchWord2Vec(**FAST).fit(corpus)
    stop, running, other_fits, errors = threading.Event(), threading.Event(), [], []
    big = zipf_corpus(n_sentences=3000, seed=4)

    class Started(Callback):
        def on_train_begin(self, run):
            running.set()

    def other():
        try:
            while not stop.is_set():
                other_fits.append(TorchWord2Vec(**{**FAST, "workers": 2},
                                                callbacks=[Started()]).fit(big))
        except Exception as err:  # shown by the assertion below
            errors.append(repr(err))
            running.set()

    beside = threading.Thread(target=other)
    beside.start()
    running.wait(timeout=60)  # the two-worker fits train all through the one-worker ones
    try:
        fits = [TorchWord2Vec(**FAST, callbacks=[Threads()]).fit(corpus) for _ in range(4)]
    finally:
        stop.set()
        beside.join()
    assert not errors and other_fits
    for est in fits:
        assert np.array_equal(est.wv.vectors, solo.wv.vectors)
        assert np.array_equal(est.output_vectors_, solo.output_vectors_)
    assert seen == [threads] * 12 and torch.get_num_threads() == threads


def test_a_run_builds_no_estimator_state(corpus):
    params = TorchWord2Vec(**FAST).get_params()
    fitted = TrainingRun(params).fit(corpus)
    est = TorchWord2Vec(**FAST).fit(corpus)
    assert np.array_equal(fitted.input_vectors, est.wv.vectors)
    assert fitted.vocab.index_to_key == est.wv.index_to_key
    assert [h["loss"] for h in fitted.history] == [h["loss"] for h in est.history_]


def test_a_finite_blow_up_stops_the_run_naming_alpha(corpus):
    """Not only NaN: a loss many times an untrained model's (here 62 against 4.16) stops the
    run, and the estimator keeps no half-trained result."""
    est = TorchWord2Vec(vector_size=50, min_count=2, epochs=5, progress=False, alpha=1.5,
                        optimizer="adam")
    with pytest.raises(FloatingPointError, match=r"diverged in epoch 1 \(loss [0-9.]+, an "
                                                 r"untrained model's 4.16.*alpha"):
        est.fit(corpus)
    assert not hasattr(est, "wv_")


def test_exploding_vectors_stop_the_run_even_when_the_loss_looks_sane():
    from torch_w2v.model import EmbeddingTables
    from torch_w2v.train import check_diverged

    tables = EmbeddingTables(4, 3)
    check_diverged(tables, 2.0, 1, 0.025, Mode(negative=5))  # a sane epoch passes
    with torch.no_grad():
        tables.input_vectors[2] = 1e17
    with pytest.raises(FloatingPointError, match=r"longest word vector 1.73e\+17\).*alpha"):
        check_diverged(tables, 2.0, 1, 0.025, Mode(negative=5))


def test_too_many_noise_words_are_named_when_training_diverges(corpus):
    with pytest.raises(FloatingPointError, match=r"alpha.*negative=1000 is too many"):
        TorchWord2Vec(**{**FAST, "negative": 1000}).fit(corpus)


def test_a_rising_loss_warns(caplog):
    from torch_w2v.model import EmbeddingTables
    from torch_w2v.train import check_diverged

    with caplog.at_level("WARNING", logger="torch_w2v"):
        check_diverged(EmbeddingTables(4, 3), 8.0, 2, 0.3, Mode(negative=5))
    assert "may be diverging" in caplog.text and "alpha" in caplog.text


def test_tables_larger_than_free_memory_are_refused_before_allocating(corpus, monkeypatch):
    import torch_w2v.model as model

    assert model.available_bytes("cpu") > 0  # this machine's MemAvailable
    monkeypatch.setattr(model, "available_bytes", lambda device: 1 << 30)  # 1 GiB free
    allocated = []
    monkeypatch.setattr(model.EmbeddingTables, "__init__",
                        lambda *a, **k: allocated.append(a) or 1 / 0)
    with pytest.raises(ValueError, match=r"needs 1.5 GiB on cpu but 1.0 GiB are free: the "
                                         r"tables of 200 words x vector_size=1000000"):
        TorchWord2Vec(**{**FAST, "vector_size": 10 ** 6}).fit(corpus)
    with pytest.raises(ValueError, match=r"a batch's vectors .* lower vector_size \(or "
                                         r"negative, batch_size\)"):
        TorchWord2Vec(**{**FAST, "negative": 10 ** 5, "step": "batched"}).fit(corpus)
    assert not allocated


def test_epoch_lines_are_written_above_the_progress_bar(corpus, monkeypatch):
    """On a terminal the bar is cleared before each epoch's log line and redrawn after it, so
    the line is not glued to the bar's end (``...lr=0.02134]epoch 1/5: ...``)."""
    import io
    import logging
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    handler = logging.StreamHandler(terminal)
    log = logging.getLogger("torch_w2v")
    log.addHandler(handler)
    monkeypatch.setattr(log, "level", logging.INFO)
    monkeypatch.setattr(log, "propagate", False)  # this handler alone
    try:
        TorchWord2Vec(**{**FAST, "progress": True}).fit(corpus)
    finally:
        log.removeHandler(handler)
    text = terminal.getvalue()
    assert "word/s]" in text and text.count("epoch ") == FAST["epochs"]
    for piece in text.split("\n"):
        if "epoch " in piece:  # whatever the bar wrote on this line was cleared first
            assert piece.rsplit("\r", 1)[-1].startswith("epoch "), piece
