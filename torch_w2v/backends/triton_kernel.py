"""The fused GPU step as a Triton kernel: one program per block, scored and updated in place.

A block is one centre word's context words (input vectors ``U``) against its targets (output
vectors ``V``: the centre, label 1, then noise words, label 0), as in
:class:`torch_w2v.sampling.Batch`. Each program loads its block's rows, scores the ``C x T``
logits, and adds its SGD step to the rows with atomic adds, from the values it read: the step of
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

__all__ = ["sgns_blocks"]


@triton.jit
def _sgns_block_kernel(U, V, contexts, context_mask, targets, target_mask, losses, lr, D,
                       C: tl.constexpr, T: tl.constexpr, CP: tl.constexpr, TP: tl.constexpr,
                       BLOCK_D: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    ci = tl.arange(0, CP)
    ti = tl.arange(0, TP)
    ctx = tl.load(contexts + b * C + ci, mask=ci < C, other=0)
    ctx_ok = tl.load(context_mask + b * C + ci, mask=ci < C, other=0) != 0
    tgt = tl.load(targets + b * T + ti, mask=ti < T, other=0)
    tgt_ok = tl.load(target_mask + b * T + ti, mask=ti < T, other=0) != 0
    u_rows = U + ctx[:, None] * D
    v_rows = V + tgt[:, None] * D
    # pass 1: the C x T logits
    s = tl.full((CP, TP), 0.0, tl.float32)
    for d0 in range(0, D, BLOCK_D):
        di = d0 + tl.arange(0, BLOCK_D)
        d_ok = di < D
        u = tl.load(u_rows + di[None, :], mask=ctx_ok[:, None] & d_ok[None, :], other=0.0)
        v = tl.load(v_rows + di[None, :], mask=tgt_ok[:, None] & d_ok[None, :], other=0.0)
        s += tl.sum(u[:, None, :] * v[None, :, :], axis=2)
    weight = (ctx_ok[:, None] & tgt_ok[None, :]).to(tl.float32)
    label = (ti == 0).to(tl.float32)[None, :]
    z = tl.exp(-tl.abs(s))
    f = tl.where(s >= 0, 1.0 / (1.0 + z), z / (1.0 + z))  # sigmoid(s), without overflow
    loss = weight * (tl.log(1.0 + z) + tl.maximum(s, 0.0) - label * s)
    tl.store(losses + b, tl.sum(tl.sum(loss, axis=1), axis=0))
    g = weight * (label - f) * lr
    # pass 2: the steps, from the rows as they were read (one block's summed step)
    for d0 in range(0, D, BLOCK_D):
        di = d0 + tl.arange(0, BLOCK_D)
        d_ok = di < D
        u_mask = ctx_ok[:, None] & d_ok[None, :]
        v_mask = tgt_ok[:, None] & d_ok[None, :]
        u = tl.load(u_rows + di[None, :], mask=u_mask, other=0.0)
        v = tl.load(v_rows + di[None, :], mask=v_mask, other=0.0)
        step_u = tl.sum(g[:, :, None] * v[None, :, :], axis=1)
        step_v = tl.sum(g[:, :, None] * u[:, None, :], axis=0)
        tl.atomic_add(u_rows + di[None, :], step_u, mask=u_mask)
        tl.atomic_add(v_rows + di[None, :], step_v, mask=v_mask)


def sgns_blocks(input_vectors: torch.Tensor, output_vectors: torch.Tensor, batch, lr: float):
    """Train every block of ``batch`` into the tables, in place; returns ``(loss_sum, pairs)``
    as 0-d tensors on the tables' device (no host sync).

    Parameters
    ----------
    input_vectors, output_vectors : Tensor of shape (V, D), float32, contiguous
    batch : torch_w2v.sampling.Batch
        ``contexts`` (B, C) and ``targets`` (B, T) on the tables' device.
    lr : float
    """
    if input_vectors.dtype != torch.float32 or output_vectors.dtype != torch.float32:
        raise TypeError("the fused GPU step trains float32 tables")
    if not (input_vectors.is_contiguous() and output_vectors.is_contiguous()):
        raise ValueError("the fused GPU step needs contiguous tables")
    contexts, targets = batch.contexts.contiguous(), batch.targets.contiguous()
    context_mask = batch.context_mask.contiguous()
    target_mask = batch.target_mask.contiguous()
    blocks, width = contexts.shape
    n_targets = targets.shape[1]
    losses = torch.zeros(blocks, dtype=torch.float32, device=input_vectors.device)
    if blocks:
        dim = input_vectors.shape[1]
        _sgns_block_kernel[(blocks,)](
            input_vectors, output_vectors, contexts, context_mask, targets, target_mask,
            losses, float(lr), dim, C=width, T=n_targets, CP=triton.next_power_of_2(width),
            TP=triton.next_power_of_2(n_targets),
            BLOCK_D=min(64, triton.next_power_of_2(dim)))
    return losses.sum(dtype=torch.float64), context_mask.sum()
