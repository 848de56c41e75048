"""Data-parallel training under torch.distributed: real gloo ranks in subprocesses."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter

import numpy as np
import pytest
from conftest import zipf_corpus

from torch_w2v import Callback, TorchWord2Vec
from torch_w2v.distributed import PREFIX_ROWS

FAST = dict(vector_size=12, min_count=2, epochs=3, workers=1, progress=False)


def _simulator(name: str = "simulate"):
    """benchmarks/simulate_ranks.py's ``simulate`` (R ranks as threads of this process), or
    its function ``name``."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    import simulate_ranks

    return getattr(simulate_ranks, name)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path, script: str, ranks: int = 2, timeout: float = 120, only=None, **env):
    """Run ``script`` as ``ranks`` processes of one gloo group; returns (returncode, output)
    per rank. The script gets ``out`` (a folder) and ``rank``. With ``only``, the ranks not in
    it are killed once those are done."""
    code = "import os, json, sys\nout = sys.argv[1]\nrank = int(os.environ['RANK'])\n" + \
        "from torch_w2v.distributed import init_from_environment\ninit_from_environment()\n" + \
        textwrap.dedent(script) + \
        "\nimport torch.distributed as dist\ndist.barrier()\ndist.destroy_process_group()\n"
    (tmp_path / "script.py").write_text(code)
    port = _port()
    processes = []
    for rank in range(ranks):
        environment = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "WORLD_SIZE": str(ranks), "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "TORCH_W2V_DIST_TIMEOUT": "20", **env}
        processes.append(subprocess.Popen(
            [sys.executable, str(tmp_path / "script.py"), str(tmp_path)], env=environment,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    results = {}
    deadline = time.monotonic() + timeout
    waited = [r for r in range(ranks) if only is None or r in only]
    for rank in waited + [r for r in range(ranks) if r not in waited]:
        process = processes[rank]
        if rank not in waited:
            process.kill()
        try:
            out, _ = process.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
            out += "\n[killed by the test: timeout]"
        results[rank] = (process.returncode, out)
    return [results[r] for r in range(ranks)]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(s) for s in zipf_corpus(n_sentences=600)) + "\n")
    return path


FIT_AND_DUMP = """
from torch_w2v import TorchWord2Vec
est = TorchWord2Vec(vector_size=12, min_count=2, epochs=3, workers=1, progress=False,
                    distributed=True)
est.fit(corpus_file=os.path.join(out, "corpus.txt"))
json.dump({"words": est.wv.index_to_key, "counts": est.vocab_.counts.tolist(),
           "vectors": est.wv.vectors.tolist(), "history": est.history_,
           "corpus_words": est.corpus_words_}, open(os.path.join(out, f"rank{rank}.json"), "w"))
"""


def test_two_ranks_count_jointly_and_end_with_the_same_vectors(tmp_path, corpus_file):
    results = _launch(tmp_path, FIT_AND_DUMP)
    assert [code for code, _ in results] == [0, 0], results
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    single = TorchWord2Vec(**FAST).fit(corpus_file=str(corpus_file))
    for rank in ranks:  # the joint count is a single process's: words, order, counts
        assert rank["words"] == single.wv.index_to_key
        assert rank["counts"] == single.vocab_.counts.tolist()
        assert rank["corpus_words"] == single.corpus_words_
        assert [h["words"] for h in rank["history"]] == [single.corpus_words_] * 3
    assert ranks[0]["vectors"] == ranks[1]["vectors"]  # averaged at the end: identical
    timing = ("seconds", "words_per_sec")
    assert [{k: v for k, v in h.items() if k not in timing} for h in ranks[0]["history"]] == \
        [{k: v for k, v in h.items() if k not in timing} for h in ranks[1]["history"]]
    losses = [h["loss"] for h in ranks[0]["history"]]
    assert losses[-1] < losses[0]
    close = np.array(ranks[0]["vectors"])
    cos = (close * single.wv.vectors).sum(1) / np.linalg.norm(close, axis=1) / np.linalg.norm(
        single.wv.vectors, axis=1)
    assert np.isfinite(close).all() and cos.mean() > 0.2  # the same seeds, different splits
    # the one-process simulator of R ranks (benchmarks/simulate_ranks.py) is the real thing
    estimators, group = _simulator()(2, {k: v for k, v in FAST.items() if k != "progress"},
                                 str(corpus_file))
    assert [e.wv.vectors.tolist() for e in estimators] == [ranks[0]["vectors"]] * 2
    assert group.merges > 0 and group.bytes_merged > 0


