"""The compiled ops: C++ sources in ``torch_w2v/csrc``, built once per machine, loaded into
``torch.ops.torch_w2v`` and ``torch.classes.torch_w2v``.

The op library is built on first use (``fit`` with the fused CPU step), or ahead of time with
``torch-w2v build`` (for images and clusters), and cached under :func:`ops_dir`. Why not at
install time: an install-time build needs torch inside pip's isolated build environment, which
pulls a second, multi-GB torch; a first-use build compiles against the torch actually imported.

A build never hangs and never leaves a broken cache:

- it compiles in a private directory and moves the library into place with one atomic rename,
  so a build killed at any moment leaves nothing a later process would load;
- builders of the same library take turns through an ``fcntl`` lock, which the kernel releases
  when its holder dies (a killed build cannot block a later one); waiting processes say whom
  they wait for every few seconds, and give up after :data:`BUILD_TIMEOUT` seconds, as does a
  compiler that runs that long;
- the cache key covers the sources, the torch version, the compiler and its flags, and the CPU
  (``-march=native`` code from one CPU type may not run on another);
- a build writes the library's SHA-256 beside it, and a cached library is loaded only if it
  matches: a truncated file (which would crash the process inside ``dlopen``) or a foreign one
  is rebuilt, with a warning.

``$CXX`` may hold a command with arguments (``ccache g++``); ``$TORCH_W2V_BUILD_TIMEOUT``
shortens :data:`BUILD_TIMEOUT`.

The library holds the fused CPU trainer (``csrc/train_cpu.cpp``) and the text counter
(``csrc/text.cpp``). Where it cannot be built (no C++ compiler, a read-only cache, ...),
:func:`load` returns False after one warning; training then uses the batched PyTorch step and
corpus files are counted in Python.

Examples
--------
>>> len(cache_key()) == 16
True
"""
from __future__ import annotations

import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .environment import seconds

__all__ = ["load", "build", "library_path", "cache_key", "ops_dir", "unavailable_reason",
           "BUILD_TIMEOUT"]

logger = logging.getLogger("torch_w2v")

SOURCES = ("train_cpu.cpp", "text.cpp")
LIBRARY = "torch_w2v_ops.so"
# -fopenmp-simd: the op's only OpenMP is `omp simd` (its threads are std::thread); the same
# machine code as -fopenmp, without libgomp.
FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-std=c++17", "-fPIC", "-shared")
BUILD_TIMEOUT = 900.0  # seconds: the longest a compiler may run, or a process wait for one
_HEARTBEAT_SECONDS = 10.0

_lock = threading.Lock()
_state: dict = {}  # "loaded": bool, "reason": why not


