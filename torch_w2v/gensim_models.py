"""gensim's own ``Word2Vec`` models, both ways: read its ``.model`` files safely, convert live
models to and from :class:`torch_w2v.Word2Vec`.

gensim saves a model as a pickle, with its large arrays in ``.npy`` side files (``.npz`` when the
name ends in ``.gz`` or ``.bz2``). :func:`read_gensim_file` reads one without running code from
it: the pickle goes through an allow-list unpickler (:mod:`torch_w2v.safe_pickle`) that knows
NumPy's array constructors, a few builtins and gensim's model, vocabulary and ``KeyedVectors``
classes -- which become inert :class:`Record` objects holding their state, so none of gensim's
(or anyone's) code runs -- and the side files are read with ``allow_pickle=False`` after their
headers are checked against their sizes. :func:`gensim_state` then reads the state the way
every gensim version since 0.12 laid it out (``syn0``/``index2word``/``vocab`` of 1.x-3.x,
``trainables`` and ``vocabulary`` of 3.x, ``key_to_index`` and ``expandos`` of 4.x) and checks
it like constructor input. The same reader takes a live gensim model (:func:`gensim_state` on
the object itself), and :func:`to_gensim` builds a gensim model from a torch_w2v one.

Examples
--------
>>> import os, tempfile
>>> from gensim.models import Word2Vec as GensimWord2Vec
>>> from gensim.test.utils import common_texts
>>> path = os.path.join(tempfile.mkdtemp(), "gensim.model")
>>> GensimWord2Vec(common_texts, vector_size=8, min_count=1, hs=1, seed=3).save(path)
>>> state = gensim_state(read_gensim_file(path), path)
>>> state.words[:3], state.params["hs"], state.vectors.shape
(['system', 'graph', 'trees'], 1, (12, 8))
"""
from __future__ import annotations

import codecs
import collections
import os
from dataclasses import dataclass, field

import numpy as np
from smart_open import open as smart_open

from .params import params_of, plain, validate_params
from .persist import array_header
from .safe_pickle import load_pickle

__all__ = ["GensimState", "NotAWord2VecModel", "Record", "gensim_state", "is_pickle",
           "read_gensim_file", "to_gensim"]

# gensim's classes a Word2Vec model file holds, from 0.12 to 4.x
GENSIM_CLASSES = {
    "gensim.models.word2vec": ("Word2Vec", "Vocab", "Word2VecVocab", "Word2VecTrainables"),
    "gensim.models.keyedvectors": ("KeyedVectors", "Word2VecKeyedVectors",
                                   "EuclideanKeyedVectors", "Vocab", "CompatVocab"),
    "gensim.models.deprecated.word2vec": ("Word2Vec", "Vocab"),
    "gensim.models.deprecated.keyedvectors": ("KeyedVectors", "EuclideanKeyedVectors",
                                              "Vocab"),
}
KEYED_VECTORS = {"KeyedVectors", "Word2VecKeyedVectors", "EuclideanKeyedVectors"}
# a random generator's state: not needed (training draws from torch's generator), not kept
_RANDOM_STATE = {
    ("numpy.random", "__RandomState_ctor"), ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"), ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random.mtrand", "RandomState"), ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pcg64", "PCG64"), ("numpy.random._generator", "Generator"),
}


class NotAWord2VecModel(AttributeError):
    """A gensim file that holds something other than a ``Word2Vec`` model (gensim's own
    ``Word2Vec.load`` raises ``AttributeError`` there too)."""


class Record:
    """An object of a gensim class, as its state only: attributes, no methods, no code run.

    ``gensim_class`` is the class's dotted name."""

    gensim_class = ""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise ValueError(f"a {self.gensim_class} whose state is not a dict")
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<{self.gensim_class} record: {', '.join(sorted(self.__dict__))}>"


class _Discarded:
    """Stands for an object whose state is not needed (a NumPy random generator)."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


class _Reference:
    """A function named in the file (``hashfxn=hash``): kept as a name, never called."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<reference to {self.name}>"


