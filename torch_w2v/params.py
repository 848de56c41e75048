"""Every parameter, declared once: the table that the estimator, the gensim facade, the command
line, validation, model files, checkpoints and the docs read.

A :class:`Param` says a parameter's name, default (and gensim's), how it is checked, its
``--help`` line and documentation, and how it behaves beyond one fit: whether changing it
changes what is trained (``free``), whether it holds code (``code``: never stored, never
compared) and whether it sets the tables' shapes (``reshapes``: ``partial_fit`` keeps it).
:func:`signature` and :func:`bind` make a class's constructor from the table, and
:func:`parameter_docs` its numpydoc ``Parameters`` section. Adding a parameter is one entry
here plus the code that uses it (:class:`torch_w2v.config.TrainingConfig` for training).

Examples
--------
>>> validate_params({"vector_size": 0})
Traceback (most recent call last):
...
ValueError: vector_size must be an integer >= 1, got 0
>>> [p.name for p in params_of("gensim")][:4]
['vector_size', 'alpha', 'window', 'min_count']
>>> stored_params({"checkpoint_dir": __import__("pathlib").Path("ckpt"), "trim_rule": len})
{'checkpoint_dir': 'ckpt'}
"""
from __future__ import annotations

import difflib
import inspect
import math
import numbers
import os
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["PARAMS", "Param", "bind", "fill_parameter_docs", "gensim_names", "parameter_docs",
           "parameters",
           "params_of", "plain", "reshaping", "resolve_device",
           "resolve_workers", "signature", "stored_params", "trained_params", "unknown_parameter",
           "validate_params"]

# -- checks: each raises a ValueError naming the parameter, what it takes and what it got ------


def _int(low=None, allow_none=False, below=None):
    def check(name, value):
        if value is None and allow_none:
            return
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not ok or (low is not None and value < low) or (below is not None and value >= below):
            bound = f" >= {low}" if low is not None else ""
            bound += f" and < {below}" if below is not None else ""
            none = " or None" if allow_none else ""
            raise ValueError(f"{name} must be an integer{bound}{none}, got {value!r}")
    return check


def _real(low=None, low_open=False, high=None, allow_none=False):
    def check(name, value):
        if value is None and allow_none:
            return
        ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
              and math.isfinite(value))
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            rel = ">" if low_open else ">="
            bound = f" {rel} {low}" if low is not None else ""
            bound += f" and <= {high}" if high is not None else ""
            none = " or None" if allow_none else ""
            raise ValueError(f"{name} must be a finite number{bound}{none}, got {value!r}")
    return check


def _bool(allow_none=False):
    def check(name, value):
        if not (isinstance(value, bool) or (value is None and allow_none)):
            none = " or None" if allow_none else ""
            raise ValueError(f"{name} must be True or False{none}, got {value!r}")
    return check


def _flag(name, value):
    """gensim's 0/1 switches (``sg``, ``hs``, ``cbow_mean``); True and False work too."""
    if value not in (0, 1) or isinstance(value, float):
        raise ValueError(f"{name} must be 0 or 1, got {value!r}")


def _choice(*options):
    def check(name, value):
        if value not in options:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, "
                             f"got {value!r}")
    return check


def _path_or_none(name, value):
    if value is not None and not isinstance(value, str) and not hasattr(value, "__fspath__"):
        raise ValueError(f"{name} must be a directory path or None, got {value!r}")


def _callable_or_none(name, value):
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a callable(word, count, min_count) or None, "
                         f"got {value!r}")


def _callbacks(name, value):
    from .callbacks import Callback

    if not isinstance(value, (list, tuple)) or not all(isinstance(c, Callback) for c in value):
        raise ValueError(f"{name} must be a list of torch_w2v.Callback instances, got {value!r}")


def _gensim_callbacks(name, value):
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a sequence of gensim CallbackAny2Vec, got {value!r}")


def _device(name, value):
    resolve_device(value)


def _step(name, value):
    from .backends import backend_names

    _choice("auto", *backend_names())(name, value)


