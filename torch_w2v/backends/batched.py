"""The batched step: PyTorch tensor ops on the whole batch, on any device, deterministic.

Every example's gradient is taken at the sub-step's starting weights (gather, ``bmm``), then
summed into the touched rows with ``index_add_`` (sparse; no dense optimiser state): word2vec's
closed-form SGD gradient of :func:`torch_w2v.model.logit_losses`, for skip-gram and CBOW, with
negative sampling, hierarchical softmax or both (:mod:`torch_w2v.modes`). bfloat16 tables are
read into float32, and each touched row gets its summed step in float32 and is written back
rounded stochastically (:func:`add_rows`).

Examples
--------
>>> import torch
>>> from torch_w2v.model import EmbeddingTables
>>> from torch_w2v.sampling import Batch
>>> tables = EmbeddingTables(10, 4, generator=torch.Generator().manual_seed(1))
>>> batch = Batch(torch.tensor([[1, 2]]), torch.tensor([[True, True]]), torch.tensor([[3, 7, 8]]),
...               torch.ones(1, 3, dtype=torch.bool), raw_words=3)
>>> from torch_w2v.modes import Mode
>>> loss_sum, pairs = sgd_step(tables, batch, lr=0.025, mode=Mode())
>>> round(float(loss_sum) / float(pairs), 4)  # output vectors start at zero: 3 logits * log 2
2.0794
"""
from __future__ import annotations

import struct

import torch
import torch.nn.functional as F

from ..model import block_losses, cbow_hidden
from ..modes import Mode
from .base import Backend

__all__ = ["SUB_STEP_PAIRS", "Batched", "add_rows", "sgd_step", "stochastic_bfloat16",
           "summed_step_batch_size"]

# A summed step scores its pairs from the same weights. Big batches are cheap to sample (on a GPU
# above all), but a summed step over more than a few thousand pairs loses quality (a frequent
# word's updates pile up; a small corpus gets few steps an epoch): measured on the wiki sample,
# WordSim353 0.25 at 2k-8k pairs, 0.17 at 131k. So a batch is applied in sub-steps of this many.
SUB_STEP_PAIRS = 8_192


class Batched(Backend):
    name = "batched"
    summary = "PyTorch tensor ops on the whole batch, any device, deterministic"
    devices = frozenset({"cpu", "cuda"})
    dtypes = frozenset({"float32", "bfloat16"})

    def default_batch_size(self, device, corpus_words):
        return summed_step_batch_size(device, corpus_words)

    def make_step(self, tables, config, distributions):
        mode, update_cap, max_norm = config.mode, config.update_cap, config.max_norm
        lockf = distributions.lockf_on(config.device)

        def sub_steps(batch, lr_start, lr_end):
            """The batch in sequential sub-steps of at most SUB_STEP_PAIRS pairs, the learning
            rate falling from one to the next."""
            parts = list(batch.split(SUB_STEP_PAIRS))
            loss_sum = pairs = 0
            for k, part in enumerate(parts):
                lr = lr_start + (lr_end - lr_start) * k / len(parts)
                loss, n = sgd_step(tables, part, lr, mode, update_cap=update_cap,
                                   max_norm=max_norm, lockf=lockf)
                loss_sum, pairs = loss_sum + loss, pairs + n
            return loss_sum, pairs, batch.effective_words

        return sub_steps