def _reconstructor(cls, base, state):
    """``copyreg._reconstructor`` for records only (protocol 0/1 pickles of classes)."""
    if not (isinstance(cls, type) and issubclass(cls, Record)) or base is not object:
        raise ValueError(f"copyreg._reconstructor of {cls!r} from {base!r}")
    return cls.__new__(cls)


def _latin1_bytes(text, encoding="latin1"):
    """``_codecs.encode`` as Python 2 pickles use it: a str's bytes, in latin-1 only."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise ValueError(f"_codecs.encode of {type(text).__name__} in {encoding!r}")
    return text.encode("latin1")


def _allowed() -> dict:
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy's _reconstruct, as this numpy names it
    scalar = np.float32(0).__reduce__()[0]
    allowed = {
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "scalar"): scalar,
        ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
        ("copyreg", "_reconstructor"): _reconstructor, ("builtins", "object"): object,
        ("builtins", "int"): int, ("builtins", "long"): int, ("builtins", "float"): float,
        ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "hash"): _Reference("hash"),
        ("gensim.utils", "call_on_class_only"): _Reference("gensim.utils.call_on_class_only"),
        ("_codecs", "encode"): _latin1_bytes,
        ("collections", "defaultdict"): collections.defaultdict,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }
    allowed.update({key: _Discarded for key in _RANDOM_STATE})
    for module, names in GENSIM_CLASSES.items():
        for name in names:
            allowed[(module, name)] = type(name, (Record,), {"gensim_class": f"{module}.{name}"})
    return allowed


# -- reading a file ----------------------------------------------------------------------------

def is_pickle(path) -> bool:
    """Whether ``path`` holds a pickle (protocol 2 or later, as gensim writes), plain or
    gzip/bz2-compressed (as gensim's ``save`` compresses by the name's suffix); False for
    this project's model files (zip archives), whatever their name."""
    path = os.fspath(path)
    with smart_open(path, "rb", compression="disable") as f:
        head = f.read(3)
    if head[:1] == b"\x80":
        return True
    compression = ".gz" if head[:2] == b"\x1f\x8b" else ".bz2" if head == b"BZh" else None
    if compression is None:
        return False
    with smart_open(path, "rb", compression=compression) as f:
        return f.read(1) == b"\x80"


def read_gensim_file(path, mmap=None) -> Record:
    """The object a gensim ``save()`` wrote to ``path``, as records, its side files loaded
    (memory-mapped with ``mmap``, as gensim's ``load(mmap=...)``).

    Raises
    ------
    torch_w2v.safe_pickle.UnsafePickle
        If the pickle names anything a gensim model file does not hold.
    ValueError
        If it or a side file is damaged, or a side file holds objects.
    """
    path = os.fspath(path)
    with smart_open(path, "rb") as f:
        top = load_pickle(f, _allowed(), path, advice="no gensim Word2Vec model holds (torch_w2v "
                          "reads gensim's Word2Vec models only: not FastText, Doc2Vec, LDA, ...)")
    if not isinstance(top, Record):
        raise NotAWord2VecModel(f"{path} holds a pickled {type(top).__name__}, not a gensim "
                                "Word2Vec model")
    compressed = path.endswith((".gz", ".bz2"))
    if compressed and mmap:
        raise ValueError(f"{path} is compressed: it cannot be memory-mapped; load it with "
                         "mmap=None")
    _load_side_files(top, path, mmap, compressed)
    return top