def test_the_simulator_refuses_a_period_longer_than_a_chunk(tmp_path, capsys):
    # a merge follows every chunk: a longer --period used to be measured as one chunk's
    longest = _simulator("longest_period")()
    with pytest.raises(SystemExit) as stopped:
        _simulator("main")(["--corpus", str(tmp_path / "corpus.txt"), "--ranks", "8",
                            "--period", str(2 * longest)])
    assert stopped.value.code == 2
    assert f"at most {longest} tokens" in capsys.readouterr().err


def test_in_memory_corpora_are_shared_by_sentences(tmp_path):
    script = """
    import sys
    sys.path.insert(0, %r)
    from conftest import zipf_corpus
    from torch_w2v import TorchWord2Vec
    est = TorchWord2Vec(vector_size=12, min_count=2, epochs=2, workers=1, progress=False,
                        distributed=True)
    est.fit(zipf_corpus(n_sentences=600))
    json.dump({"words": est.wv.index_to_key, "vectors": est.wv.vectors.tolist()},
              open(os.path.join(out, f"rank{rank}.json"), "w"))
    """.replace("%r", repr(os.path.dirname(__file__)))
    results = _launch(tmp_path, script)
    assert [code for code, _ in results] == [0, 0], results
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    single = TorchWord2Vec(**FAST).fit(zipf_corpus(n_sentences=600))
    assert ranks[0]["words"] == ranks[1]["words"] == single.wv.index_to_key
    assert ranks[0]["vectors"] == ranks[1]["vectors"]


def test_ranks_with_other_parameters_refuse_clearly(tmp_path, corpus_file):
    script = FIT_AND_DUMP.replace("vector_size=12", "vector_size=12 if rank == 0 else 8")
    results = _launch(tmp_path, script)
    for code, out in results:
        assert code != 0 and "rank 1 was started with other parameters" in out
        assert "vector_size=8 (rank 0: 12)" in out


def test_a_rank_that_dies_stops_the_others_with_a_clear_error(tmp_path, corpus_file):
    script = textwrap.dedent("""
    from torch_w2v import Callback
    class Die(Callback):
        def on_epoch_end(self, run, epoch, logs):
            if rank == 1 and epoch == 1:
                os._exit(3)
    """) + FIT_AND_DUMP.replace("progress=False,", "progress=False, callbacks=[Die()],")
    start = time.monotonic()
    results = _launch(tmp_path, script, timeout=90)
    assert results[1][0] == 3
    assert results[0][0] != 0 and "distributed training stopped on rank 0" in results[0][1]
    assert time.monotonic() - start < 60


@pytest.mark.slow
def test_a_rank_that_hangs_stops_the_others_after_the_timeout(tmp_path, corpus_file):
    script = textwrap.dedent("""
    import signal
    from torch_w2v import Callback
    class Hang(Callback):
        def on_epoch_end(self, run, epoch, logs):
            if rank == 1 and epoch == 1:
                os.kill(os.getpid(), signal.SIGSTOP)
    """) + FIT_AND_DUMP.replace("progress=False,", "progress=False, callbacks=[Hang()],")
    start = time.monotonic()
    results = _launch(tmp_path, script, timeout=45, only=[0], TORCH_W2V_DIST_TIMEOUT="8")
    assert results[0][0] != 0 and "distributed training stopped on rank 0" in results[0][1]
    assert "[killed by the test" not in results[0][1]
    assert time.monotonic() - start < 40  # the group's timeout (8 s), not forever


