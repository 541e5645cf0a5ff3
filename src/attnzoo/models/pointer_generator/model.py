"""Get To The Point: Summarization with Pointer-Generator Networks (See, Liu & Manning 2017).

    article ids -> shared embedding -> bi-LSTM (Seq2Seq's Encoder) -> h_i             (B, S, 2H)
    each step t: x_t = [E y_{t-1}; h*_{t-1}] -> LSTM -> s_t                            (B, H)
                 e_i^t = v^T tanh(W_h h_i + W_s s_t [+ w_c c_i^t] + b_attn)         (eq. 1, 11)
                 a^t = softmax(e^t),  h*_t = sum_i a_i^t h_i                          (eq. 2, 3)
                 P_vocab = softmax(V'(V [s_t; h*_t] + b) + b')                        (eq. 4)
    pointer:     p_gen = sigmoid(w_h*^T h*_t + w_s^T s_t + w_x^T x_t + b_ptr)         (eq. 8)
                 P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: w_i = w} a_i^t         (eq. 9)
    coverage:    c^t = sum_{t' < t} a^{t'}  (eq. 10), read by the score (eq. 11)

Three models from one config: the baseline (``pointer=False``: §2.1, attention without copying;
an out-of-vocabulary word can only be ``<unk>``), the pointer-generator (``pointer=True``: the
output distribution covers the *extended* vocabulary, the ``V`` words plus the article's own
out-of-vocabulary words, ids ``V + k``: see :mod:`attnzoo.tasks.summaries`), and the
pointer-generator with coverage (``coverage=True``: :class:`~attnzoo.attention.CoverageAttention`).

The decoder's LSTM step is :mod:`attnzoo.models.seq2seq`'s ``RecurrentCore`` (``s_0 = tanh(W
[h_S->; h_1<-])``) and the encoder computes its ``Encoder`` (on padded batches, faster on CPU:
:class:`BiLSTMEncoder`); greedy and beam search are
:mod:`attnzoo.decoding`'s, over extended ids (a copied id ``>= V`` is read back as ``<unk>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention import AdditiveScore, Attention, CoverageAttention, lengths_to_mask
from attnzoo.attention.functional import check_shape
from attnzoo.decoding import EncoderDecoderGeneration
from attnzoo.models.seq2seq.decoders import RecurrentCore
from attnzoo.models.seq2seq.model import Memory, Seq2SeqConfig
from attnzoo.registry import Preset, register_model, require_positive


@dataclass(frozen=True)
class PointerGeneratorConfig:
    vocab_size: int = 64  # the shared article/summary vocabulary, specials included (set from the data; paper: 50k)
    embedding_dim: int = 32  # size of a word embedding, shared by encoder and decoder (paper: 128)
    hidden_size: int = 64  # LSTM state of the decoder and of each encoder direction (paper: 256)
    attention_dim: int | None = None  # size of v in eq. 1 (None: hidden_size; paper: 512 = 2 * hidden_size)
    pointer: bool = True  # §2.2: mix copying from the article into the output (False: the §2.1 baseline)
    coverage: bool = False  # §2.3: the attention reads the coverage vector c^t (eq. 11)
    dropout: float = 0.0  # on the embeddings (the paper uses none)
    pad_id: int = 0  # padding id
    bos_id: int = 1  # first decoder input
    eos_id: int = 2  # end of a summary
    unk_id: int = 3  # what the embedding reads for a copied (extended) id

    def __post_init__(self) -> None:
        if self.attention_dim is None:
            object.__setattr__(self, "attention_dim", self.hidden_size)
        require_positive(self, "vocab_size", "embedding_dim", "hidden_size", "attention_dim")
        if self.coverage and not self.pointer:
            raise ValueError("coverage: the paper adds coverage to the pointer-generator; set pointer=True too")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {self.dropout}")

    def seq2seq(self) -> Seq2SeqConfig:
        """The :class:`Seq2SeqConfig` of the reused encoder and LSTM step: one bi-LSTM layer."""
        sizes = {"source_vocab_size": self.vocab_size, "target_vocab_size": self.vocab_size}
        return Seq2SeqConfig(
            **sizes, embedding_dim=self.embedding_dim, hidden_size=self.hidden_size, rnn="lstm", bidirectional=True
        )


def final_distribution(
    vocab_probs: Tensor, weights: Tensor, p_gen: Tensor, source_extended: Tensor, extended_size: int
) -> Tensor:
    """See et al. 2017, eq. (9): ``P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: w_i = w} a_i^t``.

    For one step or for ``T`` steps at once (the ``[T]`` dimension below).

    Args:
        vocab_probs: ``(B, [T,] V)`` ``P_vocab``. weights: ``(B, [T,] S)`` the attention ``a^t`` (zero at padding).
        p_gen: ``(B, [T])``. source_extended: ``(B, S)`` the article's extended ids (``< extended_size``).
        extended_size: ``V`` plus the most out-of-vocabulary article words of any row.

    Returns:
        ``(B, [T,] extended_size)``: a distribution over the extended vocabulary (an article OOV word
        ``V + k`` has exactly its copy mass ``(1 - p_gen) sum_{i: w_i = w} a_i``).
    """
    steps = vocab_probs.shape[1:-1]  # () or (T,)
    check_shape("vocab_probs", vocab_probs, (None, *(None for _ in steps), None), "(B, [T,] V)")
    batch, vocab = vocab_probs.size(0), vocab_probs.size(-1)
    check_shape("weights", weights, (batch, *steps, None), "(B, [T,] S)")
    check_shape("p_gen", p_gen, (batch, *steps), "(B, [T])")
    check_shape("source_extended", source_extended, (batch, weights.size(-1)), "(B, S)")
    if extended_size < vocab:
        raise ValueError(f"extended_size: expected at least the vocabulary size {vocab}, got {extended_size}")
    generated = F.pad(p_gen[..., None] * vocab_probs, (0, extended_size - vocab))  # (B, [T,] V_ext)
    index = source_extended.view(batch, *(1 for _ in steps), -1).expand_as(weights)  # (B, [T,] S)
    return generated.scatter_add(-1, index, (1 - p_gen)[..., None] * weights)  # + the copy mass


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """Each row of ``x`` ``(B, S, D)`` reversed within its length ``(B,)``; padding stays in place."""
    positions = torch.arange(x.size(1), device=x.device)[None, :]  # (1, S)
    index = torch.where(positions < lengths[:, None], lengths[:, None] - 1 - positions, positions)  # (B, S)
    return x.gather(1, index[..., None].expand_as(x))


class BiLSTMEncoder(nn.Module):
    """The bidirectional LSTM encoder of See et al. §2.1, ``h_i = [h_i->; h_i<-]``, on padded batches.

    It computes what :class:`attnzoo.models.seq2seq.model.Encoder` computes over a packed batch
    (the test checks it), with one LSTM per direction run over the padded batch, the backward one
    over each article reversed within its length. The packed CPU LSTM's backward pass zeroes the
    whole packed input once per time step (``O(S^2)``), which made it half of a training step here.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.source_vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.forward_rnn = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True)
        self.backward_rnn = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, source: Tensor, source_lengths: Tensor) -> Memory:
        """Source ids ``(B, S)`` and lengths ``(B,)`` (each >= 1) -> ``Memory`` (annotations ``(B, S, 2H)``)."""
        check_shape("source", source, (None, None), "(B, S)")
        check_shape("source_lengths", source_lengths, (source.size(0),), "(B,)")
        if source_lengths.numel() and int(source_lengths.min()) < 1:
            raise ValueError(f"source_lengths: expected every length >= 1, got {source_lengths.tolist()}")
        embedded = self.dropout(self.embedding(source))  # (B, S, E)
        ahead, _ = self.forward_rnn(embedded)  # h_i->: (B, S, H); padding comes after every real token
        behind, _ = self.backward_rnn(reverse_within_lengths(embedded, source_lengths))
        behind = reverse_within_lengths(behind, source_lengths)  # h_i<-: (B, S, H)
        mask = lengths_to_mask(source_lengths, source.size(1))  # (B, S)
        annotations = torch.cat([ahead, behind], dim=-1).masked_fill(~mask[..., None], 0.0)  # (B, S, 2H)
        last = ahead.gather(1, (source_lengths - 1).view(-1, 1, 1).expand(-1, 1, ahead.size(-1)))  # h_S->
        final = torch.cat([last, behind[:, :1]], dim=-1)  # [h_S->; h_1<-]: (B, 1, 2H)
        return Memory(annotations, mask, source_lengths, final)


