"""The compiled text path counts, orders and encodes exactly as the Python path does."""
import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torch_w2v import TorchWord2Vec, text
from torch_w2v.corpus import CorpusFile
from torch_w2v.streaming import StreamingCorpus, count_and_record

SPACES = [" ", "\t", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u1680",
          "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
LINE_ENDS = ["\n", "\r", "\r\n"]
WORDS = ["the", "cat", "naïve", "日本語", "x", "🙂", "\ufeffbom", "a\u200bb", "Ωμέγα"]


def _both(path):
    """(counter items, total, sentences, recorded flushes) by the compiled and by the Python
    path."""
    results = []
    for count in (text.count_and_record_file, lambda p: count_and_record(CorpusFile(p))):
        counter, total, sentences, recording = count(str(path))
        flushes = [(ids.tolist(), lengths.tolist()) for ids, lengths in recording.read()]
        recording.delete()
        results.append((list(counter.items()), total, sentences, flushes))
    return results


def _write(path, content: str, compress=False):
    data = content.encode("utf-8")
    if compress:
        path = path.with_suffix(".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("block", [1, 3, 7, 1 << 22])
def test_every_whitespace_and_line_end_python_knows(tmp_path, monkeypatch, block):
    monkeypatch.setattr(text, "BLOCK_BYTES", block)  # characters and tokens cut by blocks
    content = ("the cat" + "".join(f"{s}{w}" for s, w in zip(SPACES, WORDS * 2)) + "\n"
               + "\n\n  \t \n" + "naïve\r日本語 cat\r\nthe\u3000🙂\u2028x" + "\n" * 3
               + "the last line has no line end")
    compiled, python = _both(_write(tmp_path / "c.txt", content))
    assert compiled == python
    words = dict(compiled[0])
    assert words["the"] == 5 and "a\u200bb" in words and "\ufeffbom" in words  # U+200B: no space
    assert len(compiled[3][0][1]) == compiled[2] == 5  # lines with tokens; \r, \r\n end lines


def test_flushes_are_cut_where_the_python_path_cuts_them(tmp_path, monkeypatch):
    monkeypatch.setattr(StreamingCorpus, "FLUSH_TOKENS", 10)
    monkeypatch.setattr(text, "BLOCK_BYTES", 50)
    g = np.random.default_rng(0)
    lines = [" ".join(f"w{i}" for i in g.integers(0, 40, g.integers(1, 25))) for _ in range(200)]
    compiled, python = _both(_write(tmp_path / "c.txt", "\n".join(lines), compress=True))
    assert compiled == python and len(compiled[3]) > 30


def test_invalid_utf8_is_refused_with_the_file_and_the_byte(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine words\nthen \xff here\n")
    with pytest.raises(ValueError, match=r"bad.txt: the text is not valid UTF-8: byte 16"):
        text.count_and_record_file(str(path))
    for bad in (b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82", b"\xf4\x90\x80\x80"):  # surrogate,
        path.write_bytes(b"ok " + bad)  # overlong, cut at the end, beyond U+10FFFF
        with pytest.raises(ValueError, match="not valid UTF-8"):
            text.count_and_record_file(str(path))
        with pytest.raises(ValueError, match="bad.txt: the text is not valid utf-8 .* line 1"):
            count_and_record(CorpusFile(str(path)))  # the Python path refuses them too


@pytest.mark.parametrize("block", [1 << 22, 1 << 16])
def test_a_token_without_end_is_refused_in_linear_time(tmp_path, monkeypatch, block):
    """A separator-free run was rescanned whole at every block (256 MB: 24 s) and /dev/zero was
    read forever; a token longer than 1 MiB now ends the count, at once, naming the byte."""
    monkeypatch.setattr(text, "BLOCK_BYTES", block)
    path = tmp_path / "run.txt"
    path.write_bytes(b"a b\n" + b"x" * (3 << 20) + b" tail\n")
    with pytest.raises(ValueError, match=r"run.txt: the text holds a token of more than "
                                         r"1048576 bytes \(from byte 4\)") as refused:
        text.count_and_record_file(str(path))
    assert "encoding" not in str(refused.value)  # not an encoding problem
    path.write_bytes(b"a " + b"y" * (1 << 20) + b"\n")  # 1 MiB exactly: a (strange) word
    counter, *_ = text.count_and_record_file(str(path))
    assert counter["y" * (1 << 20)] == 1
    with pytest.raises(ValueError, match="token of more than"):
        text.count_and_record_file("/dev/zero")


characters = st.sampled_from(SPACES + LINE_ENDS + WORDS + list("abcé語"))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(pieces=st.lists(characters, max_size=60), block=st.integers(1, 9))
def test_any_text_counts_as_python_counts_it(tmp_path_factory, pieces, block):
    path = tmp_path_factory.mktemp("fuzz") / "c.txt"
    _write(path, "".join(pieces))
    old, text.BLOCK_BYTES = text.BLOCK_BYTES, block
    try:
        compiled, python = _both(path)
    finally:
        text.BLOCK_BYTES = old
    assert compiled == python


def test_fits_through_the_compiled_path_equal_fits_through_python(tmp_path, monkeypatch):
    from conftest import zipf_corpus

    path = _write(tmp_path / "c.txt", "\n".join(" ".join(s) for s in zipf_corpus()) + "\n")
    params = dict(vector_size=8, epochs=2, workers=1, progress=False, min_count=2)
    used = []
    real = text.count_and_record_file
    monkeypatch.setattr(text, "count_and_record_file",
                        lambda p, *share: used.append(p) or real(p, *share))
    streamed = TorchWord2Vec(**params).fit(corpus_file=str(path))
    in_memory = TorchWord2Vec(**params).fit(CorpusFile(str(path)))
    assert used == [str(path)] * 2
    monkeypatch.setattr(text, "applies", lambda sentences: False)
    python_streamed = TorchWord2Vec(**params).fit(corpus_file=str(path))
    python_in_memory = TorchWord2Vec(**params).fit(CorpusFile(str(path)))
    for compiled, python in ((streamed, python_streamed), (in_memory, python_in_memory)):
        assert compiled.wv.index_to_key == python.wv.index_to_key
        assert np.array_equal(compiled.vocab_.counts, python.vocab_.counts)
        assert np.array_equal(compiled.wv.vectors, python.wv.vectors)
