"""Safe writes: every file is written beside its target and renamed into place (atomic), so a
crash mid-write leaves the previous file intact.

Examples
--------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
>>> atomic_write_text(path, "hello")
>>> open(path).read()
'hello'
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "is_local", "owned_prefix", "remove_stale_owned",
           "remove_stale_temporaries", "unwritable_words",
           "write_sentences", "save_word2vec_format"]


def is_local(path) -> bool:
    """Whether ``path`` names a file on this machine (not a URL such as ``s3://``)."""
    return "://" not in str(path) or str(path).startswith("file://")


@contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    Remote URLs (``s3://``...) are yielded as they are: their stores publish whole objects.
    """
    if not is_local(path):
        yield str(path)
        return
    target = Path(str(path).removeprefix("file://"))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    suffix = "".join(target.suffixes)  # keep .gz/.bz2 so smart_open compresses alike
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_temporary_prefix(target),
                               suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result should look like open()'s
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _temporary_prefix(target: Path, pid: int | None = None) -> str:
    """How a temporary file for ``target`` is named: hidden, after the target, with the
    writer's host and process, so a later write can tell one left by a killed writer."""
    return f".{target.name}.torch_w2v-tmp-{socket.gethostname()}-{pid or os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(target) -> list:
    """Delete the temporary files that writers of ``target`` on this host left when they were
    killed mid-write (their process is gone); returns their paths.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> stale = os.path.join(folder, ".m.npz.torch_w2v-tmp-" + socket.gethostname()
    ...                      + "-999999999-abc.npz")
    >>> _ = open(stale, "w").write("half a model")
    >>> [os.path.basename(p) for p in remove_stale_temporaries(os.path.join(folder, "m.npz"))]
    ... # doctest: +ELLIPSIS
    ['.m.npz.torch_w2v-tmp-...-999999999-abc.npz']
    """
    target = Path(target)
    return _remove_dead(target.parent, f".{target.name}.torch_w2v-tmp-", os.unlink)


def owned_prefix(kind: str) -> str:
    """A name prefix that says which process on which host owns a temporary file or folder
    (:func:`remove_stale_owned` removes those of dead processes)."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-"


def remove_stale_owned(folder, kind: str) -> list:
    """Delete the folders named by :func:`owned_prefix` with ``kind`` in ``folder`` whose
    process on this host is gone (a fit killed with SIGKILL leaves its corpus id files)."""
    return _remove_dead(Path(folder), f"{kind}-", lambda path: shutil.rmtree(path))


def _remove_dead(folder: Path, start: str, remove) -> list:
    pattern = re.compile(re.escape(f"{start}{socket.gethostname()}-") + r"(\d+)-")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        found = pattern.match(name)
        if found and not _alive(int(found.group(1))):
            try:
                remove(folder / name)
                removed.append(str(folder / name))
            except OSError:
                pass
    return removed


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write(text)


def write_sentences(path, sentences) -> None:
    """Write token lists one per line, space-separated (what :class:`.corpus.CorpusFile` reads),
    atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for tokens in sentences:
            out.write(" ".join(tokens) + "\n")


def unwritable_words(keys) -> list:
    r"""The words the word2vec format cannot hold: empty, or holding whitespace (its
    separator), which would not load back.

    Examples
    --------
    >>> unwritable_words(["cat", "New York", "", "a" + chr(10) + "b"])
    ['New York', '', 'a\nb']
    """
    return [k for k in keys if not k or any(ch.isspace() for ch in k)]


def _check_word2vec_keys(keys) -> None:
    bad = unwritable_words(keys)
    if bad:
        raise ValueError(
            f"{len(bad)} word(s) such as {bad[0]!r} are empty or contain whitespace, which the "
            "word2vec format cannot represent (the file would not load back); rename or drop them"
        )


def save_word2vec_format(kv, path, *, binary: bool = False, fvocab=None) -> None:
    """``kv.save_word2vec_format`` made atomic, refusing words the format cannot hold."""
    _check_word2vec_keys(kv.index_to_key)
    with atomic_path(path) as tmp:
        if fvocab is None:
            kv.save_word2vec_format(tmp, binary=binary)
        else:
            with atomic_path(fvocab) as tmp_vocab:
                kv.save_word2vec_format(tmp, binary=binary, fvocab=tmp_vocab)