def summed_step_batch_size(device, corpus_words: int) -> int:
    """Pairs per batch for a step that sums a batch's updates: it needs many steps per epoch
    (at most ``corpus_words / 64`` pairs a batch) as well as big batches to be fast."""
    largest = 262_144 if device.type == "cuda" else 8_192
    return max(1_024, min(largest, corpus_words // 64))


@torch.no_grad()
def sgd_step(tables, batch, lr: float, mode: Mode, update_cap: float | None = None,
             max_norm: float | None = None, lockf: torch.Tensor | None = None):
    """One plain-SGD step of ``tables`` on the rows ``batch`` touches.

    ``lockf`` (gensim's ``vectors_lockf``, one value or one per word, on the tables' device)
    scales each input row's step (0 freezes it).

    With ``update_cap``, a row that more than ``update_cap`` logits of the batch update gets
    their summed step scaled by ``update_cap / logits``. Sequential SGD lets each of those
    steps see the previous ones; a summed step on a frequent word does not, and overshoots once
    a batch holds hundreds of its examples. Rows below the cap (nearly all) get plain SGD.

    Returns
    -------
    loss_sum, examples : Tensor
        Summed loss of the batch's examples before the update, and their number: (context,
        centre) pairs for skip-gram, blocks for CBOW (0-d tensors on the training device, so
        no host sync is forced).
    """
    contexts, context_mask = batch.contexts, batch.context_mask
    targets, target_mask = batch.targets, batch.target_mask
    labels = batch.label_matrix()
    # F.embedding gathers rows about twice as fast as advanced indexing on CPU
    u = F.embedding(contexts, tables.input_vectors, max_norm=max_norm).float()  # (B, C, d)
    v = F.embedding(targets, tables.output_vectors, max_norm=max_norm).float()  # (B, T, d)
    d = u.shape[-1]
    if mode.skip_gram:
        weight = context_mask.unsqueeze(2) & target_mask.unsqueeze(1)  # (B, C, T)
        logits = torch.bmm(u, v.transpose(1, 2))  # (B, C, T)
        loss_sum = (block_losses(logits, labels, target_mask) * context_mask).sum()
        examples = context_mask.sum()
        # d(loss)/d(logit) = sigmoid(logit) - label; the step is lr * (label - sigmoid(logit))
        g = labels.unsqueeze(1) - logits.sigmoid_()
        g.mul_(weight).mul_(lr)
        step_u = torch.bmm(g, v)  # (B, C, d)
        step_v = torch.bmm(g.transpose(1, 2), u)  # (B, T, d)
        logits_u, logits_v = weight.sum(2), weight.sum(1)  # logits whose step lands in a row
    else:  # CBOW: one hidden vector per block, its error handed to every context word
        blocks = context_mask.any(1)
        weight = target_mask & blocks.unsqueeze(1)  # (B, T)
        hidden = cbow_hidden(u, context_mask, mode.cbow_mean)  # (B, d)
        logits = torch.bmm(v, hidden.unsqueeze(2)).squeeze(2)  # (B, T)
        loss_sum = (block_losses(logits, labels, target_mask) * blocks).sum()
        examples = blocks.sum()
        g = (labels - logits.sigmoid_()).mul_(weight).mul_(lr)
        error = torch.bmm(g.unsqueeze(1), v).squeeze(1)  # (B, d)
        if not mode.cbow_mean:  # gensim: a summed window's error is spread over its words
            error = error / context_mask.sum(1, keepdim=True).clamp(min=1)
        step_u = error.unsqueeze(1) * context_mask.unsqueeze(2)  # (B, C, d)
        step_v = g.unsqueeze(2) * hidden.unsqueeze(1)  # (B, T, d)
        logits_u = context_mask * weight.sum(1, keepdim=True)
        logits_v = weight
    contexts, targets = contexts.reshape(-1), targets.reshape(-1)
    step_u, step_v = step_u.reshape(-1, d), step_v.reshape(-1, d)
    if update_cap:  # count the logits whose gradient lands in each row
        _cap_rows(step_u, contexts, logits_u.reshape(-1), update_cap,
                  tables.input_vectors.shape[0])
        _cap_rows(step_v, targets, logits_v.reshape(-1), update_cap,
                  tables.output_vectors.shape[0])
    if lockf is not None:  # gensim's vectors_lockf: the share of its step a word's row takes
        step_u.mul_(lockf[contexts % len(lockf)].unsqueeze(1))
    add_rows(tables.input_vectors, contexts, step_u, key=_key(lr, 0))
    add_rows(tables.output_vectors, targets, step_v, key=_key(lr, 1))
    return loss_sum, examples


def _key(lr: float, table: int) -> int:
    """A sub-step's rounding key: from its learning rate (one per sub-step, and the same for
    a resumed run at the same point) and the table."""
    return (struct.unpack("<I", struct.pack("<f", lr))[0] * 2 + table) * 0x632BE5AB


def add_rows(table: torch.Tensor, rows: torch.Tensor, steps: torch.Tensor, key: int = 0) -> None:
    """``table[rows] += steps``, the steps of a repeated row summed: ``index_add_`` for a
    float32 table; for a bfloat16 one the sums in float32 added to the rows in float32 and
    written back with :func:`stochastic_bfloat16` (``index_add_`` in bfloat16 rounds every add
    to nearest, and steps below half a unit vanish). ``key`` seeds the rounding."""
    if table.dtype != torch.bfloat16:
        table.index_add_(0, rows, steps)
        return
    unique, inverse = torch.unique(rows, return_inverse=True)
    summed = torch.zeros(len(unique), table.shape[1], device=table.device)
    summed.index_add_(0, inverse, steps.float())
    summed += table[unique].float()
    counters = unique.unsqueeze(1) * table.shape[1] + torch.arange(table.shape[1],
                                                                  device=table.device)
    table[unique] = stochastic_bfloat16(summed, counters + key)


def stochastic_bfloat16(values: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
    """float32 ``values`` as bfloat16 rounded stochastically: up with the probability of the
    cut bits' share of a unit, so the expected result is the float32 value. The 16 noise bits
    of each value are its int64 ``counter`` hashed (Fibonacci hashing, as the fused CPU op).

    Examples
    --------
    >>> x = torch.full((10000,), 1.0 + 2 ** -10)  # an eighth of a bfloat16 unit above 1
    >>> rounded = stochastic_bfloat16(x, torch.arange(10000)).float()
    >>> sorted(set(rounded.tolist())), round(float(rounded.mean()), 4) == round(1 + 2 ** -10, 4)
    ([1.0, 1.0078125], True)
    """
    noise = ((counters * 0x9E3779B1) & 0xFFFFFFFF) >> 16
    bits = values.contiguous().view(torch.int32).to(torch.int64) + noise
    return (bits >> 16).to(torch.int16).view(torch.bfloat16)


def _cap_rows(steps, rows, logits, cap: float, n_rows: int) -> None:
    """Scale ``steps`` in place so no row sums more than ``cap`` logits' worth of step.

    ``rows[i]`` is the table row that ``steps[i]`` updates on behalf of ``logits[i]`` logits.
    """
    per_row = torch.zeros(n_rows, device=rows.device, dtype=steps.dtype)
    per_row.index_add_(0, rows, logits.to(steps.dtype))
    scale = (cap / per_row.clamp_(min=cap))[rows]
    steps.mul_(scale.unsqueeze(1))
