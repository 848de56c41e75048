import sys

import numpy as np
import pytest

from torch_w2v import TorchWord2Vec
from torch_w2v.plots import plot_comparison, plot_history, plot_words, project_2d

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fitted():
    from conftest import zipf_corpus

    return TorchWord2Vec(vector_size=8, min_count=2, epochs=3, progress=False).fit(zipf_corpus())


def _is_png(path):
    with open(path, "rb") as png:
        data = png.read()
    return data[:8] == PNG and len(data) > 1000


def test_history_and_words_plots(fitted, tmp_path):
    assert _is_png(plot_history(fitted.history_, tmp_path / "loss.png"))
    assert _is_png(plot_words(fitted.wv, fitted.wv.index_to_key[:8], tmp_path / "w.png"))
    with pytest.raises(KeyError, match="nope"):
        plot_words(fitted.wv, ["w0", "nope"], tmp_path / "x.png")


def test_comparison_plot(fitted, tmp_path):
    result = {"corpus": "c", "words": 1000, "speed_ratio": 1.5, "results": {
        "torch_w2v": {"words_per_sec": 9e5, "analogy": 0.1, "wordsim353": 0.3,
                      "simlex999": 0.2, "history": fitted.history_},
        "gensim": {"words_per_sec": 6e5, "analogy": 0.1, "wordsim353": 0.25, "simlex999": 0.2}}}
    assert _is_png(plot_comparison(result, tmp_path / "cmp.png"))


def test_pca_projection_keeps_the_widest_spread():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 5)) * np.array([10, 5, 0.1, 0.1, 0.1])
    projected = project_2d(points)
    assert projected.shape == (50, 2)
    assert projected[:, 0].var() == pytest.approx(points[:, 0].var(), rel=0.1)


def test_missing_matplotlib_is_a_clear_error(fitted, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"torch_w2v\[plot\]"):
        plot_history(fitted.history_, tmp_path / "loss.png")


def test_sixteen_word_labels_neither_overlap_nor_leave_the_figure(fitted, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from torch_w2v.plots import place_labels

    words = fitted.wv.index_to_key[:16]
    points = project_2d(np.asarray(fitted.wv[words], dtype=np.float64))
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(points[:, 0], points[:, 1])
    ax.margins(0.12)
    fig.tight_layout()
    labels = place_labels(fig, ax, points, words)
    renderer = fig.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in labels]
    assert [label.get_text() for label in labels] == words
    for i, box in enumerate(boxes):
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1
        assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1
        assert not any(box.overlaps(other) for other in boxes[:i]), words[i]
    plt.close(fig)
    assert _is_png(plot_words(fitted.wv, words, tmp_path / "w16.png"))
