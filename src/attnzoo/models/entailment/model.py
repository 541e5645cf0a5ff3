"""Reasoning about entailment with neural attention (Rocktäschel et al. 2016).

Two LSTMs read the premise and the hypothesis. With *conditional encoding* (§2.2) the
hypothesis LSTM starts from the premise LSTM's last cell state, so it reads the hypothesis
"conditioned on" the premise. A *reader* then turns the encodings into the pair's vector ``h*``
and ``y = softmax(W^s h* + b^s)`` gives the label (entailment, neutral, contradiction):

- :class:`IndependentReader`: the baseline of separate sentence encoders (Bowman et al. 2015):
  the hypothesis LSTM starts from zero, ``h* = tanh(W [u; v])`` of the two last states.
- :class:`ConditionalReader` (§2.2): ``h* = tanh(W h_N)`` of the conditioned last state.
- :class:`AttentionReader` (§2.3, eqs. 7–10): the last hypothesis state attends over the
  premise outputs ``Y``: ``M = tanh(W^y Y + W^h h_N ⊗ e_L)``, ``α = softmax(w^T M)``,
  ``r = Y α^T``, ``h* = tanh(W^p r + W^x h_N)``.
- :class:`WordByWordReader` (§2.4, eqs. 11–13): every hypothesis word re-attends, fed the
  previous attention vector: ``M_t = tanh(W^y Y + (W^h h_t + W^r r_{t-1}) ⊗ e_L)``,
  ``α_t = softmax(w^T M_t)``, ``r_t = Y α_t^T + tanh(W^t r_{t-1})``, ``h* = tanh(W^p r_N + W^x h_N)``.

Two-way (§2.5): the same model (same parameters) also reads the pair the other way round, the
hypothesis as the premise; ``h*`` of both directions are concatenated before the softmax.

The attention score ``w^T tanh(W^y Y + W^h h ⊗ e_L)`` is Bahdanau's additive score, so the
readers reuse :class:`~attnzoo.attention.AdditiveScore` (``U_a = W^y`` with a bias, ``W_a = W^h``
or ``[W^h | W^r]``, ``v_a = w``) and :class:`~attnzoo.attention.Attention` (padding gets zero weight).

Shape legend: ``B`` batch, ``L`` premise words, ``N`` hypothesis words, ``E`` embedding,
``k`` LSTM units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention import AdditiveScore, Attention, lengths_to_mask
from attnzoo.attention.functional import check_shape
from attnzoo.models.recurrent import run_packed
from attnzoo.registry import Preset, register_model


@dataclass(frozen=True)
class EntailmentConfig:
    """Hyper-parameters of :class:`EntailmentModel`."""

    vocab_size: int = 100  # words, special tokens included (set from the data by the recipe)
    embed_dim: int = 64  # word vector size (paper: 300, word2vec, kept fixed)
    hidden_size: int = 64  # k: LSTM units and attention size (paper: 100 to 159)
    reader: str = "word-by-word"  # "independent", "conditional", "attention" (eqs. 7-10) or "word-by-word" (11-13)
    two_way: bool = False  # also read the pair hypothesis-first and concatenate both h* (§2.5)
    dropout: float = 0.1  # dropout on the embeddings and on h* (paper: 0.0 to 0.2)
    classes: int = 3  # labels: entailment, neutral, contradiction


class Encoded(NamedTuple):
    """What the readers read (see :meth:`EntailmentModel.encode`)."""

    premise: Tensor  # (B, L, k) premise LSTM outputs Y (zeros at padding)
    premise_mask: Tensor  # (B, L) bool, True at real words
    premise_last: Tensor  # (B, k) the premise LSTM's last output u
    hypothesis: Tensor  # (B, N, k) hypothesis LSTM outputs h_t (zeros at padding)
    hypothesis_lengths: Tensor  # (B,)
    hypothesis_last: Tensor  # (B, k) the last hypothesis output h_N


class Reading(NamedTuple):
    """A reader's result: the pair vector ``h*`` ``(B, k)`` and its attention (``None`` without):
    ``(B, L)`` for :class:`AttentionReader`, ``(B, N, L)`` for :class:`WordByWordReader` (padded
    hypothesis rows are zero)."""

    pair: Tensor
    weights: Tensor | None


class EntailmentOutput(NamedTuple):
    """``logits`` ``(B, classes)``; ``weights`` the premise-first reading's attention (see :class:`Reading`)."""

    logits: Tensor
    weights: Tensor | None


