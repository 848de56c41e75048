"""The fused GPU step as Triton kernels: one program per block, scored and updated in place.

A block is one centre word's context words (input vectors ``U``) and its targets (output
vectors ``V``, each with a label: the centre and noise words, or Huffman path nodes), as in
:class:`torch_w2v.sampling.Batch`. Each program loads its block's rows, scores the ``C x T``
logits (skip-gram) or its hidden vector's ``T`` logits (CBOW), and adds its SGD step to the rows
with atomic adds, from the values it read: the step of
the batched step for one block, applied as soon as the block is scored. Programs run
concurrently without locks (Hogwild, as the CPU op's threads do), so a block sees the updates of
the blocks that finished before it, not those of a whole batch. The loss of a logit ``s`` is
``softplus(s) - label * s`` (:func:`torch_w2v.model.logit_losses`).

The rows are processed ``BLOCK_D`` dimensions at a time in two passes (scores, then steps), which
bounds the registers a program needs at any vector size. ``TRITON_INTERPRET=1`` runs the same
kernel on CPU tensors (how the tests check it on machines without a GPU).

This module imports Triton; :mod:`torch_w2v.backends.gpu_fused` imports it only when a GPU run
asks for it.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["train_blocks"]


@triton.jit
def _block(U, V, contexts, context_mask, targets, target_mask, b, D, C: tl.constexpr,
           T: tl.constexpr, CP: tl.constexpr, TP: tl.constexpr):
    """Block ``b``'s target slots, which context and target slots are real, and the row
    pointers of its context (input) and target (output) words."""
    ci = tl.arange(0, CP)
    ti = tl.arange(0, TP)
    ctx = tl.load(contexts + b * C + ci, mask=ci < C, other=0)
    ctx_ok = tl.load(context_mask + b * C + ci, mask=ci < C, other=0) != 0
    tgt = tl.load(targets + b * T + ti, mask=ti < T, other=0)
    tgt_ok = tl.load(target_mask + b * T + ti, mask=ti < T, other=0) != 0
    return ti, ctx_ok, tgt_ok, U + ctx[:, None] * D, V + tgt[:, None] * D


@triton.jit
def _rows_slice(u_rows, v_rows, ctx_ok, tgt_ok, d0, D, BLOCK_D: tl.constexpr):
    """Columns ``d0 .. d0 + BLOCK_D`` of the block's rows: the column offsets, the masks of
    real values, and the context and target rows' values there (0 elsewhere)."""
    di = d0 + tl.arange(0, BLOCK_D)
    d_ok = di < D
    u_mask = ctx_ok[:, None] & d_ok[None, :]
    v_mask = tgt_ok[:, None] & d_ok[None, :]
    u = tl.load(u_rows + di[None, :], mask=u_mask, other=0.0)
    v = tl.load(v_rows + di[None, :], mask=v_mask, other=0.0)
    return di, u_mask, v_mask, u, v


@triton.jit
def _sigmoid_softplus(s):
    """sigmoid(s) and softplus(s) from one exp(-|s|), without overflow."""
    z = tl.exp(-tl.abs(s))
    return tl.where(s >= 0, 1.0 / (1.0 + z), z / (1.0 + z)), tl.log(1.0 + z) + tl.maximum(s, 0.0)


@triton.jit
def _locks(locks, b, C: tl.constexpr, CP: tl.constexpr, LOCKED: tl.constexpr):
    """The share of its step each context row of block ``b`` takes (gensim's lockf): (CP,)."""
    ci = tl.arange(0, CP)
    if LOCKED:
        return tl.load(locks + b * C + ci, mask=ci < C, other=0.0)
    return tl.full((CP,), 1.0, tl.float32)


