"""Model files that loading can never execute code from.

A model file is a NumPy ``.npz`` archive (loaded with ``allow_pickle=False``) holding the two
embedding tables, the word counts, and one JSON document (parameters, words, history, training
state, format version) with a SHA-256 digest of everything else. Writes are atomic; a truncated
or altered file is refused with a ``ValueError``, and so is, before anything is allocated, a
member that is compressed or whose header declares more data than it holds (a zip bomb, a forged
shape); :func:`torch_w2v.modelfile.check_document` then checks the contents like constructor
input. Callables (``callbacks``, ``trim_rule``) are code and are never stored: pass them again
after loading.

Examples
--------
>>> import os, tempfile
>>> from gensim.test.utils import common_texts
>>> from torch_w2v import TorchWord2Vec
>>> est = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).fit(common_texts)
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> est.save(path)
>>> again = TorchWord2Vec.load(path)
>>> bool((again.wv.vectors == est.wv.vectors).all())
True
"""
from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import zipfile

import numpy as np
from smart_open import open as smart_open

from .io import atomic_path, is_local

__all__ = ["save_state", "load_state", "array_header", "FORMAT"]

FORMAT = "torch_w2v-model-1"


CHUNK_BYTES = 1 << 24  # what a save or a digest holds of an array at a time, beyond the array


