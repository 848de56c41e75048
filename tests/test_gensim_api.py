"""torch_w2v.Word2Vec against gensim's interface: the documentation's examples with only the
import changed, build_vocab/train/callbacks/loss, files, and what is refused."""
import warnings

import numpy as np
import pytest
from gensim.models import KeyedVectors, Phrases
from gensim.models.callbacks import CallbackAny2Vec
from gensim.test.utils import common_texts, datapath

from torch_w2v import TorchWord2Vec, Word2Vec


def test_gensim_module_examples_run_with_only_the_import_changed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # from gensim.models.word2vec's module docstring, "Usage examples"
    model = Word2Vec(sentences=common_texts, vector_size=100, window=5, min_count=1, workers=4)
    model.save("word2vec.model")
    model = Word2Vec.load("word2vec.model")
    assert model.train([["hello", "world"]], total_examples=1, epochs=1) == (0, 2)
    vector = model.wv['computer']  # get numpy vector of a word
    sims = model.wv.most_similar('computer', topn=10)  # get other similar words
    word_vectors = model.wv
    word_vectors.save("word2vec.wordvectors")
    wv = KeyedVectors.load("word2vec.wordvectors", mmap='r')
    vector = wv['computer']  # Get numpy vector of a word
    assert vector.shape == (100,) and len(sims) == 10
    bigram_transformer = Phrases(common_texts)
    model = Word2Vec(bigram_transformer[common_texts], min_count=1)
    assert len(model.wv) == 12
    # from Word2Vec.__init__'s docstring
    sentences = [["cat", "say", "meow"], ["dog", "say", "woof"]]
    model = Word2Vec(sentences, min_count=1)
    assert set(model.wv.index_to_key) == {"cat", "say", "meow", "dog", "woof"}


def test_defaults_and_signature_are_gensims():
    import inspect

    from gensim.models import Word2Vec as GensimWord2Vec

    ours = inspect.signature(Word2Vec.__init__).parameters
    theirs = inspect.signature(GensimWord2Vec.__init__).parameters
    for name, parameter in theirs.items():
        assert name in ours, name
        assert ours[name].default == parameter.default, name
    model = Word2Vec()
    assert (model.sg, model.hs, model.negative, model.cbow_mean, model.workers) == (0, 0, 5, 1, 3)


def test_build_vocab_then_train_counts_as_gensim(tmp_path):
    from conftest import zipf_corpus

    corpus = zipf_corpus()
    model = Word2Vec(vector_size=16, min_count=2, sample=0, seed=3, workers=1)
    model.build_vocab(corpus)
    assert model.corpus_count == len(corpus)
    assert model.corpus_total_words == sum(map(len, corpus))
    before = model.wv.vectors.copy()
    effective, raw = model.train(corpus, total_examples=model.corpus_count, epochs=3)
    in_vocab = int(sum(model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key))
    assert (effective, raw) == (3 * in_vocab, 3 * model.corpus_total_words)  # sample=0
    assert not np.array_equal(before, model.wv.vectors)
    assert model.get_latest_training_loss() > 0 and model.train_count == 1
    path = tmp_path / "file.txt"
    path.write_text("\n".join(" ".join(s) for s in corpus))
    from_file = Word2Vec(vector_size=16, min_count=2, sample=0, seed=3, workers=1)
    from_file.build_vocab(corpus_file=str(path))
    assert from_file.wv.index_to_key == model.wv.index_to_key
    effective, raw = from_file.train(corpus_file=str(path),
                                     total_words=from_file.corpus_total_words, epochs=1)
    assert raw == model.corpus_total_words