@pytest.mark.slow
def test_the_timeout_holds_in_a_group_made_with_gloos_default(tmp_path, corpus_file):
    """A group made with torch.distributed.init_process_group as the docs show has gloo's
    30-minute timeout: a stalled rank blocked the others past 320 s. The training now stops
    with the error after $TORCH_W2V_DIST_TIMEOUT (the process's own exit still waits for the
    group's timeout, so the script ends itself)."""
    script = textwrap.dedent("""
    import datetime, signal, time
    import torch.distributed as dist
    dist.destroy_process_group()  # made again, as a user's script makes it
    dist.init_process_group("gloo", timeout=datetime.timedelta(minutes=30))
    from torch_w2v import Callback, TorchWord2Vec
    class Hang(Callback):
        def on_epoch_end(self, run, epoch, logs):
            if rank == 1 and epoch == 1:
                os.kill(os.getpid(), signal.SIGSTOP)
    start = time.monotonic()
    try:
        TorchWord2Vec(vector_size=12, min_count=2, epochs=3, workers=1, progress=False,
                      distributed=True, callbacks=[Hang()]).fit(
            corpus_file=os.path.join(out, "corpus.txt"))
    except RuntimeError as err:
        print(f"stopped after {time.monotonic() - start:.0f} s:", err, flush=True)
        os._exit(3)
    """)
    results = _launch(tmp_path, script, timeout=60, only=[0], TORCH_W2V_DIST_TIMEOUT="8")
    code, out = results[0]
    assert code == 3 and "distributed training stopped on rank 0" in out, out
    assert int(out.split("stopped after ")[1].split(" s")[0]) < 30