class IndependentReader(nn.Module):
    """Separate sentence encoders (Bowman et al. 2015's LSTM baseline): ``h* = tanh(W [u; v])``."""

    conditional = False  # the hypothesis LSTM starts from zero, not from the premise

    def __init__(self, k: int) -> None:
        super().__init__()
        self.combine = nn.Linear(2 * k, k)

    def forward(self, encoded: Encoded) -> Reading:
        return Reading(torch.tanh(self.combine(torch.cat([encoded.premise_last, encoded.hypothesis_last], -1))), None)


class ConditionalReader(nn.Module):
    """Conditional encoding (§2.2): ``h* = tanh(W h_N)``, the last hypothesis state through a tanh layer."""

    conditional = True

    def __init__(self, k: int) -> None:
        super().__init__()
        self.project = nn.Linear(k, k)

    def forward(self, encoded: Encoded) -> Reading:
        return Reading(torch.tanh(self.project(encoded.hypothesis_last)), None)


class AttentionReader(nn.Module):
    """Attention of the last hypothesis state over the premise (§2.3, eqs. 7–10).

    ``M = tanh(W^y Y + W^h h_N ⊗ e_L)`` (7), ``α = softmax(w^T M)`` (8), ``r = Y α^T`` (9),
    ``h* = tanh(W^p r + W^x h_N)`` (10).
    """

    conditional = True

    def __init__(self, k: int) -> None:
        super().__init__()
        self.attention = Attention(AdditiveScore(k, k, k))  # W_a = W^h, U_a = W^y, v_a = w
        self.W_p = nn.Linear(k, k, bias=False)
        self.W_x = nn.Linear(k, k, bias=False)

    def forward(self, encoded: Encoded) -> Reading:
        h_N = encoded.hypothesis_last  # (B, k)
        r, alpha = self.attention(h_N, encoded.premise, mask=encoded.premise_mask)  # (B, k), (B, L): eqs. 7-9
        return Reading(torch.tanh(self.W_p(r) + self.W_x(h_N)), alpha)  # eq. 10


class WordByWordReader(nn.Module):
    """Word-by-word attention (§2.4, eqs. 11–13), with the final vector of eq. 14.

    At hypothesis word ``t``: ``M_t = tanh(W^y Y + (W^h h_t + W^r r_{t-1}) ⊗ e_L)`` (11),
    ``α_t = softmax(w^T M_t)`` (12), ``r_t = Y α_t^T + tanh(W^t r_{t-1})`` (13), ``r_0 = 0``;
    then ``h* = tanh(W^p r_N + W^x h_N)`` (14) at each pair's last word ``N``. ``W^h h_t + W^r r_{t-1}``
    is ``[W^h | W^r] [h_t; r_{t-1}]``: one additive score with a ``2k`` query.
    """

    conditional = True

    def __init__(self, k: int) -> None:
        super().__init__()
        self.attention = Attention(AdditiveScore(2 * k, k, k))  # W_a = [W^h | W^r], U_a = W^y, v_a = w
        self.W_t = nn.Linear(k, k, bias=False)
        self.W_p = nn.Linear(k, k, bias=False)
        self.W_x = nn.Linear(k, k, bias=False)

    def forward(self, encoded: Encoded) -> Reading:
        Y, mask = encoded.premise, encoded.premise_mask
        prepared = self.attention.prepare_keys(Y)  # (B, L, k): W^y Y, once per premise
        r = Y.new_zeros(Y.size(0), Y.size(2))  # r_0 (B, k)
        attended, weights = [], []
        for h_t in encoded.hypothesis.unbind(1):  # (B, k) each
            read, alpha = self.attention(torch.cat([h_t, r], -1), Y, mask=mask, prepared_keys=prepared)  # eqs. 11-12
            r = read + torch.tanh(self.W_t(r))  # eq. 13
            attended.append(r)
            weights.append(alpha)
        lengths = encoded.hypothesis_lengths
        last = torch.stack(attended, 1)[torch.arange(len(lengths), device=Y.device), lengths - 1]  # r_N (B, k)
        alpha = torch.stack(weights, 1) * lengths_to_mask(lengths, len(weights))[..., None]  # (B, N, L)
        return Reading(torch.tanh(self.W_p(last) + self.W_x(encoded.hypothesis_last)), alpha)  # eq. 14


READERS = {
    "independent": IndependentReader,
    "conditional": ConditionalReader,
    "attention": AttentionReader,
    "word-by-word": WordByWordReader,
}


