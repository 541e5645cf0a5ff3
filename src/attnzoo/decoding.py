"""Greedy, sampled and beam-search decoding, written once for every encoder-decoder in attnzoo.

A model exposes one decoding step as a function::

    step(tokens, state) -> (log_probs, state, alignment)

    tokens:    (N,) the previous output token of each hypothesis (BOS at the start)
    state:     anything the model carries between steps (RNN state, KV caches, a mask of
               already chosen inputs ...), batch first: every tensor in it has N rows
    log_probs: (N, V) log-probabilities of the next token
    alignment: (N, Tk) the attention weights of this step, or None

Beam search reorders hypotheses with :func:`reorder_state`, which indexes every tensor of
the state along dim 0 and calls ``reorder(indices)`` on objects that have it (``KVCache``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

StepFunction = Callable[[Tensor, Any], tuple[Tensor, Any, Tensor | None]]


@dataclass
class Decoded:
    """Decoder output.

    tokens: ``(B, T)`` generated tokens (after EOS: ``pad_id``), BOS not included.
    scores: ``(B,)`` log-probability of each sequence (beam search: divided by
        ``length ** length_penalty``).
    lengths: ``(B,)`` tokens up to and including EOS.
    alignments: ``(B, T, Tk)`` the attention weights of each step, or None.
    """

    tokens: Tensor
    scores: Tensor
    lengths: Tensor
    alignments: Tensor | None


def reorder_state(state: Any, indices: Tensor) -> Any:
    """Select rows ``indices`` ``(N',)`` of every tensor in a (nested) decoder state."""
    if isinstance(state, Tensor):
        return state.index_select(0, indices)
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(part, indices) for part in state)
    if isinstance(state, dict):
        return {key: reorder_state(part, indices) for key, part in state.items()}
    if hasattr(state, "reorder"):
        state.reorder(indices)
        return state
    return state


def _stack_alignments(alignments: list[Tensor | None]) -> Tensor | None:
    return None if not alignments or alignments[0] is None else torch.stack(alignments, dim=1)