def _null_word(name, value):
    if value not in (0, False):
        raise ValueError("null_word=1 pads a concatenating input layer, which Word2Vec has not "
                         "(gensim's Word2Vec ignores it too): leave null_word=0")


def _anything(name, value):
    """Accepted as gensim accepts it (a parameter without effect here warns instead)."""


def _text_or_none(name, value):
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or None, got {value!r}")


# -- storable values ----------------------------------------------------------------------------


def plain(value):
    """A value as files and JSON hold it: NumPy scalars as Python numbers, paths, devices and
    torch dtypes as strings.

    Examples
    --------
    >>> import numpy as np, pathlib, torch
    >>> plain(np.int64(20)), plain(np.float32(0.5)), plain(pathlib.Path("ckpt"))
    (20, 0.5, 'ckpt')
    >>> plain(torch.bfloat16)
    'bfloat16'
    """
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    if type(value).__name__ == "device" and type(value).__module__ == "torch":
        return str(value)
    if type(value).__name__ == "dtype" and type(value).__module__ == "torch":
        return str(value).removeprefix("torch.")
    return value


# -- the table ------------------------------------------------------------------------------------

SAME = object()  # gensim's default is this project's
ABSENT = object()  # not a parameter of that class


@dataclass(frozen=True)
class Param:
    """One parameter.

    Attributes
    ----------
    name : str
    default : object
        :class:`~torch_w2v.TorchWord2Vec`'s default.
    type : str
        Its type as the docs write it (``"int"``, ``"{1, 0}"``).
    check : callable
        ``check(name, value)`` raises a ``ValueError`` naming what is wrong.
    help : str
        One line for ``--help``.
    doc : str
        The numpydoc entry's text.
    cli : callable or None
        Parses a command-line value into the parameter's; None: no flag (code).
    gensim : object
        ``torch_w2v.Word2Vec``'s default (``SAME``: the same; ``ABSENT``: not its parameter).
    estimator : bool
        A parameter of :class:`~torch_w2v.TorchWord2Vec`.
    free : bool
        Changing it changes nothing trained: a resumed run and distributed ranks may differ.
    code : bool
        Holds code: never written to files, never compared.
    reshapes : bool
        Sets the tables' shapes: ``partial_fit`` and continued training keep it.
    own : bool
        torch_w2v's own (not a parameter of gensim's ``Word2Vec``).
    """

    name: str
    default: Any
    type: str
    check: Callable[[str, Any], None]
    help: str
    doc: str
    cli: Callable | None = None
    gensim: Any = SAME
    estimator: bool = True
    free: bool = False
    code: bool = False
    reshapes: bool = False
    own: bool = False

    def default_for(self, owner: str):
        """The default in ``owner``'s constructor (``"estimator"`` or ``"gensim"``)."""
        return self.gensim if owner == "gensim" and self.gensim is not SAME else self.default


def _str2bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    import argparse

    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional(kind):
    """``kind``, or None for 'none'/'auto' (parameters whose default is None)."""
    def parse(text: str):
        return None if text.lower() in ("none", "auto") else kind(text)
    parse.__name__ = kind.__name__
    return parse


def _own(*args, **kwargs) -> Param:
    """A parameter of torch_w2v's own (not one of gensim's)."""
    return Param(*args, **kwargs, own=True)


def _step_help() -> str:
    from .backends import BACKENDS

    return "the backend: 'auto' (the first that can run), " + ", ".join(
        f"'{b.name}' ({b.summary})" for b in BACKENDS)