def _load_side_files(record: Record, name: str, mmap, compressed: bool) -> None:
    """gensim's ``_load_specials``: the arrays saved beside the pickle, recursively."""
    lists = {key: record.__dict__.get(key) or [] for key in
             ("__recursive_saveloads", "__numpys", "__scipys", "__ignoreds")}
    for key, attributes in lists.items():
        if not isinstance(attributes, list) or not all(
                isinstance(a, str) and a.isidentifier() for a in attributes):
            raise ValueError(f"{name}: {key} lists {attributes!r}, not attribute names")
    if lists["__scipys"]:
        raise ValueError(f"{name}: sparse matrices ({lists['__scipys']}), which no Word2Vec "
                         "model holds")
    for attribute in lists["__recursive_saveloads"]:
        inner = record.__dict__.get(attribute)
        if not isinstance(inner, Record):
            raise ValueError(f"{name}: {attribute} is listed as a saved object but is not one")
        _load_side_files(inner, f"{name}.{attribute}", mmap, compressed)
    for attribute in lists["__numpys"]:
        side = f"{name}.{attribute}.{'npz' if compressed else 'npy'}"
        record.__dict__[attribute] = _side_array(side, mmap, compressed)
    for attribute in lists["__ignoreds"]:
        record.__dict__[attribute] = None