def _left_to_right(
    step: StepFunction,
    state: Any,
    choose: Callable[[Tensor], Tensor],
    batch_size: int,
    bos_id: int,
    max_len: int,
    eos_id: int | None,
    pad_id: int,
    device: torch.device | str | None,
) -> Decoded:
    """One hypothesis per example: ``choose(log_probs (B, V)) -> (B,)`` picks every next token."""
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    scores = torch.zeros(batch_size, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    outputs, alignments = [], []
    for _ in range(max_len):
        log_probs, state, alignment = step(tokens, state)  # (B, V)
        tokens = choose(log_probs)
        chosen = log_probs.gather(-1, tokens[:, None]).squeeze(-1)  # (B,)
        tokens = tokens.masked_fill(finished, pad_id)
        scores = scores + chosen.masked_fill(finished, 0.0)
        lengths += (~finished).long()
        outputs.append(tokens)
        alignments.append(alignment)
        if eos_id is not None:
            finished |= tokens == eos_id
            if finished.all():
                break
    return Decoded(torch.stack(outputs, dim=1), scores, lengths, _stack_alignments(alignments))


@torch.no_grad()
def greedy_decode(
    step: StepFunction,
    state: Any,
    batch_size: int,
    bos_id: int,
    max_len: int,
    eos_id: int | None = None,
    pad_id: int = 0,
    device: torch.device | str | None = None,
) -> Decoded:
    """Take the most likely token at every step until EOS (or ``max_len`` tokens).

    Args:
        step: the model's step function (see the module docstring).
        state: its initial state for ``batch_size`` rows.
        bos_id: first input token. eos_id: stop token (None: always ``max_len`` steps).
        pad_id: written after EOS.
    """
    return _left_to_right(
        step, state, lambda log_probs: log_probs.argmax(dim=-1), batch_size, bos_id, max_len, eos_id, pad_id, device
    )


def sample_decode(
    step: StepFunction,
    state: Any,
    batch_size: int,
    bos_id: int,
    max_len: int,
    eos_id: int | None = None,
    pad_id: int = 0,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Decoded:
    """Draw every token from the model's distribution (ancestral sampling), keeping the graph.

    ``Decoded.scores`` is ``sum_t log p(y_t | y_<t)`` of the drawn sequence and stays
    differentiable, which is what REINFORCE needs (Williams 1992; Bello et al. 2016, eq. (4);
    see :func:`attnzoo.attention.reinforce_loss`). Arguments as :func:`greedy_decode`;
    ``generator`` makes the draws reproducible.
    """

    def draw(log_probs: Tensor) -> Tensor:
        return torch.multinomial(log_probs.detach().exp(), 1, generator=generator).squeeze(-1)

    return _left_to_right(step, state, draw, batch_size, bos_id, max_len, eos_id, pad_id, device)


@torch.no_grad()
def beam_search(
    step: StepFunction,
    state: Any,
    batch_size: int,
    bos_id: int,
    max_len: int,
    beam_size: int = 4,
    eos_id: int | None = None,
    pad_id: int = 0,
    length_penalty: float = 1.0,
    device: torch.device | str | None = None,
) -> Decoded:
    """Batched beam search: keep the ``beam_size`` best prefixes of every example.

    A finished hypothesis (it produced EOS) stays in the beam, extended by ``pad_id`` at no
    cost. At the end each hypothesis's log-probability is divided by
    ``length ** length_penalty`` (0: no normalisation) and the best one is returned.

    Args:
        state: the initial state for ``batch_size`` rows; it is repeated ``beam_size`` times
            (row ``b * beam_size + k`` is hypothesis ``k`` of example ``b``).
        Other arguments as :func:`greedy_decode`.
    """
    k = beam_size
    rows = torch.arange(batch_size, device=device).repeat_interleave(k)
    state = reorder_state(state, rows)  # (B*k, ...)
    tokens = torch.full((batch_size * k,), bos_id, dtype=torch.long, device=device)
    scores = torch.full((batch_size, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: keep one alive
    finished = torch.zeros(batch_size * k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch_size * k, dtype=torch.long, device=device)
    history = torch.zeros(batch_size * k, 0, dtype=torch.long, device=device)
    alignments: Tensor | None = None
    for _ in range(max_len):
        log_probs, state, alignment = step(tokens, state)  # (B*k, V)
        vocab = log_probs.size(-1)
        done_row = torch.full_like(log_probs[0], float("-inf")).index_fill(0, torch.tensor(pad_id, device=device), 0.0)
        log_probs = torch.where(finished[:, None], done_row, log_probs)
        candidates = (scores.view(-1, 1) + log_probs).view(batch_size, k * vocab)
        scores, flat = candidates.topk(k, dim=-1)  # (B, k)
        parent = (flat // vocab + torch.arange(batch_size, device=device)[:, None] * k).view(-1)  # (B*k,)
        tokens = (flat % vocab).view(-1)
        state = reorder_state(state, parent)
        history = torch.cat([history[parent], tokens[:, None]], dim=1)
        lengths = lengths[parent] + (~finished[parent]).long()
        if alignment is not None:
            step_alignment = alignment[parent][:, None]  # (B*k, 1, Tk)
            alignments = step_alignment if alignments is None else torch.cat([alignments[parent], step_alignment], 1)
        finished = finished[parent] | (tokens == eos_id if eos_id is not None else torch.zeros_like(finished))
        if finished.all():
            break
    normalised = scores / lengths.view(batch_size, k).clamp_min(1).float() ** length_penalty
    best = normalised.argmax(dim=-1) + torch.arange(batch_size, device=device) * k  # (B,)
    return Decoded(
        history[best],
        normalised.view(-1)[best],
        lengths[best],
        None if alignments is None else alignments[best],
    )


class EncoderDecoderGeneration:
    """``generate`` for an encoder-decoder ``nn.Module`` (Seq2Seq, Transformer) that has
    ``start_decoding(source, source_lengths, **options)``, ``step(tokens, state)`` and a config with
    ``bos_id``, ``eos_id`` and ``pad_id``."""

    @torch.no_grad()
    def generate(
        self,
        source: Tensor,
        source_lengths: Tensor,
        max_len: int,
        beam_size: int = 1,
        length_penalty: float = 1.0,
        **start_options: Any,
    ) -> Decoded:
        """Greedy (``beam_size = 1``) or beam-search decoding.

        Args:
            source: ``(B, S)`` ids. source_lengths: ``(B,)``. max_len: most tokens to generate.
            start_options: passed to ``start_decoding`` (the Transformer's ``need_weights``).

        Returns:
            :class:`Decoded`: tokens ``(B, T)`` (EOS included, then padding), scores ``(B,)``,
            lengths ``(B,)``, alignments ``(B, T, S)`` or None.
        """
        state = self.start_decoding(source, source_lengths, **start_options)
        config = self.config
        common = {"batch_size": source.size(0), "bos_id": config.bos_id, "max_len": max_len, "eos_id": config.eos_id}
        common |= {"pad_id": config.pad_id, "device": source.device}
        if beam_size == 1:
            return greedy_decode(self.step, state, **common)
        return beam_search(self.step, state, beam_size=beam_size, length_penalty=length_penalty, **common)
