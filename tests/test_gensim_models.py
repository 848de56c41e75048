"""gensim's model files and live models brought across: every mode and way gensim saves, gensim's
own old-version files, hostile pickles that must run nothing, and the way back to gensim."""
import glob
import io
import os
import pickle
import warnings

import numpy as np
import pytest
from gensim.models import Word2Vec as GensimWord2Vec
from gensim.models.word2vec import LineSentence
from gensim.test.utils import common_texts, datapath

import torch_w2v
from torch_w2v import TorchWord2Vec, Word2Vec
from torch_w2v.gensim_models import NotAWord2VecModel
from torch_w2v.safe_pickle import UnsafePickle

LEE = list(LineSentence(datapath("lee_background.cor")))[:120]
MODES = {"skip-gram, negative": dict(sg=1, negative=5),
         "cbow, hierarchical": dict(sg=0, hs=1, negative=0),
         "skip-gram, both": dict(sg=1, hs=1, negative=3),
         "cbow sum, negative": dict(sg=0, cbow_mean=0, negative=2)}
SAVES = {"one file": ("m.model", {}), "side files": ("m.model", {"sep_limit": 0}),
         "gzip": ("m.model.gz", {}), "bz2 side files": ("m.model.bz2", {"sep_limit": 0})}


def _gensim(**kw):
    return GensimWord2Vec(LEE, vector_size=12, min_count=2, epochs=2, seed=1, workers=1, **kw)


def _assert_same_state(ours, theirs):
    assert ours.wv.index_to_key == theirs.wv.index_to_key
    assert np.array_equal(ours.wv.vectors, theirs.wv.vectors)
    assert np.array_equal(ours.wv.expandos["count"], theirs.wv.expandos["count"])
    for name in ("sg", "hs", "negative", "window", "alpha", "min_alpha", "epochs", "cbow_mean",
                 "sample", "vector_size", "min_count", "ns_exponent"):
        assert getattr(ours, name) == getattr(theirs, name), name
    if theirs.negative:
        assert np.array_equal(ours.syn1neg, theirs.syn1neg)
    if theirs.hs:  # the same table and the tree it follows (gensim's heap breaks ties its way)
        assert np.array_equal(ours.syn1[:-1], theirs.syn1[:-1])
        for name in ("point", "code"):
            assert all(np.array_equal(a, b) for a, b in
                       zip(ours.wv.expandos[name], theirs.wv.expandos[name]))


@pytest.mark.parametrize("save", SAVES)
@pytest.mark.parametrize("mode", MODES)
def test_a_model_gensim_saved_loads_whole_and_trains_on(tmp_path, mode, save):
    theirs = _gensim(**MODES[mode])
    name, how = SAVES[save]
    path = str(tmp_path / name)
    theirs.save(path, **how)
    assert bool(glob.glob(path + ".*.np*")) == ("sep_limit" in how)
    ours = Word2Vec.load(path)
    _assert_same_state(ours, theirs)
    assert (ours.corpus_count, ours.corpus_total_words) == (theirs.corpus_count,
                                                            theirs.corpus_total_words)
    if theirs.hs:  # gensim scores the model we hand back exactly as its own
        assert np.array_equal(ours.to_gensim().score(LEE[:10]), theirs.score(LEE[:10]))
    before = ours.wv.vectors.copy()
    ours.train(LEE, total_examples=len(LEE), epochs=1)
    assert not np.allclose(ours.wv.vectors, before) and ours.get_latest_training_loss() > 0


def test_memory_mapped_side_files_load_read_only_and_train_on_a_copy(tmp_path):
    theirs = _gensim(sg=1, hs=1, negative=0)
    path = str(tmp_path / "m.model")
    theirs.save(path, sep_limit=0)
    ours = torch_w2v.load(path, mmap="r")
    assert isinstance(ours, Word2Vec)
    _assert_same_state(ours, theirs)
    assert isinstance(ours.wv.vectors.base, np.memmap) or not ours.wv.vectors.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-writable tensor" warning from PyTorch
        ours.train(LEE, total_examples=len(LEE), epochs=1)
    assert np.array_equal(np.load(path + ".wv.vectors.npy"), theirs.wv.vectors)  # untouched
    with pytest.raises(ValueError, match="compressed: it cannot be memory-mapped"):
        theirs.save(path + ".gz")
        Word2Vec.load(path + ".gz", mmap="r")


OLD_FILES = sorted(glob.glob(datapath("old_w2v_models/*.mdl"))) + [
    datapath(name) for name in ("word2vec_old", "word2vec_old_sep", "word2vec_3.3",
                                "model-from-gensim-3.8.0.w2v", "w2v-lee-v0.12.0",
                                "word2vec_pre_kv_py3", "word2vec_pre_kv_sep_py3")]


@pytest.mark.parametrize("path", OLD_FILES, ids=os.path.basename)
def test_gensims_old_version_files_load_and_train_on(path):
    """gensim 0.12 to 3.8, Python 2 and 3 pickles, side files: the state gensim 4.4 reads where
    it still can (it cannot read those before 0.13.4), and training continues from it."""
    ours = Word2Vec.load(path)
    try:
        theirs = GensimWord2Vec.load(path)
    except AttributeError:  # gensim 4 reads no model before 0.13.4
        theirs = None
    if theirs is not None:
        _assert_same_state(ours, theirs)
    word = ours.wv.index_to_key[0]
    assert len(ours.wv.most_similar(word, topn=2)) == 2
    ours.build_vocab(LEE, update=True)
    ours.train(LEE, total_examples=ours.corpus_count, epochs=1)
    assert np.isfinite(ours.wv.vectors).all() and len(ours.wv) > 3


