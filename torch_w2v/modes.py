"""Training modes: skip-gram or CBOW, with negative sampling, hierarchical softmax or both.

A mode is data that the sampler and every backend take, not a copy of the training path:

- every centre word gives one *block*: its context words (rows of the input table) and its
  *targets* (rows of the output table) with a label each: with negative sampling the centre
  (label 1) and ``negative`` noise words (label 0); with hierarchical softmax the inner nodes on
  the centre's Huffman path, labelled ``1 - code`` (word2vec's convention); with both, the two
  lists one after the other;
- skip-gram scores every context word's input vector against the targets (a pair per context
  word); CBOW scores one hidden vector, the mean (``cbow_mean``) or sum of the context words'
  input vectors, against them (one example per centre) and hands its error back to every
  context word.

The output table holds the negative-sampling rows (one per word, gensim's ``syn1neg``) first,
then the hierarchical-softmax rows (one per inner node, gensim's ``syn1``).

Examples
--------
>>> mode = Mode.from_params({"sg": 0, "hs": 1, "negative": 0, "cbow_mean": 1})
>>> str(mode), mode.output_rows(vocab_size=10), mode.hs_offset(vocab_size=10)
('CBOW (mean), hierarchical softmax', 9, 0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Mode"]


@dataclass(frozen=True)
class Mode:
    """A training mode (gensim's ``sg``, ``hs``, ``negative``, ``cbow_mean``)."""

    skip_gram: bool = True
    negative: int = 5
    hs: bool = False
    cbow_mean: bool = True

    @classmethod
    def from_params(cls, params: dict) -> Mode:
        return cls(skip_gram=bool(params["sg"]), negative=int(params["negative"]),
                   hs=bool(params["hs"]), cbow_mean=bool(params["cbow_mean"]))

    @property
    def architecture(self) -> str:
        return "skip-gram" if self.skip_gram else "cbow"

    @property
    def objectives(self) -> frozenset:
        """``"negative"`` and/or ``"hierarchical"``."""
        return frozenset(name for name, on in (("negative", self.negative > 0),
                                                ("hierarchical", self.hs)) if on)

    def output_rows(self, vocab_size: int) -> int:
        """Rows of the output table: a word's each for negative sampling, then an inner
        node's each for hierarchical softmax."""
        return vocab_size * (self.negative > 0) + max(vocab_size - 1, 0) * self.hs

    def untrained_loss(self) -> float | None:
        """The loss per example of an untrained model (zero output vectors: every score 0,
        every term ``log 2``) under negative sampling alone; None with hierarchical softmax
        (it depends on the codes' lengths).

        Examples
        --------
        >>> round(Mode(negative=5).untrained_loss(), 4)
        4.1589
        """
        if self.hs:
            return None
        return (1 + self.negative) * math.log(2)

    def hs_offset(self, vocab_size: int) -> int:
        """First output row of the hierarchical-softmax nodes."""
        return vocab_size if self.negative > 0 else 0

    def __str__(self) -> str:
        arch = "skip-gram" if self.skip_gram else f"CBOW ({'mean' if self.cbow_mean else 'sum'})"
        parts = (["hierarchical softmax"] if self.hs else []) + (
            ["negative sampling"] if self.negative > 0 else [])
        return f"{arch}, {' + '.join(parts)}"

