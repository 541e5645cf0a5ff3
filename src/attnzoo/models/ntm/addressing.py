"""Neural Turing Machine memory addressing, reading and writing (Graves et al. 2014, §3).

One call addresses every head of every sequence at once: the batch and the heads are tensor
dimensions, never Python loops (the circular convolution included).

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

from attnzoo.attention import CosineScore, masked_softmax
from attnzoo.attention.functional import check_shape

DEFAULT_SHIFTS = (-1, 0, 1)  # the paper's example: shifts of one location either way, or none
SHARPEN_FLOOR = 1e-30  # w~ is clamped below by this before the log in eq. (9): w~ = 0 gives no NaN

_COSINE = CosineScore(eps=1e-8)  # eq. (6) with ||u|| ||v|| clamped below: a zero key or row scores 0


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
        key, beta, gate, shift, gamma, previous_weights = (
            key[:, None],
            beta[:, None],
            gate[:, None],
            shift[:, None],
            gamma[:, None],
            previous_weights[:, None],
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

    content = masked_softmax(_COSINE(key, memory, beta))  # (5)-(6): (B, H, N)
    interpolated = torch.lerp(previous_weights, content, gate[..., None])  # (7): w + g (w^c - w), (B, H, N)
    # (8) as sum_o s(o) w^g(i - o) over the allowed offsets o; torch.roll(w, o)[i] = w[i - o]. One roll per
    # offset (K of them), each over the whole batch: cheaper forwards and backwards than a gather.
    shifted = sum(
        weight[..., None] * (interpolated if offset == 0 else interpolated.roll(offset, dims=-1))
        for offset, weight in zip(shifts, shift.unbind(-1), strict=True)
    )  # (B, H, N)
    sharpened = masked_softmax(gamma[..., None] * shifted.clamp_min(SHARPEN_FLOOR).log())  # (9): (B, H, N)
    return sharpened[:, 0] if single else sharpened


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
    if weights.size(1) == 1:  # one write head: M (1 - w e) + w a = M + w (a - M e), 3 passes over M, not 5
        return torch.addcmul(memory, weights.transpose(1, 2), add - memory * erase)  # (3)-(4): (B, N, M)
    kept = (1 - weights[..., None] * erase[:, :, None, :]).prod(dim=1)  # (B, W, N, M) -> (B, N, M)
    return memory * kept + weights.transpose(1, 2) @ add  # (3)-(4): (B, N, M)