def ops_dir() -> Path:
    """Where built op libraries are cached: ``$TORCH_W2V_OPS_DIR``, else
    ``$XDG_CACHE_HOME/torch_w2v/ops`` (``~/.cache/torch_w2v/ops``)."""
    if os.environ.get("TORCH_W2V_OPS_DIR"):
        return Path(os.environ["TORCH_W2V_OPS_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "torch_w2v" / "ops"


def _compiler() -> list:
    """``$CXX`` split as a shell splits it (``ccache g++``), else ``c++``."""
    return shlex.split(os.environ.get("CXX") or "c++")


def _compiler_identity(compiler: list) -> str:
    try:
        out = subprocess.run([*compiler, "--version"], capture_output=True, text=True,
                             timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else f"{compiler}: no version"
    except (OSError, subprocess.SubprocessError):
        return f"{compiler}: not found"


def build_timeout() -> float:
    """:data:`BUILD_TIMEOUT`, or ``$TORCH_W2V_BUILD_TIMEOUT`` seconds where set."""
    return seconds("TORCH_W2V_BUILD_TIMEOUT", BUILD_TIMEOUT)


def _digest_path(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(library: Path) -> bool:
    """Whether ``library`` is whole and ours: its SHA-256 matches the one its build wrote."""
    try:
        return _digest_path(library).read_text().strip() == _file_sha256(library)
    except OSError:
        return False


def _cpu_identity() -> str:
    """The CPU model and instruction-set flags (what ``-march=native`` compiles for)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            fields = {}
            for line in info:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        return " ".join(fields.get(k, "") for k in ("vendor_id", "model name", "flags",
                                                    "Features", "CPU part"))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def cache_key() -> str:
    """A 16-hex-digit digest of what the built library depends on: the sources, the torch
    version, the compiler and flags, and the CPU."""
    import torch

    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((Path(__file__).parent / "csrc" / name).read_bytes())
    for part in (torch.__version__, str(torch.version.git_version),
                 str(torch._C._GLIBCXX_USE_CXX11_ABI), _compiler_identity(_compiler()),
                 " ".join(FLAGS), _cpu_identity(), platform.system()):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:16]


def library_path() -> Path:
    """Where this machine's op library is, or will be once built."""
    return ops_dir() / cache_key() / LIBRARY


def _compile_command(output: Path) -> list:
    import torch
    from torch.utils.cpp_extension import include_paths, library_paths

    sources = [str(Path(__file__).parent / "csrc" / name) for name in SOURCES]
    return [*_compiler(), *FLAGS,
            f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
            *(f"-isystem{p}" for p in include_paths()), *sources, "-o", str(output),
            *(f"-L{p}" for p in library_paths()), "-lc10", "-ltorch_cpu"]


@contextmanager
def _exclusive(lock_path: Path, timeout: float):
    """Hold an exclusive ``flock`` on ``lock_path``, waiting at most ``timeout`` seconds.

    The kernel drops the lock when its holder exits, however it exits, so a killed builder
    never blocks the next one. Without ``fcntl`` (Windows) builds are not serialised: each
    builds privately and the last rename wins, which is safe, only wasteful.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock_path, "a+") as handle:
        start = time.monotonic()
        next_note = start + _HEARTBEAT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now - start > timeout:
                    raise TimeoutError(
                        f"waited {timeout:.0f} s for another process building the op library "
                        f"in {lock_path.parent}; build it with `torch-w2v build`") from None
                if now >= next_note:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    logger.warning("torch_w2v: waiting for %s, which is compiling the fused "
                                   "CPU op (%.0f s so far)", holder, now - start)
                    next_note = now + _HEARTBEAT_SECONDS
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_compiler(command: list, timeout: float) -> None:
    """Run the compiler, saying every few seconds that it still runs; kill it after
    ``timeout`` seconds. Raises ``RuntimeError`` with the compiler's own message on failure."""
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    raise TimeoutError(
                        f"the compiler ran for more than {timeout:g} s (set "
                        "$TORCH_W2V_BUILD_TIMEOUT to wait longer or less)")
                try:
                    process.wait(timeout=min(_HEARTBEAT_SECONDS, left))
                    break
                except subprocess.TimeoutExpired:
                    if left > _HEARTBEAT_SECONDS:  # a heartbeat, not the end
                        logger.warning("torch_w2v: still compiling (%.0f s)",
                                       time.monotonic() - start)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{command[0]} failed (exit {process.returncode}): "
                               + log.read()[-2000:].strip())


def build(force: bool = False) -> Path:
    """Build this machine's op library unless it is cached; returns its path.

    Safe to call from many processes at once: one compiles, the others wait for it (saying so)
    and then use its library.

    Parameters
    ----------
    force : bool, default False
        Compile again even if a library is cached (it replaces the cached one atomically).

    Raises
    ------
    RuntimeError, OSError, TimeoutError
        When the library cannot be built (the compiler's message is included).
    """
    target = library_path()
    if not force and _verified(target):
        return target
    if target.exists() and not force:
        logger.warning("torch_w2v: the cached op library %s is damaged or not this build's "
                       "(its checksum does not match): building it again", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    timeout = build_timeout()
    with _exclusive(target.parent / "lock", timeout):
        if not force and _verified(target):  # another process built it while we waited
            return target
        for stale in target.parent.glob(".build-*"):  # left by builders that were killed
            shutil.rmtree(stale, ignore_errors=True)
        private = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
        try:
            logger.warning("torch_w2v: compiling the fused CPU op for this machine (once per "
                           "machine and torch version; 10-60 s) into %s",
                           target.parent)
            start = time.monotonic()
            output = private / LIBRARY
            _run_compiler(_compile_command(output), timeout)
            _digest_path(output).write_text(_file_sha256(output))
            # atomic, the digest first: a loader sees a library only with its digest
            os.replace(_digest_path(output), _digest_path(target))
            os.replace(output, target)
            logger.warning("torch_w2v: compiled in %.1f s", time.monotonic() - start)
        finally:
            shutil.rmtree(private, ignore_errors=True)
    return target


def load() -> bool:
    """Load the op library into ``torch.ops.torch_w2v``, building it first if needed.

    Returns False where it cannot be built or loaded (the reason is logged once and kept in
    :func:`unavailable_reason`); True once the ops are usable in this process.
    """
    with _lock:
        if "loaded" not in _state:
            try:
                import torch

                path = build()
                try:
                    torch.ops.load_library(str(path))
                except OSError as err:  # a cached file that does not load: build it again once
                    logger.warning("torch_w2v: the cached op library %s does not load (%s); "
                                   "building it again", path, str(err).splitlines()[0][:200])
                    torch.ops.load_library(str(build(force=True)))
                _state["loaded"] = True
            except Exception as err:  # no compiler, read-only cache, timeout, ...
                reason = f"{type(err).__name__}: {str(err).strip()}"
                _state.update(loaded=False, reason=reason)
                logger.warning("torch_w2v: compiled ops unavailable (%s): training uses the "
                               "batched PyTorch step and corpus files are counted in Python",
                               reason.splitlines()[0][:300])
        return _state["loaded"]


def unavailable_reason() -> str | None:
    """Why :func:`load` failed in this process, or None."""
    return _state.get("reason")

