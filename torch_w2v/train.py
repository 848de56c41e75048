"""The training loop: learning-rate schedule, update steps, loss accounting, progress, history.

It knows tensors, a model, a batch sampler and a step function, not the estimator; callbacks get
the ``run`` object they are handed (a :class:`torch_w2v.run.TrainingRun` from ``fit``).
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

__all__ = ["linear_lr", "train_epochs", "Position"]

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


BLOWN_UP_NORM = 1e3  # word vectors of sane runs stay far below (measured: 1.5 to 15)
BLOWN_UP_LOSS = 3.0  # times an untrained model's loss: stop
RISING_LOSS = 1.5  # ... warn
MANY_NEGATIVES = 20  # more noise words per example than word2vec's advice


def check_diverged(model, loss: float, epoch: int, lr: float, mode=None) -> None:
    """Raise ``FloatingPointError`` naming ``alpha`` if an epoch ended blown up: a loss that is
    not finite or over ``BLOWN_UP_LOSS`` times an untrained model's (under negative sampling,
    :meth:`~torch_w2v.modes.Mode.untrained_loss`), or a word vector longer than
    ``BLOWN_UP_NORM``; warn above ``RISING_LOSS`` times.

    Measured (5 epochs, gensim's lee corpus and a Zipf corpus, every mode, SGD and Adam): runs
    with alpha up to 0.1 end below an untrained model's loss with norms under 11; alpha=0.3 on
    lee ends its first epoch at 2.1 to 5.5 times it; alpha=1.5 at 15 to 130 times, or NaN.
    ``negative`` up to 200 trains on both corpora; 1000 diverges.
    """
    untrained = mode.untrained_loss() if mode is not None else None
    norm = float(model.input_vectors.detach().norm(dim=1).max()) if len(
        model.input_vectors) else 0.0
    ratio = loss / untrained if untrained else 0.0
    advice = (f"the learning rate (alpha, {lr:g} at the end) is too large, or for the batched "
              "step batch_size; lower alpha (or batch_size) and fit again")
    if mode is not None and mode.negative > MANY_NEGATIVES:
        advice += (f"; or negative={mode.negative} is too many noise words: each update sums "
                   "that many terms (word2vec uses 5 to 20)")
    start = f", an untrained model's {untrained:.3g}" if untrained else ""
    if (not math.isfinite(loss) or not math.isfinite(norm) or norm > BLOWN_UP_NORM
            or ratio > BLOWN_UP_LOSS):
        raise FloatingPointError(f"training diverged in epoch {epoch} (loss {loss:.4g}{start}; "
                                 f"longest word vector {norm:.3g}): {advice}")
    if ratio > RISING_LOSS:
        logger.warning("epoch %d ended with loss %.4g%s: training may be diverging; %s", epoch,
                       loss, start, advice)


@dataclass
class Position:
    """Where a run stands: what a checkpoint stores and where a resumed run starts.

    ``epoch`` is the epoch in progress (or the next to start) and ``chunks_done`` how many of its
    sampling chunks are trained; the ``epoch_*`` fields accumulate that epoch's loss accounting.
    """

    epoch: int = 1
    chunks_done: int = 0
    words_done: int = 0
    epoch_words: int = 0
    epoch_loss: float = 0.0
    epoch_pairs: int = 0
    epoch_effective: int = 0
    epoch_seconds: float = 0.0
    history: list = field(default_factory=list)


def train_epochs(model, feed, corpus, step, *, epochs, alpha, min_alpha, callbacks=(),
                 run=None, progress=False, position=None, checkpoint=None,
                 checkpoint_every=None, sync=None, mode=None):
    """Train ``model`` for ``epochs`` passes over ``corpus``, one ``step`` per item of ``feed``.

    Parameters
    ----------
    model : torch_w2v.model.EmbeddingTables
    feed : torch_w2v.sampling.BatchSampler or torch_w2v.sampling.ChunkFeed
        ``feed.epoch(corpus, skip_chunks=, epoch=)`` yields the items (batches or chunks) of
        an epoch, each with ``raw_words`` and ``chunk_end``.
    corpus : torch_w2v.corpus.EncodedCorpus or torch_w2v.streaming.StreamingCorpus
    step : callable
        ``step(item, lr_start, lr_end) -> (loss_sum, examples, effective_words)``
        (:meth:`torch_w2v.backends.Backend.make_step`).
    epochs : int
    alpha, min_alpha : float
        Learning rate decays linearly between them over all raw words of all epochs.
    callbacks : sequence of torch_w2v.callbacks.Callback
    run : object
        Passed to the callbacks as their first argument.
    progress : bool
        Show a tqdm bar with words/s and the running loss.
    position : Position, optional
        Where a resumed run starts (default: the beginning); updated as training goes, so the
        caller can show it to callbacks.
    checkpoint : callable, optional
        ``checkpoint(position)``, called at the end of every epoch and, with
        ``checkpoint_every``, at the first chunk boundary after every ``checkpoint_every`` raw
        words.
    sync : torch_w2v.distributed.EpochSync, optional
        Under ``torch.distributed``: called after every chunk and at the end of every epoch,
        which then reports the sums over the ranks.
    mode : torch_w2v.modes.Mode, optional
        The training mode: an epoch ending far above an untrained model's loss stops the run
        (:func:`check_diverged`).

    Returns
    -------
    history : list of dict
        One entry per epoch: ``epoch``, ``loss`` (mean loss per example), ``pairs`` (examples:
        (context, centre) pairs for skip-gram, windows for CBOW), ``words`` (raw words),
        ``effective_words`` (in-vocabulary words that subsampling kept, as gensim counts
        them), ``seconds``, ``words_per_sec``, ``lr`` (at the epoch's end).
    """
    pos = position or Position()
    total_words = corpus.raw_words * epochs
    lr = alpha
    next_checkpoint = _next_multiple(pos.words_done, checkpoint_every)
    for cb in callbacks:
        cb.on_train_begin(run)
    display = contextlib.ExitStack()  # closed when the loop ends, however it ends
    bar = display.enter_context(tqdm(total=total_words, initial=pos.words_done, unit="word",
                                     unit_scale=True, disable=not progress, dynamic_ncols=True,
                                     leave=True))
    if progress:  # log lines (epoch ends) above the bar, not glued to its end
        with_handlers = [log for log in (logging.root, logger) if log.handlers]
        display.enter_context(logging_redirect_tqdm(loggers=with_handlers))
    device = model.input_vectors.device
    try:
        while pos.epoch <= epochs:
            epoch = pos.epoch
            if pos.chunks_done == 0:
                for cb in callbacks:
                    cb.on_epoch_begin(run, epoch)
            loss_sum = torch.tensor(pos.epoch_loss, dtype=torch.float64, device=device)
            pairs = torch.tensor(pos.epoch_pairs, dtype=torch.int64, device=device)
            effective = torch.tensor(pos.epoch_effective, dtype=torch.int64, device=device)
            start = last_refresh = time.perf_counter() - pos.epoch_seconds
            for batch in feed.epoch(corpus, skip_chunks=pos.chunks_done, epoch=epoch):
                lr = linear_lr(alpha, min_alpha, pos.words_done / total_words)
                lr_end = linear_lr(alpha, min_alpha,
                                   (pos.words_done + batch.raw_words) / total_words)
                batch_loss, batch_pairs, batch_effective = step(batch, lr, lr_end)
                loss_sum += batch_loss
                pairs += batch_pairs
                effective += batch_effective
                pos.words_done += batch.raw_words
                pos.epoch_words += batch.raw_words
                if progress:
                    bar.update(batch.raw_words)
                    now = time.perf_counter()
                    if now - last_refresh > _PROGRESS_REFRESH_SECONDS:
                        last_refresh = now
                        bar.set_postfix(epoch=epoch, lr=f"{lr:.5f}", refresh=False,
                                        loss=f"{loss_sum.item() / max(pairs.item(), 1):.4f}")
                if batch.chunk_end:
                    pos.chunks_done += 1
                    if sync is not None:
                        sync.after_chunk()
                    if checkpoint is not None and next_checkpoint is not None \
                            and pos.words_done >= next_checkpoint:
                        pos.epoch_loss, pos.epoch_pairs = loss_sum.item(), int(pairs.item())
                        pos.epoch_effective = int(effective.item())
                        pos.epoch_seconds = time.perf_counter() - start
                        checkpoint(pos)
                        next_checkpoint = _next_multiple(pos.words_done, checkpoint_every)
            totals = [loss_sum.item(), pairs.item(), effective.item(), pos.epoch_words]
            if sync is not None:  # every rank's: the history is the whole run's
                totals = sync.end_epoch(*totals)
            seconds = time.perf_counter() - start
            loss_total, n_pairs, n_effective, words = totals
            n_pairs = int(n_pairs)
            loss = loss_total / max(n_pairs, 1)
            check_diverged(model, loss, epoch, lr, mode)
            logs = {"epoch": epoch, "loss": loss, "pairs": n_pairs, "words": int(words),
                    "effective_words": int(n_effective),
                    "seconds": seconds, "words_per_sec": words / max(seconds, 1e-9),
                    "lr": lr}
            pos.history.append(logs)
            pos.epoch, pos.chunks_done, pos.epoch_words = epoch + 1, 0, 0
            pos.epoch_loss, pos.epoch_pairs, pos.epoch_seconds = 0.0, 0, 0.0
            pos.epoch_effective = 0
            if checkpoint is not None:
                checkpoint(pos)
            logger.info("epoch %d/%d: loss %.4f, %d words, %.0f words/s, lr %.6f",
                        epoch, epochs, loss, logs["words"], logs["words_per_sec"], lr)
            for cb in callbacks:
                cb.on_epoch_end(run, epoch, logs)
    finally:
        display.close()
    for cb in callbacks:
        cb.on_train_end(run, pos.history)
    return pos.history


def _next_multiple(words_done: int, every):
    return None if not every else (words_done // every + 1) * every
