"""Training checkpoints: where a run stands, written so that an interrupted run continues exactly.

A checkpoint is a model file's document (:func:`torch_w2v.modelfile.document`) plus the training
state needed to continue: where the run stands (:class:`~torch_w2v.train.Position`: epoch,
chunks of it trained, raw words trained for the learning-rate schedule, the epoch's loss so far)
and the random generator's state. Checkpoints are taken at chunk boundaries, where every random
draw for what was trained has been made; :class:`Checkpointer` is the loop hook that takes them.
Resuming checks that the corpus vocabulary and the training parameters are those of the
interrupted run.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch

from .model import Float32Chunks
from .modelfile import document
from .params import trained_params
from .persist import load_state, save_state
from .train import LoopHook, Position

__all__ = ["CHECKPOINT_NAME", "Checkpointer", "check_writable", "latest", "restore", "save"]

logger = logging.getLogger("torch_w2v")

CHECKPOINT_NAME = "checkpoint.npz"


def check_writable(directory) -> None:
    """Raise ``ValueError`` before training if checkpoints cannot be written to ``directory``
    (created if missing), rather than after the first epoch.

    Examples
    --------
    >>> check_writable("/proc/no-such-place")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: checkpoint_dir '/proc/no-such-place' is not writable ...
    """
    import tempfile

    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise ValueError(f"checkpoint_dir {str(directory)!r} is not writable ({err.strerror}): "
                         "pick a directory you can write to, or checkpoint_dir=None") from None


def save(directory, params, vocab, tables, generator, position: Position,
         corpus_words, ranks: int = 1, rank_positions=None) -> None:
    """Write the checkpoint of a run of ``ranks`` processes standing at ``position``; mid-epoch,
    ``rank_positions`` holds where each rank stands (``Position.state()``, in rank order)."""
    arrays = {"input_vectors": Float32Chunks(tables.input_vectors),  # bfloat16: exact in float32
              "output_vectors": Float32Chunks(tables.output_vectors),
              "counts": vocab.counts}
    doc = document(params, vocab, position.history, corpus_words)
    doc.update(position=position.state(), ranks=int(ranks))
    if rank_positions is not None and position.chunks_done:
        doc["rank_positions"] = list(rank_positions)
    if generator is not None:  # a batch sampler's stream (chunk seeds need no state)
        arrays["rng_state"] = generator.get_state().numpy()
        doc["generator_device"] = str(generator.device)
    os.makedirs(directory, exist_ok=True)
    save_state(os.path.join(directory, CHECKPOINT_NAME), arrays, doc)


def latest(directory, params, vocab):
    """The checkpoint in ``directory`` as ``(arrays, document)``, or None if there is none.

    Raises
    ------
    ValueError
        If ``directory`` is None, or the checkpoint belongs to another corpus or parameters.
    """
    if not directory:
        raise ValueError("fit(resume=True) needs checkpoint_dir to say where the checkpoint is")
    path = os.path.join(directory, CHECKPOINT_NAME)
    if not os.path.exists(path):
        logger.info("no checkpoint in %s: training from the start", directory)
        return None
    arrays, doc = load_state(path)
    ours, theirs = trained_params(params), trained_params(doc["params"])
    changed = sorted(k for k in ours if ours[k] != theirs.get(k))
    if changed:
        raise ValueError(f"the checkpoint in {directory} was made with other parameters "
                         f"({', '.join(f'{k}={theirs.get(k)!r}' for k in changed)}); resume with "
                         "those, or use another checkpoint_dir")
    if doc["words"] != list(vocab.index_to_key) or not np.array_equal(arrays["counts"],
                                                                      vocab.counts):
        raise ValueError(f"the checkpoint in {directory} was made on another corpus (its "
                         "vocabulary differs); resume on the same corpus")
    return arrays, doc


def restore(checkpoint, tables, generator, ranks: int, local_words: int,
            rank: int = 0) -> Position:
    """Load a checkpoint's tables and generator state (``generator`` is None for a backend
    whose draws follow from chunk seeds); returns where the loop starts for rank ``rank`` of
    a run of ``ranks`` processes whose share of the corpus holds ``local_words`` raw words.

    An epoch-end checkpoint resumes with any number of ranks (the learning rate follows the
    epochs done, not one rank's words); a mid-epoch one only with the ranks that wrote it.

    Raises
    ------
    ValueError
        For a mid-epoch checkpoint of another number of ranks.
    """
    arrays, doc = checkpoint
    made_by = int(doc.get("ranks", 1))
    place = doc["position"]
    if doc.get("rank_positions") and made_by == ranks:  # mid-epoch: each rank's own words
        place = doc["rank_positions"][rank]
    position = Position(**place, history=doc["history"])
    if position.chunks_done == 0:  # at an epoch's start: the same point for any ranks
        position.words_done = (position.epoch - 1) * local_words
    elif made_by != ranks:
        raise ValueError(f"this checkpoint was written mid-epoch by {made_by} rank(s); this run "
                         f"has {ranks}: the shares and chunks of an epoch depend on the ranks, "
                         f"so resume it with {made_by}, or train again from the last epoch end "
                         "(checkpoint_every=None writes only those)")
    with torch.no_grad():
        tables.input_vectors.copy_(torch.from_numpy(arrays["input_vectors"]))
        tables.output_vectors.copy_(torch.from_numpy(arrays["output_vectors"]))
    made_on = doc.get("generator_device")
    resumed_on = None if generator is None else str(generator.device)
    if made_on != resumed_on:
        logger.warning("checkpoint's random streams (%s) differ from this run's (%s), e.g. "
                       "another device or backend: the result differs from an uninterrupted "
                       "run", made_on or "chunk seeds", resumed_on or "chunk seeds")
    elif generator is not None:
        generator.set_state(torch.from_numpy(arrays["rng_state"]))
    logger.info("resuming in epoch %d after %d chunks (%d words trained)", position.epoch,
                position.chunks_done, position.words_done)
    return position


class Checkpointer(LoopHook):
    """The loop hook that writes checkpoints: at the end of every epoch and, with ``every``,
    at the first chunk end after every ``every`` raw words.

    A checkpoint that cannot be written (a full disk, a lost mount) does not end the fit: the
    warning names it and the error, training goes on, and the last complete checkpoint stays in
    place (writes are atomic), so a later crash still resumes from it.

    Parameters
    ----------
    save : callable
        ``save(position)`` writes one (:func:`save` with the run's state bound).
    position : Position
        The run's, as the loop advances it.
    every : int, optional
    """

    def __init__(self, save, position: Position, every=None, directory=None):
        self.save = save
        self.path = os.path.join(directory, CHECKPOINT_NAME) if directory else "the checkpoint"
        self.position = position
        self.every = every
        self.next = self._after(position.words_done)

    def _after(self, words_done: int):
        return None if not self.every else (words_done // self.every + 1) * self.every

    def _write(self, position: Position) -> None:
        try:
            self.save(position)
        except OSError as err:
            logger.warning("torch_w2v: could not write %s at %d words trained (%s: %s); "
                           "training goes on, and the last complete checkpoint stays in place",
                           self.path, position.words_done, type(err).__name__,
                           err.strerror or err)

    def due(self, position: Position) -> bool:
        """Whether the chunk that ended at ``position`` is followed by a checkpoint."""
        return self.next is not None and position.words_done >= self.next

    def on_chunk_end(self, run, position):
        if self.due(position):
            self._write(position)
            self.next = self._after(position.words_done)

    def on_epoch_end(self, run, epoch, logs):
        self._write(self.position)
