import pytest
import torch
import torch.nn.functional as F

from torch_w2v.model import SkipGramNS


def _batch(seed=0, vocab=30, blocks=8, width=4, k=3):
    g = torch.Generator().manual_seed(seed)
    contexts = torch.randint(0, vocab, (blocks, width), generator=g)
    context_mask = torch.rand(blocks, width, generator=g) < 0.8
    context_mask[:, 0] = True
    targets = torch.randint(0, vocab, (blocks, 1 + k), generator=g)
    target_mask = torch.rand(blocks, 1 + k, generator=g) < 0.9
    target_mask[:, 0] = True
    return contexts, context_mask, targets, target_mask


def _model(vocab=30, dim=6, seed=0):
    model = SkipGramNS(vocab, dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # non-zero output vectors so every gradient term is exercised
        model.output_vectors.copy_(torch.randn(vocab, dim, generator=torch.Generator().manual_seed(1)) * 0.3)
    return model


def test_sgd_step_equals_autograd_gradient_step():
    batch = _batch()
    model, ref = _model(), _model()
    ref.input_vectors.requires_grad_(True)
    ref.output_vectors.requires_grad_(True)
    loss = ref(*batch) * batch[1].sum()  # summed loss
    loss.backward()
    lr = 0.05
    loss_sum, pairs = model.sgd_step(*batch, lr=lr)
    assert torch.allclose(loss_sum, loss.detach(), atol=1e-4)
    assert pairs == batch[1].sum()
    with torch.no_grad():
        assert torch.allclose(model.input_vectors, ref.input_vectors - lr * ref.input_vectors.grad, atol=1e-6)
        assert torch.allclose(model.output_vectors, ref.output_vectors - lr * ref.output_vectors.grad, atol=1e-6)


def test_loss_equals_bce_with_logits_on_same_labels():
    contexts, context_mask, targets, _ = _batch()
    target_mask = torch.ones_like(targets, dtype=torch.bool)
    model = _model()
    logits = model.scores(contexts, targets)
    labels = torch.zeros_like(logits)
    labels[..., 0] = 1
    bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").sum(-1)
    expected = (bce * context_mask).sum() / context_mask.sum()
    assert torch.allclose(model(contexts, context_mask, targets, target_mask), expected, atol=1e-6)


def test_update_cap_scales_only_rows_above_cap():
    # one block, every context slot is word 0: word 0 gets 4 slots x 4 logits = 16 logits
    contexts = torch.zeros(1, 4, dtype=torch.int64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    targets = torch.tensor([[1, 2, 3, 4]])
    tmask = torch.ones(1, 4, dtype=torch.bool)
    plain, capped = _model(), _model()
    before = plain.input_vectors.clone()
    plain.sgd_step(contexts, mask, targets, tmask, lr=0.1)
    capped.sgd_step(contexts, mask, targets, tmask, lr=0.1, update_cap=8)
    step_plain = plain.input_vectors[0] - before[0]
    step_capped = capped.input_vectors[0] - before[0]
    assert torch.allclose(step_capped, step_plain * 8 / 16, atol=1e-7)
    # the targets each get 4 logits (< 8): untouched by the cap
    assert torch.allclose(plain.output_vectors, capped.output_vectors)


def test_init_follows_gensim_rule():
    model = SkipGramNS(1000, 50, generator=torch.Generator().manual_seed(0))
    assert model.input_vectors.abs().max() <= 1 / 50
    assert model.input_vectors.std() > 0.5 / 50 / 3**0.5
    assert (model.output_vectors == 0).all()


def test_fused_kernel_equals_batched_step_block_by_block():
    from torch_w2v.kernel import load_kernel

    kernel = load_kernel()
    assert kernel is not None, "the fused CPU kernel must compile here"
    contexts, context_mask, targets, target_mask = _batch(blocks=12)
    fused, reference = _model(), _model()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loss, pairs = fused.fused_sgd_step(kernel, contexts, context_mask, targets, target_mask, 0.05)
    finally:
        torch.set_num_threads(threads)
    ref_loss = 0.0
    for b in range(12):  # the fused op applies each block before scoring the next
        s = slice(b, b + 1)
        l, _ = reference.sgd_step(contexts[s], context_mask[s], targets[s], target_mask[s], 0.05)
        ref_loss += float(l)
    assert float(loss) == pytest.approx(ref_loss, rel=1e-5)
    assert pairs == context_mask.sum()
    assert torch.allclose(fused.input_vectors, reference.input_vectors, atol=1e-6)
    assert torch.allclose(fused.output_vectors, reference.output_vectors, atol=1e-6)
