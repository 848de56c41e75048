from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import call_op
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torch_w2v import TorchWord2Vec, ops
from torch_w2v.backends import BACKENDS, backend_names, select_backend
from torch_w2v.backends.batched import sgd_step
from torch_w2v.model import EmbeddingTables
from torch_w2v.modes import Mode
from torch_w2v.sampling import Batch
from torch_w2v.vocab import huffman_tree

FAST = dict(vector_size=16, min_count=2, epochs=3, progress=False, batch_size=512)
SGD = {"optimizer": "sgd", "max_norm": None, "dtype": "float32"}
CPU = torch.device("cpu")
SGNS = Mode()


def _config(device=CPU, mode=SGNS, **settings):
    """What backend selection reads of a run's TrainingConfig."""
    return SimpleNamespace(device=torch.device(device), mode=mode, **{**SGD, **settings})


def _batch(seed=0, vocab=30, blocks=8, width=4, k=3):
    g = torch.Generator().manual_seed(seed)
    contexts = torch.randint(0, vocab, (blocks, width), generator=g)
    context_mask = torch.rand(blocks, width, generator=g) < 0.8
    context_mask[:, 0] = True
    targets = torch.randint(0, vocab, (blocks, 1 + k), generator=g)
    target_mask = torch.rand(blocks, 1 + k, generator=g) < 0.9
    target_mask[:, 0] = True
    return Batch(contexts, context_mask, targets, target_mask, raw_words=blocks)


