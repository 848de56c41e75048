"""bfloat16 tables (``dtype="bfloat16"``): half the memory, steps kept by stochastic rounding,
float32 everywhere outside training."""
import numpy as np
import pytest
import torch
from conftest import call_op, zipf_corpus

from torch_w2v import TorchWord2Vec, model
from torch_w2v.callbacks import Callback
from torch_w2v.model import EmbeddingTables

FAST = dict(vector_size=16, min_count=2, epochs=2, progress=False, workers=1)


def _tables(dtype, vocab=50, dim=32, seed=0):
    """Tables of unit-sized values, exactly representable in bfloat16."""
    generator = torch.Generator().manual_seed(seed)
    tables = EmbeddingTables(vocab, dim)
    with torch.no_grad():
        for table in (tables.input_vectors, tables.output_vectors):
            values = torch.randn(table.shape, generator=generator).to(torch.bfloat16)
            table.data = values.to(dtype)
    return tables


@pytest.mark.parametrize("cbow", [False, True])
def test_steps_smaller_than_half_a_unit_are_kept_on_average(cbow):
    """With lr 1e-3 on unit-sized rows every single step is below half a bfloat16 unit
    (2^-8 at 1.0): rounded to nearest, the tables would never move. Rounded stochastically,
    their change follows float32's."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=20_000)
    sentence = np.arange(len(ids)) // 20
    changes = {}
    for dtype in (torch.float32, torch.bfloat16):
        tables = _tables(dtype)
        before = [t.detach().float().clone() for t in (tables.input_vectors,
                                                       tables.output_vectors)]
        call_op(tables, ids, sentence, window=3, negative=2, lr=(1e-3, 1e-3), cbow=cbow,
                noise=(torch.arange(50), None, None))
        after = [t.detach().float() for t in (tables.input_vectors, tables.output_vectors)]
        changes[dtype] = torch.cat([(a - b).flatten() for a, b in zip(after, before)])
    exact, rounded = changes[torch.float32], changes[torch.bfloat16]
    assert exact.abs().max() > 0.01  # the summed steps are several units
    along = float((rounded * exact).sum() / (exact * exact).sum())
    assert 0.9 < along < 1.1, along  # the same change on average...
    assert float(torch.corrcoef(torch.stack([rounded, exact]))[0, 1]) > 0.9  # ...row by row


def test_a_bfloat16_fit_trains_like_float32_and_hands_back_float32(corpus):
    runs = {dtype: TorchWord2Vec(**FAST, dtype=dtype).fit(corpus)
            for dtype in ("float32", "bfloat16")}
    half, full = runs["bfloat16"], runs["float32"]
    assert half.wv.vectors.dtype == np.float32 and half.output_vectors_.dtype == np.float32
    assert not np.array_equal(half.wv.vectors, full.wv.vectors)  # trained in bfloat16...
    # ...whose values are bfloat16 numbers
    as_bf16 = torch.from_numpy(half.wv.vectors).to(torch.bfloat16).float().numpy()
    assert np.array_equal(as_bf16, half.wv.vectors)
    for a, b in zip(half.history_, full.history_):
        assert a["loss"] == pytest.approx(b["loss"], rel=0.02)


def test_a_bfloat16_model_saves_loads_and_continues_in_bfloat16(corpus, tmp_path):
    est = TorchWord2Vec(**FAST, dtype=torch.bfloat16).fit(corpus)  # a torch dtype works too
    est.save(tmp_path / "m.npz")
    loaded = TorchWord2Vec.load(tmp_path / "m.npz")
    assert loaded.get_params()["dtype"] == "bfloat16"
    assert np.array_equal(loaded.wv.vectors, est.wv.vectors)
    loaded.partial_fit(zipf_corpus(n_sentences=100, seed=1))
    as_bf16 = torch.from_numpy(loaded.wv.vectors).to(torch.bfloat16).float().numpy()
    assert np.array_equal(as_bf16, loaded.wv.vectors)  # continued in bfloat16


def test_training_holds_bfloat16_tables_and_widens_them_in_place(corpus, monkeypatch):
    """During training the tables are bfloat16 (half the resident memory); at the end they
    become float32 in their own buffers, no second copy made."""
    seen = []

    class Watch(Callback):
        def on_epoch_end(self, run, epoch, logs):
            seen.append((run.tables.input_vectors.dtype, run.tables.output_vectors.dtype))
    widened = []
    real = model._widen_bfloat16

    def watch_widen(table):
        wide = real(table)
        widened.append(wide.data_ptr() == table.data_ptr())
        return wide

    monkeypatch.setattr(model, "_widen_bfloat16", watch_widen)
    est = TorchWord2Vec(**FAST, dtype="bfloat16", callbacks=[Watch()]).fit(corpus)
    assert seen == [(torch.bfloat16, torch.bfloat16)] * FAST["epochs"]
    assert widened == [True, True]
    assert est.wv.vectors.dtype == np.float32


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_widening_in_place_keeps_every_value(size, monkeypatch):
    monkeypatch.setattr(model, "WIDEN_CHUNK", 3)  # many chunks, overlapping ones included
    tables = EmbeddingTables(size, 5, dtype=torch.bfloat16)
    with torch.no_grad():
        tables.output_vectors.copy_(torch.randn(size, 5) * 1e3)
    expected = [t.detach().float().clone() for t in (tables.input_vectors,
                                                      tables.output_vectors)]
    tables.to_float32_()
    assert torch.equal(tables.input_vectors, expected[0])
    assert torch.equal(tables.output_vectors, expected[1])


@pytest.mark.parametrize("params, named", [
    (dict(step="autograd"), "dtype='bfloat16'"),
    (dict(optimizer="adam"), "dtype='bfloat16'"),
    (dict(distributed=True), "distributed"),
    (dict(dtype="float16"), "'float32', 'bfloat16'"),
])
def test_what_bfloat16_cannot_train_is_refused_before_training(corpus, params, named):
    with pytest.raises(ValueError, match=named):
        TorchWord2Vec(**{**FAST, "dtype": "bfloat16", **params}).fit(corpus)


def test_the_op_refuses_tables_of_two_types():
    tables = _tables(torch.float32)
    tables.output_vectors.data = tables.output_vectors.data.to(torch.bfloat16)
    with pytest.raises(RuntimeError, match="output_vectors must be Float"):
        call_op(tables, [0, 1, 2], [0, 0, 0], window=1, negative=1)


def test_the_batched_step_keeps_small_steps_in_bfloat16_rows():
    """Many sub-steps each below half a unit: added to nearest (index_add_ in bfloat16) the
    rows never move; add_rows follows float32 on average."""
    from torch_w2v.backends.batched import add_rows

    generator = torch.Generator().manual_seed(0)
    signs = torch.randn(20, 16, generator=generator).sign()
    start = (signs * (1 + torch.rand(20, 16, generator=generator))).to(torch.bfloat16)
    exact, nearest, rounded = start.float(), start.clone(), start.clone()
    direction = torch.randn(20, 16, generator=generator).clamp(-2, 2)  # each row drifts one way
    for k in range(200):
        rows = torch.randint(0, 20, (30,), generator=generator)
        steps = direction[rows] * 2e-4  # a row's summed step stays below half a unit (2^-8)
        exact.index_add_(0, rows, steps)
        nearest.index_add_(0, rows, steps.to(torch.bfloat16))
        add_rows(rounded, rows, steps, key=k)
    change = (exact - start.float()).flatten()
    assert torch.equal(nearest, start)  # every step vanished
    moved = (rounded.float() - start.float()).flatten()
    assert 0.8 < float((moved * change).sum() / (change * change).sum()) < 1.2


def test_a_batched_bfloat16_fit_trains_like_float32(corpus):
    runs = {dtype: TorchWord2Vec(**FAST, step="batched", batch_size=512, dtype=dtype).fit(corpus)
            for dtype in ("float32", "bfloat16")}
    half = runs["bfloat16"]
    as_bf16 = torch.from_numpy(half.wv.vectors).to(torch.bfloat16).float().numpy()
    assert np.array_equal(as_bf16, half.wv.vectors)
    for a, b in zip(half.history_, runs["float32"].history_):
        assert a["loss"] == pytest.approx(b["loss"], rel=0.02)
