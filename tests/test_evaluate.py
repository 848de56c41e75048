import json

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from torch_w2v.evaluate import evaluate, evaluate_all, evaluate_analogies, evaluate_word_pairs


@pytest.fixture(scope="module")
def kv():
    """Real vectors gensim ships (300 dims, trained on a text with the analogy words)."""
    return KeyedVectors.load_word2vec_format(datapath("euclidean_vectors.bin"), binary=True)


@pytest.mark.parametrize("restrict", [300_000, 2_000])
def test_analogies_match_gensim(kv, restrict):
    ours = evaluate_analogies(kv, restrict_vocab=restrict)
    score, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"),
                                                 restrict_vocab=restrict)
    assert ours.accuracy == pytest.approx(score)
    by_name = {s["section"]: s for s in sections}
    for row in ours.sections:
        assert row["correct"] == len(by_name[row["section"]]["correct"])
        assert row["total"] == row["correct"] + len(by_name[row["section"]]["incorrect"])
    total = by_name["Total accuracy"]
    assert ours.correct == len(total["correct"])
    assert 0 <= ours.oov_share <= 1


@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
def test_word_pairs_match_gensim(kv, name):
    ours = evaluate_word_pairs(kv, datapath(name))
    pearson, spearman, oov = kv.evaluate_word_pairs(datapath(name))
    assert ours.pearson == pytest.approx(pearson[0])
    assert ours.spearman == pytest.approx(spearman[0])
    assert ours.oov_share == pytest.approx(oov / 100)


def test_custom_files_and_case_handling(kv, tmp_path):
    words = kv.index_to_key[:4]
    analogies = tmp_path / "a.txt"
    analogies.write_text(f": mine\n{words[0]} {words[1]} {words[2]} {words[3]}\n"
                         f"{words[0].upper()} {words[1]} {words[2]} {words[3]}\nzz yy xx ww\n")
    pairs = tmp_path / "p.tsv"
    pairs.write_text("".join(f"{a}\t{b}\t{i}\n" for i, (a, b) in
                             enumerate(zip(kv.index_to_key[:10], kv.index_to_key[10:20]))))
    report = evaluate_all(kv, name="mine", analogies=[analogies], word_pairs=[pairs])
    assert report.analogies[0].total == 2  # upper-case folded, the OOV line skipped
    assert report.analogies[0].oov_share == pytest.approx(1 / 3)
    assert np.isfinite(report.word_pairs[0].spearman)
    strict = evaluate_analogies(kv, analogies, case_insensitive=False)
    assert strict.total == 1


def test_evaluation_prints_and_serialises(kv):
    report = evaluate_all(kv, name="gensim sample")
    text = str(report)
    for label in ("gensim sample", "questions-words.txt", "wordsim353.tsv", "simlex999.txt"):
        assert label in text
    again = json.loads(report.to_json())
    assert again["analogies"][0]["accuracy"] == report.analogies[0].accuracy
    assert "capital-common-countries" in report.sections_table()
    assert set(evaluate(kv)) == {"analogy", "wordsim353", "simlex999"}


def test_busy_processes_run_only_inside_the_block():
    import os

    from torch_w2v.loadgen import busy_cores

    with busy_cores(2) as pids:
        assert len(pids) == 2
        for pid in pids:
            os.kill(pid, 0)  # alive
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(ValueError, match="busy"), busy_cores(-1):
        pass


def test_compare_under_load_says_so():
    from conftest import zipf_corpus

    from torch_w2v.evaluate import compare, format_comparison

    result = compare(zipf_corpus(n_sentences=100), rounds=1, busy=1, epochs=1, min_count=2,
                     vector_size=8)
    assert result["busy"] == 1
    assert "machine: 1 busy-loop process(es) sharing the cores" in format_comparison(result)


def test_compare_says_what_it_does_while_it_works_and_labels_its_table(caplog):
    """Every phase is announced before it starts (the op build, each trainer, each scoring),
    and the table says what the seconds include and what the numbers are over."""
    from conftest import zipf_corpus

    from torch_w2v.evaluate import compare, format_comparison

    with caplog.at_level("INFO", logger="torch_w2v"):
        result = compare(zipf_corpus(n_sentences=100), rounds=2, epochs=1, min_count=2,
                         vector_size=8)
    said = [r.getMessage() for r in caplog.records if r.name == "torch_w2v"]
    starts = [m for m in said if m.startswith(("compare: preparing", "round"))]
    assert starts[0].startswith("compare: preparing torch_w2v")
    for r in (1, 2):
        for name in ("torch_w2v", "gensim"):
            assert said.index(f"round {r}/2: training {name} ...") < next(
                i for i, m in enumerate(said) if m.startswith(f"round {r}/2: {name} trained"))
    table = format_comparison(result)
    assert "seconds to train, vocabulary pass included (median of 2)" in table
    assert "analogy accuracy (mean of 2)" in table


def test_compare_from_python_prints_its_table_shows_progress_and_says_how_idle(capsys,
                                                                               monkeypatch):
    """From Python, compare() returned a bare dict, was silent, and called a loaded machine
    idle; its table did not say how much of each benchmark the vocabulary covers."""
    import os

    from conftest import zipf_corpus

    from torch_w2v.evaluate import compare

    monkeypatch.setattr(os, "getloadavg", lambda: (3.2, 1.0, 1.0))
    result = compare(zipf_corpus(n_sentences=100), rounds=1, epochs=1, min_count=2,
                     vector_size=8)
    err = capsys.readouterr().err
    assert "round 1/1: training torch_w2v ..." in err and "round 1/1: training gensim" in err
    table = repr(result)
    assert table == str(result) and table.startswith("corpus: ")
    assert "machine: not idle: load average 3.2" in table
    assert "analogy questions out of vocabulary" in table and "%" in table
    assert 0 <= result["results"]["gensim"]["wordsim353_oov"] <= 1
    assert isinstance(result, dict)  # still JSON-able