# In gensim's constructor order (its positional order), then torch_w2v's own parameters.
PARAMS = (
    Param("vector_size", 100, "int", _int(1), "dimensionality of the word vectors",
          "Dimensionality of the word vectors.", int, reshapes=True),
    Param("alpha", 0.025, "float", _real(0, low_open=True), "starting learning rate",
          "The starting learning rate; it decays linearly to ``min_alpha`` over all words of "
          "all epochs (with ``optimizer=\"adam\"``, Adam's learning rate). A run whose loss "
          "blows up stops with a ``FloatingPointError`` naming it.", float),
    Param("window", 5, "int", _int(1), "maximum distance between a centre and a context word",
          "Maximum distance between a centre word and a context word.", int),
    Param("min_count", 5, "int", _int(0), "ignore words seen fewer times",
          "Words seen fewer times are ignored (0 and 1 keep every word).", int),
    Param("max_vocab_size", None, "int", _int(1, allow_none=True),
          "prune rare words while counting beyond this many",
          "Prune the rarest words while counting whenever more than this many are held "
          "(gensim's memory cap for counting).", _optional(int)),
    Param("sample", 1e-3, "float", _real(0),
          "subsampling threshold for frequent words (0 disables it)",
          "Subsampling threshold for frequent words (word2vec's formula); 0 disables it; 1 or "
          "more is an absolute count (gensim's rule).", float),
    Param("seed", 1, "int", _int(0, below=2 ** 63),
          "random seed (same seed and --workers 1: same vectors)",
          "Seeds initialisation, subsampling, windows and noise words. Same seed, parameters "
          "and device give identical vectors.", int),
    Param("workers", None, "int", _int(1, allow_none=True),
          "threads of the fused CPU step (default: all cores)",
          "Threads of the fused CPU step, this fit's own (default: all cores); no process-wide "
          "setting changes, so fits in other threads keep theirs. With more than one, threads "
          "update shared rows without locks, as word2vec and gensim do: vectors then differ "
          "between runs at rounding level. ``workers=1`` (or ``step=\"batched\"``) gives "
          "bit-identical vectors for the same seed. The batched and autograd steps run on "
          "PyTorch's intra-op threads instead (``torch.set_num_threads``, which torch_w2v never "
          "changes).", _optional(int), gensim=3, free=True),
    Param("min_alpha", 0.0001, "float", _real(0), "final learning rate (linear decay)",
          "The learning rate at the end of the last epoch.", float),
    Param("sg", 1, "{1, 0}", _flag, "1 skip-gram, 0 CBOW",
          "1: skip-gram (each context word predicts the centre); 0: CBOW (the mean or sum of "
          "the context words predicts it; gensim's default, and ``torch_w2v.Word2Vec``'s).",
          int, gensim=0),
    Param("hs", 0, "{0, 1}", _flag, "1 hierarchical softmax (alone with --negative 0, or beside "
          "it)", "1: hierarchical softmax over word2vec's Huffman tree of the counts (with "
          "``negative=0`` alone, else next to negative sampling, as in gensim).", int,
          reshapes=True),
    Param("negative", 5, "int", _int(0), "noise words per centre word (0: no negative sampling)",
          "Noise words per centre word (negative sampling); 0 turns it off (then ``hs=1``).",
          int, reshapes=True),
    Param("ns_exponent", 0.75, "float", _real(), "noise distribution exponent on word counts",
          "Noise words are drawn in proportion to ``count ** ns_exponent``.", float),
    Param("cbow_mean", 1, "{1, 0}", _flag, "CBOW: 1 the mean of the context vectors, 0 their sum",
          "CBOW only: 1 the mean of the context vectors, 0 their sum (gensim's meanings).", int),
    Param("hashfxn", hash, "callable", _anything, "", "Accepted for compatibility; it has no "
          "effect (the initial vectors are seeded by ``seed`` through PyTorch's generator, not "
          "by hashing words), and a warning says so when one is given.", None, estimator=False,
          code=True),
    Param("epochs", 5, "int", _int(1), "passes over the corpus", "Passes over the corpus.", int),
    Param("null_word", 0, "{0}", _null_word, "", "Accepted as 0 only (a padding word for a "
          "concatenating layer Word2Vec has not; gensim ignores it too).", None, estimator=False),
    Param("trim_rule", None, "callable", _callable_or_none, "",
          "``trim_rule(word, count, min_count)`` returning a ``gensim.utils.RULE_*`` value.",
          None, code=True),
    Param("sorted_vocab", True, "bool", _flag, "number words by descending frequency",
          "Number words by descending frequency (gensim's 0/1 are accepted too).", _str2bool,
          gensim=1),
    Param("batch_words", 10000, "int", _int(1), "", "Accepted for compatibility; it has no "
          "effect (torch_w2v's threads take pieces of 2,048 tokens), and a warning says so when "
          "another value is given.", None, estimator=False, free=True),
    Param("compute_loss", False, "bool", _bool(), "", "Accepted; the loss is always computed "
          "(``get_latest_training_loss``).", None, estimator=False, free=True),
    Param("callbacks", (), "sequence of CallbackAny2Vec", _gensim_callbacks, "",
          "gensim's ``on_train_begin/end(model)``, ``on_epoch_begin/end(model)``; during "
          "training ``model.wv`` holds the vectors as trained so far.", None, estimator=False,
          free=True, code=True),
    Param("comment", None, "str", _text_or_none, "", "A note stored with the model.", None,
          estimator=False, free=True),
    Param("max_final_vocab", None, "int", _int(1, allow_none=True),
          "raise min_count until at most this many words remain",
          "Raise ``min_count`` until at most this many words remain.", _optional(int)),
    Param("shrink_windows", True, "bool", _bool(),
          "draw each centre's window from 1..window (word2vec)",
          "word2vec's dynamic window: each centre uses a window drawn uniformly from "
          "``1..window``.", _str2bool),
    # -- torch_w2v's own ------------------------------------------------------------------------
    _own("batch_size", None, "int", _int(1, allow_none=True),
          "pairs per step of the batched steps (default: by step)",
          "(Context, centre) pairs sampled at once for the batched and autograd steps. Default: "
          "corpus tokens / 64, at most 8192 on CPU and 262144 on CUDA. The batched step applies "
          "a batch in sub-steps of at most 8,192 pairs, so big batches cost no quality. The "
          "fused step updates block by block and has no batches (``batch_size`` then only "
          "sizes a validation loss's).", _optional(int)),
    _own("step", "auto", "str", _step, _step_help,
          "The backend that trains (:mod:`torch_w2v.backends`). ``\"fused\"``: a compiled CPU "
          "op samples the text itself and updates each centre word's block in place, block "
          "after block (word2vec's sequential SGD within a block; built on first use, then "
          "cached). ``\"fused_gpu\"``: the same on a CUDA GPU, as a Triton kernel. "
          "``\"batched\"``: PyTorch tensor ops score the whole batch from the same weights, "
          "then add all steps at once (any device; deterministic). ``\"autograd\"``: the loss "
          "through autograd and ``optimizer``. ``\"auto\"``: the first of these that supports "
          "the device and parameters and runs here (fused on CPU where it builds, fused_gpu on "
          "CUDA where Triton is installed, else batched; autograd for Adam).", str),
    _own("dtype", "float32", "{\"float32\", \"bfloat16\"}", _choice("float32", "bfloat16"),
          "'float32', or 'bfloat16' tables (half the memory in training)",
          "The tables' storage in training. ``\"bfloat16\"`` halves their memory while they "
          "train (a 1M-word vocabulary at 300 dimensions: 1.2 GB instead of 2.4 GB); rows are "
          "read into float32, updated in float32 and written back with stochastic rounding, "
          "so small steps are kept on average instead of vanishing. Quality matches float32's, "
          "and so does the fused CPU step's speed (docs/benchmarks.md). Trained by the fused CPU "
          "and the batched steps (the batched step on a GPU); on the CPU the tables are widened "
          "to float32 in place when training ends (the peak memory is float32's), and vectors, "
          "model files and checkpoints are float32. (``torch.bfloat16`` works too.)",
          str),
    _own("update_cap", 256, "float", _real(0, low_open=True, allow_none=True),
          "batched step: most scores one vector sums per step",
          "Keeps large batches stable: a vector that more than ``update_cap`` scores (logits) "
          "of one batch update gets the sum of their steps scaled by ``update_cap / scores`` (a "
          "frequent word's summed step otherwise overshoots where sequential SGD would not). "
          "Vectors updated by fewer, nearly all, get plain SGD. ``None`` sums every step "
          "(diverges for large batches). Used by the batched step only: the fused steps apply "
          "each block's update before scoring the next.", _optional(float), gensim=ABSENT),
    _own("device", "auto", "str", _device, "'auto', 'cpu', 'cuda', 'cuda:N'",
          "``\"auto\"`` (CUDA if available, else CPU), ``\"cpu\"``, ``\"cuda\"``, "
          "``\"cuda:1\"``, ... (a ``torch.device`` works too).", str, free=True),
    _own("distributed", False, "bool", _bool(),
          "train data-parallel with the other ranks (set under torchrun)",
          "Train data-parallel with the other ranks of the initialised ``torch.distributed`` "
          "process group (:mod:`torch_w2v.distributed`): each rank reads and trains its share "
          "of the corpus and the ranks merge their tables. False: this process trains alone, "
          "even inside a process group.", _str2bool, free=True),
    _own("callbacks", (), "list of Callback", _callbacks, "",
          "Hooks called at train/epoch begin and end with the training run's state (see "
          ":mod:`torch_w2v.callbacks`).", None, gensim=ABSENT, free=True, code=True),
    _own("progress", None, "bool", _bool(allow_none=True),
          "progress bar (default: when stderr is a terminal)",
          "Show a progress bar; by default only when stderr is a terminal.",
          _optional(_str2bool), free=True),
    _own("checkpoint_dir", None, "str", _path_or_none, "write a checkpoint there every epoch",
          "Save a checkpoint (``checkpoint.npz``, atomically) there at the end of every epoch; "
          "``fit(..., resume=True)`` continues from it after an interruption.", _optional(str),
          gensim=ABSENT, free=True),
    _own("checkpoint_every", None, "int", _int(1, allow_none=True),
          "also checkpoint every this many words",
          "Also checkpoint within epochs, every this many raw corpus words (at the next "
          "sampling chunk boundary: every 131,072 tokens for the fused step, 65,536 or more for "
          "the others).", _optional(int), gensim=ABSENT, free=True),
    _own("optimizer", "sgd", "{\"sgd\", \"adam\", \"sparse_adam\"}",
          _choice("sgd", "adam", "sparse_adam"),
          "'sgd' (word2vec), 'adam' or 'sparse_adam' (the tutorial's recipe)",
          "``\"sgd\"``: word2vec's plain SGD. ``\"adam\"`` / ``\"sparse_adam\"``: the original "
          "tutorial's recipe, the loss through autograd and ``torch.optim.Adam`` / "
          "``SparseAdam`` (learning rate ``alpha`` decaying to ``min_alpha`` as for SGD; Adam "
          "wants a smaller ``alpha``, ~1e-3).", str, gensim=ABSENT),
    _own("max_norm", None, "float", _real(0, low_open=True, allow_none=True),
          "renormalise looked-up vectors to this norm",
          "Renormalise looked-up rows to at most this norm (``nn.Embedding``'s ``max_norm``); "
          "uses the batched or autograd step.", _optional(float), gensim=ABSENT),
    _own("subsampling", "word2vec", "{\"word2vec\", \"percentile\"}",
          _choice("word2vec", "percentile"), "'word2vec' or 'percentile' (the tutorial's rule)",
          "``\"word2vec\"``: keep probability ``(sqrt(c/t) + 1) t / c`` with ``t = sample * "
          "total``, dropped tokens removed before windowing. ``\"percentile\"``: the tutorial's "
          "``sqrt(t / (f + t))`` with ``t`` the ``subsample_percentile``-th percentile of the "
          "words' relative frequencies ``f``, drawn independently for each centre and context "
          "slot.", str, gensim=ABSENT),
    _own("subsample_percentile", 85.0, "float", _real(0, high=100), "T of the percentile rule",
          "``T`` of the percentile rule.", float, gensim=ABSENT),
    _own("noise_sampler", "alias", "{\"alias\", \"table\"}", _choice("alias", "table"),
          "'alias' (exact) or 'table' (the tutorial's)",
          "``\"alias\"``: exact draws from ``count ** ns_exponent``. ``\"table\"``: the "
          "tutorial's table of ``noise_table_size`` word ids filled in proportion (every word "
          "at least once).", str, gensim=ABSENT),
    _own("noise_table_size", 5_000_000, "int", _int(1), "entries of the noise table",
          "Entries of the ``\"table\"`` noise sampler's table (unused by ``\"alias\"``): more "
          "entries, closer to the exact noise distribution, more memory (4 bytes each).", int,
          gensim=ABSENT),
    _own("full_windows_only", False, "bool", _bool(),
          "train only centres with their whole window",
          "Train only centre words whose whole window lies inside their sentence (the "
          "tutorial).", _str2bool, gensim=ABSENT),
)


