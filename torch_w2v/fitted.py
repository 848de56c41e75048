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
    """

    vocab: Vocabulary
    input_vectors: np.ndarray
    output_vectors: np.ndarray
    history: list
    corpus_words: int
    device: str = "cpu"