def _layout(value) -> tuple:
    """``(dtype, shape, chunks)`` of an array to store: an ndarray (``chunks()`` yields views of
    its own memory), or an object with ``dtype``, ``shape`` and ``chunks(values)`` yielding
    ndarrays of at most ``values`` values (a table converted a slice at a time)."""
    if not isinstance(value, np.ndarray) and hasattr(value, "chunks"):
        dtype = np.dtype(value.dtype)
        values = max(1, CHUNK_BYTES // dtype.itemsize)
        return dtype, tuple(value.shape), lambda: value.chunks(values)
    a = np.ascontiguousarray(value)
    flat = a.reshape(-1)
    step = max(1, CHUNK_BYTES // max(a.itemsize, 1))
    return a.dtype, a.shape, lambda: (flat[i:i + step] for i in range(0, flat.size, step))


def _digest(arrays: dict, document: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        dtype, shape, chunks = _layout(arrays[name])
        h.update(name.encode())
        h.update(str(dtype).encode() + str(shape).encode())
        for chunk in chunks():
            h.update(memoryview(np.ascontiguousarray(chunk)).cast("B"))
    h.update(json.dumps({k: v for k, v in document.items() if k != "sha256"},
                        sort_keys=True).encode())
    return h.hexdigest()


def _write_npy(archive: zipfile.ZipFile, name: str, value) -> None:
    """One ``.npy`` member, uncompressed, written chunk by chunk (no copy of the array)."""
    dtype, shape, chunks = _layout(value)
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, {
            "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
            "shape": tuple(shape)})
        for chunk in chunks():
            member.write(memoryview(np.ascontiguousarray(chunk, dtype=dtype)).cast("B"))


def save_state(path, arrays: dict, document: dict) -> None:
    """Write the numeric ``arrays`` (name → ndarray, or a chunked table: :func:`_layout`) and
    the JSON-able ``document`` atomically, an ``.npz`` that ``np.load`` reads. Streamed: beyond
    the arrays themselves it holds :data:`CHUNK_BYTES` at a time, not a copy of the file."""
    document = {**document, "format": FORMAT}
    document["sha256"] = _digest(arrays, document)
    meta = np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp, smart_open(tmp, "wb", compression="disable") as out, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in {"meta": meta, **arrays}.items():
            _write_npy(archive, name, value)


def array_header(stream) -> tuple:
    """``(shape, dtype, bytes of data declared)`` of the ``.npy`` array ``stream`` starts with,
    read without loading it (``stream`` is left at the data's first byte)."""
    version = np.lib.format.read_magic(stream)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)  # 2.0 and 3.0 alike
    shape, _, dtype = read_header(stream)
    return shape, dtype, int(np.prod(shape, dtype=np.float64)) * dtype.itemsize


def _check_members(path, source, size: int) -> None:
    """Refuse, before anything is allocated, an archive (the seekable file ``source`` of
    ``size`` bytes) whose members would take more memory than the file's own bytes: compressed
    members (a zip bomb; :func:`save_state` stores them uncompressed) and arrays whose header
    declares more data than the member holds."""
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        return  # np.load's error, below, says what the file is not
    with archive:
        for member in archive.infolist():
            if member.compress_type != zipfile.ZIP_STORED or member.file_size > size:
                raise ValueError(f"{path}: member {member.filename!r} is compressed or larger "
                                 f"than the file ({member.file_size} bytes declared): torch_w2v "
                                 "model files store their arrays uncompressed; refused unread")
            with archive.open(member) as stream:
                try:
                    shape, dtype, declared = array_header(stream)
                except (ValueError, OSError, SyntaxError) as err:
                    raise ValueError(f"{path}: member {member.filename!r} is not a NumPy array "
                                     f"({err})") from None
                if declared > member.file_size - stream.tell():
                    raise ValueError(f"{path}: member {member.filename!r} declares {shape} "
                                     f"{dtype} ({declared} bytes) but holds "
                                     f"{member.file_size - stream.tell()}: the file is damaged or"
                                     " forged; refused before allocating")


def _what_it_is(raw: bytes) -> str:
    """What a file that is no model holds, and what reads it."""
    first = raw[:200].split(b"\n", 1)[0].split()
    if len(first) == 2 and all(part.isdigit() for part in first):
        return ("a word2vec-format file (word vectors only): read it with gensim's "
                "KeyedVectors.load_word2vec_format(path) (binary=True if it is binary)")
    if not raw:
        return "empty"
    try:  # incremental: a character cut at 4 kB is not an error
        codecs.getincrementaldecoder("utf-8")().decode(raw[:4096], final=False)
    except UnicodeDecodeError:
        return "neither a model file nor text (truncated, or another format)"
    return ("a text file (a corpus? train on it with fit(corpus_file=path) or "
            "Word2Vec(corpus_file=path))")


def load_state(path) -> tuple:
    """Read a file written by :func:`save_state`; returns ``(arrays, document)``.

    Raises
    ------
    ValueError
        If the file is not a torch_w2v model, is truncated, or its content does not match its
        digest.
    """
    if "://" not in str(path) and os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file (a device, pipe or directory, or a link "
                         "to one): a model file is a file; refused unread")
    with _opened(path) as source:
        return _load_from(path, source)


def _opened(path):
    """A seekable binary file of ``path``: the file itself where it is local (its arrays are
    read from it, no copy of the whole file), else its bytes in memory."""
    if is_local(path):
        return open(str(path).removeprefix("file://"), "rb")
    with smart_open(path, "rb", compression="disable") as f:
        return io.BytesIO(f.read())


def _load_from(path, source) -> tuple:
    head = source.read(4096)
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    if head[:2] != b"PK" and head[:1] != b"\x80":  # not a zip archive (npz), not a pickle
        raise ValueError(f"{path} is {_what_it_is(head)}, not a torch_w2v model file")
    if head[:1] == b"\x80":  # a pickle (protocol 2 or later), e.g. gensim's own save()
        raise ValueError(
            f"{path} is a Python pickle (gensim's save() writes those), not a torch_w2v model "
            "file: read a gensim Word2Vec model with torch_w2v.Word2Vec.load(path) or "
            "torch_w2v.load(path), which take it without running code from it")
    _check_members(path, source, size)
    source.seek(0)
    try:
        with np.load(source, allow_pickle=False) as archive:
            document = json.loads(bytes(archive["meta"]).decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != "meta"}
    except (zipfile.BadZipFile, KeyError, EOFError, OSError, UnicodeDecodeError,
            json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{path} is not a readable torch_w2v model file (truncated, altered, or "
                         f"another format): {type(err).__name__}: {err}") from None
    if document.get("format") != FORMAT:
        raise ValueError(f"{path} has format {document.get('format')!r}; this version of "
                         f"torch_w2v reads {FORMAT!r}")
    if document.get("sha256") != _digest(arrays, document):
        raise ValueError(f"{path} does not match its checksum: the file was altered or damaged")
    return arrays, document
