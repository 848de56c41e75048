"""The original PyTorch tutorial's recipe against word2vec's defaults and gensim, on the
Wikipedia sample gensim ships (the tutorial used WikiText-103, 200x larger; scaled down here so
it runs in a few minutes on two cores).

    python benchmarks/tutorial_recipe.py            # writes benchmarks/results/tutorial-recipe.md

Three runs, all on the first 90% of the articles, the last 10% held out for the validation loss:

- ``torch_w2v defaults``: word2vec's recipe (SGD, dynamic window 5, word2vec subsampling,
  5 exact noise words, 100 dimensions);
- ``tutorial recipe``: fixed window of 8 with full windows only, the 85th-percentile
  subsampling rule drawn per slot, a 5M-entry noise table, 50 noise words, 300 dimensions,
  Adam at a constant 1e-3 through autograd, loss = BCE-with-logits (the same as SGNS's);
- ``tutorial recipe, SGD``: the same with word2vec's SGD (alpha 0.025 decaying), to separate
  the optimiser's effect from the rest of the recipe;
- ``gensim``: Word2Vec with the defaults' parameters.

Each epoch prints the nearest neighbours of a few test words, as the tutorial did. ``min_count``
is 5 for all (the tutorial's 50 suits 100M tokens; here it would leave 1,184 words).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEST_WORDS = ["military", "king", "city", "music", "science"]

RECIPES = {
    "torch_w2v defaults": {},
    "tutorial recipe": dict(vector_size=300, window=8, shrink_windows=False,
                            full_windows_only=True, subsampling="percentile",
                            subsample_percentile=85, noise_sampler="table",
                            noise_table_size=5_000_000, negative=50, optimizer="adam",
                            alpha=1e-3, min_alpha=1e-3, batch_size=4096),
    # the same, with word2vec's optimiser: separates the optimiser's effect from the rest
    "tutorial recipe, SGD": dict(vector_size=300, window=8, shrink_windows=False,
                                 full_windows_only=True, subsampling="percentile",
                                 subsample_percentile=85, noise_sampler="table",
                                 noise_table_size=5_000_000, negative=50),
}


def main() -> int:
    import logging

    from gensim.models import Word2Vec

    from torch_w2v import TorchWord2Vec
    from torch_w2v.callbacks import NearestNeighbours
    from torch_w2v.datasets import wiki_sample
    from torch_w2v.evaluate import SentencePieces, evaluate, gensim_params
    from torch_w2v.io import atomic_write_text

    logging.basicConfig(level=logging.WARNING)
    articles = list(wiki_sample())
    split = int(len(articles) * 0.9)
    train = list(SentencePieces(articles[:split]))
    held_out = list(SentencePieces(articles[split:]))
    words = sum(map(len, train))
    rows, neighbours = [], {}
    for name, params in RECIPES.items():
        probe = NearestNeighbours(TEST_WORDS, topn=5)
        est = TorchWord2Vec(**{"workers": 2, "progress": False, **params}, callbacks=[probe])
        start = time.perf_counter()
        est.fit(train, validation=held_out)
        seconds = time.perf_counter() - start
        neighbours[name] = [h["neighbours"] for h in est.history_]
        rows.append({"recipe": name, "words_per_sec": words * est.epochs / seconds,
                     "loss": est.history_[-1]["loss"], "val_loss": est.history_[-1]["val_loss"],
                     **evaluate(est.wv)})
        print(json.dumps(rows[-1]), flush=True)
    start = time.perf_counter()
    wv = Word2Vec(train, **gensim_params(TorchWord2Vec(workers=2))).wv
    seconds = time.perf_counter() - start
    rows.append({"recipe": "gensim", "words_per_sec": words * 5 / seconds,
                 "loss": float("nan"), "val_loss": float("nan"), **evaluate(wv)})

    lines = [f"Wikipedia sample, {words:,} training tokens, 5 epochs, 2 threads.", "",
             "| recipe | words/s | final loss | validation loss | analogy | WS353 | SimLex |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['words_per_sec']:,.0f} | {r['loss']:.4f} | "
                     f"{r['val_loss']:.4f} | {r['analogy']:.4f} | {r['wordsim353']:.4f} | "
                     f"{r['simlex999']:.4f} |")
    for name, epochs in neighbours.items():
        lines += ["", f"Nearest neighbours per epoch, {name}:", ""]
        for epoch, found in enumerate(epochs, 1):
            lines.append(f"- epoch {epoch}: " + "; ".join(
                f"**{w}**: {', '.join(n for n, _ in near)}" for w, near in found.items()))
    text = "\n".join(lines) + "\n"
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    atomic_write_text(out / "tutorial-recipe.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