@pytest.mark.parametrize("compiled", [True, False])
def test_corpus_file_is_read_once_per_fit(tmp_path, monkeypatch, compiled):
    """One vocabulary path: the counting pass records the file's word ids, every epoch reads
    them, so ``Word2Vec(corpus_file=...)`` opens the text once (compiled text path or not)."""
    import smart_open
    from conftest import zipf_corpus

    import torch_w2v.corpus
    import torch_w2v.text

    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(s) for s in zipf_corpus(n_sentences=200)))
    opened = []

    def counting(open_):
        def open_and_count(file, *args, **kwargs):
            opened.append(str(file))
            return open_(file, *args, **kwargs)
        return open_and_count

    monkeypatch.setattr(smart_open, "open", counting(smart_open.open))  # the compiled path's
    monkeypatch.setattr(torch_w2v.corpus, "smart_open", counting(torch_w2v.corpus.smart_open))
    if not compiled:
        monkeypatch.setattr(torch_w2v.text, "applies", lambda sentences: False)
    model = Word2Vec(corpus_file=str(path), vector_size=8, min_count=2, epochs=3, workers=1)
    assert opened == [str(path)] and len(model.wv) > 0
    opened.clear()
    model.build_vocab(corpus_file=str(path))
    model.train(corpus_file=str(path), total_words=model.corpus_total_words, epochs=2)
    assert opened == [str(path)]


def test_build_vocab_update_keeps_known_words_and_adds_new():
    from conftest import zipf_corpus

    model = Word2Vec(zipf_corpus(), vector_size=8, min_count=2, workers=1)
    known = list(model.wv.index_to_key)
    before = model.wv.vectors.copy()
    more = [s + ["brandnew"] for s in zipf_corpus(n_sentences=50, seed=1)]
    model.build_vocab(more, update=True)
    assert model.wv.index_to_key[:len(known)] == known and "brandnew" in model.wv
    assert np.array_equal(model.wv.vectors[:len(known)], before)
    model.train(more, total_examples=len(more), epochs=1)
    assert not np.array_equal(model.wv.vectors[:len(known)], before)


def test_gensim_callbacks_see_the_model_as_it_trains():
    from conftest import zipf_corpus

    seen = []

    class Record(CallbackAny2Vec):
        def on_train_begin(self, model):
            seen.append(("begin", None))

        def on_epoch_end(self, model):
            seen.append(("epoch", model.get_latest_training_loss(), model.wv.vectors.copy()))

        def on_train_end(self, model):
            seen.append(("end", None))

    model = Word2Vec(zipf_corpus(), vector_size=8, min_count=2, epochs=3, compute_loss=True,
                     callbacks=[Record()])
    assert [s[0] for s in seen] == ["begin", "epoch", "epoch", "epoch", "end"]
    losses = [s[1] for s in seen if s[0] == "epoch"]
    assert 0 < losses[0] < losses[1] < losses[2]  # a running sum, as in gensim
    assert losses[2] == pytest.approx(model.get_latest_training_loss())
    assert not np.array_equal(seen[1][2], seen[2][2])
    assert np.array_equal(seen[3][2], model.wv.vectors)


@pytest.mark.parametrize("sg,hs,negative", [(0, 0, 5), (1, 0, 5), (0, 1, 0), (1, 1, 0),
                                            (1, 1, 3)])
def test_every_mode_trains_saves_and_loads(tmp_path, sg, hs, negative):
    from conftest import zipf_corpus

    model = Word2Vec(zipf_corpus(), vector_size=8, min_count=2, sg=sg, hs=hs,
                     negative=negative, epochs=2, workers=1)
    words = len(model.wv)
    tables = [name for name, on in (("syn1neg", negative), ("syn1", hs)) if on]
    for name in tables:  # gensim's shapes: one row per word (syn1's last one unused)
        assert getattr(model, name).shape == (words, 8)
    for name in {"syn1neg", "syn1"} - set(tables):  # as in gensim: no table for what is off
        assert not hasattr(model, name)
    model.save(tmp_path / "m.npz")
    again = Word2Vec.load(tmp_path / "m.npz")
    assert (again.sg, again.hs, again.negative) == (sg, hs, negative)
    assert np.array_equal(again.wv.vectors, model.wv.vectors)
    for name in tables:
        assert np.array_equal(getattr(again, name), getattr(model, name))