class StepOutput(NamedTuple):
    """One decoder step: ``probs`` ``(B, V_ext)`` (baseline: ``(B, V)``), the attention ``a^t``
    ``(B, S)``, ``p_gen`` ``(B,)`` (baseline: ones) and the coverage ``c^t`` ``(B, S)`` it started from."""

    probs: Tensor
    weights: Tensor
    p_gen: Tensor
    coverage: Tensor


class PointerGeneratorOutput(NamedTuple):
    """Teacher-forced outputs: ``log_probs`` ``(B, T, V_ext)``, ``attentions`` and ``coverages``
    ``(B, T, S)`` (``c^t`` before step ``t``), ``p_gens`` ``(B, T)``."""

    log_probs: Tensor
    attentions: Tensor
    coverages: Tensor
    p_gens: Tensor


class PointerGenerator(nn.Module, EncoderDecoderGeneration):
    """The baseline, the pointer-generator and its coverage variant (see the module docstring)."""

    def __init__(self, config: PointerGeneratorConfig) -> None:
        super().__init__()
        self.config = config
        inner, hidden, annotation = config.seq2seq(), config.hidden_size, 2 * config.hidden_size
        self.encoder = BiLSTMEncoder(inner)  # embedding + bi-LSTM; the decoder reads the same embedding
        self.core = RecurrentCore(config.embedding_dim + annotation, inner)  # x_t = [E y_{t-1}; h*_{t-1}]
        score = AdditiveScore(hidden, annotation, config.attention_dim)  # v, W_s, W_h, b_attn
        self.attention = CoverageAttention(score) if config.coverage else Attention(score)
        self.vocab_hidden = nn.Linear(hidden + annotation, hidden)  # V, b of eq. 4
        self.vocab_out = nn.Linear(hidden, config.vocab_size)  # V', b' of eq. 4
        inputs = annotation + hidden + config.embedding_dim + annotation  # [h*_t; s_t; x_t]
        self.switch = nn.Linear(inputs, 1) if config.pointer else None  # w_h*, w_s, w_x, b_ptr of eq. 8
        self.dropout = nn.Dropout(config.dropout)

    def start_decoding(self, source: Tensor, source_lengths: Tensor, source_extended: Tensor | None = None) -> dict:
        """Encode; the first decoder state. ``source``, ``source_extended``: ``(B, S)``; lengths ``(B,)``."""
        memory = self.encoder(source, source_lengths)
        if source_extended is None:
            source_extended = source
        check_shape("source_extended", source_extended, tuple(source.shape), "(B, S)")
        batch, width = source.shape
        return {
            **self.core.start(memory),
            "annotations": memory.annotations,  # h_i: (B, S, 2H)
            "keys": self.attention.prepare_keys(memory.annotations),  # W_h h_i + b_attn: (B, S, A)
            "mask": memory.mask,  # (B, S)
            "context": memory.annotations.new_zeros(batch, memory.annotations.size(-1)),  # h*_0 = 0: (B, 2H)
            "coverage": memory.annotations.new_zeros(batch, width),  # c^0 = 0: (B, S)
            "source_extended": source_extended,  # (B, S)
            "extended_size": max(self.config.vocab_size, int(source_extended.max()) + 1),
        }

    def recurrent_step(self, tokens: Tensor, state: dict, use_coverage: bool = True) -> tuple[dict, dict]:
        """The recurrence of one step from the previous (extended) tokens ``(B,)``: ``x_t``, ``s_t``,
        ``h*_t``, ``a^t`` and ``c^t`` (each ``(B, ...)``), and the new state. ``use_coverage=False``
        feeds ``c^t = 0`` to a coverage attention."""
        known = tokens.masked_fill(tokens >= self.config.vocab_size, self.config.unk_id)  # copied ids read as <unk>
        x = torch.cat([self.dropout(self.encoder.embedding(known)), state["context"]], dim=-1)  # x_t: (B, E + 2H)
        s, recurrent = self.core(x, state)  # s_t: (B, H)
        attend = {"mask": state["mask"], "prepared_keys": state["keys"]}
        if self.config.coverage:
            attend["coverage"] = state["coverage"] if use_coverage else torch.zeros_like(state["coverage"])
        context, weights = self.attention(s, state["annotations"], **attend)  # h*_t: (B, 2H), a^t: (B, S)
        new_state = {**state, **recurrent, "context": context, "coverage": state["coverage"] + weights}  # eq. 10
        return {"x": x, "s": s, "context": context, "weights": weights, "coverage": state["coverage"]}, new_state

    def output_distribution(self, step: dict, source_extended: Tensor, extended_size: int) -> tuple[Tensor, Tensor]:
        """Eq. (4), (8), (9) from a :meth:`recurrent_step`'s values, ``(B, ...)`` or ``(B, T, ...)``:
        the output distribution ``(B, [T,] V_ext)`` (baseline: ``V``) and ``p_gen`` ``(B, [T])`` (baseline: 1)."""
        s, context = step["s"], step["context"]
        vocab_probs = torch.softmax(self.vocab_out(self.vocab_hidden(torch.cat([s, context], -1))), dim=-1)  # eq. 4
        if self.switch is None:
            return vocab_probs, torch.ones_like(vocab_probs[..., 0])
        p_gen = torch.sigmoid(self.switch(torch.cat([context, s, step["x"]], dim=-1))).squeeze(-1)  # eq. 8
        return final_distribution(vocab_probs, step["weights"], p_gen, source_extended, extended_size), p_gen

    def decode_step(self, tokens: Tensor, state: dict) -> tuple[StepOutput, dict]:
        """One decoding step from the previous (extended) tokens ``(B,)``: :class:`StepOutput` and the new state."""
        step, new_state = self.recurrent_step(tokens, state)
        probs, p_gen = self.output_distribution(step, state["source_extended"], state["extended_size"])
        return StepOutput(probs, step["weights"], p_gen, step["coverage"]), new_state

    def step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor]:
        """For :mod:`attnzoo.decoding`: tokens ``(N,)`` -> log-probs ``(N, V_ext)``, state, ``a^t`` ``(N, S)``."""
        output, state = self.decode_step(tokens, state)
        return output.probs.clamp_min(1e-12).log(), state, output.weights

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor,
        source_extended: Tensor,
        target_in: Tensor,
        use_coverage: bool = True,
    ) -> PointerGeneratorOutput:
        """Teacher-forced outputs of every target step.

        Args:
            source, source_extended: ``(B, S)`` ordinary and extended article ids. source_lengths: ``(B,)``.
            target_in: ``(B, T)`` ``<bos>`` + summary ids (extended ids allowed: read as ``<unk>``).
            use_coverage: with ``coverage=True``, feed ``c^t`` to the attention (False: ``c^t = 0``,
                the paper's training before its coverage phase).

        Returns:
            :class:`PointerGeneratorOutput`.
        """
        check_shape("target_in", target_in, (source.size(0), None), "(B, T)")
        state = self.start_decoding(source, source_lengths, source_extended)
        steps = []
        for t in range(target_in.size(1)):  # only the recurrence is stepped ...
            step, state = self.recurrent_step(target_in[:, t], state, use_coverage)
            steps.append(step)
        every = {key: torch.stack([step[key] for step in steps], dim=1) for key in steps[0]}  # (B, T, ...)
        probs, p_gens = self.output_distribution(every, source_extended, state["extended_size"])  # ... not the output
        return PointerGeneratorOutput(probs.clamp_min(1e-12).log(), every["weights"], every["coverage"], p_gens)


@register_model(
    "pointer-generator",
    config=PointerGeneratorConfig,
    paper="See et al. 2017",
    presets={
        "baseline": Preset(model={"pointer": False}, about="§2.1: attentional Seq2Seq, no copying (<unk> for OOV)"),
        "pointer": Preset(model={"pointer": True}, about="§2.2: the pointer-generator (copies OOV words)"),
        "coverage": Preset(
            model={"pointer": True, "coverage": True},
            task={"coverage_from": 800},
            training={"steps": 1_000},
            about="§2.3: + coverage, added with its loss for the last 200 of 1,000 steps",
        ),
    },
)
def build_pointer_generator(config: PointerGeneratorConfig) -> PointerGenerator:
    return PointerGenerator(config)