@pytest.mark.slow
def test_the_cli_under_torchrun_writes_once_and_resumes(tmp_path, corpus_file):
    ckpt = tmp_path / "ckpt"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--master-port", str(_port()), "-m", "torch_w2v", "train", str(corpus_file),
               "-o", str(tmp_path / "vectors.txt"), "--vector-size", "12", "--min-count", "2",
               "--epochs", "3", "--workers", "1", "--progress", "false",
               "--checkpoint-dir", str(ckpt)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("words x 12 dims") == 1  # rank 0 alone reports and writes
    assert "2 ranks trained together" in done.stdout
    assert (tmp_path / "vectors.txt").exists() and (ckpt / "checkpoint.npz").exists()
    again = subprocess.run(command + ["--resume", "--epochs", "3"], capture_output=True,
                           text=True, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming in epoch 4" in again.stderr


def test_a_fit_without_distributed_trains_alone_inside_a_group(tmp_path, corpus_file):
    # rank 1 fits a small model of its own; rank 0 never fits: nobody waits for the other
    script = """
    if rank == 1:
        from torch_w2v import TorchWord2Vec
        est = TorchWord2Vec(vector_size=8, min_count=2, epochs=1, workers=1, progress=False)
        est.fit(corpus_file=os.path.join(out, "corpus.txt"))
        open(os.path.join(out, "alone.txt"), "w").write(str(len(est.wv)))
    """
    results = _launch(tmp_path, script, timeout=60)
    assert [code for code, _ in results] == [0, 0], results
    single = TorchWord2Vec(**{**FAST, "epochs": 1}).fit(corpus_file=str(corpus_file))
    assert (tmp_path / "alone.txt").read_text() == str(len(single.wv))


def test_distributed_outside_a_process_group_is_refused_before_training():
    with pytest.raises(ValueError, match="process group"):
        TorchWord2Vec(**FAST, distributed=True).fit(zipf_corpus(n_sentences=50))


RESUMABLE = """
import torch_w2v.distributed
torch_w2v.distributed.STALE_TOKENS = 1024  # merges every 1024 tokens: several chunks an epoch
from torch_w2v import TorchWord2Vec, Callback
class Stop(Callback):  # a crash of every rank after epoch 2's checkpoint, or mid-epoch 3's
    def on_epoch_end(self, run, epoch, logs):
        if STOP == "epoch" and epoch == 2:
            os._exit(0)
    def on_chunk_end(self, run, position):
        if STOP == "chunk" and position.epoch == 3 and position.chunks_done == 2:
            os._exit(0)
est = TorchWord2Vec(vector_size=12, min_count=2, epochs=4, workers=1, progress=False,
                    distributed=True, checkpoint_dir=os.path.join(out, "ckpt"),
                    checkpoint_every=CHECKPOINT_EVERY, callbacks=[Stop()] if STOP else [])
est.fit(corpus_file=os.path.join(out, "corpus.txt"), resume=RESUME)
json.dump({"vectors": est.wv.vectors.tolist(), "output": est.output_vectors_.tolist(),
           "history": est.history_}, open(os.path.join(out, f"{NAME}{rank}.json"), "w"))
"""


def _resumable(stop, resume, name, every):
    return (f"STOP, RESUME, NAME, CHECKPOINT_EVERY = {stop!r}, {resume!r}, {name!r}, {every!r}\n"
            + RESUMABLE)


@pytest.mark.slow
@pytest.mark.parametrize("stop,every", [("epoch", None), ("chunk", 1000)])
def test_a_resumed_distributed_run_ends_where_the_uninterrupted_one_ends(tmp_path, stop, every):
    """The epoch sync's anchors must be the restored tables, not the initial ones (which added
    (ranks - 1) x (checkpoint - initial) to every row at the first merge: norms 1.68 vs 1.24).
    With more words than a merge carries, the merge schedule must restart where the
    checkpoint stood, and a mid-epoch checkpoint must hold rows every rank agrees on (both
    differed by up to 0.007 from the uninterrupted run, for a vocabulary of 3,249 words)."""
    sentences = zipf_corpus(n_sentences=1500, vocab=3000)
    (tmp_path / "corpus.txt").write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    counts = Counter(w for s in sentences for w in s)
    assert sum(n >= 2 for n in counts.values()) > PREFIX_ROWS  # min_count=2, as the runs
    results = _launch(tmp_path, _resumable(None, False, "whole", every), timeout=180)
    assert [code for code, _ in results] == [0, 0], results
    results = _launch(tmp_path, _resumable(stop, False, "never", every), timeout=180)
    assert not list(tmp_path.glob("never*.json"))  # stopped before the end
    results = _launch(tmp_path, _resumable(None, True, "resumed", every), timeout=180)
    assert [code for code, _ in results] == [0, 0], results
    whole = json.loads((tmp_path / "whole0.json").read_text())
    for rank in (0, 1):
        resumed = json.loads((tmp_path / f"resumed{rank}.json").read_text())
        assert resumed["vectors"] == whole["vectors"]  # bit-identical: one thread per rank
        assert resumed["output"] == whole["output"]
        for key in ("words", "loss", "pairs"):  # each rank resumes its own sums of the epoch
            assert [h[key] for h in resumed["history"]] == [h[key] for h in whole["history"]]


def test_the_merge_timing_benchmark_runs(tmp_path):
    # benchmarks/distributed.py drives a TableMerger by hand; it broke unseen once already
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "distributed.py")
    spec = importlib.util.spec_from_file_location("distributed_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    out = tmp_path / "sync.json"
    benchmark._run(2, benchmark.SYNC, ["3000", "8", str(out)])
    result = json.loads(out.read_text())
    assert 0 < result["sparse_bytes"] < result["dense_bytes"]
    assert result["dense_seconds"] > 0 and result["sparse_seconds"] > 0


class _Crash(Exception):
    pass


class _ChunkLog(Callback):
    """Records each rank's chunks per epoch; with ``stop``, rank 0 fails after that chunk of
    that epoch (``(epoch, chunk)``): a crash right after the checkpoint that follows it."""

    def __init__(self, stop=None):
        self.chunks, self.stop = {}, stop

    def on_chunk_end(self, run, position):
        rank = run.topology.rank
        self.chunks[rank, position.epoch] = position.chunks_done
        if rank == 0 and (position.epoch, position.chunks_done) == self.stop:
            raise _Crash("stopped by the test")


def test_a_checkpoint_while_a_rank_waits_for_the_others_resumes_exactly(tmp_path,
                                                                        monkeypatch):
    # rank 0's byte share holds short words, rank 1's long ones: rank 0 trains several chunks
    # more, and its checkpoints after rank 1's last chunk fall while rank 1 joins the merges
    # (the merge before such a checkpoint used to leave rank 1 out of the gather: a crash)
    from torch_w2v import distributed

    monkeypatch.setattr(distributed, "STALE_TOKENS", 1024)
    short = [" ".join(f"s{(7 * i + j) % 90}" for i in range(30)) for j in range(400)]
    long_ = [" ".join(f"longer{(7 * i + j) % 90:02d}word" for i in range(30)) for j in range(60)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(short + long_) + "\n")
    params = {k: v for k, v in FAST.items() if k != "progress"}
    params.update(epochs=2, checkpoint_every=1)
    log = _ChunkLog()
    whole, _ = _simulator()(2, {**params, "checkpoint_dir": str(tmp_path / "a"),
                                "callbacks": [log]}, str(corpus))
    last = log.chunks[0, 2]
    assert last > log.chunks[1, 2] + 1  # rank 0's last chunks train while rank 1 waits
    with pytest.raises(RuntimeError):
        _simulator()(2, {**params, "checkpoint_dir": str(tmp_path / "b"),
                         "callbacks": [_ChunkLog(stop=(2, last))]}, str(corpus))
    resumed, _ = _simulator()(2, {**params, "checkpoint_dir": str(tmp_path / "b")},
                              str(corpus), resume=True)
    for rank in (0, 1):
        assert np.array_equal(resumed[rank].wv.vectors, whole[0].wv.vectors)
        assert [h["loss"] for h in resumed[rank].history_] == \
            [h["loss"] for h in whole[0].history_]


@pytest.mark.slow
def test_a_two_rank_checkpoint_resumes_in_one_process_on_the_global_schedule(tmp_path,
                                                                             corpus_file):
    """words_done counted one rank's share: resumed alone, the rate ended at 0.0066 instead of
    min_alpha. At an epoch end the position is global; mid-epoch, other ranks are refused."""
    _launch(tmp_path, _resumable("epoch", False, "never", None), timeout=180)
    assert not list(tmp_path.glob("never*.json"))
    alone = TorchWord2Vec(vector_size=12, min_count=2, epochs=4, workers=1, progress=False,
                          checkpoint_dir=str(tmp_path / "ckpt"))
    alone.fit(corpus_file=str(corpus_file), resume=True)
    assert [h["epoch"] for h in alone.history_] == [1, 2, 3, 4]
    assert alone.history_[-1]["lr"] == pytest.approx(alone.min_alpha, rel=1e-3)
    assert alone.history_[2]["lr"] == pytest.approx(
        alone.alpha - (alone.alpha - alone.min_alpha) * 3 / 4, rel=1e-3)
    _launch(tmp_path, _resumable("chunk", False, "never", 1000), timeout=180)
    with pytest.raises(ValueError, match=r"written mid-epoch by 2 rank\(s\); this run has 1"):
        alone.fit(corpus_file=str(corpus_file), resume=True)


def test_ranks_given_other_text_of_the_same_size_refuse(tmp_path):
    """Token lists of one length, and files of one name and size, were compared by length, name
    and size only: half of each rank's text trained, the rest silently lost."""
    for rank in (0, 1):
        (tmp_path / f"r{rank}").mkdir()
        words = ("alpha beta gamma" if rank == 0 else "delta omega kappa") + "\n"
        (tmp_path / f"r{rank}" / "corpus.txt").write_text(words * 300)
    script = """
    import sys
    sys.path.insert(0, %r)
    from conftest import zipf_corpus
    from torch_w2v import TorchWord2Vec
    est = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, workers=1, progress=False,
                        distributed=True)
    try:
        est.fit(zipf_corpus(n_sentences=200, seed=rank))
    except ValueError as err:
        print("lists:", err)
    try:
        est.fit(corpus_file=os.path.join(out, f"r{rank}", "corpus.txt"))
    except ValueError as err:
        print("files:", err)
    """.replace("%r", repr(os.path.dirname(__file__)))
    results = _launch(tmp_path, script)
    for code, out in results:
        assert code == 0, out
        assert "lists: rank 1 was started on another corpus (200 sentences (sampled" in out
        assert "files: rank 1 was started on another corpus (corpus.txt (5400 bytes" in out


def test_a_corpus_too_small_for_its_ranks_is_refused_on_every_rank(tmp_path):
    """One rank's share held no known word: it alone failed (NothingToTrain), the other hung."""
    script = """
    from torch_w2v import TorchWord2Vec
    est = TorchWord2Vec(vector_size=8, min_count=2, epochs=1, workers=1, progress=False,
                        distributed=True)
    try:  # rank 1's half is one word seen once: not in the vocabulary
        est.fit([["a", "b", "a", "b"], ["c"]])
    except ValueError as err:
        print("refused:", err)
    """
    results = _launch(tmp_path, script, timeout=60)
    for code, out in results:
        assert code == 0, out
        assert "refused: rank(s) [1] of 2 hold no word of the vocabulary" in out


@pytest.mark.slow
def test_two_torchrun_launchers_train_together_as_two_nodes(tmp_path, corpus_file):
    """Multi-node launch: two `torchrun --nnodes 2` launchers meeting through a c10d rendezvous
    (here both on this machine) train as one 2-rank job, with the single-node job's result."""
    flags = ["-m", "torch_w2v", "train", str(corpus_file), "--vector-size", "12",
             "--min-count", "2", "--epochs", "2", "--workers", "1", "--progress", "false"]
    rendezvous = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                  "--rdzv-endpoint", f"127.0.0.1:{_port()}", "--rdzv-id", "w2v-test"]
    launchers = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", *rendezvous, *flags,
         "-o", str(tmp_path / f"node{n}.txt")], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for n in (0, 1)]
    outputs = [launcher.communicate(timeout=240)[0] for launcher in launchers]
    assert [launcher.returncode for launcher in launchers] == [0, 0], outputs
    written = [p for p in (tmp_path / "node0.txt", tmp_path / "node1.txt") if p.exists()]
    assert len(written) == 1  # rank 0 alone writes, on whichever node it landed
    single = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-port", str(_port()), *flags, "-o", str(tmp_path / "single.txt")],
        capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stdout + single.stderr
    assert written[0].read_bytes() == (tmp_path / "single.txt").read_bytes()


