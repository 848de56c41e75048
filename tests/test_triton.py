"""The fused GPU step's Triton kernel against the batched step, block by block.

Without a GPU the kernel runs in Triton's interpreter on CPU tensors, so these tests run
everywhere Triton is installed; with one, on CUDA tensors. ``TRITON_INTERPRET`` must be set
before Triton is first imported (nothing else imports it on a machine without CUDA: the GPU
backend reports itself unavailable before it would)."""
import os

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

from torch_w2v.backends.batched import sgd_step  # noqa: E402
from torch_w2v.model import EmbeddingTables  # noqa: E402
from torch_w2v.modes import Mode  # noqa: E402
from torch_w2v.sampling import Batch  # noqa: E402

pytest.importorskip("triton")
MODE = Mode()
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="module")
def kernel():
    from torch_w2v.backends import triton_kernel

    return triton_kernel


def _tables(vocab, dim, seed=0):
    tables = EmbeddingTables(vocab, dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        tables.output_vectors.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    return tables


def _batch(blocks, width, targets, vocab, disjoint, seed=0, labels=False):
    g = torch.Generator().manual_seed(seed)
    if disjoint:  # no row shared between blocks: the order of blocks cannot matter
        contexts = torch.randperm(vocab, generator=g)[:blocks * width].view(blocks, width)
        tgt = torch.randperm(vocab, generator=g)[:blocks * targets].view(blocks, targets)
    else:  # repeats within and across blocks
        contexts = torch.randint(0, vocab, (blocks, width), generator=g)
        tgt = torch.randint(0, vocab, (blocks, targets), generator=g)
    context_mask = torch.rand(blocks, width, generator=g) < 0.8
    target_mask = torch.rand(blocks, targets, generator=g) < 0.9
    target_mask[:, 0] = True
    # labels=True: each target's own label, as Huffman paths have them
    label = (torch.rand(blocks, targets, generator=g) < 0.5).float() if labels else None
    return Batch(contexts, context_mask, tgt, target_mask, raw_words=blocks, labels=label)


def _on(batch, device):
    return Batch(batch.contexts.to(device), batch.context_mask.to(device),
                 batch.targets.to(device), batch.target_mask.to(device), batch.raw_words,
                 labels=None if batch.labels is None else batch.labels.to(device))


def _reference(tables, batch, lr, mode=MODE, lockf=None):
    loss = 0.0
    for b in range(len(batch.contexts)):
        s = slice(b, b + 1)
        block = Batch(batch.contexts[s], batch.context_mask[s], batch.targets[s],
                      batch.target_mask[s], raw_words=1,
                      labels=None if batch.labels is None else batch.labels[s])
        loss += float(sgd_step(tables, block, lr, mode, lockf=lockf)[0])
    return loss


MODES = {"skip-gram": Mode(), "cbow mean": Mode(skip_gram=False),
         "cbow sum": Mode(skip_gram=False, cbow_mean=False)}


@pytest.mark.parametrize("name", MODES)
@pytest.mark.parametrize("width,targets,dim,labels", [(2, 6, 16, False), (10, 6, 100, False),
                                                      (4, 3, 70, True)])
def test_kernel_equals_the_batched_step_block_by_block(kernel, name, width, targets, dim,
                                                       labels):
    mode = MODES[name]
    vocab = 64 * (width + targets)
    batch = _batch(64, width, targets, vocab, disjoint=True, labels=labels)
    ref, gpu = _tables(vocab, dim), _tables(vocab, dim)
    ref_loss = _reference(ref, batch, 0.05, mode)
    u, v = gpu.input_vectors.data.to(DEVICE), gpu.output_vectors.data.to(DEVICE)
    loss, examples = kernel.train_blocks(u, v, _on(batch, DEVICE), 0.05, mode)
    assert float(loss) == pytest.approx(ref_loss, rel=1e-5)
    real = batch.context_mask if mode.skip_gram else batch.context_mask.any(1)
    assert int(examples) == int(real.sum())
    assert torch.allclose(u.cpu(), ref.input_vectors, atol=1e-6)
    assert torch.allclose(v.cpu(), ref.output_vectors, atol=1e-6)


@pytest.mark.parametrize("name", MODES)
def test_kernel_honours_vectors_lockf_as_the_batched_step(kernel, name):
    """gensim's vectors_lockf scales each context row's step; 0 freezes the row."""
    mode, vocab = MODES[name], 64 * 12
    batch = _batch(64, 6, 6, vocab, disjoint=True, seed=4)
    lockf = torch.rand(vocab, generator=torch.Generator().manual_seed(5))
    lockf[::3] = 0
    ref, gpu = _tables(vocab, 16), _tables(vocab, 16)
    before = ref.input_vectors.detach().clone()
    _reference(ref, batch, 0.05, mode, lockf=lockf)
    u, v = gpu.input_vectors.data.to(DEVICE), gpu.output_vectors.data.to(DEVICE)
    kernel.train_blocks(u, v, _on(batch, DEVICE), 0.05, mode, lockf=lockf.to(DEVICE))
    assert torch.allclose(u.cpu(), ref.input_vectors, atol=1e-6)
    assert torch.allclose(v.cpu(), ref.output_vectors, atol=1e-6)
    frozen = lockf == 0
    assert torch.equal(u.cpu()[frozen], before[frozen])
    assert not torch.equal(u.cpu()[~frozen], before[~frozen])


@pytest.mark.skipif(DEVICE != "cpu", reason="programs run in order only in the interpreter")
def test_blocks_sharing_rows_apply_in_order_like_sequential_sgd(kernel):
    batch = _batch(40, 6, 4, vocab=20, disjoint=False, seed=3)
    ref, interpreted = _tables(20, 8), _tables(20, 8)
    ref_loss = _reference(ref, batch, 0.1)
    u, v = interpreted.input_vectors.data, interpreted.output_vectors.data
    loss, _ = kernel.train_blocks(u, v, batch, 0.1, MODE)
    assert float(loss) == pytest.approx(ref_loss, rel=1e-5)
    assert torch.allclose(u, ref.input_vectors, atol=1e-5)
    assert torch.allclose(v, ref.output_vectors, atol=1e-5)


def test_kernel_refuses_what_it_cannot_train(kernel):
    batch = _batch(4, 2, 3, vocab=40, disjoint=True)
    tables = _tables(40, 8)
    with pytest.raises(TypeError, match="float32"):
        kernel.train_blocks(tables.input_vectors.data.double(), tables.output_vectors.data,
                           batch, 0.1, MODE)
    with pytest.raises(ValueError, match="contiguous"):
        kernel.train_blocks(tables.input_vectors.data.t(), tables.output_vectors.data.t(),
                           batch, 0.1, MODE)
    empty = Batch(batch.contexts[:0], batch.context_mask[:0], batch.targets[:0],
                  batch.target_mask[:0], raw_words=0)
    loss, pairs = kernel.train_blocks(tables.input_vectors.data, tables.output_vectors.data,
                                     empty, 0.1, MODE)
    assert float(loss) == 0 and int(pairs) == 0


@pytest.mark.skipif(DEVICE != "cuda", reason="needs a CUDA device")
def test_a_gpu_fit_takes_the_fused_gpu_step_and_learns(corpus):
    from torch_w2v import TorchWord2Vec

    fast = dict(vector_size=16, min_count=2, epochs=5, progress=False)
    gpu = TorchWord2Vec(**fast, device="cuda").fit(corpus)
    cpu = TorchWord2Vec(**fast, device="cpu", workers=1).fit(corpus)
    assert np.isfinite(gpu.wv.vectors).all()
    assert gpu.history_[-1]["loss"] < gpu.history_[0]["loss"]
    assert gpu.history_[-1]["loss"] == pytest.approx(cpu.history_[-1]["loss"], rel=0.05)
