import numpy as np
import pytest
import torch

from torch_w2v import TorchWord2Vec, ops
from torch_w2v.backends import BACKENDS, SKIPGRAM_NEGATIVE, backend_names, select_backend
from torch_w2v.backends.batched import sgd_step
from torch_w2v.model import SkipGramNS
from torch_w2v.sampling import Batch

FAST = dict(vector_size=16, min_count=2, epochs=3, progress=False, batch_size=512)
SGD = {"optimizer": "sgd", "max_norm": None, "update_cap": None, "alpha": 0.025}
CPU = torch.device("cpu")


def _batch(seed=0, vocab=30, blocks=8, width=4, k=3):
    g = torch.Generator().manual_seed(seed)
    contexts = torch.randint(0, vocab, (blocks, width), generator=g)
    context_mask = torch.rand(blocks, width, generator=g) < 0.8
    context_mask[:, 0] = True
    targets = torch.randint(0, vocab, (blocks, 1 + k), generator=g)
    target_mask = torch.rand(blocks, 1 + k, generator=g) < 0.9
    target_mask[:, 0] = True
    return Batch(contexts, context_mask, targets, target_mask, raw_words=blocks)


def _disjoint_batch(blocks=256, width=4, k=4, vocab=1300, seed=0):
    """Blocks that share no row of either table: any thread count must give the same tables."""
    g = torch.Generator().manual_seed(seed)
    contexts = torch.randperm(vocab, generator=g)[:blocks * width].view(blocks, width)
    targets = torch.randperm(vocab, generator=g)[:blocks * (1 + k)].view(blocks, 1 + k)
    context_mask = torch.rand(blocks, width, generator=g) < 0.8
    return Batch(contexts, context_mask, targets, torch.ones_like(targets, dtype=torch.bool),
                 raw_words=blocks)


