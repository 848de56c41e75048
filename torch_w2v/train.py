"""The training loop: learning-rate schedule, update steps, loss accounting, progress, history.

It knows tensors, a model and a batch sampler, not the estimator; callbacks get the ``owner``
object they are handed (the estimator, when called from ``fit``).
"""
from __future__ import annotations

import logging
import math
import time

import torch
from tqdm.auto import tqdm

__all__ = ["linear_lr", "train_sgns"]

logger = logging.getLogger("torch_w2v")

_PROGRESS_REFRESH_SECONDS = 0.5


def linear_lr(alpha: float, min_alpha: float, progress: float) -> float:
    """word2vec's learning rate: linear from ``alpha`` to ``min_alpha`` as ``progress`` goes 0 → 1.

    Examples
    --------
    >>> linear_lr(0.025, 0.0001, 0.5)
    0.01255
    """
    return alpha - (alpha - min_alpha) * min(max(progress, 0.0), 1.0)


def _check_finite(loss: float, epoch: int, lr: float, batch_size: int) -> None:
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"training diverged in epoch {epoch} (loss is {loss}): the learning rate "
            f"(alpha, {lr:g} at the end) or batch_size ({batch_size}) is too large; "
            "lower alpha or batch_size and fit again"
        )


def train_sgns(model, sampler, corpus, *, epochs, alpha, min_alpha, update_cap=None,
               kernel=None, callbacks=(), owner=None, progress=False, start_epoch=1,
               words_done=0, history=(), checkpoint=None):
    """Train ``model`` with SGD for ``epochs`` passes over ``corpus``.

    Parameters
    ----------
    model : torch_w2v.model.SkipGramNS
    sampler : torch_w2v.sampling.BatchSampler
    corpus : torch_w2v.corpus.EncodedCorpus
    epochs : int
    alpha, min_alpha : float
        Learning rate decays linearly between them over all raw words of all epochs.
    update_cap : float, optional
        See :meth:`torch_w2v.model.SkipGramNS.sgd_step`.
    kernel : module, optional
        The compiled CPU op (:func:`torch_w2v.kernel.load_kernel`); None uses the batched
        PyTorch step.
    callbacks : sequence of torch_w2v.callbacks.Callback
    owner : object
        Passed to the callbacks as their first argument.
    progress : bool
        Show a tqdm bar with words/s and the running loss.
    start_epoch, words_done, history
        Where a resumed run starts: the first epoch to train, the raw words already trained
        (for the learning-rate schedule) and the earlier epochs' history.
    checkpoint : callable, optional
        ``checkpoint(epochs_done, words_done, history)``, called at the end of every epoch.

    Returns
    -------
    history : list of dict
        One entry per epoch: ``epoch``, ``loss`` (mean SGNS loss per pair), ``pairs``, ``words``
        (raw words), ``seconds``, ``words_per_sec``, ``lr`` (at the epoch's end).
    """
    total_words = corpus.raw_words * epochs
    history = list(history)
    lr = alpha
    for cb in callbacks:
        cb.on_train_begin(owner)
    bar = tqdm(total=total_words, initial=words_done, unit="word", unit_scale=True,
               disable=not progress, dynamic_ncols=True, leave=True)
    try:
        for epoch in range(start_epoch, epochs + 1):
            for cb in callbacks:
                cb.on_epoch_begin(owner, epoch)
            device = model.input_vectors.device
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            pairs = torch.zeros((), dtype=torch.int64, device=device)
            start = last_refresh = time.perf_counter()
            epoch_words = 0
            for batch in sampler.epoch(corpus):
                lr = linear_lr(alpha, min_alpha, words_done / total_words)
                if kernel is None:
                    batch_loss, batch_pairs = model.sgd_step(
                        batch.contexts, batch.context_mask, batch.targets, batch.target_mask, lr,
                        update_cap)
                else:
                    batch_loss, batch_pairs = model.fused_sgd_step(
                        kernel, batch.contexts, batch.context_mask, batch.targets,
                        batch.target_mask, lr)
                loss_sum += batch_loss
                pairs += batch_pairs
                words_done += batch.raw_words
                epoch_words += batch.raw_words
                if progress:
                    bar.update(batch.raw_words)
                    now = time.perf_counter()
                    if now - last_refresh > _PROGRESS_REFRESH_SECONDS:
                        last_refresh = now
                        bar.set_postfix(epoch=epoch, loss=f"{loss_sum.item() / max(pairs.item(), 1):.4f}",
                                        lr=f"{lr:.5f}", refresh=False)
            seconds = time.perf_counter() - start
            n_pairs = int(pairs.item())
            loss = loss_sum.item() / max(n_pairs, 1)
            _check_finite(loss, epoch, lr, sampler.batch_size)
            logs = {"epoch": epoch, "loss": loss, "pairs": n_pairs, "words": epoch_words,
                    "seconds": seconds, "words_per_sec": epoch_words / max(seconds, 1e-9),
                    "lr": lr}
            history.append(logs)
            if checkpoint is not None:
                checkpoint(epoch, words_done, history)
            logger.info("epoch %d/%d: loss %.4f, %d words, %.0f words/s, lr %.6f",
                        epoch, epochs, loss, epoch_words, logs["words_per_sec"], lr)
            for cb in callbacks:
                cb.on_epoch_end(owner, epoch, logs)
    finally:
        bar.close()
    for cb in callbacks:
        cb.on_train_end(owner, history)
    return history
