"""The training loop: epochs, then the chunks of each epoch, then a step per item.

    for epoch in epochs:
        for item in feed.epoch(corpus):                       # batches or chunks of text
            loss, examples, effective = step(item, lr_start, lr_end)
            if item.chunk_end: hooks.on_chunk_end(...)        # merges, checkpoints
        totals = hooks.epoch_totals(...)                     # distributed: every rank's sums
        hooks.on_epoch_end(...)                              # checks, checkpoints, callbacks

Everything else -- the progress bar, merging the ranks' tables, checkpoints, the divergence
check, the epoch's log line, users' callbacks -- is a hook (:class:`LoopHook`, or a
:class:`~torch_w2v.callbacks.Callback`), so the loop knows tensors, a feed and a step, not the
estimator. Hooks run in the order given.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

import torch

from .callbacks import Callback

__all__ = ["DivergenceCheck", "EpochLog", "LoopHook", "Position", "ProgressBar", "Schedule",
           "check_diverged", "linear_lr", "train_epochs"]

logger = logging.getLogger("torch_w2v")


def linear_lr(alpha: float, min_alpha: float, progress: float) -> float:
    """word2vec's learning rate: linear from ``alpha`` to ``min_alpha`` as ``progress`` goes 0 → 1.

    Examples
    --------
    >>> linear_lr(0.025, 0.0001, 0.5)
    0.01255
    """
    return alpha - (alpha - min_alpha) * min(max(progress, 0.0), 1.0)


@dataclass(frozen=True)
class Schedule:
    """The learning rate over a run: linear from ``alpha`` to ``min_alpha`` over ``total_words``
    raw words (all epochs).

    Examples
    --------
    >>> start, end = Schedule(0.025, 0.0001, total_words=1000).rates(words_done=500, words=500)
    >>> round(start, 5), round(end, 5)
    (0.01255, 0.0001)
    """

    alpha: float
    min_alpha: float
    total_words: int

    def rate(self, words_done: int) -> float:
        return linear_lr(self.alpha, self.min_alpha, words_done / max(self.total_words, 1))

    def rates(self, words_done: int, words: int) -> tuple:
        """The rate at the start and at the end of an item of ``words`` raw words."""
        return self.rate(words_done), self.rate(words_done + words)


@dataclass
class Position:
    """Where a run stands: what a checkpoint stores and where a resumed run starts.

    ``epoch`` is the epoch in progress (or the next to start) and ``chunks_done`` how many of its
    sampling chunks are trained; ``words_done`` counts the raw words of every epoch trained (by
    every rank: the learning rate follows it); the ``epoch_*`` fields accumulate that epoch's
    accounting up to the last chunk end; ``merges_done`` counts a distributed run's merges of
    the epoch (every rank's the same: a rank out of chunks joins the others' merges).
    """

    epoch: int = 1
    chunks_done: int = 0
    merges_done: int = 0
    words_done: int = 0
    epoch_words: int = 0
    epoch_loss: float = 0.0
    epoch_pairs: int = 0
    epoch_effective: int = 0
    epoch_seconds: float = 0.0
    history: list = field(default_factory=list)

    def state(self) -> dict:
        """Everything but the history, as a checkpoint stores it."""
        return {k: v for k, v in self.__dict__.items() if k != "history"}


class LoopHook(Callback):
    """A hook of the loop itself: a :class:`~torch_w2v.callbacks.Callback` that may also act
    after every step, finish the epoch's totals, and release what it holds when the loop ends
    however it ends."""

    def on_step_end(self, run, position: Position, lr: float, totals) -> None:
        """After every step; ``totals`` are the epoch's running sums (tensors)."""

    def epoch_totals(self, run, totals: list) -> list:
        """``[loss_sum, examples, effective_words, words]`` of the epoch, as the history should
        count them (a distributed run sums the ranks')."""
        return totals

    def close(self) -> None:
        """Called once the loop has ended, normally or not."""


class _EpochTotals:
    """An epoch's running sums on the training device (no host sync per step)."""

    def __init__(self, position: Position, device):
        self.loss = torch.tensor(position.epoch_loss, dtype=torch.float64, device=device)
        self.pairs = torch.tensor(position.epoch_pairs, dtype=torch.int64, device=device)
        self.effective = torch.tensor(position.epoch_effective, dtype=torch.int64, device=device)

    def add(self, loss, pairs, effective) -> None:
        self.loss += loss
        self.pairs += pairs
        self.effective += effective

    def mean_loss(self) -> float:
        return self.loss.item() / max(self.pairs.item(), 1)

    def record(self, position: Position, seconds: float) -> None:
        """Write the sums into ``position`` (a checkpoint may follow)."""
        position.epoch_loss, position.epoch_pairs = self.loss.item(), int(self.pairs.item())
        position.epoch_effective, position.epoch_seconds = int(self.effective.item()), seconds