def gensim_names() -> tuple:
    """The names of gensim's own ``Word2Vec`` parameters (those torch_w2v's classes share)."""
    return tuple(p.name for p in params_of("gensim") if not p.own)


def params_of(owner: str) -> tuple:
    """The parameters of ``owner``'s constructor, in order: ``"estimator"``
    (:class:`~torch_w2v.TorchWord2Vec`) or ``"gensim"`` (``torch_w2v.Word2Vec``)."""
    if owner == "estimator":
        return tuple(p for p in PARAMS if p.estimator)
    return tuple(p for p in PARAMS if p.gensim is not ABSENT)


_BY_OWNER = {owner: {p.name: p for p in params_of(owner)} for owner in ("estimator", "gensim")}
_BY_NAME = {**_BY_OWNER["gensim"], **_BY_OWNER["estimator"]}  # flags: the same in both


def signature(owner: str, positional: int = 1, leading=()) -> inspect.Signature:
    """``owner``'s constructor signature: ``self``, the ``leading`` names (defaulting to
    None), then the table's parameters with their defaults; the first ``positional`` of all
    may be given by position (gensim takes all by position; scikit-learn wants keywords)."""
    kinds = inspect.Parameter
    names = [(name, None) for name in leading] + [(p.name, p.default_for(owner))
                                                   for p in params_of(owner)]
    parameters = [kinds("self", kinds.POSITIONAL_OR_KEYWORD)]
    for k, (name, default) in enumerate(names):
        kind = kinds.POSITIONAL_OR_KEYWORD if k < positional else kinds.KEYWORD_ONLY
        parameters.append(kinds(name, kind, default=default))
    return inspect.Signature(parameters)