@triton.jit
def _skip_gram_kernel(U, V, contexts, context_mask, targets, target_mask, labels, locks,
                      losses, lr, D: tl.constexpr, C: tl.constexpr, T: tl.constexpr,
                      CP: tl.constexpr, TP: tl.constexpr, BLOCK_D: tl.constexpr,
                      LOCKED: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    ti, ctx_ok, tgt_ok, u_rows, v_rows = _block(U, V, contexts, context_mask, targets,
                                                target_mask, b, D, C, T, CP, TP)
    lock = _locks(locks, b, C, CP, LOCKED)[:, None]
    label = tl.load(labels + b * T + ti, mask=ti < T, other=0.0)[None, :]
    # pass 1: the C x T logits
    s = tl.full((CP, TP), 0.0, tl.float32)
    for d0 in range(0, D, BLOCK_D):
        _, _, _, u, v = _rows_slice(u_rows, v_rows, ctx_ok, tgt_ok, d0, D, BLOCK_D)
        s += tl.sum(u[:, None, :] * v[None, :, :], axis=2)
    weight = (ctx_ok[:, None] & tgt_ok[None, :]).to(tl.float32)
    f, softplus = _sigmoid_softplus(s)
    tl.store(losses + b, tl.sum(tl.sum(weight * (softplus - label * s), axis=1), axis=0))
    g = weight * (label - f) * lr
    # pass 2: the steps, from the rows as they were read (one block's summed step)
    for d0 in range(0, D, BLOCK_D):
        di, u_mask, v_mask, u, v = _rows_slice(u_rows, v_rows, ctx_ok, tgt_ok, d0, D, BLOCK_D)
        step_u = tl.sum(g[:, :, None] * v[None, :, :], axis=1)
        step_v = tl.sum(g[:, :, None] * u[:, None, :], axis=0)
        tl.atomic_add(u_rows + di[None, :], step_u * lock, mask=u_mask)
        tl.atomic_add(v_rows + di[None, :], step_v, mask=v_mask)


@triton.jit
def _cbow_kernel(U, V, contexts, context_mask, targets, target_mask, labels, locks, losses, lr,
                 D: tl.constexpr, MEAN: tl.constexpr, C: tl.constexpr, T: tl.constexpr,
                 CP: tl.constexpr, TP: tl.constexpr, BLOCK_D: tl.constexpr,
                 LOCKED: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    ti, ctx_ok, tgt_ok, u_rows, v_rows = _block(U, V, contexts, context_mask, targets,
                                                target_mask, b, D, C, T, CP, TP)
    lock = _locks(locks, b, C, CP, LOCKED)[:, None]
    label = tl.load(labels + b * T + ti, mask=ti < T, other=0.0)
    count = tl.sum(ctx_ok.to(tl.float32), axis=0)
    scale = 1.0 / tl.maximum(count, 1.0) if MEAN else 1.0  # hidden = mean (or sum) of contexts
    # pass 1: the T logits of the hidden vector
    s = tl.full((TP,), 0.0, tl.float32)
    for d0 in range(0, D, BLOCK_D):
        _, _, _, u, v = _rows_slice(u_rows, v_rows, ctx_ok, tgt_ok, d0, D, BLOCK_D)
        hidden = tl.sum(u, axis=0) * scale
        s += tl.sum(v * hidden[None, :], axis=1)
    weight = tgt_ok.to(tl.float32) * (count > 0).to(tl.float32)
    f, softplus = _sigmoid_softplus(s)
    tl.store(losses + b, tl.sum(weight * (softplus - label * s), axis=0))
    g = weight * (label - f) * lr
    # pass 2: targets move along the hidden vector; every context word gets the error
    # (divided over a summed window's words, as gensim does)
    error_scale = 1.0 if MEAN else 1.0 / tl.maximum(count, 1.0)
    for d0 in range(0, D, BLOCK_D):
        di, u_mask, v_mask, u, v = _rows_slice(u_rows, v_rows, ctx_ok, tgt_ok, d0, D, BLOCK_D)
        hidden = tl.sum(u, axis=0) * scale
        error = tl.sum(g[:, None] * v, axis=0) * error_scale
        tl.atomic_add(v_rows + di[None, :], g[:, None] * hidden[None, :], mask=v_mask)
        tl.atomic_add(u_rows + di[None, :], lock * error[None, :], mask=u_mask)


def train_blocks(input_vectors: torch.Tensor, output_vectors: torch.Tensor, batch, lr: float,
                 mode, lockf: torch.Tensor | None = None):
    """Train every block of ``batch`` into the tables, in place; returns ``(loss_sum,
    examples)`` as 0-d tensors on the tables' device (no host sync).

    Parameters
    ----------
    input_vectors, output_vectors : Tensor, float32, contiguous
    batch : torch_w2v.sampling.Batch
        ``contexts`` (B, C) and ``targets`` (B, T) on the tables' device.
    lr : float
    mode : torch_w2v.modes.Mode
        Skip-gram or CBOW (the targets and labels carry the rest).
    lockf : Tensor, optional
        gensim's ``vectors_lockf`` on the tables' device: one value, or one per word, scaling
        each input row's step (0 freezes it).
    """
    if input_vectors.dtype != torch.float32 or output_vectors.dtype != torch.float32:
        raise TypeError("the fused GPU step trains float32 tables")
    if not (input_vectors.is_contiguous() and output_vectors.is_contiguous()):
        raise ValueError("the fused GPU step needs contiguous tables")
    contexts, targets = batch.contexts.contiguous(), batch.targets.contiguous()
    context_mask = batch.context_mask.contiguous()
    target_mask = batch.target_mask.contiguous()
    labels = batch.label_matrix().to(torch.float32).contiguous()
    blocks, width = contexts.shape
    n_targets = targets.shape[1]
    losses = torch.zeros(blocks, dtype=torch.float32, device=input_vectors.device)
    if blocks:
        dim = input_vectors.shape[1]
        locks = losses  # any pointer: not read unless LOCKED
        if lockf is not None:
            locks = lockf[contexts % len(lockf)].to(torch.float32).contiguous()
        args = (input_vectors, output_vectors, contexts, context_mask, targets, target_mask,
                labels, locks, losses, float(lr), dim)
        sizes = dict(C=width, T=n_targets, CP=triton.next_power_of_2(width),
                     TP=triton.next_power_of_2(n_targets),
                     BLOCK_D=min(64, triton.next_power_of_2(dim)), LOCKED=lockf is not None)
        if mode.skip_gram:
            _skip_gram_kernel[(blocks,)](*args, **sizes)
        else:
            _cbow_kernel[(blocks,)](*args, MEAN=mode.cbow_mean, **sizes)
    examples = context_mask.sum() if mode.skip_gram else context_mask.any(1).sum()
    return losses.sum(dtype=torch.float64), examples