def test_a_live_gensim_model_goes_across_and_back(tmp_path):
    theirs = _gensim(sg=1, hs=1, negative=5)
    theirs.wv.vectors_lockf = np.ones(len(theirs.wv), np.float32)
    theirs.wv.vectors_lockf[:5] = 0
    ours = Word2Vec.from_gensim(theirs)
    _assert_same_state(ours, theirs)
    assert np.array_equal(ours.wv.vectors_lockf, theirs.wv.vectors_lockf)
    frozen = ours.wv.vectors[:5].copy()
    ours.train(LEE, total_examples=len(LEE), epochs=1)
    assert np.array_equal(ours.wv.vectors[:5], frozen)  # lockf 0: frozen rows
    back = ours.to_gensim()
    _assert_same_state(ours, back)
    assert np.array_equal(back.wv.vectors_lockf, ours.wv.vectors_lockf)
    back.train(LEE, total_examples=len(LEE), epochs=1)  # gensim trains it and saves it
    back.save(str(tmp_path / "back.model"))
    assert GensimWord2Vec.load(str(tmp_path / "back.model")).wv.index_to_key == \
        ours.wv.index_to_key


def test_our_own_files_keep_the_imported_tree_and_lockf(tmp_path):
    theirs = _gensim(sg=0, hs=1, negative=0)
    ours = Word2Vec.from_gensim(theirs)
    ours.wv.vectors_lockf = np.linspace(0, 1, len(ours.wv)).astype(np.float32)
    ours.save(str(tmp_path / "ours.npz"))
    again = torch_w2v.load(str(tmp_path / "ours.npz"))
    _assert_same_state(again, theirs)
    assert np.array_equal(again.wv.vectors_lockf, ours.wv.vectors_lockf)


# -- what must never run -------------------------------------------------------------------------

class _Boom:
    """Unpickling it runs a shell command (as a hostile model file would)."""

    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def boom(tmp_path):
    marker = tmp_path / "pwned"
    _Boom.marker = str(marker)
    yield _Boom()
    assert not marker.exists(), "code from the file ran"


def test_a_pickle_that_runs_a_command_is_refused_naming_the_global(tmp_path, boom):
    path = tmp_path / "evil.model"
    path.write_bytes(pickle.dumps(boom, protocol=2))
    for load in (Word2Vec.load, torch_w2v.load):
        with pytest.raises(UnsafePickle, match=r"global posix\.system"):
            load(str(path))


def test_a_command_nested_in_a_real_gensim_model_is_refused(tmp_path, boom):
    theirs = _gensim(sg=1, negative=5)
    theirs.wv.evil = {"deep": [boom]}
    path = str(tmp_path / "nested.model")
    theirs.save(path)
    with pytest.raises(UnsafePickle, match=r"posix\.system"):
        Word2Vec.load(path)


def test_a_side_file_holding_a_pickle_is_refused(tmp_path, boom):
    theirs = _gensim(sg=1, negative=5)
    path = str(tmp_path / "side.model")
    theirs.save(path, sep_limit=0)
    np.save(path + ".wv.vectors.npy", np.array([boom, 1], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds Python objects"):
        Word2Vec.load(path)


def test_a_side_file_named_outside_the_model_is_refused(tmp_path):
    path = str(tmp_path / "m.model")
    _gensim(sg=1, negative=5).save(path, sep_limit=0)
    with open(path, "rb") as f:
        model = pickle.load(f)  # our own file: gensim's classes, to forge it the simple way
    model.__dict__["__numpys"] = ["../../../etc/passwd"]
    with open(path, "wb") as f:
        pickle.dump(model, f, protocol=2)
    with pytest.raises(ValueError, match="not attribute names"):
        Word2Vec.load(path)


def test_a_forged_side_file_header_is_refused_before_allocating(tmp_path):
    theirs = _gensim(sg=1, negative=5)
    path = str(tmp_path / "m.model")
    theirs.save(path, sep_limit=0)
    side = path + ".wv.vectors.npy"
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10 ** 6, 10 ** 6)})
    with open(side, "wb") as f:
        f.write(buffer.getvalue() + b"\0" * 64)
    with pytest.raises(ValueError, match="more than the file holds"):
        Word2Vec.load(path)


def test_files_that_hold_no_word2vec_say_what_they_hold(tmp_path):
    kv = tmp_path / "vectors.kv"
    _gensim(sg=1).wv.save(str(kv))
    with pytest.raises(AttributeError, match="KeyedVectors"):  # gensim's own type
        Word2Vec.load(str(kv))
    plain = tmp_path / "dict.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(NotAWord2VecModel, match="pickled dict"):
        torch_w2v.load(str(plain))
    with pytest.raises(ValueError, match="torch_w2v.Word2Vec.load"):
        TorchWord2Vec.load(str(kv))  # the estimator's own loader points the way
    with pytest.raises(UnsafePickle, match="FastText"):
        Word2Vec.load(datapath("compatible-hash-true.model"))


def test_torch_w2v_load_returns_the_class_that_saved(tmp_path):
    est = TorchWord2Vec(vector_size=8, min_count=1, epochs=1, progress=False).fit(common_texts)
    est.save(str(tmp_path / "est.npz"))
    facade = Word2Vec(common_texts, vector_size=8, min_count=1, epochs=1)
    facade.save(str(tmp_path / "facade.npz"))
    assert type(torch_w2v.load(str(tmp_path / "est.npz"))) is TorchWord2Vec
    assert type(torch_w2v.load(str(tmp_path / "facade.npz"))) is Word2Vec
