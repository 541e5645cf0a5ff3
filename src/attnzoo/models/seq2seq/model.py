"""RNN encoder-decoder (Cho et al. 2014; Sutskever et al. 2014) and its attention decoders
(Bahdanau et al. 2015; Luong et al. 2015).

    source tokens -> embedding -> (bi)GRU/LSTM, packed -> annotations h_1..h_S  (B, S, D_enc)
    target tokens -> embedding -> decoder, one step per token -> logits         (B, T, V)
                                   + alignment a_ij                             (B, T, S)

Three decoders (:mod:`attnzoo.models.seq2seq.decoders`) share one interface (:class:`Decoder`:
``start`` once, then one step per token); they differ in where the context vector comes from and
when it is computed:

- ``none`` (:class:`FixedContextDecoder`, Cho et al. 2014 §2.2): one fixed summary ``c`` of the
  whole source, fed to every step. The bottleneck the attention papers remove.
- ``bahdanau`` (:class:`BahdanauDecoder`, Bahdanau et al. 2015 eqs. (4)-(6), appendix A):
  ``c_i`` from attention *before* the RNN step, queried with ``s_{i-1}``;
  ``s_i = f(s_{i-1}, y_{i-1}, c_i)``; the output reads ``(y_{i-1}, s_i, c_i)`` through a maxout
  "deep output".
- ``luong`` (:class:`LuongDecoder`, Luong et al. 2015 §3): the RNN step *first*, then attention
  from ``h_t`` (score dot / general / concat / location; global or local-m / local-p), the
  attentional state ``h~_t = tanh(W_c [c_t; h_t])`` (eq. 5) and optional input feeding (§3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention import lengths_to_mask
from attnzoo.attention.functional import check_shape
from attnzoo.decoding import EncoderDecoderGeneration
from attnzoo.models.recurrent import run_packed
from attnzoo.models.seq2seq.decoders import BahdanauDecoder, Decoder, FixedContextDecoder, LuongDecoder, make_rnn
from attnzoo.models.seq2seq.presets import PRESETS
from attnzoo.registry import register_model

ATTENTIONS = ("none", "bahdanau", "luong")
SCORES = ("dot", "general", "concat", "location")
LOCALS = ("none", "monotonic", "predictive")
RNNS = ("gru", "lstm")


@dataclass(frozen=True)
class Seq2SeqConfig:
    source_vocab_size: int = 64  # source tokens, specials (<pad> <bos> <eos> <unk>) included
    target_vocab_size: int = 64  # target tokens, specials included
    embedding_dim: int = 32  # size of a token embedding E y (paper: 620)
    hidden_size: int = 64  # RNN state size of the decoder and of each encoder direction (paper: 1000)
    num_layers: int = 1  # stacked RNN layers, encoder and decoder alike (Luong: 4)
    rnn: str = "gru"  # "gru" (Cho 2014, Bahdanau 2015) or "lstm" (Sutskever 2014, Luong 2015)
    bidirectional: bool | None = None  # annotations h_j = [h_j->; h_j<-] (Bahdanau §3.2); None: yes but for luong
    attention: str = "bahdanau"  # "none" (fixed context c), "bahdanau" or "luong"
    score: str = "general"  # Luong's score (eq. 8-9): "dot", "general", "concat" or "location"
    local: str = "none"  # Luong's window (§3.2): "none" (global), "monotonic" (local-m), "predictive" (local-p)
    window: int = 5  # half-width D of the local window (paper: 10)
    attention_dim: int = 64  # size of v_a in the additive score (Bahdanau, Luong's concat) (paper: 1000)
    output_dim: int | None = None  # Bahdanau's deep output: maxout units t_i (paper: 500); None: hidden_size
    input_feeding: bool = True  # Luong §3.3: feed h~_{t-1} into the next RNN step
    max_source_len: int = 128  # longest source the "location" score can address
    dropout: float = 0.0  # on embeddings and before the output layer
    pad_id: int = 0  # padding id of both vocabularies
    bos_id: int = 1  # first decoder input
    eos_id: int = 2  # end of a target

    def __post_init__(self) -> None:
        if self.bidirectional is None:  # Bahdanau's encoder is bidirectional, Luong's is not
            object.__setattr__(self, "bidirectional", self.attention != "luong")
        if self.output_dim is None:
            object.__setattr__(self, "output_dim", self.hidden_size)
        for name, allowed in (("attention", ATTENTIONS), ("score", SCORES), ("local", LOCALS), ("rnn", RNNS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {allowed}, got {getattr(self, name)!r}")
        for name in ("source_vocab_size", "target_vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")
        for name in ("window", "attention_dim", "output_dim", "max_source_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {self.dropout}")
        if self.attention == "luong" and self.score == "dot" and self.annotation_size != self.hidden_size:
            raise ValueError(
                f"score: 'dot' needs annotations ({self.annotation_size}) as wide as the decoder state "
                f"({self.hidden_size}); use bidirectional=False or another score"
            )

    @property
    def annotation_size(self) -> int:
        """``D_enc``: size of an encoder annotation h_j (both directions concatenated)."""
        return self.hidden_size * (2 if self.bidirectional else 1)


class Memory(NamedTuple):
    """What the encoder gives the decoder.

    annotations: ``(B, S, D_enc)``, zero at padding. mask: ``(B, S)`` True at real tokens.
    lengths: ``(B,)``. final: ``(B, L, D_enc)`` the last state of each layer (forward and
    backward concatenated): ``[h_S->; h_1<-]``.
    """

    annotations: Tensor
    mask: Tensor
    lengths: Tensor
    final: Tensor


class Encoder(nn.Module):
    """Embedding + (bi)GRU/LSTM over a packed batch, so padding never reaches a real state.

    Bahdanau et al. 2015 §3.2: the annotation of word j is ``h_j = [h_j->; h_j<-]``.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.source_vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.rnn = make_rnn(config.rnn, config.embedding_dim, config, config.bidirectional)
        self.dropout = nn.Dropout(config.dropout)
        self.directions = 2 if config.bidirectional else 1

    def forward(self, source: Tensor, source_lengths: Tensor) -> Memory:
        """Source ids ``(B, S)`` and lengths ``(B,)`` (each >= 1) -> :class:`Memory`."""
        check_shape("source", source, (None, None), "(B, S)")
        check_shape("source_lengths", source_lengths, (source.size(0),), "(B,)")
        if source_lengths.numel() and int(source_lengths.min()) < 1:
            raise ValueError(f"source_lengths: expected every length >= 1, got {source_lengths.tolist()}")
        batch, width = source.shape
        embedded = self.dropout(self.embedding(source))  # (B, S, E)
        annotations, last = run_packed(self.rnn, embedded, source_lengths)  # (B, S, D_enc)
        hidden = last[0] if isinstance(last, tuple) else last  # (L * dirs, B, H); LSTM: h, not the cell
        layers = hidden.size(0) // self.directions
        final = hidden.view(layers, self.directions, batch, -1).permute(2, 0, 1, 3).reshape(batch, layers, -1)
        mask = lengths_to_mask(source_lengths, width)  # (B, S)
        return Memory(annotations, mask, source_lengths, final)  # final: (B, L, D_enc)


