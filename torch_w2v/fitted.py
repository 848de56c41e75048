"""What a training run produces, a model file holds and a fitted estimator exposes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vocab import Vocabulary

__all__ = ["FittedModel"]


@dataclass(frozen=True)
class FittedModel:
    """The trained state of a model, on the host.

    Attributes
    ----------
    vocab : Vocabulary
        Words (in table order) and their corpus counts.
    input_vectors, output_vectors : ndarray of shape (len(vocab), vector_size)
        The word vectors users keep, and the output ("context") table.
    history : list of dict
        One entry per trained epoch, over every call that trained this model.
    corpus_words : int
        Raw tokens of the corpus of the last call.
    device : str
        Where the last call trained.
    lockf : ndarray of float32, optional
        gensim's ``vectors_lockf``: the share of its step each word's input vector takes when
        training continues (0 freezes it), one value for all words or one per word.
    """

    vocab: Vocabulary
    input_vectors: np.ndarray
    output_vectors: np.ndarray
    history: list
    corpus_words: int
    device: str = "cpu"
    lockf: np.ndarray | None = None

    def lockf_for(self, size: int) -> np.ndarray | None:
        """``lockf`` for a vocabulary grown to ``size`` words (new words train fully); None
        where every row trains fully."""
        if self.lockf is None:
            return None
        lockf = np.asarray(self.lockf, dtype=np.float32).reshape(-1)
        if (lockf == 1).all():
            return None
        if len(lockf) == 1:
            return lockf
        if len(lockf) != len(self.vocab):
            raise ValueError(f"vectors_lockf holds {len(lockf)} values for {len(self.vocab)} "
                             "words: give one value, or one per word")
        return np.concatenate([lockf, np.ones(size - len(lockf), np.float32)])