class _EqualRanks:
    """A backend of ``world`` ranks that all send what this one sends."""

    def __init__(self, world):
        self.world = world

    def get_rank(self, group=None):
        return 0

    def get_world_size(self, group=None):
        return self.world

    def all_reduce(self, tensor, group=None, async_op=False):
        tensor *= self.world

        class Done:
            @staticmethod
            def wait(timeout=None):
                return True
        return Done()


@pytest.mark.parametrize("rule, factor", [("capped", 8 ** 0.5), ("mean", 1.0),
                                          ("aligned_mean", 1.0)])
def test_the_merge_rule_decides_what_equal_changes_add_up_to(monkeypatch, rule, factor):
    # 4 ranks that all moved a row by the same [0.1, 0.2]: the capped sum keeps sqrt(2 x 4)
    # times it, the mean and the aligned mean the change itself
    import torch

    from torch_w2v import distributed

    monkeypatch.setattr(distributed, "MERGE_RULE", rule)
    group = distributed.Distributed(backend=_EqualRanks(4))
    anchor = torch.zeros(3, 2)
    table = anchor.clone()
    table[1] = torch.tensor([0.1, 0.2])
    group.merge_changes([table], [anchor], more=False)
    assert torch.allclose(table[1], torch.tensor([0.1, 0.2]) * factor)
    assert torch.equal(table, anchor) and not table[[0, 2]].any()


