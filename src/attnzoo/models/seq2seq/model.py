"""RNN encoder-decoder (Cho et al. 2014; Sutskever et al. 2014) and its attention decoders
(Bahdanau et al. 2015; Luong et al. 2015).

    source tokens -> embedding -> (bi)GRU/LSTM, packed -> annotations h_1..h_S  (B, S, D_enc)
    target tokens -> embedding -> decoder, one step per token -> logits         (B, T, V)
                                   + alignment a_ij                             (B, T, S)

Three decoders share one interface (:class:`Decoder`: ``start`` then ``step``); they differ in
where the context vector comes from and when it is computed:

- ``none`` (:class:`FixedContextDecoder`, Cho et al. 2014 §2.2): one fixed summary ``c`` of the
  whole source, fed to every step. The bottleneck the attention papers remove.
- ``bahdanau`` (:class:`BahdanauDecoder`, Bahdanau et al. 2015 eqs. (4)-(6), appendix A):
  ``c_i`` from attention *before* the RNN step, queried with ``s_{i-1}``;
  ``s_i = f(s_{i-1}, y_{i-1}, c_i)``; the output reads ``(y_{i-1}, s_i, c_i)`` through a maxout
  "deep output".
- ``luong`` (:class:`LuongDecoder`, Luong et al. 2015 §3): the RNN step *first*, then attention
  from ``h_t`` (score dot / general / concat / location; global or local-m / local-p), the
  attentional state ``h~_t = tanh(W_c [c_t; h_t])`` (eq. 5) and optional input feeding (§3.3).

Inside a decoder, states are batch first: ``(B, L, H)`` for ``L`` layers (the RNN's own
``(L, B, H)`` is transposed at the call), so :func:`attnzoo.decoding.reorder_state` can
select beam rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention import (
    AdditiveScore,
    Attention,
    DotScore,
    GeneralScore,
    LocalAttention,
    LocationScore,
    Score,
    lengths_to_mask,
)
from attnzoo.attention.functional import check_shape
from attnzoo.decoding import EncoderDecoderGeneration
from attnzoo.models.recurrent import run_packed
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


def make_rnn(kind: str, input_size: int, config: Seq2SeqConfig, bidirectional: bool = False) -> nn.RNNBase:
    rnn_class = nn.GRU if kind == "gru" else nn.LSTM
    return rnn_class(
        input_size, config.hidden_size, num_layers=config.num_layers, batch_first=True, bidirectional=bidirectional
    )


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


class RecurrentCore(nn.Module):
    """A decoder RNN stepped one token at a time, with batch-first state ``(B, L, H)``.

    ``s_0 = tanh(W_s [h_S->; h_1<-])`` for every layer (Bahdanau appendix A.2.2 uses ``h_1<-``;
    Cho 2014 a summary of the source); an LSTM's first cell state is zero.
    """

    def __init__(self, input_size: int, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.rnn = make_rnn(config.rnn, input_size, config)
        self.bridge = nn.Linear(config.annotation_size, config.hidden_size)
        self.is_lstm = config.rnn == "lstm"

    def start(self, memory: Memory) -> dict[str, Tensor]:
        hidden = torch.tanh(self.bridge(memory.final))  # (B, L, H)
        return {"hidden": hidden, "cell": torch.zeros_like(hidden)} if self.is_lstm else {"hidden": hidden}

    def forward(self, x: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """One step: input ``(B, I)`` -> top-layer output ``(B, H)`` and the new state."""
        hidden = state["hidden"].transpose(0, 1).contiguous()  # (L, B, H)
        if self.is_lstm:
            output, (hidden, cell) = self.rnn(x[:, None], (hidden, state["cell"].transpose(0, 1).contiguous()))
            return output[:, 0], {"hidden": hidden.transpose(0, 1), "cell": cell.transpose(0, 1)}
        output, hidden = self.rnn(x[:, None], hidden)
        return output[:, 0], {"hidden": hidden.transpose(0, 1)}  # (B, H), (B, L, H)


class Maxout(nn.Module):
    """Goodfellow et al. 2013 maxout, as in Bahdanau appendix A.2.2: ``t_i = max(t~_{i,2j-1}, t~_{i,2j})``."""

    def __init__(self, input_size: int, units: int, pieces: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(input_size, units * pieces)
        self.pieces = pieces

    def forward(self, x: Tensor) -> Tensor:
        t = self.linear(x)  # (B, units * pieces)
        return t.view(*t.shape[:-1], -1, self.pieces).amax(dim=-1)  # (B, units)


class Decoder(nn.Module):
    """One interface for every decoder.

    ``start(memory) -> state`` once per source, then ``forward(tokens, state) -> (logits, state,
    weights)`` once per target token; weights are the alignment ``(B, S)`` of the step, or
    None. Every tensor in the state is batch first.
    """

    def start(self, memory: Memory) -> dict:
        raise NotImplementedError

    def forward(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        raise NotImplementedError


class BahdanauDecoder(Decoder):
    """Bahdanau et al. 2015, eqs. (4)-(6) and appendix A.2.2:

        e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)           (6) AdditiveScore; U_a h_j precomputed
        a_ij = softmax_j(e_ij),  c_i = sum_j a_ij h_j       (5) over the real source positions
        s_i  = f(s_{i-1}, [E y_{i-1}; c_i])                 (4) GRU / LSTM
        t_i  = maxout(U_o s_i + V_o E y_{i-1} + C_o c_i),  p(y_i) = softmax(W_o t_i)

    (The appendix's output reads ``s_{i-1}``; eq. (4) and this code read ``s_i``.)
    Subclasses change where ``c_i`` comes from by overriding :meth:`context`.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.target_vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.core = RecurrentCore(config.embedding_dim + config.annotation_size, config)
        self.attention = self.make_attention(config)
        readout = config.hidden_size + config.embedding_dim + config.annotation_size
        self.deep_output = Maxout(readout, config.output_dim)  # U_o, V_o, C_o
        self.output = nn.Linear(config.output_dim, config.target_vocab_size)  # W_o
        self.dropout = nn.Dropout(config.dropout)

    def make_attention(self, config: Seq2SeqConfig) -> nn.Module | None:
        return Attention(AdditiveScore(config.hidden_size, config.annotation_size, config.attention_dim))

    def start(self, memory: Memory) -> dict:
        return {
            **self.core.start(memory),
            "annotations": memory.annotations,  # (B, S, D_enc)
            "keys": self.attention.prepare_keys(memory.annotations),  # U_a h_j: (B, S, A), once per source
            "mask": memory.mask,  # (B, S)
        }

    def context(self, state: dict) -> tuple[Tensor, Tensor | None]:
        """``c_i`` ``(B, D_enc)`` and ``a_i`` ``(B, S)`` from ``s_{i-1}`` (the top layer's state)."""
        query = state["hidden"][:, -1]  # (B, H)
        return self.attention(query, state["annotations"], mask=state["mask"], prepared_keys=state["keys"])

    def forward(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        y = self.dropout(self.embedding(tokens))  # E y_{i-1}: (B, E)
        context, weights = self.context(state)  # c_i: (B, D_enc)
        output, recurrent = self.core(torch.cat([y, context], dim=-1), state)  # s_i: (B, H)
        t = self.deep_output(torch.cat([output, y, context], dim=-1))  # (B, output_dim)
        return self.output(self.dropout(t)), {**state, **recurrent}, weights


class FixedContextDecoder(BahdanauDecoder):
    """Cho et al. 2014 §2.2, the baseline: ``c`` is one fixed vector for the whole source.

    ``c = [h_S->; h_1<-]`` (the encoder's last states); ``s_i = f(s_{i-1}, [E y_{i-1}; c])`` and
    the output reads ``(y_{i-1}, s_i, c)``: the Bahdanau decoder with ``c_i = c`` for every i.
    """

    def make_attention(self, config: Seq2SeqConfig) -> None:
        return None

    def start(self, memory: Memory) -> dict:
        return {**self.core.start(memory), "summary": memory.final[:, -1]}  # c: (B, D_enc)

    def context(self, state: dict) -> tuple[Tensor, None]:
        return state["summary"], None


def make_score(config: Seq2SeqConfig) -> Score:
    """Luong et al. 2015, eqs. (8)-(9): the score of ``h_t`` against ``h_s``."""
    if config.score == "dot":
        return DotScore()
    if config.score == "general":
        return GeneralScore(config.hidden_size, config.annotation_size)
    if config.score == "concat":
        return AdditiveScore(config.hidden_size, config.annotation_size, config.attention_dim)
    return LocationScore(config.hidden_size, config.max_source_len)


class LuongDecoder(Decoder):
    """Luong et al. 2015, §3:

    h_t  = RNN(h_{t-1}, [E y_{t-1}; h~_{t-1}])     §3.3 input feeding (without: E y_{t-1} only)
    a_t  = align(h_t, h_s)                          eq. (7)-(9), global; §3.2 local-m / local-p
    c_t  = sum_s a_t(s) h_s
    h~_t = tanh(W_c [c_t; h_t])                     eq. (5)
    p(y_t) = softmax(W_s h~_t)                      eq. (6)
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.input_feeding = config.input_feeding
        feed = config.hidden_size if config.input_feeding else 0
        self.embedding = nn.Embedding(config.target_vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.core = RecurrentCore(config.embedding_dim + feed, config)
        self.is_local = config.local != "none"
        if self.is_local:
            self.attention = LocalAttention(make_score(config), config.local, config.window, config.hidden_size)
        else:
            self.attention = Attention(make_score(config))
        self.combine = nn.Linear(config.annotation_size + config.hidden_size, config.hidden_size, bias=False)  # W_c
        self.output = nn.Linear(config.hidden_size, config.target_vocab_size)  # W_s
        self.dropout = nn.Dropout(config.dropout)

    def start(self, memory: Memory) -> dict:
        state = {
            **self.core.start(memory),
            "annotations": memory.annotations,  # (B, S, D_enc)
            "mask": memory.mask,  # (B, S)
            "lengths": memory.lengths,  # (B,) source length S, for local-p's p_t
            "step": 0,  # t, for local-m's p_t = t
        }
        if self.input_feeding:
            state["feed"] = memory.annotations.new_zeros(memory.annotations.size(0), self.output.in_features)
        if not self.is_local:
            state["keys"] = self.attention.prepare_keys(memory.annotations)  # e.g. W_a h_s, once per source
        return state

    def forward(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor]:
        y = self.dropout(self.embedding(tokens))  # E y_{t-1}: (B, E)
        x = torch.cat([y, state["feed"]], dim=-1) if self.input_feeding else y
        h, recurrent = self.core(x, state)  # h_t: (B, H)
        if self.is_local:
            context, weights = self.attention(
                h, state["annotations"], mask=state["mask"], source_lengths=state["lengths"], offset=state["step"]
            )
        else:
            context, weights = self.attention(h, state["annotations"], mask=state["mask"], prepared_keys=state["keys"])
        attentional = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # h~_t: (B, H)
        new_state = {**state, **recurrent, "step": state["step"] + 1}
        if self.input_feeding:
            new_state["feed"] = attentional
        return self.output(self.dropout(attentional)), new_state, weights


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
        all_logits, all_weights = [], []
        for t in range(target_in.size(1)):
            logits, state, weights = self.decoder(target_in[:, t], state)
            all_logits.append(logits)
            all_weights.append(weights)
        alignments = None if all_weights[0] is None else torch.stack(all_weights, dim=1)  # (B, T, S)
        return Seq2SeqOutput(torch.stack(all_logits, dim=1), alignments)  # (B, T, V)


@register_model(
    "seq2seq",
    config=Seq2SeqConfig,
    paper="Cho 2014, Bahdanau 2015, Luong 2015",
    presets=PRESETS,
)
def build_seq2seq(config: Seq2SeqConfig) -> Seq2Seq:
    return Seq2Seq(config)
