"""The word2vec model: two embedding tables, their scores, and the loss formula.

Every logit ``s`` of a block (a context word's input vector against one target's output vector)
has a label: 1 for the centre word, 0 for a noise word. Its loss is binary cross-entropy with
logits, :func:`logit_losses`::

    softplus(s) - label * s  =  -log sigmoid(s) for label 1,  -log sigmoid(-s) for label 0

so a (context, centre) pair with noise words ``n_1..n_K`` costs word2vec's
``-log sigmoid(u_c . v_centre) - sum_k log sigmoid(-u_c . v_{n_k})``. This is the one place the
formula is written in Python; the compiled backends compute the same expression and their tests
compare them with it.

Examples
--------
>>> import torch
>>> model = SkipGramNS(vocab_size=10, vector_size=4, generator=torch.Generator().manual_seed(1))
>>> ctx = torch.tensor([[1, 2]]); ctx_mask = torch.tensor([[True, True]])
>>> tgt = torch.tensor([[3, 7, 8]]); tgt_mask = torch.ones(1, 3, dtype=torch.bool)
>>> round(float(model(ctx, ctx_mask, tgt, tgt_mask)), 4)  # output vectors start at zero: 3 log 2
2.0794
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SkipGramNS", "logit_losses", "pair_losses"]


def logit_losses(logits, labels):
    """Loss of each logit: ``softplus(logits) - labels * logits`` (BCE with logits).

    Examples
    --------
    >>> s = torch.tensor([2.0, -1.0])
    >>> torch.allclose(logit_losses(s, torch.tensor([1.0, 0.0])),
    ...                F.binary_cross_entropy_with_logits(s, torch.tensor([1.0, 0.0]),
    ...                                                   reduction="none"))
    True
    """
    return F.softplus(logits) - labels * logits


def pair_losses(logits, target_mask):
    """Loss ``(B, C)`` of every (context, centre) pair from its block's ``(B, C, 1 + K)`` logits.

    Column 0 of the targets is the centre (label 1), the others noise words (label 0); noise
    words masked out in ``target_mask`` ``(B, 1 + K)`` count nothing.
    """
    labels = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    labels[0] = 1.0
    return (logit_losses(logits, labels) * target_mask[:, None, :]).sum(-1)


class SkipGramNS(nn.Module):
    """Input and output embedding tables of skip-gram with negative sampling.

    The tables hold no gradient by default: the backends (:mod:`torch_w2v.backends`) update
    them in place; only the autograd recipe turns gradients on.

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

    def forward(self, contexts, context_mask, targets, target_mask, max_norm=None, sparse=False):
        """Mean loss over the real pairs of a batch (differentiable; for autograd optimisers and
        the validation loss). Masked context slots and noise words contribute nothing."""
        logits = self.scores(contexts, targets, max_norm=max_norm, sparse=sparse)
        losses = pair_losses(logits, target_mask) * context_mask
        return losses.sum() / context_mask.sum().clamp(min=1)
