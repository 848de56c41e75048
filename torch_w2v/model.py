"""The skip-gram negative-sampling model: two embedding tables, their scores and loss.

The loss of one (context, centre) pair with noise words ``n_1..n_K`` is word2vec's

    -log sigmoid(u_c . v_centre) - sum_k log sigmoid(-u_c . v_{n_k})

where ``u`` are the input vectors (the word vectors users keep) and ``v`` the output vectors.
This equals ``BCEWithLogitsLoss`` (summed over the 1 + K logits) with label 1 for the centre and
0 for the noise words.

Examples
--------
>>> import torch
>>> model = SkipGramNS(vocab_size=10, vector_size=4, generator=torch.Generator().manual_seed(1))
>>> ctx = torch.tensor([[1, 2]]); ctx_mask = torch.tensor([[True, True]])
>>> tgt = torch.tensor([[3, 7, 8]]); tgt_mask = torch.ones(1, 3, dtype=torch.bool)
>>> loss_sum, pairs = model.sgd_step(ctx, ctx_mask, tgt, tgt_mask, lr=0.025)
>>> round(float(loss_sum) / float(pairs), 4)  # output vectors start at zero: 3 logits * log 2
2.0794
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SkipGramNS"]


class SkipGramNS(nn.Module):
    """Input and output embedding tables trained with skip-gram negative sampling.

    Parameters
    ----------
    vocab_size, vector_size : int
    generator : torch.Generator, optional
        Seeds the initialisation: input vectors uniform in ``[-1/d, 1/d)`` (gensim's rule),
        output vectors zero (word2vec's and gensim's).
    """

    def __init__(self, vocab_size: int, vector_size: int, generator=None):
        super().__init__()
        init = torch.rand(vocab_size, vector_size, generator=generator)
        init.mul_(2).sub_(1).div_(vector_size)  # in place: no table-sized temporaries
        self.input_vectors = nn.Parameter(init, requires_grad=False)
        self.output_vectors = nn.Parameter(torch.zeros(vocab_size, vector_size),
                                           requires_grad=False)

    def scores(self, contexts, targets, max_norm=None, sparse=False):
        """Logits ``(B, C, 1 + K)``: each context word against its block's targets.

        ``max_norm`` renormalises the looked-up rows in place first (``nn.Embedding``'s
        option); ``sparse`` gives the tables sparse gradients (for ``SparseAdam``).
        """
        u = F.embedding(contexts, self.input_vectors, max_norm=max_norm, sparse=sparse)
        v = F.embedding(targets, self.output_vectors, max_norm=max_norm, sparse=sparse)
        return torch.bmm(u, v.transpose(1, 2))  # (B, C, d) @ (B, d, 1 + K)

    @staticmethod
    def pair_losses(logits, target_mask):
        """SGNS loss ``(B, 2W)`` of every (context, centre) pair from its ``(B, 2W, 1 + K)``
        logits; noise words masked out in ``target_mask`` ``(B, 1 + K)`` count nothing."""
        noise = F.softplus(logits[..., 1:]) * target_mask[:, None, 1:]
        return F.softplus(-logits[..., 0]) + noise.sum(-1)

    def forward(self, contexts, context_mask, targets, target_mask, max_norm=None, sparse=False):
        """Mean SGNS loss over the real pairs of a batch (differentiable; for autograd optimisers).

        Masked noise words contribute nothing, as in :meth:`sgd_step`.
        """
        logits = self.scores(contexts, targets, max_norm=max_norm, sparse=sparse)
        losses = self.pair_losses(logits, target_mask) * context_mask
        return losses.sum() / context_mask.sum().clamp(min=1)

    @torch.no_grad()
    def sgd_step(self, contexts, context_mask, targets, target_mask, lr: float,
                 update_cap: float | None = None, max_norm: float | None = None):
        """One plain-SGD step on the rows the batch touches, with word2vec's closed-form gradient.

        Every pair's gradient is taken at the batch's starting weights, then summed into the
        touched rows with ``index_add_`` (sparse; no dense optimiser state).

        With ``update_cap``, a row that more than ``update_cap`` logits of the batch update (a
        context slot has ``1 + K`` logits, a target slot one per context word) gets their summed
        step scaled by ``update_cap / logits``. Sequential SGD lets each of those
        steps see the previous ones; a summed step on a frequent word does not, and overshoots
        once a batch holds hundreds of its pairs. Rows below the cap (nearly all) get plain SGD.

        Returns
        -------
        loss_sum : Tensor
            Summed SGNS loss of the batch's real pairs, before the update (a 0-d tensor on the
            training device, so no host sync is forced).
        pairs : Tensor
            Number of real pairs.
        """
        # F.embedding gathers rows about twice as fast as advanced indexing on CPU
        u = F.embedding(contexts, self.input_vectors, max_norm=max_norm)  # (B, C, d)
        v = F.embedding(targets, self.output_vectors, max_norm=max_norm)  # (B, 1 + K, d)
        weight = context_mask.unsqueeze(2) & target_mask.unsqueeze(1)  # (B, C, 1 + K)
        g = torch.bmm(u, v.transpose(1, 2)).sigmoid_()  # (B, C, 1 + K): sigmoid(logit)
        # the loss read off the sigmoids: -log(sigmoid(s)) for the centre, -log(1 - sigmoid(s))
        # for noise words; clamped at 1e-7 (a pair loss above 16 counts as 16)
        likelihood = g.clone()
        likelihood[..., 1:].neg_().add_(1.0)
        loss_sum = likelihood.clamp_(min=1e-7).log_().mul_(weight).sum().neg_()
        # d(loss)/d(logit) = sigmoid(logit) - label; the step is lr * (label - sigmoid(logit))
        g.neg_()[..., 0] += 1.0
        g.mul_(weight).mul_(lr)
        d = u.shape[-1]
        contexts, targets = contexts.reshape(-1), targets.reshape(-1)
        step_u = torch.bmm(g, v).view(-1, d)  # (B * C, d)
        step_v = torch.bmm(g.transpose(1, 2), u).view(-1, d)  # (B * (1 + K), d)
        if update_cap:  # count the logits whose gradient lands in each row
            n_rows = self.input_vectors.shape[0]
            _cap_rows(step_u, contexts, weight.sum(2).reshape(-1), update_cap, n_rows)
            _cap_rows(step_v, targets, weight.sum(1).reshape(-1), update_cap, n_rows)
        self.input_vectors.index_add_(0, contexts, step_u)
        self.output_vectors.index_add_(0, targets, step_v)
        return loss_sum, context_mask.sum()

    @torch.no_grad()
    def fused_sgd_step(self, kernel, contexts, context_mask, targets, target_mask, lr: float):
        """The same step as :meth:`sgd_step` done block by block, in place, by the compiled CPU
        op of :mod:`torch_w2v.kernel` (each block's update lands before the next block is
        scored, so no ``update_cap`` is needed)."""
        loss = kernel.sgns_block_step(self.input_vectors, self.output_vectors, contexts,
                                      context_mask, targets, target_mask, lr)
        return torch.tensor(loss, dtype=torch.float64), context_mask.sum()


def _cap_rows(steps, rows, logits, cap: float, n_rows: int) -> None:
    """Scale ``steps`` in place so no row sums more than ``cap`` logits' worth of step.

    ``rows[i]`` is the table row that ``steps[i]`` updates on behalf of ``logits[i]`` logits.
    """
    per_row = torch.zeros(n_rows, device=rows.device, dtype=steps.dtype)
    per_row.index_add_(0, rows, logits.to(steps.dtype))
    scale = (cap / per_row.clamp_(min=cap))[rows]
    steps.mul_(scale.unsqueeze(1))