def bind(owner_class, sig: inspect.Signature, instance, args, kwargs) -> dict:
    """``args``/``kwargs`` bound to ``sig`` with the defaults applied (without ``self``); an
    unknown keyword raises a ``TypeError`` naming the closest parameter."""
    known = [name for name in sig.parameters if name != "self"]
    for name in kwargs:
        if name not in known:
            raise unknown_parameter(owner_class.__name__, name, known)
    try:
        bound = sig.bind(instance, *args, **kwargs)
    except TypeError as err:
        raise TypeError(f"{owner_class.__name__}(): {err}") from None
    bound.apply_defaults()
    values = dict(bound.arguments)
    values.pop("self")
    return values


def parameters(owner: str, positional: int = 1):
    """Class decorator: the class's constructor and its documented parameters from the table.

    It gives the class an ``__init__`` (unless it defines one) that only assigns the
    parameters, as scikit-learn wants, with the table's signature (:func:`signature`): an
    unknown name raises a ``TypeError`` naming the closest parameter. ``{parameters}`` in the
    class docstring becomes the numpydoc entries (:func:`parameter_docs`).
    """
    sig = signature(owner, positional)

    def decorate(cls):
        if "__init__" not in cls.__dict__:
            def __init__(self, *args, **kwargs):
                for name, value in bind(type(self), sig, self, args, kwargs).items():
                    setattr(self, name, value)

            __init__.__signature__ = sig
            __init__.__qualname__ = f"{cls.__qualname__}.__init__"
            __init__.__module__ = cls.__module__
            cls.__init__ = __init__
        cls.__doc__ = fill_parameter_docs(cls.__doc__, owner)
        return cls

    return decorate


