import subprocess
import sys

import pytest
from gensim.models import KeyedVectors

from conftest import zipf_corpus


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "torch_w2v.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "corpus.txt"
    path.write_text("\n".join(" ".join(s) for s in zipf_corpus()) + "\n")
    return path


def test_train_then_evaluate(corpus_file, tmp_path):
    out = tmp_path / "vectors.bin"
    done = _run("train", str(corpus_file), "-o", str(out), "--binary", "--epochs", "2",
                "--vector-size", "12", "--min-count", "2")
    assert done.returncode == 0, done.stderr
    kv = KeyedVectors.load_word2vec_format(str(out), binary=True)
    assert kv.vector_size == 12 and len(kv) > 50
    shown = _run("evaluate", str(out))
    assert shown.returncode == 0, shown.stderr
    assert str(out) in shown.stdout and "analogy" in shown.stdout


def test_compare_prints_side_by_side_table(corpus_file, tmp_path):
    done = _run("compare", str(corpus_file), "--epochs", "1", "--min-count", "2",
                "--json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    for label in ("torch_w2v", "gensim", "words/s", "analogy", "WordSim353", "SimLex-999",
                  "speed ratio"):
        assert label in done.stdout
    assert (tmp_path / "r.json").read_text().startswith("{")


@pytest.mark.parametrize("args,needle", [
    (("train", "/no/such/file.txt", "-o", "x.txt"), "No such file"),
    (("evaluate", "/no/such/vectors.txt"), "No such file"),
    (("train", "{corpus}", "-o", "x.txt", "--negative", "0"), "negative"),
])
def test_errors_are_one_line_and_nonzero(args, needle, corpus_file, tmp_path):
    args = [a.replace("{corpus}", str(corpus_file)) for a in args]
    done = _run(*args, cwd=tmp_path)
    assert done.returncode != 0
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_help_lists_every_command():
    done = _run("--help")
    assert done.returncode == 0
    for command in ("compare", "train", "evaluate"):
        assert command in done.stdout
    assert "--negative" in _run("train", "--help").stdout
