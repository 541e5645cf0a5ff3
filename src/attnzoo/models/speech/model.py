"""Attention-based speech recognition: Chorowski et al. 2015's location-aware recogniser and the
pyramidal listener of Listen, Attend and Spell (Chan et al. 2016).

The encoder ("listener") is a stack of bidirectional LSTMs over log-mel frames; the decoder
("speller", Chorowski's attention-based recurrent sequence generator, ARSG, §2.1) writes the
transcript one character at a time, attending over the encoder states ``h_j`` before each:

    α_i = Attend(s_{i-1}, α_{i-1}, h)                 eqs. (8)-(9) (location-aware) or Bahdanau eq. (6)
    g_i = Σ_j α_ij h_j                                the glimpse
    s_i = LSTM([E y_{i-1}; g_i], s_{i-1})
    p(y_i) = softmax(W_o [s_i; g_i] + b_o)

``α_0`` puts all its weight on the first frame (speech starts at the start) and ``s_0 = 0``.
With ``window`` (the windowing of Chorowski et al. §2.3), step ``i`` attends only to the states
within ``± window`` frames of the median of ``α_{i-1}`` (set for decoding: the experiment decodes
trained runs with it).

Three attentions (``attention``): ``content`` (Bahdanau's additive score, content only: it
ignores ``α_{i-1}``), ``location`` (:class:`~attnzoo.attention.LocationAwareAttention`, with
the §2.3 sharpening ``β``) and ``location-smooth`` (§2.3's smoothing: a sigmoid instead of exp).
``pyramidal`` (LAS, §3.1, eq. 5): every encoder layer after the first reads pairs of consecutive
outputs of the layer below concatenated, halving the time resolution each time, so the decoder
attends over 4× (three layers) fewer states and the upper layers run on fewer steps.

Shape legend: ``B`` batch, ``T`` 10 ms frames, ``M`` mel channels, ``Tk`` encoder states, ``L``
characters, ``V`` character vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention import (
    AdditiveScore,
    Attention,
    AttentionOutput,
    LocationAwareAttention,
    LocationAwareScore,
    SmoothedLocationAwareAttention,
    lengths_to_mask,
)
from attnzoo.attention.functional import check_shape
from attnzoo.decoding import Decoded, beam_search, greedy_decode
from attnzoo.models.recurrent import run_packed
from attnzoo.registry import Preset, register_model
from attnzoo.tasks.vocab import BOS_ID, EOS_ID, PAD_ID

ATTENTIONS = ("content", "location", "location-smooth")


@dataclass(frozen=True)
class SpeechConfig:
    """Sizes and variant of the recogniser (defaults: the ``location`` preset)."""

    attention: str = "location"  # "content" (Bahdanau eq. 6), "location" (eqs. 8-9) or "location-smooth" (§2.3)
    sharpening: float = 1.0  # β of §2.3: α ∝ exp(β e) (1: the plain softmax)
    features: int = 40  # mel channels per frame (set from the data by the recipe)
    vocab_size: int = 25  # characters with <pad> <bos> <eos> <unk> (set from the data by the recipe)
    frame_stack: int = 2  # consecutive 10 ms frames concatenated into one encoder input (20 ms)
    encoder_layers: int = 3  # bidirectional LSTM layers of the listener
    pyramidal: bool = False  # LAS: each layer after the first halves time by concatenating output pairs
    encoder_size: int = 48  # LSTM units per direction (h_j has twice as many)
    embed_dim: int = 16  # character embedding E y
    decoder_size: int = 96  # decoder LSTM units (s_i)
    attention_dim: int = 32  # units of the attention MLP (w)
    location_filters: int = 8  # k: location features per frame (eq. 8)
    location_width: int = 21  # r: width of the location filters F in encoder states (odd)
    window: int | None = None  # attend only within ± this many 10 ms frames of α_{i-1}'s median (§2.3); None: all

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention: expected one of {', '.join(ATTENTIONS)}; got {self.attention!r}")
        checks = {
            "frame_stack": self.frame_stack >= 1,
            "encoder_layers": self.encoder_layers >= 1,
            "location_width": self.location_width % 2 == 1,
            "sharpening": self.sharpening > 0,
            "window": self.window is None or self.window >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"speech {name}: got {getattr(self, name)!r}, which is out of range")

    @property
    def reduction(self) -> int:
        """10 ms frames per encoder state: ``frame_stack``, times 2 per pyramid layer."""
        return self.frame_stack * (2 ** (self.encoder_layers - 1) if self.pyramidal else 1)


class SpeechOutput(NamedTuple):
    """Teacher-forced :meth:`SpeechRecognizer.forward`: log-probabilities ``(B, L, V)``, the weights
    ``α`` ``(B, L, Tk)`` and the encoder lengths ``(B,)``."""

    log_probs: Tensor
    weights: Tensor
    lengths: Tensor


def stack_frames(inputs: Tensor, lengths: Tensor, factor: int) -> tuple[Tensor, Tensor]:
    """Concatenate every ``factor`` consecutive frames (zero-padding the end): ``(B, T, D)`` ->
    ``(B, ceil(T / factor), factor · D)``, and the lengths ``ceil(lengths / factor)``. LAS eq. (5)
    with ``factor = 2``."""
    B, T, D = inputs.shape
    padded = F.pad(inputs, (0, 0, 0, (-T) % factor))  # (B, factor · ceil(T / factor), D)
    return padded.reshape(B, -1, factor * D), (lengths + factor - 1) // factor


class Listener(nn.Module):
    """The encoder: bidirectional LSTM layers, optionally pyramidal (LAS §3.1).

    ``(B, T, M)`` frames of ``lengths`` ``(B,)`` -> ``h`` ``(B, Tk, 2 · encoder_size)`` (zero past
    each length) and the lengths ``(B,)`` in encoder states.
    """

    def __init__(self, config: SpeechConfig) -> None:
        super().__init__()
        self.config = config
        H, pair = config.encoder_size, 2 if config.pyramidal else 1
        widths = [config.features * config.frame_stack] + [2 * H * pair] * (config.encoder_layers - 1)
        self.layers = nn.ModuleList(nn.LSTM(width, H, batch_first=True, bidirectional=True) for width in widths)

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        check_shape("frames", frames, (None, None, self.config.features), "(B, T, M)")
        check_shape("lengths", lengths, (frames.size(0),), "(B,)")
        states, lengths = stack_frames(frames, lengths, self.config.frame_stack)  # (B, T / stack, stack · M)
        for index, layer in enumerate(self.layers):
            if index and self.config.pyramidal:
                states, lengths = stack_frames(states, lengths, 2)  # LAS eq. (5): (B, Tk / 2, 4H)
            states, _ = run_packed(layer, states, lengths)  # (B, Tk, 2H)
        return states, lengths


class ContentAttention(Attention):
    """Bahdanau's content-only additive attention with the location-aware call shape (it ignores ``previous``)."""

    def forward(self, query: Tensor, keys: Tensor, values=None, *, previous: Tensor, **options) -> AttentionOutput:
        return super().forward(query, keys, values, **options)


