"""A corpus of a few million tokens of real English for the simulator, from the Collaborative
International Dictionary of English (GCIDE: definitions and quotations, GPL), which any Debian or
Ubuntu mirror carries as the ``dict-gcide`` package.

    apt-get download dict-gcide && dpkg -x dict-gcide_*.deb gcide
    python benchmarks/gcide_corpus.py gcide/usr/share/dictd/gcide.dict.dz big.txt \\
        --add ../shared/corpora/dev_abc_webtext.txt.gz --add wiki-sample.txt

writes one lower-case sentence a line (headwords, pronunciations, etymologies, source tags and
citations dropped: 3.6M tokens from GCIDE 0.48.5), the ``--add`` files' lines after them, all
lines shuffled with ``--seed`` (rank shares are byte ranges, and the dictionary is in
alphabetical order). Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

from smart_open import open as smart_open

HEADWORD_LINE = re.compile(r"^\S.*\\.*\\")  # 'Abdication \Ab`di*ca"tion\, n. [L. ...]'
BRACKETS = re.compile(r"\[[^\]]*\]")  # [1913 Webster], [L. abdicatio], [R.]
CITATION = re.compile(r"--\s*[A-Z][\w.' ]*")  # --Bailey.
PRONUNCIATION = re.compile(r"\\[^\\]*\\")
SENTENCE_END = re.compile(r"[.;:?!]\s")
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def gcide_sentences(text: str, shortest: int = 3):
    """The sentences (lists of lower-case words, at least ``shortest``) of dictd-format GCIDE
    text: entries are separated by blank lines and start with a headword line.

    Examples
    --------
    >>> entry = 'Abdicator \\\\Ab"di*ca`tor\\\\, n.\\n   One who abdicates a throne. --Bailey.'
    >>> list(gcide_sentences(entry))
    [['one', 'who', 'abdicates', 'a', 'throne']]
    """
    for entry in text.split("\n\n"):
        lines = entry.split("\n")
        if lines and HEADWORD_LINE.match(lines[0]):
            lines = lines[1:]
        body = " ".join(line.strip() for line in lines)
        body = PRONUNCIATION.sub(" ", CITATION.sub(" ", BRACKETS.sub(" ", body)))
        for sentence in SENTENCE_END.split(body + " "):
            words = WORD.findall(sentence.lower())
            if len(words) >= shortest:
                yield words


def _tokens(lines) -> int:
    return sum(line.count(" ") + 1 for line in lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gcide", help="gcide.dict.dz (or the uncompressed gcide.dict)")
    parser.add_argument("out", help="the corpus file to write")
    parser.add_argument("--add", action="append", default=[], metavar="FILE",
                        help="a corpus file (a sentence a line) to add; repeatable")
    parser.add_argument("--seed", type=int, default=0, help="seed of the line shuffle")
    args = parser.parse_args(argv)
    with smart_open(args.gcide, "rb", compression=".gz" if args.gcide.endswith(".dz")
                    else "infer_from_extension") as stream:
        text = stream.read().decode("latin-1")
    lines = [" ".join(words) for words in gcide_sentences(text)]
    dictionary_tokens = _tokens(lines)
    for extra in args.add:
        with smart_open(extra, encoding="utf-8") as stream:
            lines.extend(line.strip() for line in stream if line.strip())
    random.Random(args.seed).shuffle(lines)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(lines)} lines, {_tokens(lines)} tokens "
          f"({dictionary_tokens} from GCIDE)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
