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
from attnzoo.registry import Preset, register_model, require_positive


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

    def __post_init__(self) -> None:
        sizes = ("input_size", "output_size", "controller_size", "memory_rows", "memory_width")
        require_positive(self, *sizes, "read_heads", "write_heads")
        if not self.shifts or not self.clip > 0:
            raise ValueError(f"shifts and clip: expected some shifts and clip > 0, got {self.shifts} and {self.clip}")


#: ``(h, c, memory, weights, reads)``: controller state ``(B, C)`` twice, memory ``(B, N, M)``, head
#: weightings ``(B, H, N)`` (read heads first), read vectors ``(B, R * M)``.
NTMState = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


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

    def initial_state(self, batch_size: int) -> NTMState:
        """``(h, c, memory, weights, reads)`` at t = 0: ``(B, C)``, ``(B, C)``, ``(B, N, M)``, ``(B, H, N)``,
        ``(B, R * M)``."""
        config, factory = self.config, {"device": self.initial_reads.device, "dtype": self.initial_reads.dtype}
        h = torch.zeros(batch_size, config.controller_size, **factory)
        memory = torch.full((batch_size, config.memory_rows, config.memory_width), config.memory_init, **factory)
        weights = torch.zeros(batch_size, config.read_heads + config.write_heads, config.memory_rows, **factory)
        weights[..., 0] = 1.0
        return h, h.clone(), memory, weights, self.initial_reads.expand(batch_size, -1)

    def step(self, input_gates: Tensor, state: NTMState) -> NTMState:
        """One time step: the controller reads ``[x_t; r_{t-1}]``, the heads address (eqs. 5-9), then
        read (eq. 2) and write (eqs. 3-4).

        Args:
            input_gates: ``(B, 4C)``, the controller's input-to-hidden product for x_t.
            state: ``(h, c, memory, weights, reads)`` of t - 1 (see :meth:`initial_state`).

        Returns:
            the state of t; its weights ``(B, H, N)`` are the read heads' then the write heads'.
        """
        config = self.config
        C, M, R, W = config.controller_size, config.memory_width, config.read_heads, config.write_heads
        h, c, memory, weights, reads = state
        batch, heads, clip = h.size(0), R + W, config.clip
        # Controller: one LSTM step on [x_t; r_{t-1}].
        gates = torch.addmm(input_gates, torch.cat([reads, h], dim=-1), self.recurrent_gates.weight.t())  # (B, 4C)
        sigmoid_gates, cell_input = gates.split([3 * C, C], dim=-1)
        input_gate, forget_gate, output_gate = torch.sigmoid(sigmoid_gates).chunk(3, dim=-1)  # (B, C) each
        c = torch.addcmul(forget_gate * c, input_gate, torch.tanh(cell_input))
        h = output_gate * torch.tanh(c)  # (B, C)
        # Heads: clipped raw parameters, then the paper's constraints.
        addressing, writing = self.head_parameters(h).clamp(-clip, clip).split(self.head_split, dim=-1)
        key, beta, gate, gamma, shift = addressing.view(batch, heads, self.head_size).split(
            [M, 1, 1, 1, len(config.shifts)], dim=-1
        )  # (B, H, M), (B, H, 1) x 3, (B, H, K)
        weights = ntm_address(
            memory,
            key,
            F.softplus(beta.squeeze(-1)),  # beta >= 0
            torch.sigmoid(gate.squeeze(-1)),  # g in (0, 1)
            torch.softmax(shift, dim=-1),  # s: a distribution over the allowed shifts
            1 + F.softplus(gamma.squeeze(-1)),  # gamma >= 1
            weights,
            shifts=config.shifts,
        )  # (B, H, N)
        read_weights, write_weights = weights.split([R, W], dim=1)
        erase, add = writing.view(batch, W, 2 * M).split(M, dim=-1)  # (B, W, M) each
        reads, memory = access_memory(memory, read_weights, write_weights, torch.sigmoid(erase), add)
        return h, c, memory, weights, reads.view(batch, R * M)  # memory: M_t, (B, N, M)

    def compile_step(self) -> None:
        """Run :meth:`step` through ``torch.compile`` from now on (Inductor fuses its many small
        operations; about 2x the training speed on a CPU, after a compilation of a minute or two
        per batch size). The weights and the state dict are unchanged."""
        self.step = torch.compile(self.step)

    def forward(self, inputs: Tensor, *, return_weights: bool = False) -> NTMOutput:
        """Run the NTM over whole sequences, starting from a fresh memory.

        Args:
            inputs: ``(B, T, I)``.
            return_weights: also return the read and write weightings of every step.

        Returns:
            :class:`NTMOutput` with logits ``(B, T, O)``.
        """
        check_shape("inputs", inputs, (None, None, self.config.input_size), "(B, T, I)")
        state = self.initial_state(inputs.size(0))
        input_gates = self.input_gates(inputs).unbind(dim=1)  # T x (B, 4C)
        hidden_states, read_vectors, all_weights = [], [], []
        for gates in input_gates:
            state = self.step(gates, state)
            h, _, _, weights, reads = state
            hidden_states.append(h)
            read_vectors.append(reads)
            if return_weights:
                all_weights.append(weights)
        features = torch.cat([torch.stack(hidden_states, dim=1), torch.stack(read_vectors, dim=1)], dim=-1)
        logits = self.output(features)  # (B, T, O)
        if not return_weights:
            return NTMOutput(logits)
        stacked = torch.stack(all_weights, dim=1)  # (B, T, H, N)
        read_heads = self.config.read_heads
        return NTMOutput(logits, stacked[:, :, :read_heads], stacked[:, :, read_heads:])


