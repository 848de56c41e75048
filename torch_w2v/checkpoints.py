"""Saving and loading fitted estimators and per-epoch checkpoints, through :mod:`.persist`.

A checkpoint is a model file plus the training state needed to continue exactly: where the run
stands (epoch, chunks of it trained, raw words trained for the learning-rate schedule, the
epoch's loss so far) and the random generator's state. Checkpoints are taken at chunk
boundaries, where every random draw for what was trained has been made. Resuming checks that
the corpus vocabulary and the training parameters are those of the interrupted run.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict

import numpy as np
import torch

from .fitted import FittedModel
from .modes import Mode
from .params import CODE_PARAMS
from .persist import load_state, save_state
from .train import Position
from .vocab import Vocabulary

__all__ = ["save_model", "load_model", "save", "latest", "restore", "check_writable",
           "CHECKPOINT_NAME"]

logger = logging.getLogger("torch_w2v")

CHECKPOINT_NAME = "checkpoint.npz"
# stored parameters that do not change what is trained
_FREE_PARAMS = {"progress", "workers", "checkpoint_dir", "device", "checkpoint_every"}


def _stored_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in CODE_PARAMS}


def _document(params, vocab, history, corpus_words) -> dict:
    from . import __version__

    return {"params": _stored_params(params), "words": list(vocab.index_to_key),
            "history": history, "corpus_words": int(corpus_words), "version": __version__}


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


def save_model(path, params: dict, fitted: FittedModel) -> None:
    """Write a fitted model and its parameters (see :meth:`TorchWord2Vec.save`)."""
    arrays = {"input_vectors": fitted.input_vectors, "output_vectors": fitted.output_vectors,
              "counts": fitted.vocab.counts}
    save_state(path, arrays, _document(params, fitted.vocab, fitted.history,
                                       fitted.corpus_words))


def load_model(path) -> tuple:
    """Read a model file: ``(params, FittedModel)``, on the CPU, its contents checked
    (:func:`check_document`); ``checkpoint_dir`` comes back None."""
    arrays, doc = load_state(path)
    check_document(path, arrays, doc)
    words, params = doc["words"], doc["params"]
    mode = Mode.from_params({"sg": 1, "hs": 0, "cbow_mean": 1, **params})  # older files: sg
    rows = {"input_vectors": len(words), "output_vectors": mode.output_rows(len(words))}
    for name, expected in rows.items():
        if arrays[name].shape != (expected, params["vector_size"]):
            raise ValueError(f"{path}: {name} has shape {arrays[name].shape}, expected "
                             f"({expected}, {params['vector_size']})")
    fitted = FittedModel(Vocabulary(words, arrays["counts"]), arrays["input_vectors"],
                         arrays["output_vectors"], doc["history"], doc["corpus_words"], "cpu")
    # a file does not choose where later fits write: checkpoint_dir is the loader's to set
    params = dict(doc["params"])
    if "checkpoint_dir" in params:
        params["checkpoint_dir"] = None
    return params, fitted


def check_document(path, arrays: dict, doc: dict) -> None:
    """Check what a model file holds as constructor input is checked: a digest proves the file
    is whole, not that whoever wrote it was careful (or honest). Raises ``ValueError``."""
    from .params import _CHECKS, validate_params

    def refuse(what):
        raise ValueError(f"{path} holds {what}: not a model torch_w2v wrote; refused")

    params = doc.get("params")
    if not isinstance(params, dict):
        refuse("no parameters")
    known = set(_CHECKS)
    if "_gensim_api" in params:  # a torch_w2v.Word2Vec: gensim's parameters too
        import inspect

        from .gensim_api import Word2Vec

        known |= set(inspect.signature(Word2Vec).parameters)
    unknown = sorted(k for k in params if k not in known and not k.startswith("_"))
    if unknown or any(k in params for k in CODE_PARAMS):
        refuse(f"unknown parameters {unknown or list(CODE_PARAMS)}")
    try:
        checked = {k: v for k, v in params.items() if k in _CHECKS}
        if "_gensim_api" in params and "sorted_vocab" in checked:  # gensim's 0/1
            checked["sorted_vocab"] = bool(checked["sorted_vocab"])
        validate_params(checked)
    except ValueError as err:
        refuse(f"an invalid parameter ({err})")
    words = doc.get("words")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        refuse("words that are not a list of strings")
    if len(set(words)) != len(words):
        refuse("a word twice")
    for name in ("input_vectors", "output_vectors", "counts"):
        if name not in arrays:
            refuse(f"no {name}")
    counts = arrays["counts"]
    if counts.shape != (len(words),) or counts.dtype.kind not in "iu" or (counts < 0).any():
        refuse(f"counts of shape {counts.shape} and type {counts.dtype} for {len(words)} words")
    for name in ("input_vectors", "output_vectors"):
        if arrays[name].dtype.kind != "f":
            refuse(f"{name} of type {arrays[name].dtype}")
    if not isinstance(doc.get("history"), list) or not isinstance(doc.get("corpus_words"), int):
        refuse("no history or corpus size")


def save(directory, params, vocab, model, generator, position, corpus_words) -> None:
    """Write the checkpoint of a run standing at ``position`` (a :class:`.train.Position`)."""
    arrays = {"input_vectors": model.input_vectors.detach().cpu().numpy(),
              "output_vectors": model.output_vectors.detach().cpu().numpy(),
              "counts": vocab.counts}
    doc = _document(params, vocab, position.history, corpus_words)
    doc.update(position={k: v for k, v in asdict(position).items() if k != "history"})
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
    ours = {k: v for k, v in _stored_params(params).items() if k not in _FREE_PARAMS}
    theirs = {k: v for k, v in doc["params"].items() if k not in _FREE_PARAMS}
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


def restore(checkpoint, model, generator) -> Position:
    """Load a checkpoint's tables and generator state (``generator`` is None for a backend
    whose draws follow from chunk seeds); returns where the loop starts."""
    arrays, doc = checkpoint
    with torch.no_grad():
        model.input_vectors.copy_(torch.from_numpy(arrays["input_vectors"]))
        model.output_vectors.copy_(torch.from_numpy(arrays["output_vectors"]))
    made_on = doc.get("generator_device")
    resumed_on = None if generator is None else str(generator.device)
    if made_on != resumed_on:
        logger.warning("checkpoint's random streams (%s) differ from this run's (%s), e.g. "
                       "another device or backend: the result differs from an uninterrupted "
                       "run", made_on or "chunk seeds", resumed_on or "chunk seeds")
    elif generator is not None:
        generator.set_state(torch.from_numpy(arrays["rng_state"]))
    position = Position(**doc["position"], history=doc["history"])
    logger.info("resuming in epoch %d after %d chunks (%d words trained)", position.epoch,
                position.chunks_done, position.words_done)
    return position
