"""Hard (stochastic) attention and the REINFORCE estimator that trains it.

Xu et al. 2015, §4.1: the location ``s_t`` is a sample from the multinoulli distribution
given by the attention weights ``alpha``, and the context is the one chosen value:

    s_t ~ Multinoulli(alpha),    z_t = sum_i s_{t,i} a_i

Sampling has no gradient, so the scoring parameters learn from the REINFORCE rule
(Williams 1992; Mnih et al. 2014, eq. (2); Xu et al. 2015, eq. (12)):

    grad J ~ (R - b) * grad log p(s_t)

with a baseline ``b`` that lowers the variance; Xu et al. also add the entropy ``H[s]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention.functional import attend, masked_softmax, standardise_inputs, upcast
from attnzoo.attention.scores import Score


class HardAttentionOutput(NamedTuple):
    """What :class:`HardAttention` returns (single query: drop the ``Tq`` dim).

    context: ``(B, Tq, Dv)`` the chosen value (zero for a query with no allowed key).
    weights: ``(B, Tq, Tk)`` one-hot at the chosen key (all zero with no allowed key): ``s_t`` of
        §4.1; ``None`` when the caller asked for no weights.
    log_prob: ``(B, Tq)`` log-probability of the choice (0 with no allowed key).
    entropy: ``(B, Tq)`` entropy of the attention distribution.
    probs: ``(B, Tq, Tk)`` the attention distribution ``alpha`` it sampled from.
    """

    context: Tensor
    weights: Tensor | None
    log_prob: Tensor
    entropy: Tensor
    probs: Tensor


class HardAttention(nn.Module):
    """Stochastic hard attention (Xu et al. 2015 §4.1): attend to one sampled key.

    In training mode it samples; in eval mode it takes the argmax, unless ``sample=True``.

    Args:
        score: a :class:`~attnzoo.attention.scores.Score`.
    """

    def __init__(self, score: Score) -> None:
        super().__init__()
        self.score = score

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        need_weights: bool = True,
        sample: bool | None = None,
    ) -> HardAttentionOutput:
        """Choose one key per query and return its value.

        Args:
            query: ``(B, Tq, Dq)`` or ``(B, Dq)``. keys: ``(B, Tk, Dk)``.
            values: ``(B, Tk, Dv)``, default ``keys``.
            mask: bool broadcastable to ``(B, Tq, Tk)`` (``(B, Tk)`` for a single query);
                True = may attend.
            need_weights: return the one-hot ``s_t`` as ``weights``; False gives ``None`` there
                (``probs``, ``log_prob`` and ``entropy`` are always returned: REINFORCE needs them).
            sample: draw from the distribution (True) or take its argmax (False);
                default: sample in training mode, argmax in eval mode.

        Returns:
            :class:`HardAttentionOutput` ``(context, weights, log_prob, entropy, probs)``:
            ``(B, Tq, Dv)``, ``(B, Tq, Tk)`` or ``None``, ``(B, Tq)``, ``(B, Tq)``, ``(B, Tq, Tk)``
            (single query: without the ``Tq`` dim).
        """
        query, keys, values, mask, single = standardise_inputs(self.score, query, keys, values, mask)
        sample = self.training if sample is None else sample
        probs, log_probs = self.distribution(upcast(self.score(query, keys)), mask)  # (B, Tq, Tk) each
        has_key = probs.sum(dim=-1) > 0  # (B, Tq)
        if sample:
            uniform = torch.full_like(probs, 1.0 / probs.size(-1))
            drawable = torch.where(has_key[..., None], probs, uniform).detach()
            choice = torch.multinomial(drawable.flatten(0, 1), 1).view(has_key.shape)  # (B, Tq)
        else:
            choice = probs.argmax(dim=-1)  # (B, Tq)
        weights = F.one_hot(choice, probs.size(-1)).to(values.dtype) * has_key[..., None]  # s_t: (B, Tq, Tk)
        log_prob = torch.where(has_key, log_probs.gather(-1, choice[..., None]).squeeze(-1), 0.0)  # (B, Tq)
        entropy = -(probs * log_probs.masked_fill(probs == 0, 0.0)).sum(dim=-1)  # H = -sum p log p, 0 log 0 = 0
        log_prob, entropy, probs = (part.to(values.dtype) for part in (log_prob, entropy, probs))
        context = attend(weights, values)  # z_t = sum_i s_t,i a_i: (B, Tq, Dv)
        output = HardAttentionOutput(context, weights if need_weights else None, log_prob, entropy, probs)
        if single:
            return HardAttentionOutput(*(None if part is None else part.squeeze(1) for part in output))
        return output

    @staticmethod
    def distribution(scores: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """``alpha = softmax(scores)`` over the allowed keys and its log, ``(B, Tq, Tk)`` each.

        The log comes from a masked ``log_softmax``, not from ``log(alpha)``: a probability that
        underflows to 0 keeps a finite log, so ``H = -sum alpha log alpha`` (with ``0 log 0 = 0``)
        has a finite gradient. Masked keys (and every key of a query with none allowed) have
        ``alpha = 0``; their log is finite but meaningless.
        """
        probs = masked_softmax(scores, mask)
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        return probs, torch.log_softmax(scores, dim=-1)


def reinforce_loss(log_prob: Tensor, reward: Tensor, baseline: Tensor | None = None) -> Tensor:
    """REINFORCE with a baseline (Williams 1992; Mnih et al. 2014, eq. (2)).

    ``loss = -mean((R - b) * log p)  +  mean((R - b)^2)``

    The first term's gradient is the REINFORCE estimate ``-(R - b) grad log p`` (the
    advantage ``R - b`` is detached, so it does not train the baseline); the second term
    regresses the baseline onto the reward (Mnih et al. 2014 §3: "b_t ... by reducing the
    squared error between R and b_t"); it is left out without a baseline.

    Args:
        log_prob: ``(B,)`` or ``(B, T)``: log-probabilities of the actions taken (one per step).
        reward: ``(B,)``: the return of each episode (broadcast over the steps).
        baseline: ``log_prob``'s shape: the predicted reward ``b``, or ``None`` for ``b = 0``.

    Returns:
        loss: a scalar.
    """
    if reward.shape != log_prob.shape[:1]:
        raise ValueError(f"reward: expected (B,) = ({log_prob.size(0)},), got {tuple(reward.shape)}")
    reward = reward.reshape(-1, *[1] * (log_prob.dim() - 1)).to(log_prob.dtype)  # broadcast over steps
    if baseline is None:
        return -(reward * log_prob).mean()
    if baseline.shape != log_prob.shape:
        raise ValueError(f"baseline: expected log_prob's shape {tuple(log_prob.shape)}, got {tuple(baseline.shape)}")
    advantage = reward - baseline
    return -(advantage.detach() * log_prob).mean() + advantage.pow(2).mean()