def _side_array(path: str, mmap, compressed: bool) -> np.ndarray:
    """A ``.npy`` (or ``.npz`` member ``val``) side file: numbers only, its header checked
    against its size before anything is allocated."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: the model's side file is missing (gensim saves large arrays "
                         "beside the model file: copy them along)")
    try:
        if compressed:
            with np.load(path, allow_pickle=False) as archive:
                return np.asarray(archive["val"])
        with open(path, "rb") as f:
            shape, dtype, declared = array_header(f)
            if dtype.hasobject:
                raise ValueError("it holds Python objects (a pickle)")
            if declared > os.path.getsize(path) - f.tell():
                raise ValueError(f"its header declares {shape} {dtype}, more than the file holds")
        return np.load(path, mmap_mode=mmap, allow_pickle=False)
    except (ValueError, OSError, KeyError) as err:
        raise ValueError(f"{path}: refused as a side file of a gensim model: {err}") from err


# -- the state, whatever the version ------------------------------------------------------------

@dataclass
class GensimState:
    """What a gensim ``Word2Vec`` holds that training continues from.

    Attributes
    ----------
    params : dict
        Its parameters under gensim's names (those torch_w2v shares), checked.
    words : list of str
        The vocabulary in its order.
    counts : ndarray of int64
    vectors : ndarray of float32, shape (len(words), vector_size)
    syn1neg, syn1 : ndarray or None
        The output tables of negative sampling and of hierarchical softmax.
    lockf : ndarray of float32
        ``vectors_lockf``: one value, or one per word.
    points, codes : list of ndarray or None
        Each word's Huffman path as gensim stored it (hierarchical softmax).
    extra : dict
        ``corpus_count``, ``corpus_total_words``, ``train_count``, ``total_train_time``,
        ``min_alpha_yet_reached``, ``running_training_loss`` where the file has them.
    """

    params: dict
    words: list
    counts: np.ndarray
    vectors: np.ndarray
    syn1neg: np.ndarray | None
    syn1: np.ndarray | None
    lockf: np.ndarray
    points: list | None = None
    codes: list | None = None
    extra: dict = field(default_factory=dict)


def _attr(obj, name, default=None):
    """An attribute of a record or of a live gensim object, without running its code."""
    if obj is None:
        return default
    if isinstance(obj, Record):
        return obj.__dict__.get(name, default)
    return vars(obj).get(name, default) if hasattr(obj, "__dict__") else default


def _class_name(obj) -> str:
    return obj.gensim_class if isinstance(obj, Record) else \
        f"{type(obj).__module__}.{type(obj).__qualname__}"


def gensim_state(model, source: str) -> GensimState:
    """Read a gensim ``Word2Vec`` (a :class:`Record` from a file, or a live model) of any
    version since 0.12 into a checked :class:`GensimState`.

    Raises
    ------
    NotAWord2VecModel
        If ``model`` is a ``KeyedVectors`` or anything but a ``Word2Vec``.
    ValueError
        If what it holds is inconsistent (the message names what and where).
    """
    kind = _class_name(model).rpartition(".")[2]
    if kind in KEYED_VECTORS:
        raise NotAWord2VecModel(
            f"{source} holds gensim KeyedVectors (word vectors only), not a Word2Vec model: "
            "torch_w2v.Word2Vec.load reads whole models; for the vectors, use gensim's "
            "KeyedVectors.load (a pickle: only files you trust) or save_word2vec_format")
    if kind != "Word2Vec":
        raise NotAWord2VecModel(f"{source} holds a {_class_name(model)}, not a gensim "
                                "Word2Vec model")
    keyed = _attr(model, "wv")
    keyed = model if keyed is None else keyed  # before 1.0 the model held the vectors itself
    parts = (model, _attr(model, "vocabulary"), _attr(model, "trainables"))
    words, counts, points, codes = _vocabulary(keyed, source)
    vectors = _first(keyed, "vectors", "syn0")
    params = _params(parts, vectors, source)
    state = GensimState(
        params=params, words=words, counts=counts,
        vectors=_table(vectors, "vectors", len(words), params["vector_size"], source),
        syn1neg=None, syn1=None,
        lockf=_lockf(_first(keyed, "vectors_lockf") if _attr(keyed, "vectors_lockf") is not None
                     else _first_of(parts, "vectors_lockf", "syn0_lockf"), len(words), source),
        points=points, codes=codes, extra=_extra(model))
    for table, on in (("syn1neg", params["negative"]), ("syn1", params["hs"])):
        if on:
            value = _first_of(parts, table)
            setattr(state, table, _table(value, table, len(words), params["vector_size"],
                                         source))
    return state


def _first(obj, *names):
    for name in names:
        value = _attr(obj, name)
        if value is not None:
            return value
    return None


def _first_of(parts, *names):
    for part in parts:
        value = _first(part, *names)
        if value is not None:
            return value
    return None


def _vocabulary(keyed, source: str) -> tuple:
    """Words in order, their counts and (if stored) Huffman paths, from 4.x's
    ``index_to_key``/``expandos`` or the older ``index2word``/``vocab`` of ``Vocab`` objects."""
    words = _first(keyed, "index_to_key", "index2word", "index2entity")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ValueError(f"{source}: the vocabulary is not a list of words")
    if len(set(words)) != len(words):
        raise ValueError(f"{source}: the vocabulary lists a word twice")
    expandos = _attr(keyed, "expandos")
    if isinstance(expandos, dict) and "count" in expandos:
        def stored(name):
            return expandos.get(name)
    else:
        vocab = _attr(keyed, "vocab")
        if not isinstance(vocab, dict) or set(vocab) != set(words):
            raise ValueError(f"{source}: the vocabulary's entries do not match its word list")
        entries = [vocab[w] for w in words]
        if any(_attr(e, "index") != i for i, e in enumerate(entries)):
            raise ValueError(f"{source}: the vocabulary's indices are not its words' order")

        def stored(name):
            values = [_attr(e, name) for e in entries]
            return None if any(v is None for v in values) else values
    counts = stored("count")
    try:
        counts = np.asarray(counts, dtype=np.int64)
    except (TypeError, ValueError):
        counts = None
    if counts is None or counts.shape != (len(words),) or (counts < 0).any():
        raise ValueError(f"{source}: the vocabulary's counts are missing or not counts")
    points, codes = stored("point"), stored("code")
    if points is not None and codes is not None and len(points) == len(words):
        points = [np.asarray(p, dtype=np.int64) for p in points]
        codes = [np.asarray(c, dtype=np.int8) for c in codes]
    else:
        points = codes = None
    return list(words), counts, points, codes


def _params(parts, vectors, source: str) -> dict:
    """The parameters torch_w2v shares with gensim, where the file has them (older versions
    lack some: their defaults then), checked like constructor input."""
    params = {}
    for p in params_of("gensim"):
        if p.own or p.code:
            continue
        value = _first_of(parts, p.name)
        if p.name == "epochs" and value is None:
            value = _first_of(parts, "iter")  # before 4.0
        if value is None and p.name == "vector_size" and isinstance(vectors, np.ndarray):
            value = vectors.shape[-1]
        if value is not None or p.default is None:
            params[p.name] = plain(value) if value is not None else None
    params.pop("comment", None)
    for name in ("sg", "hs", "cbow_mean", "null_word"):  # stored as ints, as numpy ints
        if name in params and isinstance(params[name], (bool, np.bool_)):
            params[name] = int(params[name])
    if "sorted_vocab" in params:
        params["sorted_vocab"] = int(bool(params["sorted_vocab"]))
    defaults = {p.name: p.default_for("gensim") for p in params_of("gensim")}
    try:
        validate_params({**{k: v for k, v in defaults.items() if k not in ("sentences",
                                                                            "corpus_file")},
                         **params}, "gensim")
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from err
    return params


def _table(value, name: str, words: int, width: int, source: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise ValueError(f"{source}: {name} is missing or not an array of numbers")
    if value.shape != (words, width):
        raise ValueError(f"{source}: {name} has shape {value.shape}, expected ({words}, "
                         f"{width})")
    table = np.asarray(value, dtype=np.float32)
    if not np.isfinite(table).all():
        raise ValueError(f"{source}: {name} holds NaN or infinite values")
    return table


def _lockf(value, words: int, source: str) -> np.ndarray:
    if value is None:
        return np.ones(1, dtype=np.float32)
    lockf = np.asarray(value, dtype=np.float32).reshape(-1)
    if len(lockf) not in (1, words) or not np.isfinite(lockf).all():
        raise ValueError(f"{source}: vectors_lockf has {len(lockf)} values, expected 1 or "
                         f"{words}")
    return lockf


def _extra(model) -> dict:
    extra = {}
    for name in ("corpus_count", "corpus_total_words", "train_count", "total_train_time",
                 "min_alpha_yet_reached", "running_training_loss"):
        value = _attr(model, name)
        if isinstance(value, (int, float, np.integer, np.floating)) and \
                not isinstance(value, bool) and np.isfinite(value) and value >= 0:
            extra[name] = plain(value)
    return extra


# -- back to gensim ----------------------------------------------------------------------------

def to_gensim(model):
    """A gensim ``Word2Vec`` holding ``model``'s state (a :class:`torch_w2v.Word2Vec`):
    parameters, vocabulary in its order with its counts, vectors, output tables,
    ``vectors_lockf``; gensim can train it further, save it and load it."""
    from gensim.models import Word2Vec as GensimWord2Vec

    names = [p.name for p in params_of("gensim") if not p.own and not p.code
             and p.name not in ("comment",)]
    params = {name: getattr(model, name) for name in names}
    words = list(model.wv.index_to_key)
    counts = model.wv.expandos.get("count")
    if counts is None:
        raise RuntimeError("the model has no vocabulary yet: build_vocab (and train) first")
    target = GensimWord2Vec(**params)
    target.raw_vocab = dict(zip(words, (int(c) for c in counts)))
    target.sorted_vocab, sorted_vocab = 0, target.sorted_vocab  # keep this order exactly
    target.effective_min_count = target.min_count = min(int(counts.min()), model.min_count)
    target.prepare_vocab(min_count=target.min_count)
    target.sorted_vocab = sorted_vocab
    target.min_count = model.min_count
    target.prepare_weights()
    target.wv.vectors[:] = model.wv.vectors
    if model.negative:
        target.syn1neg[:] = model.syn1neg
    if model.hs:  # gensim trains and scores by wv's paths: the tree syn1 follows
        target.syn1[:] = model.syn1
        for name in ("point", "code"):
            target.wv.expandos[name] = model.wv.expandos[name].copy()
    target.wv.vectors_lockf = np.array(model.wv.vectors_lockf, dtype=np.float32)
    for name in ("corpus_count", "corpus_total_words"):
        setattr(target, name, getattr(model, name))
    return target
