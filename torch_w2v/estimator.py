"""The scikit-learn estimator: a thin facade over corpus → vocab → batches → model + loop → vectors."""
from __future__ import annotations

import sys

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import checkpoints
from .callbacks import ValidationLoss
from .corpus import check_reiterable, check_tokens, checked_sentences, encode_corpus, resolve_corpus
from .keyedvectors import to_keyed_vectors
from .model import SkipGramNS
from .params import resolve_device, resolve_workers, validate_params
from .sampling import BatchSampler
from .streaming import StreamingCorpus, count_and_record
from .steps import default_batch_size, make_step, resolve_step
from .train import train_sgns
from .vocab import (build_vocab, count_words, grow_vocab, keep_probabilities, noise_distribution,
                    percentile_keep_probabilities)

__all__ = ["TorchWord2Vec"]


class TorchWord2Vec(TransformerMixin, BaseEstimator):
    """Skip-gram word2vec with negative sampling, trained in PyTorch, exported as gensim vectors.

    Parameters keep gensim's ``Word2Vec`` names and defaults, so switching is a change of class.

    Parameters
    ----------
    vector_size : int, default 100
        Dimensionality of the word vectors.
    window : int, default 5
        Maximum distance between a centre word and a context word.
    min_count : int, default 5
        Words seen fewer times are ignored.
    max_vocab_size : int, optional
        Prune the rarest words while counting whenever more than this many are held (gensim's
        memory cap for counting).
    max_final_vocab : int, optional
        Raise ``min_count`` until at most this many words remain.
    sample : float, default 1e-3
        Subsampling threshold for frequent words (word2vec's formula); 0 disables it.
    negative : int, default 5
        Noise words per positive pair.
    ns_exponent : float, default 0.75
        Noise words are drawn in proportion to ``count ** ns_exponent``.
    alpha, min_alpha : float, default 0.025, 0.0001
        Learning rate, decaying linearly from ``alpha`` to ``min_alpha`` over all words of all
        epochs.
    epochs : int, default 5
        Passes over the corpus.
    seed : int, default 1
        Seeds initialisation, subsampling, windows and noise words. Same seed, parameters and
        device give identical vectors.
    workers : int, optional
        CPU threads during ``fit`` (default: all cores). With the fused CPU step and more than one
        worker, threads update shared rows without locks, as word2vec and gensim do: vectors then
        differ between runs at rounding level. ``workers=1`` (or ``step="batched"``) gives
        bit-identical vectors for the same seed.
    shrink_windows : bool, default True
        word2vec's dynamic window: each centre uses a window drawn uniformly from ``1..window``.
    sorted_vocab : bool, default True
        Number words by descending frequency.
    trim_rule : callable, optional
        ``trim_rule(word, count, min_count)`` returning a ``gensim.utils.RULE_*`` value.
    batch_size : int, optional
        (Context, centre) pairs handed to one step. Default: 32768 for the fused CPU step; for
        the batched step, corpus tokens / 64 (many steps per epoch), at most 8192 on CPU and
        262144 on CUDA.
    step : {"auto", "fused", "batched"}, default "auto"
        How a batch is trained. ``"fused"``: a compiled CPU op updates each centre word's block
        in place, block after block (word2vec's sequential SGD within a block; compiled on first
        use, about a minute, then cached). ``"batched"``: PyTorch tensor ops score the whole batch
        from the same weights, then add all steps at once (any device; deterministic).
        ``"auto"``: fused on CPU where it compiles, batched otherwise.
    update_cap : float, default 256
        Keeps large batches stable: a vector that more than ``update_cap`` scores (logits) of
        one batch update gets the sum of their steps scaled by ``update_cap / scores`` (a
        frequent word's summed step otherwise overshoots where sequential SGD would not).
        Vectors updated by fewer, nearly all, get plain SGD. ``None`` sums every step (diverges for
        large batches). Used by the batched step only: the fused step applies each block's
        update before scoring the next.
    device : str, default "auto"
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    callbacks : list of Callback, default ()
        Hooks called at train/epoch begin and end (see :mod:`torch_w2v.callbacks`).
    progress : bool, optional
        Show a progress bar; by default only when stderr is a terminal.
    checkpoint_dir : str, optional
        Save a checkpoint (``checkpoint.npz``, atomically) there at the end of every epoch;
        ``fit(..., resume=True)`` continues from it after an interruption.
    optimizer : {"sgd", "adam", "sparse_adam"}, default "sgd"
        ``"sgd"``: word2vec's plain SGD. ``"adam"`` / ``"sparse_adam"``: the original tutorial's
        recipe, the loss through autograd and ``torch.optim.Adam`` / ``SparseAdam`` (learning rate
        ``alpha`` decaying to ``min_alpha`` as for SGD; Adam wants a smaller ``alpha``, ~1e-3).
    max_norm : float, optional
        Renormalise looked-up rows to at most this norm (``nn.Embedding``'s ``max_norm``); uses
        the batched or autograd step.
    subsampling : {"word2vec", "percentile"}, default "word2vec"
        ``"word2vec"``: keep probability ``(sqrt(c/t) + 1) t / c`` with ``t = sample * total``,
        dropped tokens removed before windowing. ``"percentile"``: the tutorial's
        ``sqrt(t / (f + t))`` with ``t`` the ``subsample_percentile``-th percentile of the
        words' relative frequencies ``f``, drawn independently for each centre and context slot.
    subsample_percentile : float, default 85
        ``T`` of the percentile rule.
    noise_sampler : {"alias", "table"}, default "alias"
        ``"alias"``: exact draws from ``count ** ns_exponent``. ``"table"``: the tutorial's table
        of ``noise_table_size`` word ids filled in proportion (every word at least once).
    noise_table_size : int, default 5,000,000
    full_windows_only : bool, default False
        Train only centre words whose whole window lies inside their sentence (the tutorial).
    checkpoint_every : int, optional
        Also checkpoint within epochs, every this many raw corpus words (at the next sampling
        chunk boundary, every 65,536 or more tokens).

    Attributes
    ----------
    wv_ : gensim.models.KeyedVectors
        The trained word vectors (also reachable as ``wv``), most frequent word first, each with
        its corpus ``count``.
    output_vectors_ : ndarray of shape (n_words, vector_size)
        The output ("context") embedding table.
    history_ : list of dict
        One entry per epoch: ``epoch``, ``loss`` (the true mean SGNS loss per pair), ``pairs``,
        ``words``, ``seconds``, ``words_per_sec``, ``lr``.
    corpus_words_ : int
        Raw tokens in the training corpus.
    device_ : torch.device
        Where training ran.

    See Also
    --------
    gensim.models.Word2Vec : the reference implementation these parameters mirror.

    Notes
    -----
    Training works on one block per centre word: its context words are scored against the centre
    and ``negative`` noise words that the block shares (pWord2Vec's layout); word2vec draws fresh
    noise words per pair instead. Quality is the same or better (see ``docs/benchmarks.md``).

    Examples
    --------
    >>> from gensim.test.utils import common_texts
    >>> est = TorchWord2Vec(vector_size=10, min_count=1, epochs=2, progress=False)
    >>> est.fit(common_texts).wv.vector_size
    10
    >>> est.transform(["graph", "trees"]).shape
    (2, 10)
    """

    def __init__(self, vector_size=100, *, window=5, min_count=5, max_vocab_size=None,
                 max_final_vocab=None, sample=1e-3, negative=5, ns_exponent=0.75, alpha=0.025,
                 min_alpha=0.0001, epochs=5, seed=1, workers=None, shrink_windows=True,
                 sorted_vocab=True, trim_rule=None, batch_size=None, step="auto",
                 update_cap=256, device="auto",
                 callbacks=(), progress=None, checkpoint_dir=None, checkpoint_every=None,
                 optimizer="sgd", max_norm=None, subsampling="word2vec",
                 subsample_percentile=85.0, noise_sampler="alias", noise_table_size=5_000_000,
                 full_windows_only=False):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.max_final_vocab = max_final_vocab
        self.sample = sample
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.epochs = epochs
        self.seed = seed
        self.workers = workers
        self.shrink_windows = shrink_windows
        self.sorted_vocab = sorted_vocab
        self.trim_rule = trim_rule
        self.batch_size = batch_size
        self.step = step
        self.update_cap = update_cap
        self.device = device
        self.callbacks = callbacks
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.optimizer = optimizer
        self.max_norm = max_norm
        self.subsampling = subsampling
        self.subsample_percentile = subsample_percentile
        self.noise_sampler = noise_sampler
        self.noise_table_size = noise_table_size
        self.full_windows_only = full_windows_only

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, X=None, y=None, *, corpus_file=None, resume=False, validation=None):
        """Learn word vectors from a corpus.

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
        resume : bool, default False
            Continue from the checkpoint in ``checkpoint_dir`` (the epochs it holds are kept, the
            rest are trained); without a checkpoint, train from the start. The corpus and the
            training parameters must be those of the interrupted run. With ``workers=1`` on CPU
            the result is bit-identical to an uninterrupted run.
        validation : iterable of list of str, optional
            Held-out sentences: each epoch's ``history_`` entry gets ``val_loss``, their mean
            SGNS loss (no gradient; words outside the vocabulary are skipped).

        Returns
        -------
        self
        """
        validate_params(self.get_params())
        sentences = check_reiterable(resolve_corpus(X, corpus_file), self.epochs)
        counter, total_words, recording = self._count_words(sentences, corpus_file is not None)
        vocab = build_vocab(counter, self.min_count, self.max_final_vocab, self.trim_rule,
                            self.sorted_vocab)
        if len(vocab) == 0:
            raise ValueError(
                f"the vocabulary is empty: no word occurs min_count={self.min_count} times "
                f"(the most frequent occurs {max(counter.values())} times); "
                "lower min_count or give a larger corpus"
            )
        del counter
        checkpoint = checkpoints.latest(self.checkpoint_dir, self, vocab) if resume else None
        return self._fit_vocab(sentences, corpus_file is not None, vocab, total_words,
                               recording, checkpoint=checkpoint, validation=validation)

    def partial_fit(self, X=None, y=None, *, corpus_file=None):
        """Train further on more text, keeping the vectors learnt so far.

        Policy (gensim's ``build_vocab(update=True)`` + ``train``, made explicit):

        - known words keep their vectors and ids, and add the new text's counts to theirs;
        - words the new text holds ``min_count`` times (or ``trim_rule`` keeps) join the
          vocabulary, appended after the known words (so the vocabulary is no longer sorted by
          frequency overall), with fresh input vectors and zero output vectors;
        - subsampling and noise distributions are recomputed from the summed counts;
        - the new text is trained for ``epochs`` epochs, the learning rate decaying again from
          ``alpha`` to ``min_alpha``; random streams are seeded by ``seed`` and the number of
          epochs already trained, so the result is reproducible.

        Unfitted, it is :meth:`fit`. ``history_`` gets the new epochs, ``run`` counting the calls.

        Parameters
        ----------
        X, y, corpus_file
            As in :meth:`fit`.

        Returns
        -------
        self
        """
        if not hasattr(self, "wv_"):
            return self.fit(X, corpus_file=corpus_file)
        validate_params(self.get_params())
        sentences = check_reiterable(resolve_corpus(X, corpus_file), self.epochs)
        counter, total_words, recording = self._count_words(sentences, corpus_file is not None)
        vocab = grow_vocab(self.vocab_, counter, self.min_count, self.trim_rule)
        del counter
        return self._fit_vocab(sentences, corpus_file is not None, vocab, total_words,
                               recording, previous=self)

    def _fit_vocab(self, sentences, streaming, vocab, total_words, recording=None,
                   checkpoint=None, previous=None, validation=None):
        if streaming:  # memory bounded by a chunk; encoded ids kept on disk between epochs
            corpus = StreamingCorpus(sentences, vocab.key_to_index, total_words,
                                     recording=recording)
        else:  # held as int32 ids: 4 bytes a token, read once
            corpus = encode_corpus(sentences, vocab.key_to_index)
            if not len(corpus.ids):
                raise ValueError("no word of this text is in the vocabulary: nothing to train")
        device = resolve_device(self.device)
        threads = torch.get_num_threads()
        torch.set_num_threads(resolve_workers(self.workers))
        try:
            model, history = self._train(vocab, corpus, device, checkpoint, previous,
                                         validation)
        finally:
            torch.set_num_threads(threads)
            if streaming:
                corpus.close()  # the encoded ids it kept on disk between epochs
        earlier = list(previous.history_) if previous is not None else []
        run = earlier[-1].get("run", 0) + 1 if earlier else 0  # which fit/partial_fit call trained it
        history = earlier + [dict(h, run=run) for h in history]
        self._set_fitted(vocab, model.input_vectors.detach().cpu().numpy(),
                         model.output_vectors.detach().cpu().numpy(), history,
                         corpus.raw_words, device)
        return self

    def _set_fitted(self, vocab, input_vectors, output_vectors, history, corpus_words, device):
        self.vocab_ = vocab
        self.device_ = device
        self.corpus_words_ = corpus_words
        self.history_ = history
        self.wv_ = to_keyed_vectors(vocab, input_vectors)
        self.output_vectors_ = output_vectors

    def _count_words(self, sentences, record=False):
        """Word counts of a validated corpus, its token count and, with ``record``, the text
        encoded on disk in the same pass (None where it could not be, or with
        ``max_vocab_size``: gensim prunes the counts sentence by sentence)."""
        recording = None
        if record and self.max_vocab_size is None:
            counter, total, recording = count_and_record(checked_sentences(sentences))
        else:
            counter, total, _ = count_words(checked_sentences(sentences), self.max_vocab_size)
        if total == 0:
            raise ValueError("the corpus is empty: it holds no tokens to train on")
        check_tokens(counter)
        return counter, total, recording

    def _sampler(self, vocab, batch_size, device, seed):
        if self.subsampling == "percentile":
            keep = percentile_keep_probabilities(vocab.counts, self.subsample_percentile)
        else:
            keep = keep_probabilities(vocab.counts, self.sample)
        return BatchSampler(
            keep, noise_distribution(vocab.counts, self.ns_exponent),
            window=self.window, negative=self.negative, shrink_windows=self.shrink_windows,
            batch_size=batch_size, device=device,
            generator=torch.Generator(device).manual_seed(seed),
            subsample_independently=self.subsampling == "percentile",
            full_windows_only=self.full_windows_only,
            noise_table_size=self.noise_table_size if self.noise_sampler == "table" else None,
        )

    def _train(self, vocab, corpus, device, checkpoint=None, previous=None, validation=None):
        kind, kernel = resolve_step(self.step, self.optimizer, self.max_norm, device)
        batch_size = self.batch_size or default_batch_size(kind, device, corpus.raw_words)
        seed = self.seed + (len(previous.history_) if previous is not None else 0)
        init_generator = torch.Generator().manual_seed(seed)
        model = SkipGramNS(len(vocab), self.vector_size, generator=init_generator)
        if previous is not None:  # continued training: the known words' rows carry over
            known = len(previous.vocab_)
            with torch.no_grad():
                model.input_vectors[:known] = torch.from_numpy(previous.wv_.vectors)
                model.output_vectors[:known] = torch.from_numpy(previous.output_vectors_)
        model = model.to(device)
        sampler = self._sampler(vocab, batch_size, device, seed)
        position = None
        if checkpoint is not None:
            position = checkpoints.restore(checkpoint, model, sampler.generator)
        save = None
        if self.checkpoint_dir:
            def save(position):
                checkpoints.save(self.checkpoint_dir, self, vocab, model, sampler.generator,
                                 position, corpus.raw_words)
        callbacks = list(self.callbacks)
        if validation is not None:  # first, so the other callbacks see val_loss
            held_out = encode_corpus(checked_sentences(resolve_corpus(validation, None)),
                                     vocab.key_to_index)  # read once: any iterable will do
            callbacks.insert(0, ValidationLoss(held_out, self._sampler(vocab, batch_size,
                                                                        device, seed)))
        progress = self.progress
        if progress is None:
            progress = _stderr_is_terminal()
        step = make_step(kind, model, kernel=kernel, update_cap=self.update_cap,
                         optimizer=self.optimizer, alpha=self.alpha, max_norm=self.max_norm)
        self.vocab_, self.module_ = vocab, model  # what callbacks read during training
        try:
            history = train_sgns(model, sampler, corpus, step, epochs=self.epochs,
                                 alpha=self.alpha, min_alpha=self.min_alpha,
                                 callbacks=callbacks, owner=self, progress=progress,
                                 position=position, checkpoint=save,
                                 checkpoint_every=self.checkpoint_every)
        finally:
            del self.module_
        return model, history

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path):
        """Save the fitted estimator to ``path`` (any smart_open path or URL), atomically.

        The file (see :mod:`torch_w2v.persist`) holds the parameters, the vocabulary with its
        counts, both embedding tables and the history; loading it never runs code. ``callbacks``
        and ``trim_rule`` are code and are not saved.
        """
        check_is_fitted(self, "wv_")
        checkpoints.save_model(path, self)

    @classmethod
    def load(cls, path):
        """Load an estimator written by :meth:`save` (on CPU, whatever device trained it)."""
        return checkpoints.load_model(path, cls)

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
                raise KeyError(f"words not in the vocabulary: {missing[:10]}")
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


def _stderr_is_terminal() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
