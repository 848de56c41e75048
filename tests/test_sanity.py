"""gensim's own sanity check (``model_sanity`` in gensim/test/test_word2vec.py), ported: on the
Lee corpus, with the parameters of gensim's tests of each mode, 'bombings' must be among the 50
words nearest to 'attacks' -- here over several seeds, through the drop-in ``Word2Vec``."""
import numpy as np
import pytest
from gensim.test.utils import lee_corpus_list

from torch_w2v import Word2Vec

MODES = {  # gensim's test_sg_neg, test_cbow_neg, test_sg_hs, test_cbow_hs
    "sg_neg": dict(sg=1, window=4, hs=0, negative=15, min_count=5, epochs=10, workers=2),
    "cbow_neg": dict(sg=0, cbow_mean=1, alpha=0.05, window=5, hs=0, negative=15, min_count=5,
                     epochs=10, workers=2, sample=0),
    "sg_hs": dict(sg=1, window=4, hs=1, negative=0, min_count=5, epochs=10, workers=2),
    "cbow_hs": dict(sg=0, cbow_mean=1, alpha=0.1, window=2, hs=1, negative=0, min_count=5,
                    epochs=60, workers=2, batch_words=1000),
}


def model_sanity(model, corpus_file=None):
    """gensim's checks, after build_vocab + train as its test does them."""
    if corpus_file:
        model.build_vocab(corpus_file=corpus_file)
    else:
        model.build_vocab(lee_corpus_list)
    orig0 = np.copy(model.wv.vectors[0])
    if corpus_file:
        model.train(corpus_file=corpus_file, total_words=model.corpus_total_words,
                    epochs=model.epochs)
    else:
        model.train(lee_corpus_list, total_examples=model.corpus_count, epochs=model.epochs)
    assert not (orig0 == model.wv.vectors[1]).all()  # vectors vary after training
    sims = model.wv.most_similar("attacks", topn=len(model.wv.index_to_key))
    rank = [word for word, _ in sims].index("bombings")
    assert rank < 50
    query_vec = model.wv["attacks"]
    sims2 = [word for word, _ in model.wv.most_similar([query_vec], topn=51)]
    assert "attacks" in sims2 and "bombings" in sims2
    return rank


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_model_sanity(mode, seed):
    model_sanity(Word2Vec(**MODES[mode], seed=seed))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sg_neg_fromfile(tmp_path, seed):
    path = tmp_path / "lee.txt"
    path.write_text("\n".join(" ".join(s) for s in lee_corpus_list) + "\n")
    model_sanity(Word2Vec(**MODES["sg_neg"], seed=seed), corpus_file=str(path))
