"""The Neural Turing Machine of Graves et al. 2014, and the LSTM it is compared with.

One step of the NTM, for a batch, all heads at once::

    controller:  (h_t, c_t) = LSTM([x_t; r_{t-1}], (h_{t-1}, c_{t-1}))
    heads:       k, beta, g, s, gamma (every head), e, a (write heads) = clip(W_head h_t)
    addressing:  w_t = ntm_address(M_{t-1}, k, beta, g, s, gamma, w_{t-1})       eqs. (5)-(9)
    read:        r_t = w^read_t M_{t-1}                                           eq. (2)
    write:       M_t = M_{t-1} (1 - w^write_t e) + w^write_t a                     eqs. (3)-(4)
    output:      y_t = W_out [h_t; r_t]

Stability, after Collier & Beel 2018 ("Implementing Neural Turing Machines"): the memory
starts as a small constant, the head parameters are clipped before their activations, the
cosine similarity is epsilon-guarded. The first weighting of every head is a one-hot vector
on row 0 (a uniform one could never break the symmetry of a constant memory) and the first
read vectors are learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention.functional import check_shape
from attnzoo.models.ntm.addressing import DEFAULT_SHIFTS, access_memory, ntm_address
from attnzoo.models.registry import register_model


class _LSTMCell(torch.autograd.Function):
    """One LSTM step from its pre-activations ``z = W [x; r; h_{t-1}] + b``, with its gradient by hand.

        i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);   u = tanh(z_u)
        c_t = f c_{t-1} + i u;                                  h_t = o tanh(c_t)

    ``z`` is ``(B, 4C)``, the gates in the order ``i, f, o, u``; ``c_{t-1}`` is ``(B, C)``. One
    autograd node instead of a dozen (the step's time goes to the number of operations).
    """

    @staticmethod
    def forward(ctx, gates, cell):
        C = cell.size(-1)
        sigmoids = torch.sigmoid(gates[:, : 3 * C])  # i, f, o: (B, 3C)
        candidate = torch.tanh(gates[:, 3 * C :])  # u: (B, C)
        input_gate, forget_gate, output_gate = sigmoids.split(C, dim=-1)
        new_cell = torch.addcmul(forget_gate * cell, input_gate, candidate)  # c_t: (B, C)
        squashed = torch.tanh(new_cell)
        ctx.save_for_backward(sigmoids, candidate, cell, squashed)
        return output_gate * squashed, new_cell

    @staticmethod
    def backward(ctx, grad_hidden, grad_cell):
        sigmoids, candidate, cell, squashed = ctx.saved_tensors
        input_gate, forget_gate, output_gate = sigmoids.split(cell.size(-1), dim=-1)
        grad_cell = grad_cell + grad_hidden * output_gate * (1 - squashed * squashed)  # total dL/dc_t
        grad_sigmoids = torch.cat([grad_cell * candidate, grad_cell * cell, grad_hidden * squashed], dim=-1)
        grad_gates = torch.cat(
            [grad_sigmoids * sigmoids * (1 - sigmoids), grad_cell * input_gate * (1 - candidate * candidate)], dim=-1
        )  # (B, 4C)
        return grad_gates, grad_cell * forget_gate


class _HeadParameters(torch.autograd.Function):
    """The controller's head outputs, clipped, then constrained as the paper asks; gradient by hand.

    For every head (``H`` of them) ``[k (M), beta, g, gamma, s (K)]``, then for every write head
    ``[e (M), a (M)]``, all clipped to ``[-clip, clip]``; returns
    ``k, softplus(beta), sigmoid(g), softmax(s), 1 + softplus(gamma), sigmoid(e), a``:
    ``(B, H, M)``, ``(B, H)`` x 2, ``(B, H, K)``, ``(B, H)``, ``(B, W, M)`` x 2.
    One autograd node instead of some fifteen.
    """

    @staticmethod
    def forward(ctx, raw, clip, sizes):
        heads, M, K, W = sizes
        batch = raw.size(0)
        clipped = raw.clamp(-clip, clip)  # (B, P)
        addressing, writing = clipped.split([heads * (M + 3 + K), W * 2 * M], dim=-1)
        key, scalars, shift = addressing.view(batch, heads, -1).split([M, 3, K], dim=-1)  # scalars: beta, g, gamma
        strengths = scalars[..., ::2]  # beta and gamma: (B, H, 2)
        erase, add = writing.view(batch, W, 2 * M).split(M, dim=-1)  # (B, W, M) each
        softplus = F.softplus(strengths)  # beta >= 0, gamma - 1 >= 0
        gate = torch.sigmoid(scalars[..., 1])  # g in (0, 1): (B, H)
        shift = torch.softmax(shift, dim=-1)  # s: a distribution over the allowed shifts, (B, H, K)
        erase = torch.sigmoid(erase)  # e in (0, 1)
        ctx.sizes = sizes
        ctx.save_for_backward(raw.abs() > clip, strengths, gate, shift, erase)
        return key, softplus[..., 0], gate, shift, 1 + softplus[..., 1], erase, add

    @staticmethod
    def backward(ctx, grad_key, grad_beta, grad_gate, grad_shift, grad_gamma, grad_erase, grad_add):
        clipped_away, strengths, gate, shift, erase = ctx.saved_tensors
        batch, heads = gate.shape
        grad_strengths = torch.stack([grad_beta, grad_gamma], dim=-1) * torch.sigmoid(strengths)  # softplus' = sigmoid
        grad_addressing = torch.cat(
            [
                grad_key,
                grad_strengths[..., :1],
                (grad_gate * gate * (1 - gate))[..., None],
                grad_strengths[..., 1:],
                shift * (grad_shift - (grad_shift * shift).sum(-1, keepdim=True)),  # softmax'
            ],
            dim=-1,
        )  # (B, H, M + 3 + K)
        grad_writing = torch.cat([grad_erase * erase * (1 - erase), grad_add], dim=-1)  # (B, W, 2M)
        grad_raw = torch.cat([grad_addressing.view(batch, -1), grad_writing.view(batch, -1)], dim=-1)
        return grad_raw.masked_fill_(clipped_away, 0.0), None, None


@dataclass(frozen=True)
class NTMConfig:
    input_size: int = 9  # input channels (copy task: 8 bits + 1 delimiter)
    output_size: int = 8  # output channels (copy task: 8 bits)
    controller_size: int = 100  # LSTM controller units (paper: 100 for copy)
    memory_rows: int = 128  # N, memory locations (paper: 128)
    memory_width: int = 20  # M, width of a location (paper: 20)
    read_heads: int = 1  # paper: 1 for copy
    write_heads: int = 1  # paper: 1 for copy
    shifts: tuple[int, ...] = DEFAULT_SHIFTS  # allowed location shifts of eq. (8) (paper: -1, 0, +1)
    clip: float = 20.0  # head parameters are clipped to [-clip, clip] before their activations
    memory_init: float = 1e-6  # every memory entry starts at this constant (Collier & Beel 2018)


class NTMOutput(NamedTuple):
    """What :meth:`NTM.forward` returns.

    logits: ``(B, T, O)`` pre-sigmoid outputs.
    read_weights: ``(B, T, R, N)`` read weightings, or ``None`` unless asked for.
    write_weights: ``(B, T, W, N)`` write weightings, or ``None`` unless asked for.
    """

    logits: Tensor
    read_weights: Tensor | None = None
    write_weights: Tensor | None = None


class NTM(nn.Module):
    """Neural Turing Machine with an LSTM controller (Graves et al. 2014, §3 and §4).

    Shape legend: ``B`` batch, ``T`` time steps, ``I``/``O`` input/output channels, ``C``
    controller units, ``N``/``M`` memory rows/width, ``R``/``W`` read/write heads,
    ``H = R + W``, ``K`` allowed shifts.
    """

    def __init__(self, config: NTMConfig, device=None, dtype=None) -> None:
        super().__init__()
        if config.read_heads < 1 or config.write_heads < 1:
            raise ValueError(
                f"read_heads, write_heads: expected at least 1 each, got {config.read_heads}, {config.write_heads}"
            )
        self.config = config
        factory = {"device": device, "dtype": dtype}
        C, M, R = config.controller_size, config.memory_width, config.read_heads
        heads = config.read_heads + config.write_heads
        self.head_size = M + 3 + len(config.shifts)  # k (M), beta, g, gamma, s (K) of one head
        # The LSTM's input-to-hidden weights are split in two: inputs (projected for all steps at
        # once, outside the recurrence) and the previous read vectors (inside it).
        self.input_gates = nn.Linear(config.input_size, 4 * C, **factory)
        self.recurrent_gates = nn.Linear(R * M + C, 4 * C, bias=False, **factory)
        self.head_parameters = nn.Linear(C, heads * self.head_size + config.write_heads * 2 * M, **factory)
        self.output = nn.Linear(C + R * M, config.output_size, **factory)
        self.head_split = [heads * self.head_size, config.write_heads * 2 * M]  # addressing | erase and add
        self.initial_reads = nn.Parameter(torch.empty(R * M, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in (self.input_gates, self.recurrent_gates, self.head_parameters, self.output):
            layer.reset_parameters()
        with torch.no_grad():
            C = self.config.controller_size
            self.input_gates.bias[C : 2 * C].fill_(1.0)  # forget-gate bias 1 (Gers et al. 2000)
        nn.init.normal_(self.initial_reads, std=0.01)

    def initial_state(self, batch_size: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(h, c, memory, weights, reads)`` at t = 0: ``(B, C)``, ``(B, C)``, ``(B, N, M)``, ``(B, H, N)``,
        ``(B, R * M)``."""
        config, factory = self.config, {"device": self.initial_reads.device, "dtype": self.initial_reads.dtype}
        h = torch.zeros(batch_size, config.controller_size, **factory)
        memory = torch.full((batch_size, config.memory_rows, config.memory_width), config.memory_init, **factory)
        weights = torch.zeros(batch_size, config.read_heads + config.write_heads, config.memory_rows, **factory)
        weights[..., 0] = 1.0
        return h, h.clone(), memory, weights, self.initial_reads.expand(batch_size, -1)

    def forward(self, inputs: Tensor, *, return_weights: bool = False) -> NTMOutput:
        """Run the NTM over whole sequences, starting from a fresh memory.

        Args:
            inputs: ``(B, T, I)``.
            return_weights: also return the read and write weightings of every step.

        Returns:
            :class:`NTMOutput` with logits ``(B, T, O)``.
        """
        config = self.config
        check_shape("inputs", inputs, (None, None, config.input_size), "(B, T, I)")
        batch, steps, _ = inputs.shape
        M, R, W = config.memory_width, config.read_heads, config.write_heads
        clip, sizes = config.clip, (R + W, M, len(config.shifts), W)
        h, c, memory, weights, reads = self.initial_state(batch)
        input_gates = self.input_gates(inputs).unbind(dim=1)  # T x (B, 4C)
        recurrent_weight = self.recurrent_gates.weight.t()  # (R * M + C, 4C)
        hidden_states, read_vectors, all_weights = [], [], []
        for t in range(steps):
            # Controller: one LSTM step on [x_t; r_{t-1}].
            gates = torch.addmm(input_gates[t], torch.cat([reads, h], dim=-1), recurrent_weight)  # (B, 4C)
            h, c = _LSTMCell.apply(gates, c)  # (B, C) each
            # Heads: clipped raw parameters, then the paper's constraints.
            key, beta, gate, shift, gamma, erase, add = _HeadParameters.apply(self.head_parameters(h), clip, sizes)
            weights = ntm_address(memory, key, beta, gate, shift, gamma, weights, shifts=config.shifts)  # (B, H, N)
            read_weights, write_weights = weights.split([R, W], dim=1)
            reads, memory = access_memory(memory, read_weights, write_weights, erase, add)
            reads = reads.view(batch, R * M)  # (B, R * M); memory: M_t, (B, N, M)
            hidden_states.append(h)
            read_vectors.append(reads)
            if return_weights:
                all_weights.append(weights)
        features = torch.cat([torch.stack(hidden_states, dim=1), torch.stack(read_vectors, dim=1)], dim=-1)
        logits = self.output(features)  # (B, T, O)
        if not return_weights:
            return NTMOutput(logits)
        stacked = torch.stack(all_weights, dim=1)  # (B, T, H, N)
        return NTMOutput(logits, stacked[:, :, :R], stacked[:, :, R:])


@dataclass(frozen=True)
class LSTMBaselineConfig:
    input_size: int = 9  # input channels (copy task: 8 bits + 1 delimiter)
    output_size: int = 8  # output channels (copy task: 8 bits)
    hidden_size: int = 56  # units per layer: 3 x 56 gives about the parameter count of the default NTM
    num_layers: int = 3  # paper: 3 stacked LSTM layers for its baseline


class LSTMBaseline(nn.Module):
    """The paper's baseline (Graves et al. 2014, §4): stacked LSTM, then a linear output layer."""

    def __init__(self, config: LSTMBaselineConfig, device=None, dtype=None) -> None:
        super().__init__()
        self.config = config
        factory = {"device": device, "dtype": dtype}
        self.lstm = nn.LSTM(config.input_size, config.hidden_size, config.num_layers, batch_first=True, **factory)
        self.output = nn.Linear(config.hidden_size, config.output_size, **factory)

    def forward(self, inputs: Tensor, *, return_weights: bool = False) -> NTMOutput:
        """``(B, T, I)`` inputs -> :class:`NTMOutput` with logits ``(B, T, O)`` (and no weightings: no memory)."""
        check_shape("inputs", inputs, (None, None, self.config.input_size), "(B, T, I)")
        hidden, _ = self.lstm(inputs)  # (B, T, hidden)
        return NTMOutput(self.output(hidden))


@register_model("ntm", config=NTMConfig)
def build_ntm(config: NTMConfig) -> NTM:
    return NTM(config)


@register_model("lstm-baseline", config=LSTMBaselineConfig)
def build_lstm_baseline(config: LSTMBaselineConfig) -> LSTMBaseline:
    return LSTMBaseline(config)