def fill_parameter_docs(doc: str, owner: str) -> str:
    """``doc`` with its ``{parameters}`` line replaced by ``owner``'s parameter entries, at the
    line's indentation."""
    marker = "{parameters}"
    line = next((ln for ln in doc.splitlines() if ln.strip() == marker), None)
    if line is None:
        return doc
    indent = len(line) - len(line.lstrip())
    return doc.replace(line, " " * indent + parameter_docs(owner, indent))


def parameter_docs(owner: str, indent: int = 4) -> str:
    """The numpydoc ``Parameters`` entries of ``owner``'s parameters (the section's body)."""
    entries = []
    for p in params_of(owner):
        default = p.default_for(owner)
        kind = (f"{p.type}, optional" if default is None
                else f"{p.type}, default {getattr(default, '__name__', None) or repr(default)}")
        body = textwrap.fill(p.doc, 96 - indent, initial_indent="    ",
                             subsequent_indent="    ")
        entries.append(f"{p.name} : {kind}\n{body}")
    return textwrap.indent("\n".join(entries), " " * indent).lstrip()


def validate_params(params: dict, owner: str = "estimator") -> None:
    """Raise ``ValueError`` for the first parameter of ``owner`` in ``params`` that makes no
    sense (names not in the table are the caller's to check)."""
    checks = _BY_OWNER[owner]
    for name, value in params.items():
        spec = checks.get(name)
        if spec is not None:
            spec.check(name, value)
    if params.get("min_alpha", 0) > params.get("alpha", float("inf")):
        raise ValueError(
            f"min_alpha ({params['min_alpha']}) must not exceed alpha ({params['alpha']})"
        )
    if params.get("negative", 1) == 0 and not params.get("hs", 0):
        raise ValueError("negative=0 and hs=0 leave nothing to train: set negative > 0 "
                         "(negative sampling), hs=1 (hierarchical softmax), or both")


