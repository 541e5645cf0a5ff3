"""Neural Turing Machine memory addressing, reading and writing (Graves et al. 2014, §3).

One call addresses every head of every sequence at once: the batch and the heads are tensor
dimensions, never Python loops (the circular convolution included).

At the NTM's sizes a training step's time goes to the number of tensor operations (and of
autograd nodes) more than to arithmetic, so the addressing of eqs. (5)-(9) and the memory
access of eqs. (2)-(4) are each one ``torch.autograd.Function`` with the chain rule written out
by hand; the tests hold them to the transcribed equations and to ``gradcheck``. The content focus
of eqs. (5)-(6) is attnzoo's ``CosineScore``; its hand-written backward pass is kept because it
pays: ``python benchmarks/ntm.py`` (column ``ours/addr``, against the same NTM whose addressing
autograd differentiates through ``CosineScore``) measured 1.17x the training speed at batch 32
and 1.09x at batch 1 (one thread, a 2-core CPU).

Shape legend:

    B   batch size
    H   heads addressed together (any number, e.g. read heads + write heads)
    N   memory rows (locations)
    M   memory row width
    K   allowed shifts (3 for the default shifts -1, 0, +1)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from attnzoo.attention.functional import check_shape
from attnzoo.attention.scores import CosineScore

DEFAULT_SHIFTS = (-1, 0, 1)  # the paper's example: shifts of one location either way, or none
SHARPEN_FLOOR = 1e-30  # w~ is clamped below by this before the log in eq. (9): w~ = 0 gives no NaN
COSINE_EPS = 1e-8  # eq. (6) with ||k|| and ||M(i)|| each clamped below by this: a zero key or row scores 0
CONTENT_SCORE = CosineScore(eps=COSINE_EPS)  # eqs. (5)-(6): the content focus is attnzoo's cosine score


def ntm_address(
    memory: Tensor,
    key: Tensor,
    beta: Tensor,
    gate: Tensor,
    shift: Tensor,
    gamma: Tensor,
    previous_weights: Tensor,
    *,
    shifts: Sequence[int] | None = None,
) -> Tensor:
    """Graves et al. 2014, eqs. (5)-(9): content focus, interpolation, convolutional shift, sharpening.

        w^c_t(i) = exp(beta_t K[k_t, M_t(i)]) / sum_j exp(beta_t K[k_t, M_t(j)])       (5)
        K[u, v]  = u . v / (||u|| ||v||)                                                 (6)
        w^g_t    = g_t w^c_t + (1 - g_t) w_{t-1}                                          (7)
        w~_t(i)  = sum_j w^g_t(j) s_t(i - j)        (indices modulo N)                    (8)
        w_t(i)   = w~_t(i)^gamma_t / sum_j w~_t(j)^gamma_t                                (9)

    The controller's constraints (``beta >= 0``, ``0 <= g <= 1``, ``s`` a distribution,
    ``gamma >= 1``) are the caller's to apply (``softplus``, ``sigmoid``, ``softmax``,
    ``1 + softplus``); this function transcribes the equations. Eq. (9) is evaluated as
    ``softmax(gamma * log w~)``, which equals it and neither underflows for large ``gamma``
    nor gives NaN where ``w~(i) = 0`` (``w~`` is floored at ``SHARPEN_FLOOR`` before the log).

    Args:
        memory: ``M_t``, ``(B, N, M)``.
        key: ``k_t``, ``(B, M)`` for one head or ``(B, H, M)``.
        beta: key strength, ``(B,)`` or ``(B, H)``.
        gate: interpolation gate ``g_t``, ``(B,)`` or ``(B, H)``.
        shift: shift weighting ``s_t`` over ``shifts``, ``(B, K)`` or ``(B, H, K)``.
        gamma: sharpening exponent, ``(B,)`` or ``(B, H)``.
        previous_weights: ``w_{t-1}``, ``(B, N)`` or ``(B, H, N)``.
        shifts: the location offset of each entry of ``shift``; default the ``K`` consecutive
            offsets from ``-(K // 2)``: ``(-1, 0, 1)`` for ``K = 3``, ``(-2, ..., 2)`` for ``K = 5``.

    Returns:
        weights ``w_t``: ``(B, N)``, or ``(B, H, N)`` for several heads; each row sums to 1.
    """
    check_shape("memory", memory, (None, None, None), "(B, N, M)")
    batch, rows, width = memory.shape
    single = key.dim() == 2
    if single:
        key, beta, gate, shift, gamma, previous_weights = (  # one head: H = 1
            part[:, None] for part in (key, beta, gate, shift, gamma, previous_weights)
        )
    check_shape("key", key, (batch, None, width), "(B, H, M)")
    heads = key.size(1)
    for name, value in (("beta", beta), ("gate", gate), ("gamma", gamma)):
        check_shape(name, value, (batch, heads), "(B, H)")
    check_shape("shift", shift, (batch, heads, None), "(B, H, K)")
    check_shape("previous_weights", previous_weights, (batch, heads, rows), "(B, H, N)")
    if shifts is None:
        shifts = tuple(range(-(shift.size(-1) // 2), shift.size(-1) // 2 + 1))[: shift.size(-1)]
    shifts = tuple(shifts)
    if len(shifts) != shift.size(-1):
        raise ValueError(f"shifts: expected K = {shift.size(-1)} offsets (one per shift weight), got {shifts}")

    weights = _Address.apply(memory, key, beta, gate, shift, gamma, previous_weights, shifts)  # (B, H, N)
    return weights[:, 0] if single else weights


def _softmax_backward(grad: Tensor, output: Tensor) -> Tensor:
    """Gradient of ``softmax(x)`` over the last dimension with respect to ``x``, given ``output``."""
    return output * (grad - (grad * output).sum(-1, keepdim=True))


def _rotate_and_mix(doubled: Tensor, starts: list[int], mix: Tensor) -> Tensor:
    """``sum_k mix[..., k] * doubled[..., starts[k] : starts[k] + N]``: ``(B, H, 2N)``, ``(B, H, K)`` -> ``(B, H, N)``.

    ``doubled`` is a weighting ``w`` written twice, ``[w, w]``, so each slice is ``w`` rotated:
    ``doubled[..., s + i] = w((s + i) mod N)``. Eq. (8) and its gradient are both this sum.
    """
    rows = doubled.size(-1) // 2
    mixed = None
    for start, weight in zip(starts, mix.unbind(-1), strict=True):
        rotated = doubled[..., start : start + rows]  # (B, H, N), a view
        mixed = rotated * weight[..., None] if mixed is None else torch.addcmul(mixed, rotated, weight[..., None])
    return mixed


class _Address(torch.autograd.Function):
    """Eqs. (5)-(9) for ``(B, H, ...)`` heads, with their gradient written out by hand.

    One autograd node per call instead of some forty. The forward pass is the transcription of
    :func:`ntm_address`; the cosine of eq. (6) is computed by attnzoo's ``CosineScore``
    (``CONTENT_SCORE.cosine``, the formula its ``score`` uses), with the memory's row norms taken
    once for all heads. The backward pass is the chain rule through it, equal to autograd's
    (``gradcheck`` in the tests), including its conventions at the corners: a zero norm passes no
    gradient, nor does a norm clamped at ``eps`` or a floored ``w~``.
    """

    @staticmethod
    def forward(ctx, memory, key, beta, gate, shift, gamma, previous, shifts):
        rows = memory.size(1)
        row_norms = torch.linalg.vector_norm(memory, dim=-1)  # ||M(i)||: (B, N), once for every head
        cosine = CONTENT_SCORE.cosine(key, memory, row_norms)  # (6): K[k, M(i)], (B, H, N)
        key_norms = torch.linalg.vector_norm(key, dim=-1)  # ||k||: (B, H), for the backward pass
        norms = key_norms.clamp_min(COSINE_EPS)[..., None] * row_norms.clamp_min(COSINE_EPS)[:, None, :]  # (B, H, N)
        content = torch.softmax(beta[..., None] * cosine, dim=-1)  # (5): w^c, (B, H, N)
        interpolated = torch.lerp(previous, content, gate[..., None])  # (7): w^g, (B, H, N)
        # (8): w~(i) = sum_o s(o) w^g(i - o), and w^g((i - o) mod N) = [w^g, w^g][N - (o mod N) + i]
        doubled = torch.cat([interpolated, interpolated], dim=-1)  # (B, H, 2N)
        starts = [rows - offset % rows for offset in shifts]
        shifted = _rotate_and_mix(doubled, starts, shift)  # (B, H, N)
        logs = shifted.clamp_min(SHARPEN_FLOOR).log()
        weights = torch.softmax(gamma[..., None] * logs, dim=-1)  # (9): (B, H, N)
        ctx.shifts = shifts
        ctx.save_for_backward(
            memory, key, beta, gate, shift, gamma, previous, row_norms, key_norms, norms, cosine, content,
            doubled, shifted, logs, weights,
        )  # fmt: skip
        return weights

    @staticmethod
    def backward(ctx, grad_weights):
        (
            memory, key, beta, gate, shift, gamma, previous, row_norms, key_norms, norms, cosine, content,
            doubled, shifted, logs, weights,
        ) = ctx.saved_tensors  # fmt: skip
        rows = memory.size(1)
        # (9): w = softmax(gamma log max(w~, floor))
        grad_sharpen = _softmax_backward(grad_weights, weights)  # (B, H, N)
        grad_gamma = torch.linalg.vecdot(grad_sharpen, logs)  # (B, H)
        grad_shifted = (grad_sharpen * gamma[..., None] / shifted).masked_fill_(shifted < SHARPEN_FLOOR, 0.0)
        # (8): dw~(i)/ds(o) = w^g(i - o); dw~(i)/dw^g(j) = sum_o s(o) [i = j + o], so the gradient of
        # w^g(j) is sum_o s(o) grad(j + o), the same rotate-and-mix the other way round.
        starts = [rows - offset % rows for offset in ctx.shifts]
        grad_shift = torch.stack(
            [torch.linalg.vecdot(doubled[..., start : start + rows], grad_shifted) for start in starts], dim=-1
        )  # (B, H, K)
        grad_doubled = torch.cat([grad_shifted, grad_shifted], dim=-1)  # (B, H, 2N)
        grad_interpolated = _rotate_and_mix(grad_doubled, [rows - start for start in starts], shift)  # (B, H, N)
        # (7): w^g = w_{t-1} + g (w^c - w_{t-1})
        grad_gate = torch.linalg.vecdot(grad_interpolated, content - previous)  # (B, H)
        grad_previous = grad_interpolated * (1 - gate[..., None])
        # (5): w^c = softmax(beta K)
        grad_scores = _softmax_backward(grad_interpolated * gate[..., None], content)  # (B, H, N)
        grad_beta = torch.linalg.vecdot(grad_scores, cosine)  # (B, H)
        # (6): K = k.M(i) / (max(||k||, eps) max(||M(i)||, eps)); a clamped norm passes no gradient
        grad_dots = grad_scores * beta[..., None] / norms  # (B, H, N)
        grad_norms = (grad_dots * cosine).neg_()  # dL/d(max(||k||, eps) max(||M(i)||, eps)): (B, H, N)
        grad_key_norms = torch.linalg.vecdot(grad_norms, row_norms.clamp_min(COSINE_EPS)[:, None, :])  # (B, H)
        grad_row_norms = torch.linalg.vecdot(grad_norms, key_norms.clamp_min(COSINE_EPS)[..., None], dim=1)  # (B, N)
        key_scale = (grad_key_norms / key_norms).masked_fill_(key_norms < COSINE_EPS, 0.0)  # d||k||/dk = k / ||k||
        row_scale = (grad_row_norms / row_norms).masked_fill_(row_norms < COSINE_EPS, 0.0)
        grad_key = torch.bmm(grad_dots, memory).addcmul_(key, key_scale[..., None])  # (B, H, M)
        grad_memory = torch.bmm(grad_dots.transpose(1, 2), key).addcmul_(memory, row_scale[..., None])  # (B, N, M)
        return grad_memory, grad_key, grad_beta, grad_gate, grad_shift, grad_gamma, grad_previous, None


def read_memory(memory: Tensor, weights: Tensor) -> Tensor:
    """Graves et al. 2014, eq. (2): ``r_t = sum_i w_t(i) M_t(i)`` for each read head.

    Args:
        memory: ``(B, N, M)``. weights: ``(B, R, N)``.

    Returns:
        read vectors ``(B, R, M)``.
    """
    return weights @ memory  # (B, R, M)


def write_memory(memory: Tensor, weights: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """Graves et al. 2014, eqs. (3)-(4): erase, then add, for every write head.

        M~_t(i) = M_{t-1}(i) prod_h [1 - w^h_t(i) e^h_t]                                 (3)
        M_t(i)  = M~_t(i) + sum_h w^h_t(i) a^h_t                                           (4)

    Args:
        memory: ``M_{t-1}``, ``(B, N, M)``. weights: ``(B, W, N)``.
        erase: ``e_t`` in ``[0, 1]``, ``(B, W, M)``. add: ``a_t``, ``(B, W, M)``.

    Returns:
        ``M_t``, ``(B, N, M)``.
    """
    kept = (1 - weights[..., None] * erase[:, :, None, :]).prod(dim=1)  # (B, W, N, M) -> (B, N, M)
    return memory * kept + weights.transpose(1, 2) @ add  # (3)-(4): (B, N, M)


def access_memory(
    memory: Tensor, read_weights: Tensor, write_weights: Tensor, erase: Tensor, add: Tensor
) -> tuple[Tensor, Tensor]:
    """One step's memory access: read ``M_{t-1}`` (eq. 2), then erase and add (eqs. 3-4).

    Equal to ``(read_memory(memory, read_weights), write_memory(memory, write_weights, erase, add))``;
    with one write head (the NTM's usual case), both are one autograd node with its gradient
    written out by hand, and the write is ``M + w (a - M e)``: two passes over the memory.

    Args:
        memory: ``M_{t-1}``, ``(B, N, M)``. read_weights: ``(B, R, N)``. write_weights: ``(B, W, N)``.
        erase: ``(B, W, M)`` in ``[0, 1]``. add: ``(B, W, M)``.

    Returns:
        read vectors ``(B, R, M)`` and ``M_t`` ``(B, N, M)``.
    """
    if write_weights.size(1) == 1:
        return _ReadWrite.apply(memory, read_weights, write_weights, erase, add)
    return read_memory(memory, read_weights), write_memory(memory, write_weights, erase, add)


class _ReadWrite(torch.autograd.Function):
    """Eq. (2) for ``R`` read heads and eqs. (3)-(4) for one write head, with their gradient by hand.

    r = w^r M,    M_t = M + w^T (a - M e)     (w: the write weighting, as a column)
    """

    @staticmethod
    def forward(ctx, memory, read_weights, write_weights, erase, add):
        reads = torch.bmm(read_weights, memory)  # (2): (B, R, M)
        change = torch.addcmul(add, memory, erase, value=-1)  # a - M(i) e: (B, N, M)
        written = torch.addcmul(memory, write_weights.transpose(1, 2), change)  # (3)-(4): (B, N, M)
        ctx.save_for_backward(memory, read_weights, write_weights, erase, change)
        return reads, written

    @staticmethod
    def backward(ctx, grad_reads, grad_written):
        memory, read_weights, write_weights, erase, change = ctx.saved_tensors
        grad_change = grad_written * write_weights.transpose(1, 2)  # (B, N, M)
        grad_add = grad_change.sum(dim=1, keepdim=True)  # (B, 1, M)
        grad_erase = torch.linalg.vecdot(grad_change, memory, dim=1).neg_()[:, None]  # (B, 1, M)
        grad_write = torch.linalg.vecdot(grad_written, change)[:, None]  # (B, 1, N)
        grad_read = torch.bmm(grad_reads, memory.transpose(1, 2))  # (B, R, N)
        grad_memory = torch.addcmul(grad_written, grad_change, erase, value=-1)  # dM_t/dM = 1 - w^T e
        grad_memory += torch.bmm(read_weights.transpose(1, 2), grad_reads)  # dr/dM = (w^r)^T
        return grad_memory, grad_read, grad_write, grad_erase, grad_add