def test_what_has_no_meaning_here_is_refused_or_documented(tmp_path):
    with pytest.raises(ValueError, match="null_word"):
        Word2Vec(null_word=1)
    with pytest.warns(UserWarning, match="hashfxn has no effect"):
        Word2Vec(hashfxn=lambda s: 0)
    with pytest.warns(UserWarning, match="batch_words has no effect"):
        Word2Vec(batch_words=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Word2Vec(compute_loss=True, comment="ok")  # accepted: the loss is always computed
    with pytest.raises(TypeError, match="'size'; did you mean 'vector_size'"):
        Word2Vec(size=100)
    with pytest.raises(TypeError, match="'iter'; did you mean 'epochs'"):
        Word2Vec(iter=5)
    model = Word2Vec()
    with pytest.raises(RuntimeError, match="build vocabulary"):
        model.train(common_texts, total_examples=9, epochs=1)


def test_a_gensim_model_loads_in_the_drop_in_and_the_estimator_points_there(tmp_path):
    from gensim.models import Word2Vec as GensimWord2Vec

    path = tmp_path / "gensim.model"
    theirs = GensimWord2Vec(common_texts, vector_size=8, min_count=1)
    theirs.save(str(path))
    assert np.array_equal(Word2Vec.load(str(path)).wv.vectors, theirs.wv.vectors)
    with pytest.raises(ValueError, match=r"pickle.*torch_w2v\.Word2Vec\.load"):
        TorchWord2Vec.load(str(path))


def test_model_files_of_the_two_classes_are_told_apart(tmp_path):
    Word2Vec(common_texts, vector_size=8, min_count=1).save(tmp_path / "w.npz")
    TorchWord2Vec(vector_size=8, min_count=1, progress=False).fit(common_texts).save(
        tmp_path / "t.npz")
    with pytest.raises(ValueError, match="Word2Vec.load"):
        TorchWord2Vec.load(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="TorchWord2Vec"):
        Word2Vec.load(tmp_path / "t.npz")


def test_the_word2vec_format_round_trip_of_gensims_docs(tmp_path):
    model = Word2Vec(common_texts, vector_size=8, min_count=1)
    model.wv.save_word2vec_format(str(tmp_path / "v.txt"))
    back = KeyedVectors.load_word2vec_format(str(tmp_path / "v.txt"), binary=False)
    assert back.index_to_key == model.wv.index_to_key
    assert KeyedVectors.load_word2vec_format(datapath("word2vec_pre_kv_c"), binary=False)


def test_predict_output_word_and_build_vocab_from_freq():
    from conftest import zipf_corpus

    model = Word2Vec(zipf_corpus(), vector_size=8, min_count=2, epochs=3)
    predicted = model.predict_output_word(["w0", "w10"], topn=5)
    assert len(predicted) == 5 and all(w in model.wv for w, _ in predicted)
    probabilities = [p for _, p in predicted]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1
    assert model.predict_output_word(["never-seen"]) is None
    with pytest.raises(RuntimeError, match="negative sampling"):
        Word2Vec(zipf_corpus(), vector_size=8, hs=1, negative=0).predict_output_word(["w0"])
    fresh = Word2Vec(vector_size=8, min_count=2)
    fresh.build_vocab_from_freq({"a": 5, "b": 3, "c": 1}, corpus_count=4)
    assert fresh.wv.index_to_key == ["a", "b"] and fresh.corpus_count == 4
    assert fresh.corpus_total_words == 9


def test_build_vocab_update_keeps_huffman_rows_by_index():
    from conftest import zipf_corpus

    model = Word2Vec(zipf_corpus(), vector_size=8, min_count=2, hs=1, negative=0, epochs=1)
    nodes = model.syn1[:-1].copy()  # the inner nodes (gensim's last row is unused)
    model.build_vocab([s + ["brandnew"] for s in zipf_corpus(n_sentences=50, seed=1)],
                      update=True)
    assert model.syn1.shape == (len(model.wv), 8)
    assert np.array_equal(model.syn1[:len(nodes)], nodes)


def test_reset_from_estimate_memory_and_gensims_attribute_names():
    from conftest import zipf_corpus

    first = Word2Vec(zipf_corpus(), vector_size=8, min_count=2, max_final_vocab=50, hs=1)
    assert len(first.wv) <= 50 and first.effective_min_count > 2
    assert first.layer1_size == 8
    report = first.estimate_memory()
    assert report["vectors"] == report["syn1neg"] == len(first.wv) * 8 * 4
    assert report["total"] == sum(v for k, v in report.items() if k != "total")
    second = Word2Vec(vector_size=8, min_count=2)
    second.reset_from(first)
    assert second.wv.index_to_key == first.wv.index_to_key
    assert second.corpus_count == first.corpus_count
    second.train(zipf_corpus(), total_examples=second.corpus_count, epochs=1)
    assert not np.array_equal(second.wv.vectors, first.wv.vectors)


def test_info_log_tells_the_vocabulary_pass_and_each_epoch_as_gensim(caplog):
    from conftest import zipf_corpus

    with caplog.at_level("INFO", logger="torch_w2v"):
        Word2Vec(zipf_corpus(), vector_size=8, min_count=3, epochs=2, workers=1)
    lines = [r.getMessage() for r in caplog.records if r.name == "torch_w2v"]
    assert any(line.startswith("collected ") and "word types" in line for line in lines)
    assert any(line.startswith("effective_min_count=3 retains ") and "% of original" in line
               for line in lines)
    assert any("downsampling leaves estimated" in line for line in lines)
    assert sum(line.startswith("epoch ") and "words/s" in line and "loss" in line
               for line in lines) == 2


def test_one_live_wv_updated_in_place_and_assigned_vectors_are_trained_from():
    """gensim keeps one ``wv`` for the model's life: a reference a user holds sees new words
    and trained vectors; vectors assigned before ``train`` are where training starts."""
    from conftest import zipf_corpus

    corpus = zipf_corpus(n_sentences=100)
    model = Word2Vec(vector_size=8, min_count=1, seed=1, workers=1)
    model.build_vocab(corpus)
    held = model.wv
    start = np.full_like(model.wv.vectors, 0.5)
    model.wv.vectors = start.copy()
    model.train(corpus, total_examples=len(corpus), epochs=1)
    assert held is model.wv
    assert 0 < np.abs(held.vectors - 0.5).max() < 0.3  # moved a little from where it was put
    model.build_vocab([["brandnew", "words"]], update=True)
    assert held is model.wv and "brandnew" in held
    other = Word2Vec(vector_size=8, min_count=1)
    other.build_vocab([["a", "b"]])
    other_wv = other.wv
    other.reset_from(model)
    assert other_wv is other.wv and len(other_wv) == len(model.wv)


def test_the_usual_per_epoch_save_writes_the_live_state(tmp_path):
    """gensim users save from ``on_epoch_end``: each file holds that epoch's vectors and output
    table (not the initial ones), and the last equals the trained model."""
    from conftest import zipf_corpus

    corpus = zipf_corpus(n_sentences=150)

    class SaveEveryEpoch(CallbackAny2Vec):
        def __init__(self):
            self.epoch = 0

        def on_epoch_end(self, model):
            self.epoch += 1
            model.save(str(tmp_path / f"epoch{self.epoch}.npz"))

    model = Word2Vec(vector_size=8, min_count=1, seed=1, workers=1)
    model.build_vocab(corpus)
    initial = model.wv.vectors.copy()
    model.train(corpus, total_examples=len(corpus), epochs=3, callbacks=[SaveEveryEpoch()])
    saved = [Word2Vec.load(str(tmp_path / f"epoch{e}.npz")) for e in (1, 2, 3)]
    assert not np.allclose(saved[0].wv.vectors, initial)
    assert not np.allclose(saved[0].wv.vectors, saved[1].wv.vectors)
    assert not np.allclose(saved[0].syn1neg, 0)
    assert [len(s._history) for s in saved] == [1, 2, 3]
    assert np.array_equal(saved[2].wv.vectors, model.wv.vectors)
    assert np.array_equal(saved[2].syn1neg, model.syn1neg)
