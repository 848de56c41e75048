import os
import pickle
import signal
import subprocess
import sys
import time

import joblib
import numpy as np
import pytest

import torch_w2v
from torch_w2v import TorchWord2Vec, Word2Vec
from torch_w2v.checkpoints import CHECKPOINT_NAME

FAST = dict(vector_size=16, min_count=2, epochs=3, progress=False, batch_size=512, workers=1)


@pytest.fixture
def fitted(corpus):
    return TorchWord2Vec(**FAST).fit(corpus)


def _same(a, b):
    assert a.wv.index_to_key == b.wv.index_to_key
    assert np.array_equal(a.wv.vectors, b.wv.vectors)
    assert np.array_equal(a.output_vectors_, b.output_vectors_)
    assert np.array_equal(a.vocab_.counts, b.vocab_.counts)
    assert [int(a.wv.get_vecattr(w, "count")) for w in a.wv.index_to_key[:5]] == \
        [int(b.wv.get_vecattr(w, "count")) for w in b.wv.index_to_key[:5]]


@pytest.mark.parametrize("name", ["model.npz", "sub/dir/model.npz", "file://model.npz"])
def test_save_load_round_trip_is_exact(fitted, tmp_path, name):
    path = f"file://{tmp_path / name[7:]}" if name.startswith("file://") else str(tmp_path / name)
    fitted.save(path)
    loaded = torch_w2v.load(path)
    _same(fitted, loaded)
    assert loaded.history_ == fitted.history_
    assert loaded.get_params() == {**fitted.get_params()}
    assert loaded.transform(fitted.wv.index_to_key[:2]).shape == (2, 16)