def train_epochs(feed, corpus, step, schedule: Schedule, *, epochs: int, position: Position,
                 hooks=(), run=None, device="cpu") -> list:
    """Train for ``epochs`` passes over ``corpus``, one ``step`` per item of ``feed``.

    Parameters
    ----------
    feed : torch_w2v.sampling.BatchSampler or torch_w2v.sampling.ChunkFeed
        ``feed.epoch(corpus, skip_chunks=, epoch=)`` yields the items (batches or chunks) of
        an epoch, each with ``raw_words`` and ``chunk_end``.
    corpus : torch_w2v.corpus.EncodedCorpus or torch_w2v.streaming.StreamingCorpus
    step : callable
        ``step(item, lr_start, lr_end) -> (loss_sum, examples, effective_words)``
        (:meth:`torch_w2v.backends.Backend.make_step`).
    schedule : Schedule
    epochs : int
    position : Position
        Where the run starts (a resumed run's), updated as training goes.
    hooks : sequence of Callback
        Called in order (:class:`LoopHook` for the loop's own).
    run : object
        Passed to the hooks as their first argument.
    device : torch.device or str
        Where the step's sums live.

    Returns
    -------
    history : list of dict
        One entry per epoch: ``epoch``, ``loss`` (mean loss per example), ``pairs`` (examples:
        (context, centre) pairs for skip-gram, windows for CBOW), ``words`` (raw words),
        ``effective_words`` (in-vocabulary words that subsampling kept, as gensim counts
        them), ``seconds``, ``words_per_sec``, ``lr`` (at the epoch's end).
    """
    loop_hooks = [h for h in hooks if isinstance(h, LoopHook)]
    try:
        for hook in hooks:
            hook.on_train_begin(run)
        while position.epoch <= epochs:
            logs = _train_epoch(feed, corpus, step, schedule, position, hooks, loop_hooks, run,
                                device)
            for hook in hooks:
                hook.on_epoch_end(run, logs["epoch"], logs)
        for hook in hooks:
            hook.on_train_end(run, position.history)
    finally:
        for hook in loop_hooks:
            hook.close()
    return position.history


def _train_epoch(feed, corpus, step, schedule, position, hooks, loop_hooks, run, device) -> dict:
    """One epoch (or what is left of it after a checkpoint); returns its history entry, the
    position already at the next epoch."""
    epoch = position.epoch
    if position.chunks_done == 0:
        for hook in hooks:
            hook.on_epoch_begin(run, epoch)
    totals = _EpochTotals(position, device)
    start = time.perf_counter() - position.epoch_seconds
    lr = schedule.rate(position.words_done)
    for item in feed.epoch(corpus, skip_chunks=position.chunks_done, epoch=epoch):
        lr_start, lr_end = schedule.rates(position.words_done, item.raw_words)
        totals.add(*step(item, lr_start, lr_end))
        position.words_done += item.raw_words
        position.epoch_words += item.raw_words
        lr = lr_end
        for hook in loop_hooks:
            hook.on_step_end(run, position, lr_start, totals)
        if item.chunk_end:
            position.chunks_done += 1
            totals.record(position, time.perf_counter() - start)
            for hook in hooks:
                hook.on_chunk_end(run, position)
    sums = [totals.loss.item(), totals.pairs.item(), totals.effective.item(),
            position.epoch_words]
    for hook in loop_hooks:
        sums = hook.epoch_totals(run, sums)
    loss_sum, pairs, effective, words = sums
    seconds = time.perf_counter() - start
    logs = {"epoch": epoch, "loss": loss_sum / max(int(pairs), 1), "pairs": int(pairs),
            "words": int(words), "effective_words": int(effective), "seconds": seconds,
            "words_per_sec": words / max(seconds, 1e-9), "lr": lr}
    position.history.append(logs)
    position.epoch, position.chunks_done, position.epoch_words = epoch + 1, 0, 0
    position.epoch_loss, position.epoch_pairs, position.epoch_seconds = 0.0, 0, 0.0
    position.epoch_effective = 0
    return logs


# -- the loop's hooks ---------------------------------------------------------------------------