def _tables(vocab=30, dim=6, seed=0, rows=None):
    tables = EmbeddingTables(vocab, dim, rows, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # non-zero output vectors so every gradient term is exercised
        tables.output_vectors.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    return tables


def _fused():
    return select_backend("fused", _config())


# -- the batched step -----------------------------------------------------------------------

def test_batched_step_equals_autograd_gradient_step():
    batch = _batch()
    tables, ref = _tables(), _tables()
    ref.input_vectors.requires_grad_(True)
    ref.output_vectors.requires_grad_(True)
    loss = ref(batch.contexts, batch.context_mask, batch.targets, batch.target_mask, mode=SGNS)
    loss = loss * batch.context_mask.sum()  # summed loss
    loss.backward()
    lr = 0.05
    loss_sum, pairs = sgd_step(tables, batch, lr=lr, mode=SGNS)
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
    sgd_step(plain, batch, lr=0.1, mode=SGNS)
    sgd_step(capped, batch, lr=0.1, mode=SGNS, update_cap=8)
    step_plain = plain.input_vectors[0] - before[0]
    step_capped = capped.input_vectors[0] - before[0]
    assert torch.allclose(step_capped, step_plain * 8 / 16, atol=1e-7)
    # the targets each get 4 logits (< 8): untouched by the cap
    assert torch.allclose(plain.output_vectors, capped.output_vectors)


# -- the fused CPU op -----------------------------------------------------------------------

def _text(n=60, vocab=30, sentences=4, seed=0):
    g = np.random.default_rng(seed)
    ids = g.integers(1, vocab, n)  # word 0 is the noise word of _op's default
    sentence = np.sort(g.integers(0, sentences, n))
    return ids, sentence


MODES = {  # (mode, negative) for the deterministic reference: noise, if any, is word 0
    "skip-gram, negative": Mode(negative=2),
    "skip-gram, hierarchical": Mode(negative=0, hs=True),
    "skip-gram, both": Mode(negative=2, hs=True),
    "cbow mean, negative": Mode(skip_gram=False, negative=2),
    "cbow sum, hierarchical": Mode(skip_gram=False, negative=0, hs=True, cbow_mean=False),
    "cbow mean, both": Mode(skip_gram=False, negative=1, hs=True),
}


@pytest.mark.parametrize("name", MODES)
def test_fused_op_equals_the_batched_step_block_by_block(name):
    """No subsampling, full windows and one noise word make every block predictable (Huffman
    paths are fixed): the op must train them in corpus order exactly as the batched step does
    one block at a time, in every mode."""
    mode = MODES[name]
    ids, sentence = _text()
    tree = huffman_tree(np.bincount(ids, minlength=30) + 1) if mode.hs else None
    rows = mode.output_rows(30)
    fused, reference = _tables(rows=rows), _tables(rows=rows)
    lr = (0.05, 0.01)
    loss, examples = call_op(fused, ids, sentence, window=2, negative=mode.negative, lr=lr,
                             tree=tree, cbow=not mode.skip_gram, cbow_mean=mode.cbow_mean)
    ref_loss, ref_examples, n = 0.0, 0, len(ids)
    for pos in range(n):
        near = [j for j in range(pos - 2, pos + 3)
                if j != pos and 0 <= j < n and sentence[j] == sentence[pos]]
        if not near:
            continue
        centre, targets, mask, labels = int(ids[pos]), [], [], []
        if mode.negative:  # the centre, then noise word 0 (never a centre here)
            targets += [centre] + [0] * mode.negative
            mask += [True] * (1 + mode.negative)
            labels += [1.0] + [0.0] * mode.negative
        if mode.hs:
            path = tree.points[centre, :tree.lengths[centre]] + mode.hs_offset(30)
            targets += path.tolist()
            mask += [True] * len(path)
            labels += (1.0 - tree.codes[centre, :tree.lengths[centre]]).tolist()
        block = Batch(torch.as_tensor(ids[near])[None], torch.ones(1, len(near), dtype=torch.bool),
                      torch.tensor([targets]), torch.tensor([mask]), raw_words=1,
                      labels=torch.tensor([labels]))
        step_lr = lr[0] + (lr[1] - lr[0]) * pos / n
        block_loss, block_examples = sgd_step(reference, block, step_lr, mode)
        ref_loss += float(block_loss)
        ref_examples += int(block_examples)
    assert examples == ref_examples
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert torch.allclose(fused.input_vectors, reference.input_vectors, atol=1e-6)
    assert torch.allclose(fused.output_vectors, reference.output_vectors, atol=1e-6)


def test_fused_op_subsampling_drops_words_before_windowing():
    ids, sentence = np.array([1, 2, 3, 4, 5]), np.zeros(5)
    keep = torch.ones(30)
    keep[3] = 0.0  # word 3 never kept: 2 and 4 become neighbours
    tables = _tables()
    before = tables.input_vectors.clone()
    _, pairs = call_op(tables, ids, sentence, keep=keep, window=1, negative=1)
    assert pairs == 6  # 1-2, 2-1, 2-4, 4-2, 4-5, 5-4
    assert torch.equal(tables.input_vectors[3], before[3])
    assert call_op(_tables(), ids, sentence, keep=torch.zeros(30), negative=1)[1] == 0


def test_fused_op_windows_shrink_and_full_windows_only():
    ids, sentence = _text(n=20_000, sentences=1)
    full = call_op(_tables(), ids, sentence, window=5, negative=1)[1]
    shrunk = call_op(_tables(), ids, sentence, window=5, negative=1, shrink_windows=True)[1]
    assert full == 2 * 5 * 20_000 - 2 * (1 + 2 + 3 + 4 + 5)
    assert 0.58 < shrunk / full < 0.62  # E[2 r] = 6 of 10 slots
    five = np.zeros(5)
    assert call_op(_tables(), [1, 2, 3, 4, 5], five, window=2, full_windows_only=True)[1] == 4
    assert call_op(_tables(), [1, 2, 3], five[:3], window=2, full_windows_only=True)[1] == 0


def test_fused_op_slot_subsampling_keeps_the_text_and_drops_slots():
    ids, sentence = np.array([1, 2, 3, 4, 5]), np.zeros(5)
    keep = torch.ones(30)
    assert call_op(_tables(), ids, sentence, keep=keep, window=1, subsample_slots=True)[1] == 8
    keep[3] = 0.0  # word 3 is neither a centre nor a context, but still takes its place
    assert call_op(_tables(), ids, sentence, keep=keep, window=1, subsample_slots=True)[1] == 4


def test_fused_op_draws_noise_from_the_alias_tables():
    ids, sentence = _text(n=5_000, vocab=29, sentences=1)  # words 1..28
    tables = _tables()
    values = torch.tensor([0, 29])
    accept = torch.tensor([1.0, 0.0])  # slot 1 always takes its alias, word 0: never 29
    alias = torch.tensor([0, 0])
    call_op(tables, ids, sentence, noise=(values, accept, alias), window=1, negative=3)
    untouched = _tables()
    moved = {r for r in range(30)
             if not torch.equal(tables.output_vectors[r], untouched.output_vectors[r])}
    assert moved == set(np.unique(ids).tolist()) | {0}  # the centres and the noise word


@pytest.mark.parametrize("threads", [2, 4])
def test_fused_op_draws_do_not_depend_on_the_thread_count(threads):
    """With lr 0 the tables stay as they are, so the loss and the number of pairs are functions
    of the draws alone (windows, subsampling, noise words): any thread count must give them."""
    ids, sentence = _text(n=20_000, vocab=400, sentences=50)
    keep = torch.full((400,), 0.7)
    values = torch.arange(400)
    settings = dict(keep=keep, window=5, negative=3, shrink_windows=True, lr=(0.0, 0.0),
                    noise=(values, torch.full((400,), 0.9), values.flip(0)))
    one = call_op(_tables(vocab=400, dim=16), ids, sentence, threads=1, seed=3, **settings)
    several = call_op(_tables(vocab=400, dim=16), ids, sentence, threads=threads, seed=3,
                  **settings)
    other_seed = call_op(_tables(vocab=400, dim=16), ids, sentence, threads=1, seed=4, **settings)
    assert several[1] == one[1] and several[0] == pytest.approx(one[0], rel=1e-9)
    assert other_seed[0] != pytest.approx(one[0], rel=1e-6)


@pytest.mark.parametrize("where", ["ids", "noise_values", "noise_alias"])
@pytest.mark.parametrize("value", [30, -1])
def test_fused_op_refuses_out_of_range_ids_before_touching_the_tables(where, value):
    ids, sentence = _text()
    noise = [torch.tensor([0, 1]), torch.ones(2), torch.tensor([0, 1])]
    if where == "ids":
        ids[13] = value
    else:
        noise[0 if where == "noise_values" else 2][1] = value
    tables = _tables()
    before = tables.input_vectors.clone(), tables.output_vectors.clone()
    with pytest.raises(RuntimeError, match=f"{where} holds word id {value} .*30 rows"):
        call_op(tables, ids, sentence, noise=tuple(noise))
    assert torch.equal(tables.input_vectors, before[0])
    assert torch.equal(tables.output_vectors, before[1])


def test_fused_op_checks_dtypes_shapes_and_layout():
    _fused()
    op = torch.ops.torch_w2v.train_chunk
    t = _tables()
    u, v = t.input_vectors.data, t.output_vectors.data
    ids, sent = torch.tensor([1, 2, 3], dtype=torch.int32), torch.zeros(3, dtype=torch.int64)
    keep, values = torch.ones(30), torch.tensor([0])
    accept, alias = torch.ones(1), torch.tensor([0])
    noise, no_paths = (values, accept, alias), (None, None, None)
    tree = huffman_tree(np.arange(1, 31))
    paths = tuple(map(torch.from_numpy, (tree.points, tree.codes, tree.lengths)))
    rest = dict(window=2, negative=1, cbow=False, cbow_mean=True, shrink_windows=True,
                subsample_slots=False, full_windows_only=False, seed=1, lr_start=0.1,
                lr_end=0.1, threads=1)
    with pytest.raises(RuntimeError, match="ids must be Int"):
        op(u, v, ids.long(), sent, keep, *noise, *no_paths, None, **rest)
    with pytest.raises(RuntimeError, match="input_vectors must be Float"):
        op(u.double(), v, ids, sent, keep, *noise, *no_paths, None, **rest)
    with pytest.raises(RuntimeError, match="one length"):
        op(u, v, ids, sent[:2], keep, *noise, *no_paths, None, **rest)
    with pytest.raises(RuntimeError, match="one probability per table row"):
        op(u, v, ids, sent, keep[:5], *noise, *no_paths, None, **rest)
    with pytest.raises(RuntimeError, match="contiguous"):
        op(u.t(), v.t(), ids, sent, keep, *noise, *no_paths, None, **rest)
    with pytest.raises(RuntimeError, match="output table must have 59 rows"):  # 30 + 29 nodes
        op(u, v, ids, sent, keep, *noise, *paths, None, **rest)
    with pytest.raises(RuntimeError, match="negative > 0 or the Huffman paths"):
        op(u, v, ids, sent, keep, None, None, None, *no_paths, None, **{**rest, "negative": 0})
    with pytest.raises(RuntimeError, match="noise tables come with negative > 0"):
        op(u, v, ids, sent, keep, None, None, None, *no_paths, None, **rest)
    with pytest.raises(RuntimeError, match="together"):
        op(u, v, ids, sent, keep, *noise, paths[0], None, None, None, **rest)
    with pytest.raises(RuntimeError, match="lockf must hold one value, or one per table row"):
        op(u, v, ids, sent, keep, *noise, *no_paths, torch.ones(3), **rest)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_op_registration_passes_opcheck(dtype):
    _fused()
    t = _tables()
    ids, sentence = _text()
    tree = huffman_tree(np.arange(1, 31))
    paths = tuple(map(torch.from_numpy, (tree.points, tree.codes, tree.lengths)))
    output = torch.zeros(30 + 29, 6, dtype=dtype)
    args = (t.input_vectors.data.to(dtype), output, torch.as_tensor(ids, dtype=torch.int32),
            torch.as_tensor(sentence), torch.ones(30), torch.tensor([0, 5]), torch.ones(2),
            torch.tensor([0, 5]), *paths, torch.full((30,), 0.5), 2, 2, True, True, True, False,
            False, 11, 0.05, 0.01, 2)
    torch.library.opcheck(torch.ops.torch_w2v.train_chunk.default, args)
    schema = str(torch.ops.torch_w2v.train_chunk.default._schema)
    assert "Tensor(a!) input_vectors" in schema and "Tensor(b!) output_vectors" in schema
    assert "Tensor? hs_points" in schema and "Tensor? lockf" in schema


# -- choosing a backend ---------------------------------------------------------------------

def test_auto_prefers_the_fused_steps():
    assert select_backend("auto", _config()).name == "fused"
    on_gpu = "fused_gpu" if torch.cuda.is_available() else "batched"  # no CUDA: not available
    assert select_backend("auto", _config("cuda")).name == on_gpu
    assert select_backend("auto", _config(max_norm=1.0)).name == "batched"
    assert select_backend("auto", _config("cuda", optimizer="sparse_adam")).name == "autograd"
    assert select_backend("auto", _config(dtype="bfloat16")).name == "fused"
    # the fused GPU kernel trains float32 only: bfloat16 on a GPU takes the batched step
    assert select_backend("auto", _config("cuda", dtype="bfloat16")).name == "batched"


@pytest.mark.parametrize("step,device,params,match", [
    ("fused", "cuda", SGD, "runs on cpu only, not on cuda"),
    ("fused_gpu", "cpu", SGD, "runs on cuda only, not on cpu"),
    ("fused_gpu", "cuda", {**SGD, "max_norm": 1.0}, "max_norm"),
    ("fused", "cpu", {**SGD, "max_norm": 1.0}, "max_norm"),
    ("batched", "cpu", {**SGD, "optimizer": "adam"}, "optimizer='adam'"),
    ("autograd", "cpu", SGD, "optimizer='sgd'"),
    ("fused_gpu", "cuda", {**SGD, "dtype": "bfloat16"}, "dtype='bfloat16'"),
    ("autograd", "cpu", {**SGD, "optimizer": "adam", "dtype": "bfloat16"}, "dtype='bfloat16'"),
    ("auto", "mps", SGD, "no backend trains"),
    ("warp", "cpu", SGD, "step must be"),
])
def test_a_backend_that_cannot_train_is_refused_with_the_reason(step, device, params, match):
    with pytest.raises(ValueError, match=match):
        select_backend(step, _config(device, **params))


def test_every_backend_declares_its_capabilities():
    assert backend_names() == ("fused_gpu", "fused", "batched", "autograd")
    for backend in BACKENDS:
        assert backend.summary and backend.devices
        assert {"skip-gram", "cbow"} <= backend.architectures
        assert {"negative", "hierarchical"} <= backend.objectives
        assert backend.default_batch_size(CPU, 10**6) >= 1024


def test_step_parameter_accepts_exactly_the_registered_backends(corpus):
    with pytest.raises(ValueError, match="step must be one of 'auto', 'fused_gpu', 'fused'"):
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

        def make_step(self, tables, params, distributions):
            step = super().make_step(tables, params, distributions)
            return lambda batch, lr, lr_end: calls.append(lr) or step(batch, lr, lr_end)

    monkeypatch.setattr(registry, "BACKENDS", (*registry.BACKENDS, Counting()))
    est = TorchWord2Vec(**FAST, step="counting").fit(corpus)
    assert calls and np.isfinite(est.wv.vectors).all()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "'counting' (the batched step, counting its calls)" in shown


def test_fused_op_refuses_a_huffman_path_into_a_one_word_tree():
    # one word: no inner node, so any point is out of bounds (the old bound max(rows - 1, 1)
    # let point 0 through and the op wrote past the output table)
    tables = EmbeddingTables(1, 4, output_rows=1)
    tree = SimpleNamespace(points=np.zeros((1, 1), np.int64), codes=np.zeros((1, 1), np.int8),
                           lengths=np.ones(1, np.int64))
    before = tables.output_vectors.clone()
    with pytest.raises(RuntimeError, match="hs_points holds word id 0"):
        call_op(tables, [0, 0, 0], [0, 0, 0], negative=1, tree=tree)
    assert torch.equal(tables.output_vectors, before)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fused_op_survives_any_small_arguments(data):
    """Edge shapes and ids: the op trains or raises a RuntimeError, and never writes outside
    the tables (a crash would kill the test process)."""
    words = data.draw(st.integers(1, 4))
    n = data.draw(st.integers(0, 6))
    ids = data.draw(st.lists(st.integers(-1, words), min_size=n, max_size=n))
    sentence = sorted(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    negative = data.draw(st.integers(0, 2))
    tree = None
    if data.draw(st.booleans()) or not negative:
        depth = data.draw(st.integers(0, 3))
        tree = SimpleNamespace(
            points=np.array(data.draw(st.lists(st.integers(-1, words), min_size=words * depth,
                                               max_size=words * depth)),
                            np.int64).reshape(words, depth),
            codes=np.zeros((words, depth), np.int8),
            lengths=np.array(data.draw(st.lists(st.integers(0, depth + 1), min_size=words,
                                                max_size=words)), np.int64))
    rows = words + (max(words - 1, 0) if tree is not None and negative else 0)
    rows = data.draw(st.sampled_from([rows, max(rows - 1, 0), rows + 1]))
    tables = EmbeddingTables(words, 3, output_rows=rows)
    noise = (torch.tensor(data.draw(st.lists(st.integers(-1, words), min_size=1, max_size=3))),
             None, None)
    noise = (noise[0], torch.ones(len(noise[0])), torch.zeros_like(noise[0]))
    try:
        call_op(tables, ids, sentence, negative=negative, tree=tree, noise=noise,
                window=data.draw(st.integers(1, 3)), cbow=data.draw(st.booleans()))
    except RuntimeError as err:
        assert "train_chunk" in str(err)
    assert torch.isfinite(tables.input_vectors).all()
