"""Model files: what a saved model holds, and the checks that loading makes.

A model file (:mod:`torch_w2v.persist` writes and reads its bytes) holds the two embedding
tables, the word counts and one JSON document: the class that saved it, its parameters
(storable values only: no code, :func:`torch_w2v.params.stored_params`), the words, the
history, the corpus size and what the class keeps besides (``extra``). Loading checks the
contents as constructor input is checked: the caller names the parameters its class takes, so
this module knows no class. A model file is data: loading never reads another file, never
trains, never runs code.

Examples
--------
>>> import os, tempfile
>>> from torch_w2v.fitted import FittedModel
>>> from torch_w2v.vocab import Vocabulary
>>> import numpy as np
>>> fitted = FittedModel(Vocabulary(["a", "b"], [3, 2]), np.ones((2, 4), np.float32),
...                      np.zeros((2, 4), np.float32), [], 5)
>>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
>>> save_model(path, "TorchWord2Vec", {"vector_size": 4, "sg": 1, "hs": 0, "negative": 5}, fitted)
>>> saved = load_model(path, {"TorchWord2Vec": {"vector_size", "sg", "hs", "negative"}})
>>> saved.owner, saved.params["vector_size"], saved.fitted.vocab.index_to_key
('TorchWord2Vec', 4, ['a', 'b'])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._version import __version__
from .fitted import FittedModel
from .modes import Mode
from .params import PARAMS, stored_params, validate_params
from .persist import load_state, save_state
from .vocab import HuffmanTree, Vocabulary

__all__ = ["SavedModel", "document", "load_model", "save_model"]

_CODE = {p.name for p in PARAMS if p.code}


@dataclass
class SavedModel:
    """What a model file holds.

    Attributes
    ----------
    owner : str
        The class that saved it (``"TorchWord2Vec"`` or ``"Word2Vec"``).
    params : dict
        Its parameters (``checkpoint_dir`` None: a file does not choose where fits write).
    fitted : FittedModel
    extra : dict
        What the class keeps besides (the gensim facade's corpus sizes).
    """

    owner: str
    params: dict
    fitted: FittedModel
    extra: dict


def document(params: dict, vocab, history, corpus_words: int) -> dict:
    """The JSON document of a model file or a checkpoint."""
    return {"params": stored_params(params), "words": list(vocab.index_to_key),
            "history": history, "corpus_words": int(corpus_words), "version": __version__}


def save_model(path, owner: str, params: dict, fitted: FittedModel, extra=None) -> None:
    """Write a fitted model of class ``owner`` with its parameters, atomically."""
    arrays = {"input_vectors": fitted.input_vectors, "output_vectors": fitted.output_vectors,
              "counts": fitted.vocab.counts}
    lockf = fitted.lockf_for(len(fitted.vocab))
    if lockf is not None:  # gensim's vectors_lockf: rows frozen or slowed
        arrays["lockf"] = lockf
    if fitted.vocab.tree is not None:  # a tree not built from the counts (gensim's)
        arrays["hs_parent"], arrays["hs_branch"] = fitted.vocab.tree.parents()
    doc = document(params, fitted.vocab, fitted.history, fitted.corpus_words)
    save_state(path, arrays, {**doc, "class": owner, "extra": dict(extra or {})})


def load_model(path, classes: dict) -> SavedModel:
    """Read a model file saved by one of ``classes`` (class name → the names of the parameters
    it takes), its contents checked (:func:`check_document`); on the CPU.

    Raises
    ------
    ValueError
        If the file is not a whole torch_w2v model, holds what no model holds, or was saved by
        another class (the message names the loader to use).
    """
    arrays, doc = load_state(path)
    params = dict(doc.get("params") or {}) if isinstance(doc.get("params"), dict) else None
    legacy = params.pop("_gensim_api", None) if params else None  # torch_w2v 0.1's first files
    owner = doc.get("class") or ("Word2Vec" if legacy is not None else "TorchWord2Vec")
    if owner not in classes:
        where = "torch_w2v.Word2Vec.load" if owner == "Word2Vec" else "TorchWord2Vec.load"
        raise ValueError(f"{path} holds a torch_w2v {owner} model: load it with {where} (or "
                         "torch_w2v.load, which reads either)")
    extra = doc.get("extra") if "class" in doc else (legacy or {})
    check_document(path, arrays, {**doc, "params": params, "extra": extra},
                   set(classes[owner]), owner)
    words = doc["words"]
    mode = Mode.from_params({"sg": 1, "hs": 0, "cbow_mean": 1, **params})  # older files: sg
    rows = {"input_vectors": len(words), "output_vectors": mode.output_rows(len(words))}
    for name, expected in rows.items():
        if arrays[name].shape != (expected, params["vector_size"]):
            raise ValueError(f"{path}: {name} has shape {arrays[name].shape}, expected "
                             f"({expected}, {params['vector_size']})")
    fitted = FittedModel(Vocabulary(words, arrays["counts"], tree=_tree(path, arrays, words)),
                         arrays["input_vectors"],
                         arrays["output_vectors"], doc["history"], doc["corpus_words"], "cpu",
                         lockf=_lockf(path, arrays, words))
    if "checkpoint_dir" in params:
        params["checkpoint_dir"] = None
    return SavedModel(owner, params, fitted, dict(extra))


def _lockf(path, arrays: dict, words: list):
    """The ``vectors_lockf`` a file stores (one value, or one per word), or None."""
    lockf = arrays.get("lockf")
    if lockf is None:
        return None
    if lockf.dtype.kind != "f" or lockf.ndim != 1 or len(lockf) not in (1, len(words)) or \
            not np.isfinite(lockf).all():
        raise ValueError(f"{path} holds a vectors_lockf of shape {lockf.shape} and type "
                         f"{lockf.dtype} for {len(words)} words: refused")
    return lockf.astype(np.float32)


def _tree(path, arrays: dict, words: list):
    """The Huffman tree a file stores (one imported from gensim), or None."""
    if "hs_parent" not in arrays and "hs_branch" not in arrays:
        return None
    parent, branch = arrays.get("hs_parent"), arrays.get("hs_branch")
    if parent is None or branch is None or parent.dtype.kind not in "iu" or \
            branch.dtype.kind not in "iu" or parent.shape != (max(2 * len(words) - 1, 0),):
        raise ValueError(f"{path} holds a damaged Huffman tree (hs_parent/hs_branch); refused")
    try:
        return HuffmanTree.from_parents(parent, branch)
    except ValueError as err:
        raise ValueError(f"{path}: its Huffman tree is {err}; refused") from None


def check_document(path, arrays: dict, doc: dict, known: set, owner: str) -> None:
    """Check what a model file of class ``owner`` holds as constructor input is checked
    (``known``: the parameters the loading class takes): a digest proves the file is whole, not
    that whoever wrote it was careful (or honest). Raises ``ValueError``."""

    def refuse(what):
        raise ValueError(f"{path} holds {what}: not a model torch_w2v wrote; refused")

    params = doc.get("params")
    if not isinstance(params, dict) or not isinstance(doc.get("extra"), dict):
        refuse("no parameters")
    unknown = sorted(k for k in params if k not in known or k in _CODE)
    if unknown:
        refuse(f"unknown parameters {unknown}")
    if "vector_size" not in params:
        refuse("no vector_size")
    try:
        validate_params(params, "gensim" if owner == "Word2Vec" else "estimator")
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
        if not np.isfinite(arrays[name]).all():
            refuse(f"NaN or infinite values in {name}")
    if not isinstance(doc.get("corpus_words"), int):
        refuse("no corpus size")
    _check_records(refuse, doc.get("history"), doc["extra"])


_HISTORY_NUMBERS = ("epoch", "loss", "pairs", "words", "effective_words")  # what code reads
_EXTRA = ("corpus_count", "corpus_total_words", "train_count", "effective_min_count",
          "min_alpha_yet_reached")  # what the gensim facade keeps besides


def _check_records(refuse, history, extra: dict) -> None:
    """The history (one dict of numbers per epoch) and the facade's extra numbers."""
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        refuse("a history that is not a list of epochs")
    for h in history:
        if not all(isinstance(h.get(k), (int, float)) and not isinstance(h.get(k), bool)
                   for k in _HISTORY_NUMBERS):
            refuse(f"a history entry without the numbers {list(_HISTORY_NUMBERS)}: {h!r:.200}")
    for name, value in extra.items():
        if name not in _EXTRA or not (value is None or isinstance(value, (int, float))
                                      and not isinstance(value, bool) and value >= 0):
            refuse(f"extra data {name}={value!r:.100} (only {list(_EXTRA)}, as numbers)")
