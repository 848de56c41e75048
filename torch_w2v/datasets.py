"""Corpora that ship with gensim, made ready to train on (nothing is ever downloaded).

Examples
--------
>>> corpus = wiki_sample()          # doctest: +SKIP
>>> sum(len(s) for s in corpus)     # doctest: +SKIP
452944
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gensim.test.utils import datapath

from .corpus import CorpusFile

__all__ = ["WIKI_SAMPLE", "wiki_sample", "cache_dir"]

WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def cache_dir() -> Path:
    """``$TORCH_W2V_CACHE``, else ``$XDG_CACHE_HOME/torch_w2v``, else ``~/.cache/torch_w2v``."""
    root = os.environ.get("TORCH_W2V_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "torch_w2v"


def wiki_sample() -> CorpusFile:
    """The Wikipedia sample shipped with gensim (106 articles, 452,944 tokens), one article per
    line, tokenised by gensim's ``WikiCorpus`` (lower-case, no markup).

    The first call tokenises the dump (a few seconds) and caches the text in :func:`cache_dir`;
    later calls read the cache.
    """
    target = cache_dir() / "enwiki-sample.txt"
    if not target.exists():
        from gensim.corpora.wikicorpus import WikiCorpus

        target.parent.mkdir(parents=True, exist_ok=True)
        wiki = WikiCorpus(datapath(WIKI_SAMPLE), dictionary={}, processes=1)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for tokens in wiki.get_texts():
                    out.write(" ".join(tokens) + "\n")
            os.replace(tmp, target)  # atomic: a crash never leaves a half-written cache
        except BaseException:
            os.unlink(tmp)
            raise
    return CorpusFile(target)