@dataclass(frozen=True)
class LSTMBaselineConfig:
    input_size: int = 9  # input channels (copy task: 8 bits + 1 delimiter)
    output_size: int = 8  # output channels (copy task: 8 bits)
    hidden_size: int = 56  # units per layer: 3 x 56 gives about the parameter count of the default NTM
    num_layers: int = 3  # paper: 3 stacked LSTM layers for its baseline

    def __post_init__(self) -> None:
        require_positive(self, "input_size", "output_size", "hidden_size", "num_layers")


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


PAPER_SIZES = {"controller_size": 100, "memory_rows": 128, "memory_width": 20, "read_heads": 1, "write_heads": 1}
ADAM = {"batch_size": 32, "lr": 1e-3, "schedule": "constant", "clip": 1.0}  # Collier & Beel 2018's training


@register_model(
    "ntm",
    config=NTMConfig,
    paper="Graves et al. 2014",
    presets={
        "paper": Preset(
            model=PAPER_SIZES,
            task={"task": "copy", "min_length": 1, "max_length": 20},
            training=ADAM,
            about="copy (§4.1): Graves et al.'s sizes (Table 1: LSTM controller 100, memory 128 × 20, one "
            "read and one write head), lengths 1-20; Adam 1e-3, batches of 32 (Collier & Beel 2018)",
        ),
        "repeat-copy": Preset(
            model=PAPER_SIZES,
            task={"task": "repeat-copy", "min_length": 1, "max_length": 10},
            training={**ADAM, "val_every": 20},
            about="repeat copy (§4.2, Table 2's sizes): lengths 1-10, 1-10 repeats",
        ),
        "recall": Preset(
            model=PAPER_SIZES,
            task={"task": "recall", "min_length": 2, "max_length": 6},
            training=ADAM,
            about="associative recall (§4.3, Table 3's sizes): 2-6 items of 3 six-bit vectors",
        ),
    },
)
def build_ntm(config: NTMConfig) -> NTM:
    return NTM(config)


@register_model(
    "lstm-baseline",
    config=LSTMBaselineConfig,
    paper="Graves et al. 2014",
    presets={
        "matched": Preset(
            model={"hidden_size": 56, "num_layers": 3},
            task={"task": "copy", "min_length": 1, "max_length": 20},
            training=ADAM,
            about="copy with 3 × 56 units: about the parameter count of the NTM's paper preset",
        ),
        "paper": Preset(
            model={"hidden_size": 256, "num_layers": 3},
            task={"task": "copy", "min_length": 1, "max_length": 20},
            training=ADAM,
            about="copy with the paper's baseline (Table 1: 3 layers of 256 units; 1.33M parameters here)",
        ),
    },
)
def build_lstm_baseline(config: LSTMBaselineConfig) -> LSTMBaseline:
    return LSTMBaseline(config)