def build_attention(config: SpeechConfig) -> nn.Module:
    """The decoder's attention for ``config.attention`` (query ``s_{i-1}``, keys ``h_j``)."""
    D, K, A = config.decoder_size, 2 * config.encoder_size, config.attention_dim
    if config.attention == "content":
        return ContentAttention(AdditiveScore(D, K, A))
    score = LocationAwareScore(D, K, A, filters=config.location_filters, width=config.location_width)
    kind = SmoothedLocationAwareAttention if config.attention == "location-smooth" else LocationAwareAttention
    return kind(score, sharpening=config.sharpening)


class SpeechRecognizer(nn.Module):
    """Listener + attention-based character decoder (the module docstring's equations).

    Args:
        config: a :class:`SpeechConfig`.
    """

    def __init__(self, config: SpeechConfig) -> None:
        super().__init__()
        self.config = config
        K, D = 2 * config.encoder_size, config.decoder_size
        self.listener = Listener(config)
        self.attention = build_attention(config)
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        self.cell = nn.LSTMCell(config.embed_dim + K, D)
        self.output = nn.Linear(D + K, config.vocab_size)  # W_o [s_i; g_i] + b_o

    def start(self, frames: Tensor, lengths: Tensor) -> dict[str, Tensor]:
        """Encode frames ``(B, T, M)`` of ``lengths`` ``(B,)``: the decoder's first state (``h``, its
        prepared keys, mask ``(B, Tk)``, ``s_0 = 0``, ``c_0 = 0`` and ``α_0`` on the first frame)."""
        encoded, encoded_lengths = self.listener(frames, lengths)  # (B, Tk, 2H), (B,)
        mask = lengths_to_mask(encoded_lengths, encoded.size(1))  # (B, Tk)
        zeros = encoded.new_zeros(encoded.size(0), self.config.decoder_size)
        alpha = torch.zeros_like(mask, dtype=encoded.dtype)
        alpha[:, 0] = 1.0  # α_0: the utterance starts at its first frame
        state = {"h": encoded, "keys": self.attention.prepare_keys(encoded), "mask": mask, "lengths": encoded_lengths}
        return state | {"s": zeros, "c": zeros.clone(), "alpha": alpha}

    def advance(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """One character: previous tokens ``(B,)`` -> log-probabilities ``(B, V)`` and the next state
        (its ``alpha``: this step's weights ``(B, Tk)``)."""
        mask = state["mask"] if self.config.window is None else state["mask"] & self.window_mask(state["alpha"])
        glimpse, alpha = self.attention(
            state["s"], state["h"], previous=state["alpha"], mask=mask, prepared_keys=state["keys"]
        )  # g_i: (B, 2H), α_i: (B, Tk)
        s, c = self.cell(torch.cat([self.embed(tokens), glimpse], dim=-1), (state["s"], state["c"]))
        logits = self.output(torch.cat([s, glimpse], dim=-1))  # (B, V)
        return torch.log_softmax(logits, dim=-1), {**state, "s": s, "c": c, "alpha": alpha}

    def window_mask(self, previous: Tensor) -> Tensor:
        """§2.3's windowing: the states within ``± window`` frames of the median ``m_{i-1}`` of
        ``α_{i-1}`` ``(B, Tk)`` (the first state where its cumulative sum reaches 1/2): mask ``(B, Tk)``."""
        median = (previous.cumsum(dim=-1) < 0.5).sum(dim=-1, keepdim=True)  # m_{i-1}: (B, 1)
        half = -(-self.config.window // self.config.reduction)  # in encoder states, rounded up
        return (torch.arange(previous.size(-1), device=previous.device) - median).abs() <= half

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """:mod:`attnzoo.decoding`'s step: ``(log_probs (B, V), state, α_i (B, Tk))``."""
        log_probs, state = self.advance(tokens, state)
        return log_probs, state, state["alpha"]

    def forward(self, frames: Tensor, lengths: Tensor, inputs: Tensor) -> SpeechOutput:
        """Teacher forcing: frames ``(B, T, M)``, lengths ``(B,)``, inputs ``(B, L)`` (``<bos> y_1 ..``).

        Returns a :class:`SpeechOutput`: log p of the next characters ``(B, L, V)``, α ``(B, L, Tk)``.
        """
        check_shape("inputs", inputs, (frames.size(0), None), "(B, L)")
        state, steps, alphas = self.start(frames, lengths), [], []
        for index in range(inputs.size(1)):
            log_probs, state = self.advance(inputs[:, index], state)
            steps.append(log_probs)
            alphas.append(state["alpha"])
        return SpeechOutput(torch.stack(steps, dim=1), torch.stack(alphas, dim=1), state["lengths"])

    @torch.no_grad()
    def generate(self, frames: Tensor, lengths: Tensor, max_len: int, beam_size: int = 1) -> Decoded:
        """Greedy (``beam_size = 1``) or beam-search transcripts of frames ``(B, T, M)``.

        Returns :class:`~attnzoo.decoding.Decoded`: tokens ``(B, L)`` (EOS, then padding), scores,
        lengths and α ``(B, L, Tk)``.
        """
        state = self.start(frames, lengths)
        common = {"batch_size": frames.size(0), "bos_id": BOS_ID, "max_len": max_len, "eos_id": EOS_ID}
        common |= {"pad_id": PAD_ID, "device": frames.device}
        if beam_size == 1:
            return greedy_decode(self.step, state, **common)
        return beam_search(self.step, state, beam_size=beam_size, **common)


PRESETS = {
    "content": Preset(model={"attention": "content"}, about="content-only additive attention (Bahdanau eq. 6)"),
    "location": Preset(model={"attention": "location"}, about="location-aware attention (Chorowski eqs. 8-9)"),
    "location-smooth": Preset(
        model={"attention": "location-smooth"}, about="location-aware with §2.3's smoothing (sigmoid instead of exp)"
    ),
    "las": Preset(
        model={"attention": "location", "pyramidal": True},
        about="LAS's pyramidal listener (time halved at layers 2-3: one state per 80 ms) with location-aware attention",
    ),
    "location-concat": Preset(
        model={"attention": "location"},
        task={"concatenated_share": 0.5},
        about="location-aware, half the training utterances 2-4 ordinary ones joined (2-12 words)",
    ),
    "location-window": Preset(
        model={"attention": "location", "window": 100},
        about="location-aware with §2.3's ± 1 s window in training and decoding (part of the mechanism)",
    ),
}


@register_model("speech", config=SpeechConfig, paper="Chorowski et al. 2015; Chan et al. 2016", presets=PRESETS)
def build_speech(config: SpeechConfig) -> SpeechRecognizer:
    return SpeechRecognizer(config)