def test_loading_never_unpickles(fitted, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    fitted.save(str(path))

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    torch_w2v.load(str(path))


def test_crash_mid_write_keeps_previous_file(fitted, tmp_path, monkeypatch):
    import torch_w2v.persist as persist

    path = tmp_path / "model.npz"
    fitted.save(str(path))
    before = path.read_bytes()

    real_write = persist._write_npy
    written = []

    def crash(archive, name, value):  # killed after the first member, halfway
        if written:
            raise KeyboardInterrupt("killed mid-write")
        real_write(archive, name, value)
        written.append(name)

    monkeypatch.setattr(persist, "_write_npy", crash)
    with pytest.raises(KeyboardInterrupt):
        fitted.save(str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary left behind


class _WriteOnly:
    """A file that can only be written (no seek, no tell), as a remote store's stream."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def test_crash_while_writing_file_leaves_no_partial(fitted, tmp_path, monkeypatch):
    import torch_w2v.persist as persist

    path = tmp_path / "model.npz"
    real_open = persist.smart_open

    class Dying(_WriteOnly):
        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise OSError("disk full")

    monkeypatch.setattr(persist, "smart_open",
                        lambda p, mode, **kw: Dying(real_open(p, mode, **kw)))
    with pytest.raises(OSError, match="disk full"):
        fitted.save(str(path))
    assert not path.exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_damaged_files_are_refused_clearly(fitted, tmp_path, damage):
    path = tmp_path / "model.npz"
    fitted.save(str(path))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"not a model at all" * 10)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model file|checksum"):
        torch_w2v.load(str(path))


def test_altered_content_with_valid_zip_fails_checksum(fitted, tmp_path):
    path = tmp_path / "model.npz"
    fitted.save(str(path))
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["input_vectors"] = arrays["input_vectors"] + 1
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="checksum"):
        torch_w2v.load(str(path))


def test_estimator_pickles_with_joblib(fitted, tmp_path):
    joblib.dump(fitted, tmp_path / "est.joblib")
    _same(fitted, joblib.load(tmp_path / "est.joblib"))


def test_save_before_fit_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TorchWord2Vec().save(str(tmp_path / "m.npz"))


def test_checkpoint_written_every_epoch_and_resume_of_finished_run(corpus, tmp_path):
    est = TorchWord2Vec(**FAST, checkpoint_dir=str(tmp_path)).fit(corpus)
    assert (tmp_path / CHECKPOINT_NAME).exists()
    again = TorchWord2Vec(**FAST, checkpoint_dir=str(tmp_path)).fit(corpus, resume=True)
    _same(est, again)  # nothing left to train: the checkpoint is the result
    assert again.history_ == est.history_


def test_resume_checks_parameters_and_corpus(corpus, tmp_path):
    TorchWord2Vec(**FAST, checkpoint_dir=str(tmp_path)).fit(corpus)
    with pytest.raises(ValueError, match="other parameters.*window"):
        TorchWord2Vec(**{**FAST, "window": 2}, checkpoint_dir=str(tmp_path)).fit(corpus,
                                                                                 resume=True)
    with pytest.raises(ValueError, match="another corpus"):
        TorchWord2Vec(**FAST, checkpoint_dir=str(tmp_path)).fit(corpus[:100], resume=True)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        TorchWord2Vec(**FAST).fit(corpus, resume=True)


_TRAIN_SCRIPT = """
import sys, time
from torch_w2v import TorchWord2Vec, Callback
sys.path.insert(0, {tests!r})
from conftest import zipf_corpus

class Slow(Callback):
    def on_epoch_end(self, estimator, epoch, logs):
        print("epoch", epoch, flush=True)
        time.sleep(0.5)

corpus = zipf_corpus(n_sentences=3000)
TorchWord2Vec(**{params!r}, checkpoint_dir={ckpt!r}, callbacks=[Slow()]).fit(corpus)
"""


def test_sigkill_mid_run_then_resume_matches_uninterrupted_run(tmp_path):
    from conftest import zipf_corpus

    params = {**FAST, "epochs": 4}
    ckpt = str(tmp_path / "ckpt")
    script = _TRAIN_SCRIPT.format(tests=os.path.dirname(__file__), params=params, ckpt=ckpt)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # kill it once two epochs are checkpointed, during the third
        if line.strip() == "epoch 2":
            time.sleep(0.6)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    corpus = zipf_corpus(n_sentences=3000)
    resumed = TorchWord2Vec(**params, checkpoint_dir=ckpt).fit(corpus, resume=True)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    uninterrupted = TorchWord2Vec(**params).fit(corpus)
    _same(resumed, uninterrupted)
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in uninterrupted.history_]


@pytest.mark.parametrize("source, dtype", [("list", "float32"), ("file", "float32"),
                                           ("list", "bfloat16")])
def test_mid_epoch_checkpoint_resumes_exactly(tmp_path, monkeypatch, source, dtype):
    from conftest import zipf_corpus

    import torch_w2v.checkpoints as checkpoints

    corpus = zipf_corpus(n_sentences=8000)  # 240k tokens: four sampling chunks an epoch
    data = dict(X=corpus)
    if source == "file":  # killed in epoch 2, read from the encoded-id file; resumed from text
        path = tmp_path / "corpus.txt"
        path.write_text("\n".join(" ".join(s) for s in corpus))
        data = dict(corpus_file=str(path))
    params = {**FAST, "epochs": 2, "checkpoint_every": 100_000, "dtype": dtype}
    if dtype == "bfloat16":  # trained by the fused step only
        params.update(step="fused", batch_size=None)
    real_save = checkpoints.save
    seen = []

    def save_then_die(*args):
        real_save(*args)
        position = args[5]
        seen.append((position.epoch, position.chunks_done))
        if position.epoch == 2 and position.chunks_done > 0:
            raise KeyboardInterrupt("killed right after a mid-epoch checkpoint")

    monkeypatch.setattr(checkpoints, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        TorchWord2Vec(**params, checkpoint_dir=str(tmp_path / "ckpt")).fit(**data)
    assert (1, 2) in seen or (1, 3) in seen  # checkpoints inside epoch 1 too
    monkeypatch.setattr(checkpoints, "save", real_save)
    resumed = TorchWord2Vec(**params, checkpoint_dir=str(tmp_path / "ckpt")).fit(
        **data, resume=True)
    uninterrupted = TorchWord2Vec(**params).fit(**data)
    _same(resumed, uninterrupted)
    for a, b in zip(resumed.history_, uninterrupted.history_):
        assert (a["loss"], a["pairs"], a["words"]) == (b["loss"], b["pairs"], b["words"])


def _forge(source, target, edit_document=None, arrays_edit=None):
    """Rewrite a model file with its JSON document edited and the digest made to match, as
    someone who knows the format could."""
    import io
    import json

    from torch_w2v import persist

    with np.load(source, allow_pickle=False) as archive:
        document = json.loads(bytes(archive["meta"]).decode())
        arrays = {name: archive[name] for name in archive.files if name != "meta"}
    if edit_document:
        edit_document(document)
    if arrays_edit:
        arrays_edit(arrays)
    document["sha256"] = persist._digest(arrays, document)
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(document).encode(), dtype=np.uint8), **arrays)
    target.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("edit,match", [
    (lambda d: d["params"].update(alpha="abc"), "invalid parameter.*alpha"),
    (lambda d: d["params"].update(sneaky=1), "unknown parameters"),
    (lambda d: d["words"].__setitem__(1, d["words"][0]), "a word twice"),
    (lambda d: d["words"].__setitem__(0, 7), "not a list of strings"),
])
def test_re_digested_edits_are_validated_like_constructor_input(fitted, tmp_path, edit, match):
    fitted.save(tmp_path / "m.npz")
    _forge(tmp_path / "m.npz", tmp_path / "forged.npz", edit)
    with pytest.raises(ValueError, match=match):
        torch_w2v.load(tmp_path / "forged.npz")


def test_a_file_does_not_choose_where_later_fits_write(fitted, tmp_path):
    fitted.save(tmp_path / "m.npz")
    _forge(tmp_path / "m.npz", tmp_path / "forged.npz",
           lambda d: d["params"].update(checkpoint_dir="/somewhere/else"))
    assert torch_w2v.load(tmp_path / "forged.npz").checkpoint_dir is None


def test_a_header_declaring_more_than_the_file_holds_is_refused_unallocated(fitted, tmp_path):
    import io
    import zipfile

    fitted.save(tmp_path / "m.npz")
    header = io.BytesIO()  # 200 GB of float32, as declared, over the few bytes there are
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (50_000_000_000, 1)})
    with zipfile.ZipFile(tmp_path / "m.npz") as source, \
            zipfile.ZipFile(tmp_path / "big.npz", "w") as forged:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "input_vectors.npy":
                data = header.getvalue() + data[128:]
            forged.writestr(member, data)
    with pytest.raises(ValueError, match="declares"):
        torch_w2v.load(tmp_path / "big.npz")


def test_a_compressed_member_is_refused_before_it_expands(fitted, tmp_path):
    import zipfile

    fitted.save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as source, \
            zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as bomb:
        for member in source.infolist():
            bomb.writestr(member.filename, source.read(member))
        bomb.writestr("padding.npy", b"\0" * (20 << 20))  # 20 MB of zeros: 20 kB deflated
    assert (tmp_path / "bomb.npz").stat().st_size < 1 << 20
    with pytest.raises(ValueError, match="compressed"):
        torch_w2v.load(tmp_path / "bomb.npz")


def test_a_save_killed_mid_write_leaves_a_named_file_the_next_save_removes(fitted, tmp_path):
    """A writer killed mid-write (SIGKILL: no cleanup runs) leaves its temporary file; it is
    recognisable and the next save to that place deletes it."""
    code = ("import os, signal, numpy as np, torch_w2v.io as io\n"
            f"with io.atomic_path({str(tmp_path / 'm.npz')!r}) as tmp:\n"
            "    open(tmp, 'wb').write(b'half a model')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code])
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".m.npz.torch_w2v-tmp-")
    fitted.save(tmp_path / "m.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_paths_devices_and_numpy_numbers_are_stored_as_plain_values(corpus, tmp_path):
    import pathlib

    import torch
    params = {**FAST, "vector_size": np.int64(16), "alpha": np.float32(0.025),
              "device": torch.device("cpu"), "checkpoint_dir": pathlib.Path(tmp_path / "ck")}
    est = TorchWord2Vec(**params).fit(corpus)
    assert (tmp_path / "ck" / CHECKPOINT_NAME).exists()
    est.save(tmp_path / "model.npz")
    loaded = torch_w2v.load(tmp_path / "model.npz")
    stored = loaded.get_params()
    assert stored["checkpoint_dir"] is None  # a file does not choose where later fits write
    assert stored["device"] == "cpu" and stored["vector_size"] == 16
    assert type(stored["vector_size"]) is int and type(stored["alpha"]) is float
    again = TorchWord2Vec(**params).fit(corpus, resume=True)
    _same(est, again)


@pytest.mark.parametrize("edit,match", [
    (lambda d: d["params"].update(corpus_file="/dev/zero"),
     r"unknown parameters \['corpus_file'\]"),
    (lambda d: d["params"].update(sentences=[["a", "b"]]), r"unknown parameters \['sentences'\]"),
    (lambda d: d["params"].pop("vector_size"), "no vector_size"),
    (lambda d: d["history"].append({"epoch": "x"}), "history entry without the numbers"),
    (lambda d: d.__setitem__("history", "garbage"), "history that is not a list"),
    (lambda d: d["extra"].update(corpus_count="many"), "extra data corpus_count"),
    (lambda d: d["extra"].update(callbacks=1), "extra data callbacks"),
])
def test_a_facade_model_file_is_data_named_defects_at_load(tmp_path, monkeypatch, edit, match):
    """A model file never names text to read or train on, and each defect is named at load
    (not a KeyError or TypeError later)."""
    from gensim.test.utils import common_texts

    Word2Vec(common_texts, vector_size=8, min_count=1, epochs=1).save(tmp_path / "m.npz")
    _forge(tmp_path / "m.npz", tmp_path / "forged.npz", edit)
    with pytest.raises(ValueError, match=match):
        Word2Vec.load(tmp_path / "forged.npz")


def test_loading_never_reads_text_or_trains_even_with_huge_epochs(tmp_path, monkeypatch):
    from gensim.test.utils import common_texts

    from torch_w2v import corpus, run

    Word2Vec(common_texts, vector_size=8, min_count=1, epochs=1).save(tmp_path / "m.npz")
    _forge(tmp_path / "m.npz", tmp_path / "forged.npz",
           lambda d: d["params"].update(epochs=10 ** 6))

    def never(*args, **kwargs):
        raise AssertionError("loading a model file read text or trained")

    monkeypatch.setattr(run.TrainingRun, "train", never)
    monkeypatch.setattr(run.TrainingRun, "scan", never)
    monkeypatch.setattr(corpus, "smart_open", never)
    assert Word2Vec.load(tmp_path / "forged.npz").epochs == 10 ** 6


def test_nan_vectors_are_refused_at_load(fitted, tmp_path):
    fitted.save(tmp_path / "m.npz")

    def poison(arrays):
        arrays["input_vectors"] = arrays["input_vectors"].copy()
        arrays["input_vectors"][0, 0] = np.nan
    _forge(tmp_path / "m.npz", tmp_path / "forged.npz", arrays_edit=poison)
    with pytest.raises(ValueError, match="NaN or infinite values in input_vectors"):
        torch_w2v.load(tmp_path / "forged.npz")


def test_files_that_are_no_model_say_what_they_are_and_what_reads_them(fitted, tmp_path):
    fitted.wv.save_word2vec_format(str(tmp_path / "vectors.txt"))
    fitted.wv.save_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat\n")
    for name in ("vectors.txt", "vectors.bin"):
        with pytest.raises(ValueError, match="word2vec-format file.*load_word2vec_format"):
            torch_w2v.load(tmp_path / name)
    with pytest.raises(ValueError, match="a text file.*corpus_file"):
        TorchWord2Vec.load(tmp_path / "corpus.txt")
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        torch_w2v.load(tmp_path / "zero")  # would read forever


def test_a_full_checkpoint_dir_warns_and_keeps_training_and_the_last_checkpoint(
        corpus, tmp_path, monkeypatch, caplog):
    """A full disk ended the fit with a bare ENOSPC and lost the epoch's training."""
    import errno

    from torch_w2v import checkpoints

    real_save_state, calls = checkpoints.save_state, []

    def disk_full_after_one(path, arrays, document):
        calls.append(document["position"]["epoch"])
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save_state(path, arrays, document)
    monkeypatch.setattr(checkpoints, "save_state", disk_full_after_one)
    params = dict(vector_size=8, min_count=2, epochs=3, workers=1, progress=False)
    with caplog.at_level("WARNING", logger="torch_w2v"):
        est = TorchWord2Vec(**params, checkpoint_dir=str(tmp_path)).fit(corpus)
    assert len(est.history_) == 3 and calls == [2, 3, 4]  # the epoch each would resume in
    warnings = [r.getMessage() for r in caplog.records if "could not write" in r.getMessage()]
    assert len(warnings) == 2 and "No space left on device" in warnings[0]
    assert str(tmp_path / "checkpoint.npz") in warnings[0]  # names the checkpoint
    monkeypatch.setattr(checkpoints, "save_state", real_save_state)
    resumed = TorchWord2Vec(**params, checkpoint_dir=str(tmp_path)).fit(corpus, resume=True)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]  # from epoch 1's checkpoint


def test_saving_and_loading_stream_the_tables_instead_of_copying_them(corpus, tmp_path):
    """A model file is written member by member in slices: what saving allocates beyond the
    tables is a small part of them (writing the archive into memory first took 1.5 times the
    tables here); loading allocates the tables and little more (reading the whole file into
    memory first took 2.5 times them)."""
    import tracemalloc

    est = TorchWord2Vec(**{**FAST, "vector_size": 2000, "epochs": 1}).fit(corpus)
    tables = est.wv.vectors.nbytes + est.output_vectors_.nbytes  # about 3 MB
    tracemalloc.start()
    try:
        est.save(tmp_path / "model.npz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * tables, (peak, tables)
    tracemalloc.start()  # loading reads the arrays from the file, not from a copy of it
    try:
        loaded = TorchWord2Vec.load(tmp_path / "model.npz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.4 * tables, (peak, tables)
    _same(loaded, est)


def test_a_checkpoint_of_bfloat16_tables_is_written_a_slice_at_a_time(tmp_path, monkeypatch):
    import torch

    from torch_w2v import persist
    from torch_w2v.model import EmbeddingTables, Float32Chunks

    monkeypatch.setattr(persist, "CHUNK_BYTES", 64)  # many slices, one ending mid-row
    tables = EmbeddingTables(37, 5, dtype=torch.bfloat16)
    with torch.no_grad():
        tables.output_vectors.copy_(torch.randn(37, 5))
    arrays = {"a": Float32Chunks(tables.input_vectors), "b": Float32Chunks(tables.output_vectors)}
    persist.save_state(tmp_path / "t.npz", arrays, {"x": 1})
    loaded, document = persist.load_state(tmp_path / "t.npz")
    assert document["x"] == 1 and loaded["a"].dtype == np.float32
    assert np.array_equal(loaded["a"], tables.input_vectors.float().numpy())
    assert np.array_equal(loaded["b"], tables.output_vectors.float().numpy())


def test_a_file_written_to_an_unseekable_stream_loads(tmp_path, monkeypatch):
    """Remote stores (s3://...) take a stream that cannot seek: the archive is then written
    with data descriptors, and reads back the same."""
    from torch_w2v import persist

    real_open = persist.smart_open

    monkeypatch.setattr(persist, "smart_open", lambda p, mode, **kw: _WriteOnly(
        real_open(p, mode, **kw)))
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    persist.save_state(tmp_path / "x.npz", {"a": values}, {"k": 1})
    monkeypatch.setattr(persist, "smart_open", real_open)
    arrays, document = persist.load_state(tmp_path / "x.npz")
    assert np.array_equal(arrays["a"], values) and document["k"] == 1
