import pytest
import torch
import torch.nn.functional as F

from torch_w2v.model import EmbeddingTables, block_losses, logit_losses, negative_labels
from torch_w2v.modes import Mode


def _batch(seed=0, vocab=30, blocks=8, width=4, k=3):
    g = torch.Generator().manual_seed(seed)
    contexts = torch.randint(0, vocab, (blocks, width), generator=g)
    context_mask = torch.rand(blocks, width, generator=g) < 0.8
    targets = torch.randint(0, vocab, (blocks, 1 + k), generator=g)
    return contexts, context_mask, targets


def test_loss_equals_bce_with_logits_on_same_labels():
    contexts, context_mask, targets = _batch()
    target_mask = torch.ones_like(targets, dtype=torch.bool)
    model = EmbeddingTables(30, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.output_vectors.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    logits = model.scores(contexts, context_mask, targets, mode=Mode())
    labels = torch.zeros_like(logits)
    labels[..., 0] = 1
    bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").sum(-1)
    expected = (bce * context_mask).sum() / context_mask.sum()
    loss = model(contexts, context_mask, targets, target_mask, mode=Mode())
    assert torch.allclose(loss, expected, atol=1e-6)


def test_logit_losses_stay_finite_and_exact_for_large_logits():
    s = torch.tensor([-200.0, -30.0, 0.0, 30.0, 200.0])
    positive = logit_losses(s, torch.ones(5))
    negative = logit_losses(s, torch.zeros(5))
    assert torch.isfinite(positive).all() and torch.isfinite(negative).all()
    assert torch.allclose(positive, torch.tensor([200.0, 30.0, 0.6931472, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(negative, positive.flip(0), atol=1e-6)


def test_masked_noise_words_cost_nothing():
    logits = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    all_in = torch.ones(2, 4, dtype=torch.bool)
    some_out = all_in.clone()
    some_out[0, 2] = False
    dropped = logit_losses(logits[0, :, 2], torch.zeros(3))
    labels = negative_labels(torch.zeros(2, 4))
    diff = block_losses(logits, labels, all_in) - block_losses(logits, labels, some_out)
    assert torch.allclose(diff[0], dropped) and (diff[1] == 0).all()


def test_init_follows_gensim_rule():
    model = EmbeddingTables(1000, 50, generator=torch.Generator().manual_seed(0))
    assert model.input_vectors.abs().max() <= 1 / 50
    assert model.input_vectors.std() > 0.5 / 50 / 3**0.5
    assert (model.output_vectors == 0).all()
    assert not model.input_vectors.requires_grad


def test_free_memory_honours_a_containers_cgroup_and_ulimit(tmp_path, monkeypatch):
    """The pre-check read the host's free memory only: a container's limit or ulimit -v let a
    fit start that the kernel then killed."""
    import resource

    from torch_w2v import model

    (tmp_path / "memory.max").write_text(str(3 << 30) + "\n")
    (tmp_path / "memory.current").write_text(str(1 << 30) + "\n")
    assert model._cgroup_left(str(tmp_path)) == 2 << 30
    (tmp_path / "memory.max").write_text("max\n")
    assert model._cgroup_left(str(tmp_path)) is None
    monkeypatch.setattr(model, "_cgroup_left", lambda: 2 << 30)
    assert model.available_bytes("cpu") <= 2 << 30
    monkeypatch.setattr(resource, "getrlimit", lambda which: (model._read_number_field(
        "/proc/self/status", "VmSize:") + (1 << 20), resource.RLIM_INFINITY))
    assert model.available_bytes("cpu") <= 1 << 20
    with pytest.raises(ValueError, match="GiB are free"):
        model.check_memory(100_000, 100, Mode(), "cpu")