def stored_params(params: dict) -> dict:
    """What a file or a comparison holds of ``params``: no code, storable values
    (:func:`plain`)."""
    return {k: plain(v) for k, v in params.items()
            if not (k in _BY_NAME and _BY_NAME[k].code)}


def trained_params(params: dict) -> dict:
    """The stored parameters that change what is trained (those a resumed run and every rank
    of a distributed run must share)."""
    return {k: v for k, v in stored_params(params).items()
            if not (k in _BY_NAME and _BY_NAME[k].free)}


def reshaping(params: dict) -> dict:
    """The parameters of ``params`` that set the tables' shapes."""
    return {k: v for k, v in params.items() if k in _BY_NAME and _BY_NAME[k].reshapes}


def resolve_device(device):
    """``"auto"`` → CUDA when available, else CPU; anything else must be a valid torch device."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r} ({err})"
        ) from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}: "
                         f"torch_w2v trains on CPUs and CUDA GPUs only")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available here; use 'cpu' or 'auto'")
    return resolved


def resolve_workers(workers) -> int:
    """``None`` → every core; anything else as given."""
    return workers or os.cpu_count() or 1


def unknown_parameter(owner: str, name: str, known) -> TypeError:
    """A ``TypeError`` for an unknown keyword argument, naming the closest known one.

    Examples
    --------
    >>> str(unknown_parameter("TorchWord2Vec", "size", ["vector_size", "window"]))
    "TorchWord2Vec() got an unexpected keyword argument 'size'; did you mean 'vector_size'?"
    """
    renamed = {"size": "vector_size", "iter": "epochs"}.get(name)  # gensim 3's names
    if renamed in known:
        close = [renamed]
    else:
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else (
        "; the parameters are: " + ", ".join(sorted(known)))
    return TypeError(f"{owner}() got an unexpected keyword argument {name!r}{hint}")
