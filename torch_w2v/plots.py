"""Plots for a quick look: training loss, torch_w2v vs gensim side by side, words in 2-D.

matplotlib is an optional extra: ``pip install 'torch_w2v[plot]'``. Every function writes a PNG
(atomically) and returns its path.

Examples
--------
>>> from gensim.test.utils import common_texts
>>> from torch_w2v import TorchWord2Vec
>>> import os, tempfile
>>> est = TorchWord2Vec(vector_size=8, min_count=1, epochs=3, progress=False).fit(common_texts)
>>> out = plot_words(est.wv, ["human", "computer", "graph", "trees"],
...                  os.path.join(tempfile.mkdtemp(), "words.png"))
>>> open(out, "rb").read(4) == b"\\x89PNG"
True
"""
from __future__ import annotations

import numpy as np

from .io import atomic_path

__all__ = ["plot_history", "plot_comparison", "plot_words", "project_2d"]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'torch_w2v[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> str:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return str(path)


def plot_history(history, path, label="torch_w2v") -> str:
    """Mean SGNS loss per epoch (``history_`` of a fitted estimator)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], "o-", label=label)
    ax.set(xlabel="epoch", ylabel="mean SGNS loss per pair", title="training loss")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_comparison(result, path) -> str:
    """Three panels from :func:`torch_w2v.evaluate.compare`'s result: words/s, quality, and
    torch_w2v's loss per epoch (gensim's running loss is not a per-pair loss, so it is left
    out)."""
    plt = _pyplot()
    names = list(result["results"])
    fig, (ax_speed, ax_quality, ax_loss) = plt.subplots(1, 3, figsize=(14, 4))
    speeds = [result["results"][n]["words_per_sec"] / 1e3 for n in names]
    ax_speed.bar(names, speeds, color=["C0", "C1"][: len(names)])
    ax_speed.set(title=f"words/s (k), ratio {result['speed_ratio']:.2f}x", ylabel="k words/s")
    metrics = ["analogy", "wordsim353", "simlex999"]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = np.arange(len(metrics)) + (i - (len(names) - 1) / 2) * width
        ax_quality.bar(xs, [result["results"][name][m] for m in metrics], width, label=name)
    ax_quality.set_xticks(range(len(metrics)), ["analogy acc.", "WS353 ρ", "SimLex ρ"])
    ax_quality.set(title="quality")
    ax_quality.legend()
    history = result["results"].get("torch_w2v", {}).get("history", [])
    ax_loss.plot([h["epoch"] for h in history], [h["loss"] for h in history], "o-")
    ax_loss.set(title="torch_w2v loss per epoch", xlabel="epoch", ylabel="mean SGNS loss")
    fig.suptitle(f"{result['corpus']} ({result['words']:,} tokens)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """The rows of ``vectors`` on their first two principal components, shape ``(n, 2)``."""
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def plot_words(kv, words, path) -> str:
    """Chosen words' vectors projected to 2-D (PCA), each point labelled; labels are placed
    around their points so that they neither overlap each other nor leave the figure.

    Raises
    ------
    KeyError
        Naming the words that are not in ``kv``.
    """
    missing = [w for w in words if w not in kv.key_to_index]
    if missing:
        raise KeyError(f"not in the vocabulary: {', '.join(missing)}")
    if len(words) < 2:
        raise ValueError("plot_words needs at least two words")
    points = project_2d(np.asarray(kv[list(words)], dtype=np.float64))
    plt = _pyplot()
    side = 5 + 0.15 * max(len(words) - 8, 0)  # more words, more room
    fig, ax = plt.subplots(figsize=(side * 1.2, side))
    ax.scatter(points[:, 0], points[:, 1], s=12)
    ax.margins(0.12)
    ax.set(title="word vectors, first two principal components", xlabel="PC 1", ylabel="PC 2")
    fig.tight_layout()
    place_labels(fig, ax, points, words)
    return _save(fig, path)


# where a label may go around its point: (dx, dy) in points, nearest first
_AROUND = [(dx * r, dy * r) for r in (1, 2, 3.5, 5.5)
           for dx, dy in ((4, 3), (4, -11), (-4, 3), (-4, -11), (0, 8), (0, -16), (8, -4),
                          (-8, -4))]


def place_labels(fig, ax, points, labels) -> list:
    """Annotate each point with its label at the first place around it (``_AROUND``) where
    the label overlaps no label placed before it and stays inside the figure (else the place
    with the least overlap); returns the annotations."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    figure_box = fig.bbox
    placed, annotations = [], []
    for (x, y), label in zip(points, labels):
        best, best_cost = None, None
        for dx, dy in _AROUND:
            text = ax.annotate(label, (x, y), fontsize=9, xytext=(dx, dy),
                               textcoords="offset points", ha="left" if dx >= 0 else "right")
            box = text.get_window_extent(renderer)
            cost = sum(Bbox.intersection(box, other).width * Bbox.intersection(box, other).height
                       for other in placed if box.overlaps(other))
            inside = (box.x0 >= figure_box.x0 and box.x1 <= figure_box.x1
                      and box.y0 >= figure_box.y0 and box.y1 <= figure_box.y1)
            cost += 0 if inside else 1e9
            if best_cost is None or cost < best_cost:
                if best is not None:
                    best[0].remove()
                best, best_cost = (text, box), cost
            else:
                text.remove()
            if cost == 0:
                break
        placed.append(best[1])
        annotations.append(best[0])
    return annotations