class Seq2SeqOutput(NamedTuple):
    """logits ``(B, T, V)``; alignments ``(B, T, S)`` (None for the fixed-context baseline)."""

    logits: Tensor
    alignments: Tensor | None


class Seq2Seq(nn.Module, EncoderDecoderGeneration):
    """Encoder-decoder with a fixed context, Bahdanau or Luong attention (see the module docstring)."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        decoders = {"none": FixedContextDecoder, "bahdanau": BahdanauDecoder, "luong": LuongDecoder}
        self.decoder: Decoder = decoders[config.attention](config)

    def start_decoding(self, source: Tensor, source_lengths: Tensor) -> dict:
        """Encode; the initial state for :meth:`step` (and :mod:`attnzoo.decoding`)."""
        return self.decoder.start(self.encoder(source, source_lengths))

    def step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """One decoding step: previous tokens ``(N,)`` -> log-probabilities ``(N, V)``, state, alignment ``(N, S)``."""
        logits, state, weights = self.decoder(tokens, state)
        return torch.log_softmax(logits, dim=-1), state, weights

    def forward(self, source: Tensor, source_lengths: Tensor, target_in: Tensor) -> Seq2SeqOutput:
        """Teacher-forced logits.

        Args:
            source: ``(B, S)`` ids. source_lengths: ``(B,)``.
            target_in: ``(B, T)`` BOS + target ids (padding after the end is harmless: the
                decoder reads left to right).

        Returns:
            :class:`Seq2SeqOutput`: logits ``(B, T, V)``, alignments ``(B, T, S)`` or None.
        """
        check_shape("target_in", target_in, (source.size(0), None), "(B, T)")
        state = self.start_decoding(source, source_lengths)
        embedded = self.decoder.embed(target_in)  # (B, T, E), all steps at once
        all_features, all_weights = [], []
        for t in range(target_in.size(1)):
            features, state, weights = self.decoder.recur(embedded[:, t], state)
            all_features.append(features)
            all_weights.append(weights)
        alignments = None if all_weights[0] is None else torch.stack(all_weights, dim=1)  # (B, T, S)
        return Seq2SeqOutput(self.decoder.readout(torch.stack(all_features, dim=1)), alignments)  # (B, T, V)


@register_model(
    "seq2seq",
    config=Seq2SeqConfig,
    paper="Cho 2014, Bahdanau 2015, Luong 2015",
    presets=PRESETS,
)
def build_seq2seq(config: Seq2SeqConfig) -> Seq2Seq:
    return Seq2Seq(config)