BLOWN_UP_NORM = 1e3  # word vectors of sane runs stay far below (measured: 1.5 to 15)
BLOWN_UP_LOSS = 3.0  # times an untrained model's loss: stop
RISING_LOSS = 1.5  # ... warn
MANY_NEGATIVES = 20  # more noise words per example than word2vec's advice


def check_diverged(tables, loss: float, epoch: int, lr: float, mode,
                   more_advice: str = "") -> None:
    """Raise ``FloatingPointError`` naming ``alpha`` if an epoch ended blown up: a loss that is
    not finite or over ``BLOWN_UP_LOSS`` times an untrained model's (under negative sampling,
    :meth:`~torch_w2v.modes.Mode.untrained_loss`), or a word vector longer than
    ``BLOWN_UP_NORM``; warn above ``RISING_LOSS`` times.

    Measured (5 epochs, gensim's lee corpus and a Zipf corpus, every mode, SGD and Adam): runs
    with alpha up to 0.1 end below an untrained model's loss with norms under 11; alpha=0.3 on
    lee ends its first epoch at 2.1 to 5.5 times it; alpha=1.5 at 15 to 130 times, or NaN.
    ``negative`` up to 200 trains on both corpora; 1000 diverges.
    """
    untrained = mode.untrained_loss()
    vectors = tables.input_vectors.detach().float()
    norm = float(vectors.norm(dim=1).max()) if len(vectors) else 0.0
    ratio = loss / untrained if untrained else 0.0
    advice = (f"the learning rate (alpha, {lr:g} at the end) is too large, or for the batched "
              "step batch_size; lower alpha (or batch_size) and fit again")
    if mode.negative > MANY_NEGATIVES:
        advice += (f"; or negative={mode.negative} is too many noise words: each update sums "
                   "that many terms (word2vec uses 5 to 20)")
    advice += more_advice
    start = f", an untrained model's {untrained:.3g}" if untrained else ""
    if (not math.isfinite(loss) or not math.isfinite(norm) or norm > BLOWN_UP_NORM
            or ratio > BLOWN_UP_LOSS):
        raise FloatingPointError(f"training diverged in epoch {epoch} (loss {loss:.4g}{start}; "
                                 f"longest word vector {norm:.3g}): {advice}")
    if ratio > RISING_LOSS:
        logger.warning("epoch %d ended with loss %.4g%s: training may be diverging; %s", epoch,
                       loss, start, advice)


class DivergenceCheck(LoopHook):
    """Stops a run whose epoch ended blown up (:func:`check_diverged`, its advice followed by
    ``more_advice``), before anything is saved or shown."""

    def __init__(self, tables, mode, more_advice: str = ""):
        self.tables, self.mode, self.more_advice = tables, mode, more_advice

    def on_epoch_end(self, run, epoch, logs):
        check_diverged(self.tables, logs["loss"], epoch, logs["lr"], self.mode,
                       self.more_advice)


class EpochLog(LoopHook):
    """One INFO line per epoch: loss, words, words/s and the learning rate at its end."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_epoch_end(self, run, epoch, logs):
        logger.info("epoch %d/%d: loss %.4f, %d words, %.0f words/s, lr %.6f", epoch,
                    self.epochs, logs["loss"], logs["words"], logs["words_per_sec"], logs["lr"])


class ProgressBar(LoopHook):
    """A tqdm bar over the run's raw words, with the epoch, the learning rate and the running
    loss; log lines are written above it."""

    REFRESH_SECONDS = 0.5

    def __init__(self, total_words: int, position: Position):
        from tqdm.auto import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        self.position = position
        self._display = contextlib.ExitStack()
        self.bar = self._display.enter_context(tqdm(
            total=total_words, initial=position.words_done, unit="word", unit_scale=True,
            dynamic_ncols=True, leave=True))
        with_handlers = [log for log in (logging.root, logger) if log.handlers]
        self._display.enter_context(logging_redirect_tqdm(loggers=with_handlers))
        self._shown = position.words_done
        self._last = time.perf_counter()

    def _advance(self) -> None:
        self.bar.update(self.position.words_done - self._shown)
        self._shown = self.position.words_done

    def on_step_end(self, run, position, lr, totals):
        now = time.perf_counter()
        if now - self._last > self.REFRESH_SECONDS:
            self._last = now
            self.bar.set_postfix(epoch=position.epoch, lr=f"{lr:.5f}", refresh=False,
                                 loss=f"{totals.mean_loss():.4f}")
            self._advance()

    def on_epoch_end(self, run, epoch, logs):
        self._advance()

    def close(self):
        self._display.close()
