"""The word2vec model: two embedding tables, their scores, and the loss formula.

Every logit ``s`` of a block (an input vector against one target's output vector, see
:mod:`torch_w2v.modes`) has a label: for negative sampling 1 for the centre word and 0 for a
noise word; for hierarchical softmax ``1 - code`` of the Huffman branch. Its loss is binary
cross-entropy with logits, :func:`logit_losses`::

    softplus(s) - label * s  =  -log sigmoid(s) for label 1,  -log sigmoid(-s) for label 0

so a skip-gram (context, centre) pair with noise words ``n_1..n_K`` costs word2vec's
``-log sigmoid(u_c . v_centre) - sum_k log sigmoid(-u_c . v_{n_k})``. This is the one place the
formula is written in Python; the compiled backends compute the same expression and their tests
compare them with it.

Examples
--------
>>> import torch
>>> model = EmbeddingTables(vocab_size=10, vector_size=4,
...                         generator=torch.Generator().manual_seed(1))
>>> ctx = torch.tensor([[1, 2]]); ctx_mask = torch.tensor([[True, True]])
>>> tgt = torch.tensor([[3, 7, 8]]); tgt_mask = torch.ones(1, 3, dtype=torch.bool)
>>> from torch_w2v.modes import Mode
>>> # zero output vectors: 3 log 2
>>> round(float(model(ctx, ctx_mask, tgt, tgt_mask, mode=Mode())), 4)
2.0794
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .modes import Mode

__all__ = ["EmbeddingTables", "Float32Chunks", "block_losses", "cbow_hidden", "float32_array",
           "logit_losses", "negative_labels"]


def logit_losses(logits, labels):
    """Loss of each logit: ``softplus(logits) - labels * logits`` (BCE with logits).

    Examples
    --------
    >>> s = torch.tensor([2.0, -1.0])
    >>> torch.allclose(logit_losses(s, torch.tensor([1.0, 0.0])),
    ...                F.binary_cross_entropy_with_logits(s, torch.tensor([1.0, 0.0]),
    ...                                                   reduction="none"))
    True
    """
    return F.softplus(logits) - labels * logits


def negative_labels(targets):
    """Negative sampling's labels for ``targets`` (B, T): 1 for column 0 (the centre), else 0."""
    labels = torch.zeros(targets.shape, device=targets.device)
    labels[:, :1] = 1.0
    return labels


def block_losses(logits, labels, target_mask):
    """Loss of every example: ``logits`` (B, C, T) for skip-gram (an example per context word)
    or (B, T) for CBOW (one per block), against ``labels`` and ``target_mask`` (B, T); masked
    targets count nothing."""
    if logits.dim() == 3:
        labels, target_mask = labels[:, None, :], target_mask[:, None, :]
    return (logit_losses(logits, labels) * target_mask).sum(-1)


def cbow_hidden(u, context_mask, mean: bool):
    """CBOW's hidden vector (B, d): the sum, or mean, of the real context rows ``u`` (B, C, d)."""
    hidden = (u * context_mask.unsqueeze(-1)).sum(1)
    if mean:
        hidden = hidden / context_mask.sum(1, keepdim=True).clamp(min=1)
    return hidden


def table_bytes(vocab_size: int, vector_size: int, mode: Mode) -> int:
    """Bytes of the two float32 tables for ``vocab_size`` words (what a fit hands back, whatever
    its ``dtype`` trained).

    Examples
    --------
    >>> table_bytes(1_000_000, 100, Mode())  # negative sampling: 2 tables of 1M x 100 floats
    800000000
    """
    return (vocab_size + mode.output_rows(vocab_size)) * vector_size * 4


class Float32Chunks:
    """A table as :func:`torch_w2v.persist.save_state` writes it: float32, a slice at a time
    (a bfloat16 table is never copied whole; a float32 table's slices are its own memory)."""

    dtype = np.float32

    def __init__(self, table: torch.Tensor):
        self.table = table.detach()
        self.shape = tuple(self.table.shape)

    def chunks(self, values: int):
        """Slices of at most ``values`` values, in row-major order, as float32 ndarrays."""
        flat = self.table.reshape(-1)
        for start in range(0, flat.numel(), values):
            yield float32_array(flat[start:start + values])


def float32_array(table: torch.Tensor, copy: bool = False) -> np.ndarray:
    """A table as a float32 NumPy array: the tensor's own memory for a float32 table on the
    CPU (a copy of it with ``copy``), a converted copy otherwise (bfloat16 storage, a GPU).

    Examples
    --------
    >>> float32_array(torch.tensor([[0.5, 1.0]], dtype=torch.bfloat16)).dtype
    dtype('float32')
    """
    array = table.detach().cpu().float().numpy()
    if copy and table.device.type == "cpu" and table.dtype == torch.float32:
        array = array.copy()  # otherwise the conversion or the transfer made one already
    return array


