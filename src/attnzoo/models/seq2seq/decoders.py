"""The decoders of :mod:`attnzoo.models.seq2seq.model`: one interface (:class:`Decoder`), three papers.

- :class:`FixedContextDecoder` (Cho et al. 2014 §2.2): one fixed summary ``c`` of the source.
- :class:`BahdanauDecoder` (Bahdanau et al. 2015 eqs. (4)-(6), appendix A): attention from
  ``s_{i-1}`` *before* the RNN step, maxout deep output.
- :class:`LuongDecoder` (Luong et al. 2015 §3): the RNN step first, then attention from ``h_t``
  (global or local), the attentional state ``h~_t`` (eq. 5), input feeding (§3.3).

States are batch first: ``(B, L, H)`` for ``L`` layers (the RNN's own ``(L, B, H)`` is
transposed at the call), so :func:`attnzoo.decoding.reorder_state` can select beam rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from attnzoo.attention import AdditiveScore, Attention, DotScore, GeneralScore, LocalAttention, LocationScore, Score

if TYPE_CHECKING:
    from attnzoo.models.seq2seq.model import Memory, Seq2SeqConfig


def make_rnn(kind: str, input_size: int, config: Seq2SeqConfig, bidirectional: bool = False) -> nn.RNNBase:
    rnn_class = nn.GRU if kind == "gru" else nn.LSTM
    return rnn_class(
        input_size, config.hidden_size, num_layers=config.num_layers, batch_first=True, bidirectional=bidirectional
    )


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

    A step is three parts: ``embed`` the previous token, ``recur`` (attention and RNN: what the
    next step depends on) and ``readout`` (the output layers: nothing later depends on them).
    Teacher forcing (:meth:`Seq2Seq.forward`) embeds every target token at once, runs only
    ``recur`` in its loop, and reads all steps out in one call: the same logits with fewer
    operations per token (on an idle CPU no faster for the demo's model: ``benchmarks/seq2seq.py``).
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.target_vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.dropout = nn.Dropout(config.dropout)

    def start(self, memory: Memory) -> dict:
        raise NotImplementedError

    def embed(self, tokens: Tensor) -> Tensor:
        """``E y``: token ids ``(B,)`` or ``(B, T)`` -> ``(B, E)`` or ``(B, T, E)``."""
        return self.dropout(self.embedding(tokens))

    def recur(self, y: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """One step from ``E y_{i-1}`` ``(B, E)``: readout features ``(B, F)``, the new state, weights."""
        raise NotImplementedError

    def readout(self, features: Tensor) -> Tensor:
        """Features ``(..., F)`` of :meth:`recur` -> logits ``(..., V)``."""
        raise NotImplementedError

    def forward(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        features, state, weights = self.recur(self.embed(tokens), state)
        return self.readout(features), state, weights


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
        super().__init__(config)
        self.core = RecurrentCore(config.embedding_dim + config.annotation_size, config)
        self.attention = self.make_attention(config)
        readout = config.hidden_size + config.embedding_dim + config.annotation_size
        self.deep_output = Maxout(readout, config.output_dim)  # U_o, V_o, C_o
        self.output = nn.Linear(config.output_dim, config.target_vocab_size)  # W_o

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

    def recur(self, y: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        context, weights = self.context(state)  # c_i: (B, D_enc)
        output, recurrent = self.core(torch.cat([y, context], dim=-1), state)  # s_i: (B, H)
        return torch.cat([output, y, context], dim=-1), {**state, **recurrent}, weights  # (s_i, E y_{i-1}, c_i)

    def readout(self, features: Tensor) -> Tensor:
        return self.output(self.dropout(self.deep_output(features)))  # W_o t_i


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
        super().__init__(config)
        self.input_feeding = config.input_feeding
        feed = config.hidden_size if config.input_feeding else 0
        self.core = RecurrentCore(config.embedding_dim + feed, config)
        self.is_local = config.local != "none"
        if self.is_local:
            self.attention = LocalAttention(make_score(config), config.local, config.window, config.hidden_size)
        else:
            self.attention = Attention(make_score(config))
        self.combine = nn.Linear(config.annotation_size + config.hidden_size, config.hidden_size, bias=False)  # W_c
        self.output = nn.Linear(config.hidden_size, config.target_vocab_size)  # W_s

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

    def recur(self, y: Tensor, state: dict) -> tuple[Tensor, dict, Tensor]:
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
        return attentional, new_state, weights

    def readout(self, features: Tensor) -> Tensor:
        return self.output(self.dropout(features))  # W_s h~_t