def test_a_diverging_distributed_run_advises_fewer_ranks(corpus_file):
    params = {k: v for k, v in FAST.items() if k != "progress"}
    with pytest.raises(RuntimeError) as caught:
        _simulator()(2, {**params, "alpha": 1e30, "update_cap": None}, str(corpus_file))
    diverged = caught.value.__cause__
    assert isinstance(diverged, FloatingPointError)
    assert "alpha" in str(diverged) and "this run of 2 ranks" in str(diverged)
    with pytest.raises(FloatingPointError) as alone:
        TorchWord2Vec(**{**FAST, "alpha": 1e30, "update_cap": None}).fit(
            corpus_file=str(corpus_file))
    assert "ranks" not in str(alone.value)


def test_merges_that_cost_more_than_training_are_logged_and_warned_about_once(
        monkeypatch, caplog, corpus_file):
    # a slow network, made here by a collective that takes 50 ms: rank 0 says what the merges
    # cost every epoch, and warns once that fewer ranks would train faster
    from torch_w2v import distributed

    all_reduce = distributed.Distributed._all_reduce

    def slow(self, tensor):
        time.sleep(0.05)
        all_reduce(self, tensor)

    monkeypatch.setattr(distributed.Distributed, "_all_reduce", slow)
    params = {k: v for k, v in FAST.items() if k != "progress"}
    with caplog.at_level("INFO", logger="torch_w2v"):
        _simulator()(2, params, str(corpus_file))
    costs = [r.getMessage() for r in caplog.records if "merges of" in r.getMessage()
             and r.levelname == "INFO"]
    assert len(costs) == params["epochs"]  # one line an epoch, from rank 0 alone
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "merging the 2 ranks' tables took" in warnings[0]
    assert "fewer ranks would train faster" in warnings[0]


@pytest.mark.parametrize("rank, ranks, warned", [(0, 9, True), (1, 9, False), (0, 8, False)])
def test_more_ranks_than_measured_are_warned_about_once(caplog, rank, ranks, warned):
    from types import SimpleNamespace

    from torch_w2v.topology import DataParallel

    with caplog.at_level("WARNING", logger="torch_w2v"):
        DataParallel(SimpleNamespace(rank=rank, world_size=ranks))
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"on {ranks} ranks" in m and "up to 8" in m for m in messages) == warned
