"""Attention-Sum reader (Kadlec, Schmid, Bajgar & Kleindienst 2016) and Attention-over-Attention reader
(Cui, Chen, Wei, Wang, Liu & Hu 2017): cloze-style reading comprehension by pointing at the document.

Both embed the document and the query with one shared embedding and read them with bidirectional
GRUs into ``h_doc`` ``(B, T, 2H)`` and ``h_query`` ``(B, Q, 2H)``. They differ in how they weigh the
document's words, ``s`` ``(B, T)``:

- AS reader (Kadlec et al. §3): one query vector ``q`` (the query GRU's last forward and first
  backward states), ``s_i = softmax_i(h_doc(i)^T q)``.
- AoA reader (Cui et al. §3, eqs. 4-8): ``s = alpha^T beta`` from the matching matrix
  ``M = h_doc^T h_query`` (:func:`attnzoo.attention.attention_over_attention`).

Then *sum attention* (Kadlec eq. 2, Cui eq. 9): ``P(w | D, Q) = sum_{i in I(w, D)} s_i``, the total
weight of the positions where candidate ``w`` occurs. Shape legend: ``B`` batch, ``T`` document
words, ``Q`` query words, ``C`` candidates, ``E`` embedding, ``H`` GRU units per direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention import attention_over_attention, masked_softmax
from attnzoo.attention.functional import check_shape
from attnzoo.models.recurrent import run_packed
from attnzoo.registry import Preset, register_model


@dataclass(frozen=True)
class ReaderConfig:
    """Hyper-parameters of the AS and AoA readers (Cui et al. on CNN: embedding 384, GRU 256)."""

    vocab_size: int = 48  # words, with the 4 special tokens (set from the data by the recipe)
    embed_dim: int = 64  # E, the shared embedding of document and query words
    hidden_size: int = 64  # H, GRU units per direction
    dropout: float = 0.1  # on the embeddings (Cui et al.: 0.1)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"reader {name}: expected >= 1, got {getattr(self, name)}")


class ReaderOutput(NamedTuple):
    """``log_probs`` ``(B, C)`` of the candidates (``-inf`` for padding); ``weights`` ``s`` ``(B, T)``;
    ``beta`` ``(B, Q)`` the AoA reader's query-level attention (None for the AS reader); ``matching``
    ``(B, T, Q)`` (AoA) or None."""

    log_probs: Tensor
    weights: Tensor
    beta: Tensor | None
    matching: Tensor | None


def sum_attention(weights: Tensor, document: Tensor, candidates: Tensor) -> Tensor:
    """Kadlec et al. eq. 2 / Cui et al. eq. 9: ``P(w) = sum_{i: d_i = w} s_i`` for each candidate ``w``.

    Args:
        weights: ``(B, T)`` attention over the document. document: ``(B, T)`` word ids.
        candidates: ``(B, C)`` word ids (0: no candidate).

    Returns:
        ``(B, C)`` the summed weight of each candidate (0 for padding).
    """
    check_shape("document", document, tuple(weights.shape), "(B, T)")
    check_shape("candidates", candidates, (weights.size(0), None), "(B, C)")
    occurs = (document[:, None, :] == candidates[:, :, None]) & (candidates[:, :, None] != 0)  # (B, C, T)
    return (occurs.to(weights.dtype) @ weights[:, :, None]).squeeze(-1)  # (B, C)


class Reader(nn.Module):
    """The shared reader: embedding, two bidirectional GRUs, an attention over the document
    (:meth:`attend`, which each paper defines) and sum attention over the candidates."""

    def __init__(self, config: ReaderConfig) -> None:
        super().__init__()
        self.config = config
        E, H = config.embed_dim, config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, E, padding_idx=0)
        self.dropout = nn.Dropout(config.dropout)
        self.document_gru = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.query_gru = nn.GRU(E, H, batch_first=True, bidirectional=True)

    def encode(self, gru: nn.GRU, words: Tensor) -> Tensor:
        """Bidirectional GRU states ``(B, L, 2H)`` of ``words`` ``(B, L)``, zero at padding."""
        lengths = (words != 0).sum(1).clamp_min(1)
        return run_packed(gru, self.dropout(self.embedding(words)), lengths)[0]

    def attend(self, h_doc: Tensor, h_query: Tensor, document: Tensor, query: Tensor) -> tuple:
        """``(s (B, T), beta (B, Q) or None, M (B, T, Q) or None)``: the paper's document attention."""
        raise NotImplementedError

    def forward(self, document: Tensor, query: Tensor, candidates: Tensor) -> ReaderOutput:
        """Score the ``candidates`` ``(B, C)`` for the blank of ``query`` ``(B, Q)`` in ``document`` ``(B, T)``
        (word ids, 0: padding)."""
        check_shape("document", document, (None, None), "(B, T)")
        check_shape("query", query, (document.size(0), None), "(B, Q)")
        check_shape("candidates", candidates, (document.size(0), None), "(B, C)")
        h_doc = self.encode(self.document_gru, document)  # (B, T, 2H)
        h_query = self.encode(self.query_gru, query)  # (B, Q, 2H)
        weights, beta, matching = self.attend(h_doc, h_query, document, query)
        probs = sum_attention(weights, document, candidates)  # (B, C)
        log_probs = probs.clamp_min(1e-12).log().masked_fill(candidates == 0, float("-inf"))
        return ReaderOutput(log_probs, weights, beta, matching)


class ASReader(Reader):
    """Kadlec et al. 2016, §3: ``s_i = softmax_i(h_doc(i)^T q)`` with one query vector ``q`` ``(B, 2H)``."""

    def attend(self, h_doc: Tensor, h_query: Tensor, document: Tensor, query: Tensor) -> tuple:
        H = self.config.hidden_size
        last = (query != 0).sum(1).clamp_min(1) - 1  # (B,)
        forward_last = h_query[torch.arange(len(query)), last, :H]  # (B, H): the forward GRU at the last word
        q = torch.cat([forward_last, h_query[:, 0, H:]], dim=-1)  # (B, 2H): with the backward GRU at the first
        scores = (h_doc @ q[:, :, None]).squeeze(-1)  # (B, T)
        return masked_softmax(scores, document != 0), None, None


class AoAReader(Reader):
    """Cui et al. 2017, §3: ``s = alpha^T beta`` (eqs. 4-8, :func:`attention_over_attention`)."""

    def attend(self, h_doc: Tensor, h_query: Tensor, document: Tensor, query: Tensor) -> tuple:
        out = attention_over_attention(h_doc, h_query, document != 0, query != 0)
        return out.weights, out.beta, out.matching


PRESETS = {"cui": Preset(model={"embed_dim": 384, "hidden_size": 256}, about="Cui et al.'s CNN sizes")}


@register_model("as-reader", config=ReaderConfig, paper="Kadlec et al. 2016", presets=PRESETS)
def build_as_reader(config: ReaderConfig) -> ASReader:
    return ASReader(config)


@register_model("aoa-reader", config=ReaderConfig, paper="Cui et al. 2017", presets=PRESETS)
def build_aoa_reader(config: ReaderConfig) -> AoAReader:
    return AoAReader(config)
