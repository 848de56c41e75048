import os
import subprocess
import sys

import pytest
from conftest import zipf_corpus
from gensim.models import KeyedVectors


def _run(*args, cwd=None, **env):
    return subprocess.run([sys.executable, "-m", "torch_w2v.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env={**os.environ, **env})


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
    shown = _run("evaluate", str(out), "--sections", "--json", str(tmp_path / "e.json"))
    assert shown.returncode == 0, shown.stderr
    for label in (str(out), "questions-words.txt", "wordsim353.tsv", "simlex999.txt", "section"):
        assert label in shown.stdout
    assert f"reading {out} ..." in shown.stderr and "scoring " in shown.stderr  # not silent
    import json

    assert json.loads((tmp_path / "e.json").read_text())[0]["vocab_size"] == len(kv)
    picture = tmp_path / "words.png"
    words = kv.index_to_key[:5]
    drawn = _run("plot", str(out), *words, "-o", str(picture))
    assert drawn.returncode == 0, drawn.stderr
    assert picture.read_bytes()[:4] == b"\x89PNG"
    refused = _run("plot", str(out), words[0], "nope", "-o", str(picture))
    assert refused.returncode == 1
    assert refused.stderr.strip() == "torch-w2v plot: error: not in the vocabulary: nope"


@pytest.mark.slow
def test_compare_prints_side_by_side_table(corpus_file, tmp_path):
    # a first use: the op is built before the clock starts, and the user is told so
    done = _run("compare", str(corpus_file), "--epochs", "1", "--min-count", "2",
                "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png"),
                TORCH_W2V_OPS_DIR=str(tmp_path / "ops"))
    assert done.returncode == 0, done.stderr
    log = done.stderr
    assert log.index("compare: preparing torch_w2v") < log.index("compiling the fused CPU op") \
        < log.index("compiled in") < log.index("(the 'fused' backend)") \
        < log.index("round 1/1: training torch_w2v") < log.index("round 1/1: training gensim")
    for label in ("torch_w2v", "gensim", "words/s", "analogy", "WordSim353", "SimLex-999",
                  "speed ratio"):
        assert label in done.stdout
    assert (tmp_path / "r.json").read_text().startswith("{")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,needle", [
    (("train", "/no/such/file.txt", "-o", "x.txt"), "No such file"),
    (("evaluate", "/no/such/vectors.txt"), "No such file"),
    (("train", "{corpus}", "-o", "x.txt", "--negative", "0"), "negative"),
    (("evaluate", "{corpus}"), "not a word2vec"),
    (("train", "{corpus}", "-o", "x.txt", "--no-such-option"), "unrecognized arguments"),
])
def test_errors_are_one_line_and_nonzero(args, needle, corpus_file, tmp_path):
    args = [a.replace("{corpus}", str(corpus_file)) for a in args]
    done = _run(*args, cwd=tmp_path)
    assert done.returncode != 0
    assert needle in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_build_compiles_once_then_reports_the_cache(tmp_path):
    first = _run("build", TORCH_W2V_OPS_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "fused CPU op ready (built in" in first.stdout and str(tmp_path) in first.stdout
    again = _run("build", TORCH_W2V_OPS_DIR=str(tmp_path))
    assert "fused CPU op ready (cached)" in again.stdout and "compiling" not in again.stderr


def test_help_lists_every_command():
    done = _run("--help")
    assert done.returncode == 0
    for command in ("compare", "train", "evaluate", "plot", "build"):
        assert command in done.stdout
    assert "--negative" in _run("train", "--help").stdout


def test_every_shell_expressible_parameter_has_a_flag():
    from torch_w2v import TorchWord2Vec
    from torch_w2v.cli import build_parser
    from torch_w2v.params import stored_params

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    flags = {action.dest for action in train._actions if action.option_strings
             and action.dest in TorchWord2Vec().get_params()}
    assert set(stored_params(TorchWord2Vec().get_params())) == flags
    args = build_parser().parse_args(["train", "c.txt", "-o", "v.txt", "--update-cap", "none",
                                      "--workers", "1", "--optimizer", "adam",
                                      "--full-windows-only", "true", "--max-norm", "2.5"])
    assert (args.update_cap, args.workers, args.optimizer) == (None, 1, "adam")
    assert args.full_windows_only is True and args.max_norm == 2.5 and args.batch_size is None


def test_help_answers_without_importing_torch():
    """The parser builds the training flags (their defaults import torch) only for the command
    that runs: the top-level help and the light commands' help import no torch."""
    for command in ([], ["evaluate"], ["plot"]):
        code = ("import sys\nfrom torch_w2v.cli import main\n"
                f"try:\n    main({command + ['--help']!r})\nexcept SystemExit:\n    pass\n"
                "print('torch' in sys.modules, 'gensim' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
        assert out.strip().splitlines()[-1] == "False False", (command, out)


def test_compare_offers_no_checkpoint_flags(capsys):
    from torch_w2v.cli import main

    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = capsys.readouterr().out
    assert "--vector-size" in text and "--checkpoint" not in text
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--checkpoint-dir" in capsys.readouterr().out
