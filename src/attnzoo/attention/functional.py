"""The pure functions every attention mechanism is built from.

Shape legend used throughout attnzoo:

    B   batch size
    Tq  number of queries (target length)
    Tk  number of keys / values (source length)
    Dq, Dk, Dv  feature sizes of queries, keys and values

Masks are boolean and ``True`` means "may attend", as in
``torch.nn.functional.scaled_dot_product_attention``. A mask broadcasts to the
scores' shape ``(B, Tq, Tk)``.

Half precision (float16, bfloat16): scores and softmax are computed in float32, as
``F.scaled_dot_product_attention`` does, and the weights are returned in the input dtype
(float16's largest number is 65504: ``q . k`` of two vectors of 300s already overflows).

Every mechanism checks its query, keys and values once per call and raises ``ValueError``
naming the argument on an inf or a NaN (:func:`check_finite`), instead of returning NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint


class AttentionOutput(NamedTuple):
    """What every mechanism returns.

    context: ``(B, Tq, Dv)``, or ``(B, Dv)`` for a single query.
    weights: ``(B, Tq, Tk)`` (``(B, Tk)`` for a single query; ``(B, H, Tq, Tk)`` for
        multi-head attention), or ``None`` when the caller asked for no weights.
    """

    context: Tensor
    weights: Tensor | None


def check_shape(name: str, tensor: Tensor, expected: tuple[int | None, ...], legend: str) -> None:
    """Raise ``ValueError`` unless ``tensor`` has ``len(expected)`` dims with the given sizes.

    ``None`` in ``expected`` accepts any size. ``legend`` names the dims, e.g. ``"(B, Tk, Dk)"``,
    so the message reads ``keys: expected (B, Tk, Dk) = (4, ?, 16), got (3, 7, 16)``.
    """
    matches = tensor.dim() == len(expected) and all(
        want is None or want == got for want, got in zip(expected, tensor.shape, strict=False)
    )
    if not matches:
        shown = ", ".join("?" if want is None else str(want) for want in expected)
        raise ValueError(f"{name}: expected {legend} = ({shown}), got {tuple(tensor.shape)}")


def check_mask(mask: Tensor, scores_shape: torch.Size, name: str = "mask") -> None:
    """Raise ``ValueError`` unless ``mask`` is boolean and broadcasts to ``scores_shape``."""
    if mask.dtype != torch.bool:
        raise ValueError(f"{name}: expected a bool tensor (True = may attend), got dtype {mask.dtype}")
    try:
        shape = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        shape = None
    if shape != scores_shape:
        raise ValueError(f"{name}: expected a shape that broadcasts to {tuple(scores_shape)}, got {tuple(mask.shape)}")


HALF_DTYPES = (torch.float16, torch.bfloat16)


def upcast(tensor: Tensor) -> Tensor:
    """``tensor`` in float32 if it is float16 or bfloat16, else unchanged (float32, float64)."""
    return tensor.float() if tensor.dtype in HALF_DTYPES else tensor


SMALL_CHECK = 4096  # below this many elements isfinite(x).all() is the cheaper finiteness check


def all_finite(tensor: Tensor) -> Tensor:
    """0-dim bool: no inf and no NaN in ``tensor``. One pass over it, without a bool copy for large ones.

    ``aminmax`` propagates NaN and exposes ``±inf`` in its min or max; on CPU it is several times
    faster than ``isfinite(x).all()`` for more than a few thousand elements.
    """
    if tensor.numel() < SMALL_CHECK:
        return torch.isfinite(tensor).all()
    return torch.isfinite(torch.stack(torch.aminmax(tensor))).all()


def check_finite(name: str, tensor: Tensor) -> None:
    """Raise ``ValueError`` if ``tensor`` holds an inf or a NaN: ``query: expected finite values, got inf at (1, 2)``.

    One pass and one host sync per call (:func:`all_finite`); the position is looked up only on
    failure. Under ``torch.compile`` the check is ``torch._assert_async`` (a ``RuntimeError``),
    which traces without a graph break.
    """
    if torch.compiler.is_compiling():
        torch._assert_async(all_finite(tensor), f"{name}: expected finite values")
        return
    if not bool(all_finite(tensor)):
        index = (~torch.isfinite(tensor)).nonzero()[0]
        value = tensor[tuple(index)].item()
        raise ValueError(f"{name}: expected finite values, got {value} at {tuple(index.tolist())}")


def masked_softmax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """Softmax over ``dim`` that gives masked positions exactly zero weight.

    A row whose every position is masked gets all-zero weights (not NaN), with finite
    gradients: masked scores are replaced by the most negative finite number rather
    than ``-inf``, so such a row is a harmless uniform softmax that is then zeroed.
    Half-precision scores are normalised in float32 and the weights cast back.

    Args:
        scores: any shape, e.g. ``(B, Tq, Tk)``.
        mask: bool, broadcastable to ``scores``; True = may attend. ``None``: plain softmax.
        dim: the dimension to normalise over.

    Returns:
        weights: same shape as ``scores``; each row sums to 1 over its allowed positions,
        or to 0 if it has none.
    """
    dtype, scores = scores.dtype, upcast(scores)
    if mask is None:
        return torch.softmax(scores, dim=dim).to(dtype)
    check_mask(mask, scores.shape)
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim).masked_fill(~mask, 0.0).to(dtype)


def lengths_to_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """Key-padding mask from sequence lengths.

    Args:
        lengths: ``(B,)`` integer lengths.
        max_len: width of the mask, at least ``lengths.max()``; default ``lengths.max()``.

    Returns:
        mask: ``(B, max_len)`` bool, True at positions ``< length``. Use ``mask[:, None, :]``
        to broadcast it over queries.
    """
    if lengths.dim() != 1 or lengths.dtype.is_floating_point:
        raise ValueError(f"lengths: expected a 1-D integer tensor (B,), got {lengths.dtype} {tuple(lengths.shape)}")
    longest = int(lengths.max()) if lengths.numel() else 0
    if max_len is None:
        max_len = longest
    if max_len < longest:
        raise ValueError(f"max_len: expected at least the longest length {longest}, got {max_len}")
    return torch.arange(max_len, device=lengths.device) < lengths[:, None]


def causal_mask(tq: int, tk: int | None = None, device: torch.device | str | None = None) -> Tensor:
    """Causal mask: query ``i`` may attend key ``j`` iff ``j <= i + (tk - tq)``.

    Queries are aligned with the *last* ``tq`` keys, which is what incremental decoding
    with a KV cache needs (one new query sees every cached key). With ``tq == tk`` it is
    the usual lower-triangular mask.

    Returns:
        mask: ``(tq, tk)`` bool.
    """
    tk = tq if tk is None else tk
    if tk < tq:
        raise ValueError(f"tk: expected at least tq = {tq} keys, got {tk}")
    return torch.ones(tq, tk, dtype=torch.bool, device=device).tril(diagonal=tk - tq)


class AttentionInputs(NamedTuple):
    """Validated inputs of a mechanism, with a single query turned into ``Tq = 1``."""

    query: Tensor  # (B, Tq, Dq)
    keys: Tensor  # (B, Tk, Dk)
    values: Tensor  # (B, Tk, Dv)
    mask: Tensor | None  # broadcastable to (B, Tq, Tk)
    single: bool  # the caller gave one query (B, Dq)


def standardise_inputs(
    score, query: Tensor, keys: Tensor, values: Tensor | None, mask: Tensor | None
) -> AttentionInputs:
    """Check a mechanism's inputs against ``score`` and the conventions, raising ``ValueError``.

    Shapes are checked, and query, keys and values must hold finite numbers (:func:`check_finite`).

    Args:
        score: the mechanism's score module (its ``check_inputs`` checks query and keys).
        query: ``(B, Tq, Dq)`` or ``(B, Dq)``. keys: ``(B, Tk, Dk)``.
        values: ``(B, Tk, Dv)`` or ``None`` for ``keys``.
        mask: bool broadcastable to ``(B, Tq, Tk)`` (``(B, Tk)`` for a single query) or ``None``.
    """
    check_finite("query", query)
    check_finite("keys", keys)
    if values is not None and values is not keys:
        check_finite("values", values)
    values = keys if values is None else values
    single = query.dim() == 2
    if single:
        query = query.unsqueeze(1)  # (B, 1, Dq)
    score.check_inputs(query, keys)
    check_shape("values", values, (keys.size(0), keys.size(1), None), "(B, Tk, Dv)")
    if mask is not None:
        scores_shape = (query.size(0), keys.size(1)) if single else (query.size(0), query.size(1), keys.size(1))
        check_mask(mask, torch.Size(scores_shape))  # the shape the caller gave, in the message too
        mask = mask.unsqueeze(-2) if single else mask  # (B, 1, Tk)
    return AttentionInputs(query, keys, values, mask, single)


def finish_output(context: Tensor, weights: Tensor | None, single: bool) -> AttentionOutput:
    """``AttentionOutput`` with the query dim removed again for a single query."""
    if single:
        return AttentionOutput(context.squeeze(1), None if weights is None else weights.squeeze(1))
    return AttentionOutput(context, weights)


def attend(weights: Tensor, values: Tensor) -> Tensor:
    """Weighted sum of values: ``context_i = sum_j weights_ij * values_j``.

    Args:
        weights: ``(..., Tq, Tk)``.
        values: ``(..., Tk, Dv)``.

    Returns:
        context: ``(..., Tq, Dv)``.
    """
    return weights @ values


def query_chunks(tq: int, chunk_size: int | None) -> list[slice]:
    """Slices that cover ``range(tq)`` in pieces of at most ``chunk_size`` (one piece if ``None``)."""
    if chunk_size is None or chunk_size >= tq:
        return [slice(0, tq)]
    if chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive integer or None, got {chunk_size}")
    return [slice(start, min(start + chunk_size, tq)) for start in range(0, tq, chunk_size)]


def in_query_chunks(
    compute: Callable[[slice], tuple[Tensor, Tensor]],
    tq: int,
    chunk_size: int | None,
    dim: int,
    checkpointed: bool = True,
) -> tuple[Tensor, Tensor]:
    """``compute(rows)`` for each chunk of queries (:func:`query_chunks`), concatenated along ``dim``.

    ``compute`` returns one chunk's context and weights. When there are several chunks and gradients
    are on, each chunk runs under activation checkpointing: autograd keeps only the chunk's inputs
    and outputs and recomputes its intermediates (a score's ``(B, chunk, Tk, H)`` tensors) in the
    backward pass, so ``chunk_size`` bounds the memory of training as well as of inference.
    Dropout masks are the same in the recomputation (the RNG state is restored).
    ``checkpointed=False``: the chunks' score keeps no large intermediate of its own
    (:func:`lean_chunks`), so nothing is recomputed but that score's own backward.
    """
    pieces = query_chunks(tq, chunk_size)
    recompute = checkpointed and len(pieces) > 1 and torch.is_grad_enabled()
    outputs = [checkpoint(compute, rows, use_reentrant=False) if recompute else compute(rows) for rows in pieces]
    contexts, weights = zip(*outputs, strict=True)
    return torch.cat(contexts, dim=dim), torch.cat(weights, dim=dim)


def lean_chunks(score: Any, tq: int, chunk_size: int | None) -> bool:
    """Whether chunked training takes ``score.score_recomputing`` instead of checkpointing each chunk.

    True when there are several chunks, gradients are on and the score has a backward that
    recomputes its ``(B, chunk, Tk, H)`` intermediates itself (``score.recomputes_in_backward``, e.g.
    :class:`~attnzoo.attention.scores.AdditiveScore`): the chunk's softmax and weighted sum then
    run once, not twice.
    """
    lean = getattr(score, "recomputes_in_backward", False)
    return lean and torch.is_grad_enabled() and len(query_chunks(tq, chunk_size)) > 1


def rows_of(mask: Tensor | None, rows: slice) -> Tensor | None:
    """The query rows ``rows`` of a mask broadcastable to ``(B, Tq, Tk)`` (a broadcast row stays)."""
    if mask is None or mask.dim() < 2 or mask.size(-2) == 1:
        return mask
    return mask[..., rows, :]


def fused_dot_product(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None,
    scale: float,
    *,
    dropout: float = 0.0,
    is_causal: bool = False,
) -> Tensor:
    """Vaswani et al. 2017, eq. (1), ``softmax(scale * Q K^T) V``, through ``F.scaled_dot_product_attention``.

    The fused kernel never materialises the ``(..., Tq, Tk)`` weights; attnzoo's masking rule
    is kept (True = may attend; a query with no allowed key gets a zero context, never NaN).
    Used by every mechanism whose score ``is_dot_product`` when no weights are asked for.

    Args:
        query: ``(..., Tq, D)``; keys: ``(..., Tk, D)``; values: ``(..., Tk, Dv)``.
        mask: bool broadcastable to ``(..., Tq, Tk)``, True = may attend.
        scale: the factor of ``q . k``.
        dropout: dropout probability on the weights. is_causal: SDPA's own causal flag.

    Returns:
        context ``(..., Tq, Dv)``; zero for a query with no allowed key.
    """
    context = F.scaled_dot_product_attention(
        query, keys, values, attn_mask=mask, dropout_p=dropout, is_causal=is_causal, scale=scale
    )
    if mask is None:
        return context
    return context.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
