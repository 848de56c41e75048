"""The scikit-learn estimator: parameters, validation and fitted attributes. A facade: ``fit``
builds a :class:`~torch_w2v.run.TrainingRun`, runs it, and only then assigns what it trained."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import modelfile
from .corpus import check_reiterable, checked_sentences, encode_corpus, resolve_corpus
from .fitted import FittedModel
from .keyedvectors import to_keyed_vectors
from .modes import Mode
from .params import parameters, params_of, plain, reshaping, stored_params, validate_params
from .run import TrainingRun, exclusive_training
from .vocab import noise_distribution

__all__ = ["KNOWN_PARAMS", "TorchWord2Vec"]

KNOWN_PARAMS = frozenset(p.name for p in params_of("estimator"))  # what its model files hold


@parameters("estimator")
class TorchWord2Vec(TransformerMixin, BaseEstimator):
    """word2vec (skip-gram or CBOW; negative sampling and/or hierarchical softmax) trained in
    PyTorch, exported as gensim vectors.

    Parameters keep gensim's ``Word2Vec`` names and defaults, so switching is a change of class,
    except ``sg``: this estimator trains skip-gram unless told otherwise (gensim's default is
    CBOW; :class:`torch_w2v.Word2Vec` keeps gensim's). The constructor only stores them
    (scikit-learn's rule); ``fit`` checks them, each with a ``ValueError`` that names the
    problem. Every parameter is declared once, in :mod:`torch_w2v.params`.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    wv_ : gensim.models.KeyedVectors
        The trained word vectors (also reachable as ``wv``), most frequent word first, each with
        its corpus ``count``.
    output_vectors_ : ndarray of shape (n_rows, vector_size)
        The output embedding table: with negative sampling one row per word (gensim's
        ``syn1neg``), then with hierarchical softmax one row per inner node of the Huffman tree
        (gensim's ``syn1``).
    history_ : list of dict
        One entry per epoch: ``epoch``, ``loss`` (the true mean loss per example), ``pairs``
        (examples: (context, centre) pairs for skip-gram, windows for CBOW), ``words`` (raw),
        ``effective_words`` (kept by subsampling, as gensim counts them), ``seconds``,
        ``words_per_sec``, ``lr``.
    corpus_words_ : int
        Raw tokens in the training corpus.
    device_ : torch.device
        Where training ran.
    vocab_ : torch_w2v.vocab.Vocabulary
        The vocabulary: ``index_to_key`` (words by id), ``key_to_index`` and ``counts`` (corpus
        counts by id); what ``partial_fit`` grows.

    See Also
    --------
    gensim.models.Word2Vec : the reference implementation these parameters mirror.

    Notes
    -----
    Training works on one block per centre word: its context words are scored against the centre
    and ``negative`` noise words that the block shares (pWord2Vec's layout); word2vec draws fresh
    noise words per pair instead. Quality is the same or better (see
    [the benchmarks](benchmarks.md)).

    Examples
    --------
    >>> from gensim.test.utils import common_texts
    >>> est = TorchWord2Vec(vector_size=10, min_count=1, epochs=2, progress=False)
    >>> est.fit(common_texts).wv.vector_size
    10
    >>> est.transform(["graph", "trees"]).shape
    (2, 10)
    """

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, X=None, y=None, *, corpus_file=None, encoding="utf-8", resume=False,
            validation=None):
        """Learn word vectors from a corpus.

        The fitted attributes are assigned only once training has succeeded: a ``fit`` that
        fails (bad input, an interruption, a diverging run) leaves a fitted estimator as it was.

        Parameters
        ----------
        X : iterable of list of str
            Re-iterable sentences (a list, gensim's ``LineSentence``/``Text8Corpus``/
            ``PathLineSentences``, ...). Not a one-shot generator.
        y : ignored
        corpus_file : str, optional
            Instead of ``X``: a path or URL, one whitespace-tokenised sentence per line, read
            through smart_open (``.gz``/``.bz2``/``s3://``/``https://`` ...). It is streamed, so
            memory does not grow with the corpus, and read once: the pass that counts the
            vocabulary also writes the text as word ids to a temporary file (4 bytes a token,
            under ``TMPDIR``, deleted when ``fit`` returns) that every epoch reads. (With
            ``max_vocab_size``, whose pruning needs the counts sentence by sentence, the first
            epoch reads the text again and writes the file.) A corpus passed as ``X`` is instead
            encoded once into int32 word ids held in memory (4 bytes a token).
        encoding : str, default "utf-8"
            The text encoding of ``corpus_file`` (a file that is not valid in it is refused,
            naming the file and the byte). UTF-8 files are read by the compiled text path, others
            in Python.
        resume : bool, default False
            Continue from the checkpoint in ``checkpoint_dir`` (the epochs it holds are kept, the
            rest are trained); without a checkpoint, train from the start. The corpus and the
            training parameters must be those of the interrupted run. With ``workers=1`` on CPU
            the result is bit-identical to an uninterrupted run.
        validation : iterable of list of str, optional
            Held-out sentences: each epoch's ``history_`` entry gets ``val_loss``, their mean
            loss per pair (no gradient; words outside the vocabulary are skipped).

        Returns
        -------
        self
        """
        params = self._validated_params()
        sentences = check_reiterable(resolve_corpus(X, corpus_file, encoding), self.epochs)
        with exclusive_training(self):
            fitted = TrainingRun(params).fit(sentences, streaming=corpus_file is not None,
                                             resume=resume, validation=validation)
            self._assign(fitted, params)
        return self

    def partial_fit(self, X=None, y=None, *, corpus_file=None, encoding="utf-8"):
        """Train further on more text, keeping the vectors learnt so far.

        Policy (gensim's ``build_vocab(update=True)`` + ``train``, made explicit):

        - known words keep their vectors and ids, and add the new text's counts to theirs;
        - words the new text holds ``min_count`` times (or ``trim_rule`` keeps) join the
          vocabulary, appended after the known words (so the vocabulary is no longer sorted by
          frequency overall), with fresh input vectors and zero output vectors;
        - subsampling and noise distributions are recomputed from the summed counts;
        - the new text is trained for ``epochs`` epochs, the learning rate decaying again from
          ``alpha`` to ``min_alpha``; random streams are seeded by ``seed`` and the number of
          epochs already trained, so the result is reproducible;
        - ``wv.vectors_lockf`` (gensim's; one value, or one per word) scales each known word's
          input-vector steps: set a word's entry to 0 to freeze its vector (transfer learning),
          e.g. ``est.wv.vectors_lockf = np.zeros(len(est.wv), np.float32)`` trains only the
          new words' vectors (and the output table); it needs ``optimizer="sgd"``.

        Unfitted, it is :meth:`fit`. ``history_`` gets the new epochs, ``run`` counting the calls.
        A call that fails leaves the estimator exactly as it was.

        Parameters
        ----------
        X, y, corpus_file, encoding
            As in :meth:`fit`.

        Returns
        -------
        self
        """
        if not hasattr(self, "wv_"):
            return self.fit(X, corpus_file=corpus_file, encoding=encoding)
        params = self._validated_params()
        changed = {k: v for k, v in reshaping(params).items()
                   if v != self._fitted_params.get(k, v)}
        if changed:
            raise ValueError(
                "partial_fit keeps the tables' shapes, but " + ", ".join(
                    f"{k}={v!r} (fitted with {self._fitted_params[k]!r})"
                    for k, v in changed.items())
                + " changed: set them back, or fit a new model")
        sentences = check_reiterable(resolve_corpus(X, corpus_file, encoding), self.epochs)
        with exclusive_training(self):
            fitted = TrainingRun(params, previous=self._fitted_model()).fit(
                sentences, streaming=corpus_file is not None)
            self._assign(fitted, params)
        return self

    def _validated_params(self) -> dict:
        params = {k: plain(v) for k, v in self.get_params().items()}
        validate_params(params)
        return params

    def _assign(self, fitted: FittedModel, params: dict) -> None:
        """Set every fitted attribute from ``fitted`` (one place, after a run succeeded)."""
        self._fitted_params = reshaping(params)
        self.vocab_ = fitted.vocab
        self.device_ = torch.device(fitted.device)
        self.corpus_words_ = fitted.corpus_words
        self.history_ = fitted.history
        self.wv_ = to_keyed_vectors(fitted.vocab, fitted.input_vectors)
        self.wv_.vectors_lockf = fitted.lockf_for(len(fitted.vocab))  # a frozen row stays so
        if self.wv_.vectors_lockf is None:
            self.wv_.vectors_lockf = np.ones(1, dtype=np.float32)
        self.output_vectors_ = fitted.output_vectors

    def _fitted_model(self) -> FittedModel:
        return FittedModel(self.vocab_, self.wv_.vectors, self.output_vectors_, self.history_,
                           self.corpus_words_, str(self.device_),
                           lockf=getattr(self.wv_, "vectors_lockf", None))

    def score(self, X, y=None):
        """The mean log probability of held-out text under the model: higher is better.

        A label-free score for model selection (``GridSearchCV(TorchWord2Vec(), grid)
        .fit(sentences)`` uses it): for every pair of words within 5 of each other in a
        held-out sentence (no subsampling; words outside the vocabulary skipped), the log
        probability of one given the other, normalised over the whole vocabulary
        (:func:`torch_w2v.scoring.mean_log_likelihood`: the softmax negative sampling
        approximates, or hierarchical softmax's tree). It is the same quantity whatever
        ``negative``, ``window``, ``sg``, ``cbow_mean`` or ``hs`` trained the model, so a search
        over any of them compares like with like (a training loss would not: each noise word
        adds a term to it).

        Parameters
        ----------
        X : iterable of list of str
            Held-out sentences.
        y : ignored

        Returns
        -------
        float
        """
        from .scoring import held_out_pairs, mean_log_likelihood

        check_is_fitted(self, "wv_")
        held_out = encode_corpus(checked_sentences(resolve_corpus(X, None)),
                                 self.vocab_.key_to_index)
        contexts, centres = held_out_pairs(held_out.ids, held_out.sentence_lengths)
        if not len(contexts):
            raise ValueError("score needs held-out text with two words of the vocabulary "
                             "within 5 of each other in a sentence")
        mode = Mode.from_params({**self.get_params(), **self._fitted_params})
        tree = self.vocab_.hs_tree() if mode.hs and not mode.negative else None
        noise = noise_distribution(self.vocab_.counts, self.ns_exponent)
        return mean_log_likelihood(self.wv_.vectors, self.output_vectors_, mode, tree,
                                   contexts, centres, noise=noise)

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path):
        """Save the fitted estimator to ``path`` (any smart_open path or URL), atomically.

        The file (see :mod:`torch_w2v.persist`) holds the parameters, the vocabulary with its
        counts, both embedding tables and the history; loading it never runs code. ``callbacks``
        and ``trim_rule`` are code and are not saved.
        """
        check_is_fitted(self, "wv_")
        modelfile.save_model(path, "TorchWord2Vec", stored_params(self.get_params()),
                             self._fitted_model())

    @classmethod
    def load(cls, path):
        """Load an estimator written by :meth:`save` (on CPU, whatever device trained it).

        The file's contents are checked like constructor input (a ``ValueError`` names what is
        wrong); ``checkpoint_dir`` comes back None (a file does not choose where your later
        fits write: set it again for ``fit(resume=True)``)."""
        return cls._from_saved(modelfile.load_model(path, {"TorchWord2Vec": KNOWN_PARAMS}))

    @classmethod
    def _from_saved(cls, saved: modelfile.SavedModel):
        estimator = cls(**saved.params)
        estimator._assign(saved.fitted, saved.params)
        return estimator

    # -- using the fitted model ----------------------------------------------------------------

    @property
    def wv(self):
        """The trained ``gensim.models.KeyedVectors`` (``NotFittedError`` before ``fit``)."""
        check_is_fitted(self, "wv_")
        return self.wv_

    def transform(self, X):
        """Vectors for words, or mean vectors for sentences.

        Parameters
        ----------
        X : list of str, or iterable of list of str
            Words → their vectors, shape ``(n_words, vector_size)`` (an unknown word raises
            ``KeyError``). Token lists → the mean vector of each list's known words, shape
            ``(n_sentences, vector_size)``, zeros for a list with none (so the estimator can
            feed a classifier in a ``Pipeline``).

        Returns
        -------
        ndarray of float32
        """
        check_is_fitted(self, "wv_")
        if isinstance(X, str):
            raise TypeError("transform takes a list of words or of token lists, not one string")
        items = list(X)
        kv = self.wv_
        if all(isinstance(item, str) for item in items):
            missing = [w for w in items if w not in kv.key_to_index]
            if missing:
                spaced = [w for w in missing if len(w.split()) > 1]
                hint = (f"; {spaced[0]!r} is a sentence as one string: to embed sentences, "
                        "pass token lists (e.g. [s.split() for s in texts])" if spaced else "")
                raise KeyError(f"words not in the vocabulary: {missing[:10]}{hint}")
            return kv[items].reshape(len(items), kv.vector_size).astype(np.float32)
        out = np.zeros((len(items), kv.vector_size), dtype=np.float32)
        for row, sentence in enumerate(checked_sentences(items)):
            known = [w for w in sentence if w in kv.key_to_index]
            if known:
                out[row] = kv[known].mean(axis=0)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags

