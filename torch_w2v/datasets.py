"""Corpora that ship with gensim, made ready to train on (nothing is ever downloaded).

Examples
--------
>>> corpus = wiki_sample()          # doctest: +SKIP
>>> sum(len(s) for s in corpus)     # doctest: +SKIP
452944
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from gensim.test.utils import datapath

from .corpus import CorpusFile
from .io import write_sentences

__all__ = ["WIKI_SAMPLE", "wiki_sample", "cache_dir", "WikiText"]

logger = logging.getLogger("torch_w2v")

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

        logger.info("tokenising gensim's Wikipedia sample (once, a few seconds) into %s", target)
        start = time.perf_counter()
        wiki = WikiCorpus(datapath(WIKI_SAMPLE), dictionary={}, processes=1)
        write_sentences(target, wiki.get_texts())  # atomic: never a half-written cache
        logger.info("tokenised in %.1f s", time.perf_counter() - start)
    return CorpusFile(target)


class WikiText(CorpusFile):
    r"""Sentences from a WikiText-103 / WikiText-2 file (``wiki.train.tokens``, ``.raw`` too),
    from a local path or any smart_open URL; nothing is downloaded by torch_w2v itself.

    Each paragraph line becomes one token list. Heading lines (`` = Title = ``,
    `` = = Section = = ``) and blank lines are skipped; the ``@-@``, ``@,@`` and ``@.@`` joiners
    are glued back (``state @-@ of`` → ``state-of``, ``1 @,@ 000`` → ``1,000``); ``<unk>`` tokens
    are kept (``keep_unk=False`` drops them).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "wiki.train.tokens")
    >>> text = " = Valkyria = \n\n The state @-@ of the art <unk> cost 1 @,@ 000 .\n"
    >>> _ = open(path, "w").write(text)
    >>> list(WikiText(path))
    [['the', 'state-of', 'the', 'art', '<unk>', 'cost', '1,000', '.']]
    """

    _JOINERS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))

    def __init__(self, path, lowercase: bool = True, keep_unk: bool = True):
        super().__init__(path)
        self.lowercase = lowercase
        self.keep_unk = keep_unk

    def tokenize(self, line: str) -> list:
        text = line.strip()
        if not text or (text.startswith("=") and text.endswith("=")):
            return []  # blank line or heading
        text = f" {text} "
        for joiner, glue in self._JOINERS:
            text = text.replace(joiner, glue)
        if self.lowercase:
            text = text.lower()
        tokens = text.split()
        return tokens if self.keep_unk else [t for t in tokens if t != "<unk>"]

    def __repr__(self) -> str:
        return f"WikiText({str(self.path)!r})"