def _tables(vocab=30, dim=6, seed=0):
    tables = SkipGramNS(vocab, dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # non-zero output vectors so every gradient term is exercised
        tables.output_vectors.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    return tables


def _fused():
    backend = select_backend("fused", CPU, SKIPGRAM_NEGATIVE, SGD)
    return backend


def _with_threads(n, fn):
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


# -- the batched step -----------------------------------------------------------------------

def test_batched_step_equals_autograd_gradient_step():
    batch = _batch()
    tables, ref = _tables(), _tables()
    ref.input_vectors.requires_grad_(True)
    ref.output_vectors.requires_grad_(True)
    loss = ref(batch.contexts, batch.context_mask, batch.targets, batch.target_mask)
    loss = loss * batch.context_mask.sum()  # summed loss
    loss.backward()
    lr = 0.05
    loss_sum, pairs = sgd_step(tables, batch, lr=lr)
    assert torch.allclose(loss_sum, loss.detach(), atol=1e-4)
    assert pairs == batch.context_mask.sum()
    with torch.no_grad():
        assert torch.allclose(tables.input_vectors,
                              ref.input_vectors - lr * ref.input_vectors.grad, atol=1e-6)
        assert torch.allclose(tables.output_vectors,
                              ref.output_vectors - lr * ref.output_vectors.grad, atol=1e-6)


def test_update_cap_scales_only_rows_above_cap():
    # one block, every context slot is word 0: word 0 gets 4 slots x 4 logits = 16 logits
    batch = Batch(torch.zeros(1, 4, dtype=torch.int64), torch.ones(1, 4, dtype=torch.bool),
                  torch.tensor([[1, 2, 3, 4]]), torch.ones(1, 4, dtype=torch.bool), raw_words=5)
    plain, capped = _tables(), _tables()
    before = plain.input_vectors.clone()
    sgd_step(plain, batch, lr=0.1)
    sgd_step(capped, batch, lr=0.1, update_cap=8)
    step_plain = plain.input_vectors[0] - before[0]
    step_capped = capped.input_vectors[0] - before[0]
    assert torch.allclose(step_capped, step_plain * 8 / 16, atol=1e-7)
    # the targets each get 4 logits (< 8): untouched by the cap
    assert torch.allclose(plain.output_vectors, capped.output_vectors)


# -- the fused CPU op -----------------------------------------------------------------------

def test_fused_op_equals_batched_step_block_by_block():
    batch = _batch(blocks=12)
    fused, reference = _tables(), _tables()
    step = _fused().make_step(fused, SGD)
    loss, pairs = _with_threads(1, lambda: step(batch, 0.05))
    ref_loss = 0.0
    for b in range(12):  # the fused op applies each block before scoring the next
        s = slice(b, b + 1)
        block = Batch(batch.contexts[s], batch.context_mask[s], batch.targets[s],
                      batch.target_mask[s], raw_words=1)
        ref_loss += float(sgd_step(reference, block, 0.05)[0])
    assert loss.dtype == torch.float64 and loss.dim() == 0
    assert float(loss) == pytest.approx(ref_loss, rel=1e-5)
    assert pairs == batch.context_mask.sum()
    assert torch.allclose(fused.input_vectors, reference.input_vectors, atol=1e-6)
    assert torch.allclose(fused.output_vectors, reference.output_vectors, atol=1e-6)


@pytest.mark.parametrize("threads", [2, 4])
def test_fused_op_with_several_threads_equals_one_thread(threads):
    batch = _disjoint_batch()
    one, several = _tables(vocab=1300, dim=32), _tables(vocab=1300, dim=32)
    loss_one, _ = _with_threads(1, lambda: _fused().make_step(one, SGD)(batch, 0.05))
    loss_many, _ = _with_threads(threads,
                                 lambda: _fused().make_step(several, SGD)(batch, 0.05))
    assert torch.equal(one.input_vectors, several.input_vectors)
    assert torch.equal(one.output_vectors, several.output_vectors)
    assert float(loss_many) == pytest.approx(float(loss_one), rel=1e-9)
    assert not torch.equal(one.input_vectors, _tables(vocab=1300, dim=32).input_vectors)


@pytest.mark.parametrize("where,value", [("contexts", 30), ("contexts", -1), ("targets", 99)])
def test_fused_op_refuses_out_of_range_ids_before_touching_the_tables(where, value):
    batch = _batch()
    getattr(batch, where)[3, 1] = value
    tables = _tables()
    before = tables.input_vectors.clone(), tables.output_vectors.clone()
    with pytest.raises(RuntimeError, match=f"{where} holds word id {value} .*30 rows"):
        _fused().make_step(tables, SGD)(batch, 0.05)
    assert torch.equal(tables.input_vectors, before[0])
    assert torch.equal(tables.output_vectors, before[1])


def test_fused_op_checks_dtypes_shapes_and_layout():
    op = torch.ops.torch_w2v.sgns_block_step
    _fused()  # loads the op
    b, t = _batch(), _tables()
    u, v = t.input_vectors.data, t.output_vectors.data
    with pytest.raises(RuntimeError, match="int64"):
        op(u, v, b.contexts.int(), b.context_mask, b.targets, b.target_mask, 0.1)
    with pytest.raises(RuntimeError, match="float32"):
        op(u.double(), v.double(), b.contexts, b.context_mask, b.targets, b.target_mask, 0.1)
    with pytest.raises(RuntimeError, match="one row per block"):
        op(u, v, b.contexts, b.context_mask, b.targets[:3], b.target_mask[:3], 0.1)
    with pytest.raises(RuntimeError, match="contiguous"):
        op(u.t(), v, b.contexts, b.context_mask, b.targets, b.target_mask, 0.1)


def test_fused_op_registration_passes_opcheck():
    _fused()
    b, t = _batch(), _tables()
    args = (t.input_vectors.data.clone(), t.output_vectors.data.clone(), b.contexts,
            b.context_mask, b.targets, b.target_mask, 0.05)
    torch.library.opcheck(torch.ops.torch_w2v.sgns_block_step.default, args)
    schema = str(torch.ops.torch_w2v.sgns_block_step.default._schema)
    assert "Tensor(a!) input_vectors" in schema and "Tensor(b!) output_vectors" in schema


# -- choosing a backend ---------------------------------------------------------------------

def test_auto_prefers_fused_on_cpu_and_batched_elsewhere():
    assert select_backend("auto", CPU, SKIPGRAM_NEGATIVE, SGD).name == "fused"
    cuda = torch.device("cuda")
    assert select_backend("auto", cuda, SKIPGRAM_NEGATIVE, SGD).name == "batched"
    assert select_backend("auto", CPU, SKIPGRAM_NEGATIVE, {**SGD, "max_norm": 1.0}).name \
        == "batched"
    assert select_backend("auto", cuda, SKIPGRAM_NEGATIVE,
                          {**SGD, "optimizer": "sparse_adam"}).name == "autograd"


@pytest.mark.parametrize("step,device,params,match", [
    ("fused", "cuda", SGD, "runs on cpu only, not on cuda"),
    ("fused", "cpu", {**SGD, "max_norm": 1.0}, "max_norm"),
    ("batched", "cpu", {**SGD, "optimizer": "adam"}, "optimizer='adam'"),
    ("autograd", "cpu", SGD, "optimizer='sgd'"),
    ("auto", "mps", SGD, "no backend trains"),
    ("warp", "cpu", SGD, "step must be"),
])
def test_a_backend_that_cannot_train_is_refused_with_the_reason(step, device, params, match):
    with pytest.raises(ValueError, match=match):
        select_backend(step, torch.device(device), SKIPGRAM_NEGATIVE, params)


def test_every_backend_declares_its_capabilities():
    assert backend_names() == ("fused", "batched", "autograd")
    for backend in BACKENDS:
        assert backend.summary and backend.devices and SKIPGRAM_NEGATIVE in backend.modes
        assert backend.default_batch_size(CPU, 10**6) >= 1024


def test_step_parameter_accepts_exactly_the_registered_backends(corpus):
    with pytest.raises(ValueError, match="step must be one of 'auto', 'fused', 'batched'"):
        TorchWord2Vec(**FAST, step="fast").fit(corpus)
    est = TorchWord2Vec(**FAST, step="autograd", optimizer="adam", alpha=0.01).fit(corpus)
    assert np.isfinite(est.wv.vectors).all()


def test_without_the_op_auto_falls_back_and_fused_refuses(corpus, monkeypatch):
    monkeypatch.setattr(ops, "load", lambda: False)  # as when nothing compiles
    monkeypatch.setattr(ops, "unavailable_reason", lambda: "OSError: no C++ compiler")
    est = TorchWord2Vec(**FAST).fit(corpus)  # step="auto": the batched step
    ref = TorchWord2Vec(**FAST, step="batched").fit(corpus)
    assert np.array_equal(est.wv.vectors, ref.wv.vectors)
    with pytest.raises(RuntimeError, match="could not be built or loaded.*no C\\+\\+ compiler"):
        TorchWord2Vec(**FAST, step="fused").fit(corpus)


def test_a_new_backend_is_one_class_and_one_registry_entry(corpus, monkeypatch, capsys):
    """The seam: a backend registered nowhere but in BACKENDS is validated, selected by name,
    listed in --help, and trains."""
    import torch_w2v.backends as registry
    from torch_w2v.backends.batched import Batched
    from torch_w2v.cli import build_parser

    calls = []

    class Counting(Batched):
        name = "counting"
        summary = "the batched step, counting its calls"

        def make_step(self, tables, params):
            step = super().make_step(tables, params)
            return lambda batch, lr: calls.append(lr) or step(batch, lr)

    monkeypatch.setattr(registry, "BACKENDS", (*registry.BACKENDS, Counting()))
    est = TorchWord2Vec(**FAST, step="counting").fit(corpus)
    assert calls and np.isfinite(est.wv.vectors).all()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "'counting' (the batched step, counting its calls)" in shown