class EntailmentModel(nn.Module):
    """Premise and hypothesis LSTMs, a reader (:data:`READERS`) and the softmax classifier.

    Args:
        config: an :class:`EntailmentConfig`.
    """

    def __init__(self, config: EntailmentConfig) -> None:
        super().__init__()
        if config.reader not in READERS:
            raise ValueError(f"reader: expected one of {', '.join(READERS)}; got {config.reader!r}")
        self.config = config
        k = config.hidden_size
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
        self.premise_lstm = nn.LSTM(config.embed_dim, k, batch_first=True)
        self.hypothesis_lstm = nn.LSTM(config.embed_dim, k, batch_first=True)
        self.reader = READERS[config.reader](k)
        self.dropout = nn.Dropout(config.dropout)
        self.classify = nn.Linear(k * (2 if config.two_way else 1), config.classes)  # W^s, b^s

    def run_lstm(
        self, lstm: nn.LSTM, words: Tensor, lengths: Tensor, cell: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``lstm`` over padded ``words`` ``(B, T)``: outputs ``(B, T, k)`` (zero at padding), the last
        output ``(B, k)`` and last cell ``(B, k)`` of each sequence; ``cell`` ``(B, k)``: the initial cell."""
        start = None if cell is None else (torch.zeros_like(cell)[None], cell[None])  # h_0 = 0, c_0 = cell
        outputs, (h, c) = run_packed(lstm, self.dropout(self.embed(words)), lengths, start)  # (B, T, k)
        return outputs, h[0], c[0]

    def encode(
        self, premise: Tensor, premise_lengths: Tensor, hypothesis: Tensor, hypothesis_lengths: Tensor
    ) -> Encoded:
        """Both LSTMs; the hypothesis one starts from the premise's last cell state if the reader is conditional."""
        Y, u, c = self.run_lstm(self.premise_lstm, premise, premise_lengths, None)
        conditioned = c if self.reader.conditional else None
        H, h_N, _ = self.run_lstm(self.hypothesis_lstm, hypothesis, hypothesis_lengths, conditioned)
        mask = lengths_to_mask(premise_lengths, premise.size(1))
        return Encoded(Y, mask, u, H, hypothesis_lengths, h_N)

    def forward(
        self, premise: Tensor, premise_lengths: Tensor, hypothesis: Tensor, hypothesis_lengths: Tensor
    ) -> EntailmentOutput:
        """Label logits of each pair.

        Args:
            premise: ``(B, L)`` word ids, padded with 0. premise_lengths: ``(B,)``, each ``>= 1``.
            hypothesis: ``(B, N)`` word ids, padded with 0. hypothesis_lengths: ``(B,)``, each ``>= 1``.

        Returns:
            :class:`EntailmentOutput`: ``logits`` ``(B, classes)`` and the premise-first attention.
        """
        B = premise.size(0)
        check_shape("premise", premise, (None, None), "(B, L)")
        check_shape("premise_lengths", premise_lengths, (B,), "(B,)")
        check_shape("hypothesis", hypothesis, (B, None), "(B, N)")
        check_shape("hypothesis_lengths", hypothesis_lengths, (B,), "(B,)")
        for name, lengths, words in (
            ("premise", premise_lengths, premise),
            ("hypothesis", hypothesis_lengths, hypothesis),
        ):
            if B and (int(lengths.min()) < 1 or int(lengths.max()) > words.size(1)):
                raise ValueError(f"{name}_lengths: expected values in 1 .. {words.size(1)}, got {lengths.tolist()}")
        forward = self.reader(self.encode(premise, premise_lengths, hypothesis, hypothesis_lengths))
        pair = forward.pair
        if self.config.two_way:  # §2.5: the same parameters read the hypothesis first
            backward = self.reader(self.encode(hypothesis, hypothesis_lengths, premise, premise_lengths))
            pair = torch.cat([pair, backward.pair], -1)  # (B, 2k)
        return EntailmentOutput(self.classify(self.dropout(pair)), forward.weights)


@register_model(
    "entailment",
    config=EntailmentConfig,
    paper="Rocktäschel et al. 2016",
    presets={
        "independent": Preset(
            model={"reader": "independent"}, about="baseline: separate premise and hypothesis encoders"
        ),
        "conditional": Preset(
            model={"reader": "conditional"}, about="§2.2: the hypothesis LSTM starts from the premise"
        ),
        "attention": Preset(model={"reader": "attention"}, about="§2.3 eqs. 7-10: the last hypothesis state attends"),
        "word-by-word": Preset(
            model={"reader": "word-by-word"}, about="§2.4 eqs. 11-14: every hypothesis word attends"
        ),
        "two-way": Preset(
            model={"reader": "word-by-word", "two_way": True},
            about="§2.5: word-by-word, read both ways, h* concatenated",
        ),
    },
)
def entailment_model(config: EntailmentConfig) -> EntailmentModel:
    """Rocktäschel et al. 2016's entailment model with the configured reader."""
    return EntailmentModel(config)