def available_bytes(device) -> int | None:
    """Memory free for new tensors on ``device``: the GPU's free memory, or on the host the
    least of the machine's available memory (Linux ``MemAvailable``), what the process's
    cgroup (a container's limit, v2 or v1) leaves, and what its address-space limit
    (``ulimit -v``) leaves; None where none can be told."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    limits = [_meminfo_available(), _cgroup_left(), _address_space_left()]
    known = [b for b in limits if b is not None]
    return min(known) if known else None


def _read_number(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_left(root: str = "/sys/fs/cgroup") -> int | None:
    """The process's cgroup memory limit minus its usage (v2, else v1), or None."""
    for limit, usage in (("memory.max", "memory.current"),
                         ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        cap, used = _read_number(f"{root}/{limit}"), _read_number(f"{root}/{usage}")
        if cap is not None and cap < 1 << 60:  # v1 says "no limit" with a huge number
            return max(cap - (used or 0), 0)
    return None


def _address_space_left() -> int | None:
    """``RLIMIT_AS`` minus the address space the process maps already, or None."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = _read_number_field("/proc/self/status", "VmSize:")
    return max(soft - (mapped or 0), 0)


def _read_number_field(path: str, field: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(vocab_size: int, vector_size: int, mode: Mode, device, copies: int = 1,
                 batch_bytes: int = 0) -> None:
    """Raise ``ValueError`` before anything is allocated if the tables (``copies`` of them:
    optimizer state or a distributed run's anchors) and a batch's working memory cannot fit in
    what ``device`` has free, naming the sizes and what to lower."""
    tables = table_bytes(vocab_size, vector_size, mode) * copies
    free = available_bytes(device)
    if free is None or tables + batch_bytes <= free:
        return
    gib = 1 << 30
    raise ValueError(
        f"training needs {(tables + batch_bytes) / gib:.1f} GiB on {device} but "
        f"{free / gib:.1f} GiB are free: the tables of {vocab_size} words x vector_size="
        f"{vector_size} take {tables / gib:.1f} GiB" + (
            f", a batch's vectors (batch_size x negative x vector_size) "
            f"{batch_bytes / gib:.1f} GiB" if batch_bytes else "")
        + "; lower vector_size (or negative, batch_size), or shrink the vocabulary with "
        "min_count or max_final_vocab")


class EmbeddingTables(nn.Module):
    """word2vec's input and output embedding tables.

    The tables hold no gradient by default: the backends (:mod:`torch_w2v.backends`) update
    them in place; only the autograd recipe turns gradients on.

    Parameters
    ----------
    vocab_size, vector_size : int
    output_rows : int, optional
        Rows of the output table (:meth:`torch_w2v.modes.Mode.output_rows`; default one per
        word, negative sampling's).
    generator : torch.Generator, optional
        Seeds the initialisation: input vectors uniform in ``[-1/d, 1/d)`` (gensim's rule),
        output vectors zero (word2vec's and gensim's).
    dtype : torch.dtype, optional
        The tables' storage: float32 (default), or bfloat16 (the same draws, rounded), each
        table in the first half of a float32-sized buffer whose second half is never touched
        (so never resident) until :meth:`to_float32_` widens it in place.
    """

    def __init__(self, vocab_size: int, vector_size: int, output_rows: int | None = None,
                 generator=None, dtype=torch.float32):
        super().__init__()
        init = torch.rand(vocab_size, vector_size, generator=generator)
        init.mul_(2).sub_(1).div_(vector_size)  # in place: no table-sized temporaries
        rows = vocab_size if output_rows is None else output_rows
        if dtype == torch.float32:
            inputs, outputs = init, torch.zeros(rows, vector_size)
        else:
            inputs = _in_float32_buffer(vocab_size, vector_size, dtype).copy_(init)
            del init
            outputs = _in_float32_buffer(rows, vector_size, dtype).zero_()
        self.input_vectors = nn.Parameter(inputs, requires_grad=False)
        self.output_vectors = nn.Parameter(outputs, requires_grad=False)

    def to_float32_(self) -> EmbeddingTables:
        """Make tables on the CPU float32, in place where they were made so (a bfloat16 table
        in its float32-sized buffer: no second copy of the tables, so a bfloat16 fit's peak
        memory is a float32 fit's); returns self. Tables on a GPU stay as they are: they are
        converted on the host as they are copied there (:func:`float32_array`), so the GPU
        never holds both.

        Examples
        --------
        >>> t = EmbeddingTables(3, 2, dtype=torch.bfloat16)
        >>> before, address = t.input_vectors.float(), t.input_vectors.data_ptr()
        >>> t.to_float32_().input_vectors.dtype, t.input_vectors.data_ptr() == address
        (torch.float32, True)
        >>> torch.equal(t.input_vectors, before)
        True
        """
        for table in (self.input_vectors, self.output_vectors):
            if table.dtype == torch.float32 or table.device.type != "cpu":
                continue
            if table.dtype == torch.bfloat16 and table.storage_offset() == 0 and \
                    table.is_contiguous() and table.untyped_storage().nbytes() >= 4 * table.numel():
                table.data = _widen_bfloat16(table.data)
            else:
                table.data = table.data.float()
        return self

    def scores(self, contexts, context_mask, targets, *, mode: Mode, max_norm=None,
               sparse=False):
        """Logits: (B, C, T), each context word against its block's targets (skip-gram), or
        (B, T), the CBOW hidden vector against them.

        ``max_norm`` renormalises the looked-up rows in place first (``nn.Embedding``'s
        option); ``sparse`` gives the tables sparse gradients (for ``SparseAdam``).
        """
        u = F.embedding(contexts, self.input_vectors, max_norm=max_norm, sparse=sparse)
        v = F.embedding(targets, self.output_vectors, max_norm=max_norm, sparse=sparse)
        if mode.skip_gram:
            return torch.bmm(u, v.transpose(1, 2))  # (B, C, d) @ (B, d, T)
        hidden = cbow_hidden(u, context_mask, mode.cbow_mean)
        return torch.bmm(v, hidden.unsqueeze(2)).squeeze(2)  # (B, T, d) @ (B, d, 1)

    def loss_sum(self, contexts, context_mask, targets, target_mask, *, mode: Mode, labels=None,
                 max_norm=None, sparse=False):
        """``(summed loss, examples)`` of a batch: an example is a (context, centre) pair for
        skip-gram, a block with at least one context word for CBOW. ``labels`` None: negative
        sampling's. Differentiable."""
        logits = self.scores(contexts, context_mask, targets, mode=mode, max_norm=max_norm,
                             sparse=sparse)
        labels = negative_labels(targets) if labels is None else labels
        losses = block_losses(logits, labels, target_mask)
        examples = context_mask if mode.skip_gram else context_mask.any(1)
        return (losses * examples).sum(), examples.sum()

    def forward(self, contexts, context_mask, targets, target_mask, *, mode: Mode, labels=None,
                max_norm=None, sparse=False):
        """Mean loss over the real examples of a batch (:meth:`loss_sum`), for autograd
        optimisers."""
        total, examples = self.loss_sum(contexts, context_mask, targets, target_mask, mode=mode,
                                        labels=labels, max_norm=max_norm, sparse=sparse)
        return total / examples.clamp(min=1)


def _in_float32_buffer(rows: int, columns: int, dtype) -> torch.Tensor:
    """An uninitialised (rows, columns) table of a 2-byte ``dtype`` in the first half of a
    float32 buffer of that shape (the untouched half costs address space, not memory)."""
    buffer = torch.empty(rows * columns, dtype=torch.float32)
    return buffer.view(dtype)[:rows * columns].view(rows, columns)


WIDEN_CHUNK = 1 << 20  # values converted per step: the only temporary of _widen_bfloat16


def _widen_bfloat16(table: torch.Tensor) -> torch.Tensor:
    """The bfloat16 ``table`` as float32 in its own buffer (at least twice its bytes). Value
    ``m``'s float32 (bytes ``4m..4m+3``) overwrites bfloat16 values ``2m`` and ``2m + 1``:
    converted from the last chunk to the first, those are converted already, or in ``m``'s own
    chunk, copied before it is written. A bfloat16 is the top half of its float32."""
    n, shape = table.numel(), table.shape
    bits = table.view(-1).view(torch.int16)
    wide = torch.empty(0, dtype=torch.int32).set_(table.untyped_storage(), 0, (n,))
    for end in range(n, 0, -WIDEN_CHUNK):
        start = max(0, end - WIDEN_CHUNK)
        chunk = bits[start:end].to(torch.int32)  # a copy: read before anything is written
        torch.bitwise_left_shift(chunk, 16, out=chunk)  # sign bits shift out
        wide[start:end] = chunk
    return wide.view(torch.float32).view(shape)
