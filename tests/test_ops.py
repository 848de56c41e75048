"""Building the op library: killed builds, simultaneous builds, no compiler, the cache key.

These start real processes on a private cache directory, so each builds the op from scratch
(a few seconds each)."""
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from torch_w2v import ops

LOAD_AND_STEP = f"""
import sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
from conftest import call_op
from torch_w2v.model import EmbeddingTables
loss, pairs = call_op(EmbeddingTables(5, 3), [0, 1, 2], [0, 0, 0], window=1, negative=1)
print("op ok", loss > 0 and pairs == 4)
"""


def _start(ops_dir, code=LOAD_AND_STEP, **env):
    environment = {**os.environ, "TORCH_W2V_OPS_DIR": str(ops_dir), **env}
    return subprocess.Popen([sys.executable, "-c", code], env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _key_dir(ops_dir):
    return ops_dir / ops.cache_key()


@pytest.mark.slow
def test_a_build_killed_midway_never_blocks_the_next(tmp_path):
    builder = _start(tmp_path)
    deadline = time.monotonic() + 120
    while not list(_key_dir(tmp_path).glob(".build-*")):  # the compiler is running
        assert builder.poll() is None, builder.communicate()
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.05)
    builder.send_signal(signal.SIGKILL)
    builder.wait()
    assert not (_key_dir(tmp_path) / ops.LIBRARY).exists()  # nothing half-built in place
    again = _start(tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "op ok True" in out and "compiling the fused CPU op" in err
    assert not list(_key_dir(tmp_path).glob(".build-*"))  # the killed build's files are gone


@pytest.mark.slow
def test_simultaneous_first_uses_build_once_and_all_succeed(tmp_path):
    processes = [_start(tmp_path) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], [err for _, err in results]
    assert all("op ok True" in out for out, _ in results)
    assert sum(err.count("compiling the fused CPU op for this machine") for _, err in results) == 1


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["not a library", "truncated", "truncated, old digest"])
def test_a_damaged_cached_library_is_built_again_not_loaded(tmp_path, damage):
    """A truncated library killed every later process with SIGBUS inside dlopen; a cached
    library is now loaded only if its build's checksum matches."""
    good = ops.build()  # this machine's library (cached by earlier tests)
    library = _key_dir(tmp_path) / ops.LIBRARY
    library.parent.mkdir(parents=True)
    if damage == "not a library":
        library.write_bytes(b"\x7fELF not really a library")
    else:
        library.write_bytes(good.read_bytes()[:100_000])
        if damage == "truncated, old digest":
            ops._digest_path(library).write_text(ops._digest_path(good).read_text())
    process = _start(tmp_path)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err  # -7 (SIGBUS) before
    assert "op ok True" in out and "checksum does not match" in err and "compiled in" in err
    assert ops._verified(library)


def test_a_cached_library_is_rebuilt_unless_its_checksum_matches(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_W2V_OPS_DIR", str(tmp_path))
    good = b"\x7fELF a whole library"
    built = []

    def compile_(command, timeout):
        built.append(command)
        with open(command[command.index("-o") + 1], "wb") as output:
            output.write(good)
    monkeypatch.setattr(ops, "_run_compiler", compile_)
    library = ops.build()
    assert library.read_bytes() == good and ops._verified(library) and len(built) == 1
    assert ops.build() == library and len(built) == 1  # cached and verified: not built again
    for cut in (5, len(good) - 1):
        library.write_bytes(good[:cut])
        assert ops.build() == library and library.read_bytes() == good
    assert len(built) == 3


def test_cxx_with_arguments_is_split_as_a_shell_would(monkeypatch):
    monkeypatch.setenv("CXX", "ccache g++")
    command = ops._compile_command(ops.ops_dir() / "x.so")
    assert command[:2] == ["ccache", "g++"]


def test_a_hanging_compiler_is_given_up_after_the_timeout_set(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_W2V_OPS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_W2V_BUILD_TIMEOUT", "1")
    monkeypatch.setattr(ops, "_compile_command", lambda output: ["sleep", "60"])
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="more than 1 s.*TORCH_W2V_BUILD_TIMEOUT"):
        ops.build()
    assert time.monotonic() - start < 10
    monkeypatch.setenv("TORCH_W2V_BUILD_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="TORCH_W2V_BUILD_TIMEOUT='soon'"):
        ops.build()


def test_without_a_compiler_training_falls_back_with_one_warning(tmp_path):
    code = ("from torch_w2v import TorchWord2Vec, ops\n"
            "from gensim.test.utils import common_texts\n"
            "est = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False)\n"
            "print(len(est.fit(common_texts).wv), ops.unavailable_reason())\n")
    process = _start(tmp_path, code, CXX=str(tmp_path / "no-such-compiler"))
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.startswith("12 FileNotFoundError")
    assert err.count("compiled ops unavailable") == 1 and "batched" in err


def test_waiting_for_a_stuck_builder_gives_up_with_a_clear_error(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_W2V_OPS_DIR", str(tmp_path))
    monkeypatch.setattr(ops, "BUILD_TIMEOUT", 1.0)
    monkeypatch.setattr(ops, "_HEARTBEAT_SECONDS", 0.3)
    key_dir = _key_dir(tmp_path)
    key_dir.mkdir(parents=True)
    with open(key_dir / "lock", "a+") as held:  # another builder, alive but stuck
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242")
        held.flush()
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="torch_w2v"), \
                pytest.raises(TimeoutError, match="torch-w2v build"):
            ops.build()
    assert time.monotonic() - start < 10
    assert any("waiting for pid 4242" in r.message for r in caplog.records)


def test_the_cache_key_covers_sources_flags_and_cpu(monkeypatch):
    key = ops.cache_key()
    assert ops.cache_key() == key
    monkeypatch.setattr(ops, "_cpu_identity", lambda: "another CPU with other flags")
    other_cpu = ops.cache_key()
    monkeypatch.setattr(ops, "FLAGS", (*ops.FLAGS, "-ffast-math"))
    other_flags = ops.cache_key()
    monkeypatch.setattr(ops, "SOURCES", ())
    other_sources = ops.cache_key()
    assert len({key, other_cpu, other_flags, other_sources}) == 4


def test_the_cpu_identity_names_the_instruction_set():
    identity = ops._cpu_identity()
    if os.path.exists("/proc/cpuinfo") and os.uname().machine == "x86_64":
        assert "sse2" in identity.split()
    assert identity.strip()
