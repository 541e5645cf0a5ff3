"""A structured self-attentive sentence embedding (Lin et al. 2017), or multi-dimensional pooling (Shen et al. 2018).

Lin et al. 2017, *A Structured Self-Attentive Sentence Embedding*, §2: a bi-LSTM (here a bi-GRU)
reads the ``n`` tokens into ``H`` ``(n, 2u)``; ``r`` hops of attention pool it,

    A = softmax(W_s2 tanh(W_s1 H^T))          (eq. 6)       M = A H      (r, 2u)

and an MLP classifies the flattened ``M``. Training adds ``coefficient · ||A A^T - I||_F^2``
(§2.2, the recipe's ``penalty``) so that the hops attend to different tokens. With ``r = 1`` this
is one scalar weight per token.

``attention="multidim"`` pools with :class:`~attnzoo.attention.MultiDimensionalAttention` (Shen
et al. 2018, eqs. 7-9, source2token: a learned query) instead: a weight per token *and feature*.

Inputs are token ids ``(B, T)`` or bundles of ``F`` fields ``(B, T, F)`` (the feature-routing task's
colour, shape, size and mark), each field with its own embedding, concatenated.
``encoder="none"`` pools the embeddings themselves (no recurrent layer to move features between
tokens, so the pooling alone must route them).

Shape legend: ``B`` batch, ``T`` tokens, ``F`` fields, ``D`` features of ``H``, ``r`` hops, ``C`` classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention import MultiDimensionalAttention, StructuredSelfAttention
from attnzoo.attention.functional import check_shape
from attnzoo.models.recurrent import run_packed
from attnzoo.registry import Preset, register_model, require_positive
from attnzoo.tasks.vocab import PAD_ID


@dataclass(frozen=True)
class SelfAttentiveConfig:
    """Hyper-parameters of :class:`SelfAttentive` (paper: u = 300, d_a = 350, r = 30, MLP 3000)."""

    vocab_size: int = 100  # ids per input field, with padding 0 (set from the data by the recipe)
    fields: int = 1  # input fields per token: 1 for words, 4 for routing's (colour, shape, size, mark) (from the data)
    classes: int = 5  # output classes (set from the data by the recipe)
    embed_dim: int = 32  # embedding per field (paper: 100, word2vec)
    encoder: str = "bigru"  # "bigru": H = a bi-GRU's states (paper: bi-LSTM); "none": H = the embeddings
    hidden: int = 32  # GRU units per direction, u (paper: 300)
    attention: str = "structured"  # "structured": r hops (eq. 6); "multidim": one weight per token and feature
    attention_dim: int = 32  # d_a, the rows of W_s1 (paper: 350); multidim: the hidden size of eq. (7)
    hops: int = 4  # r, the rows of W_s2 (paper: 30); multidim: unused
    mlp: int = 64  # hidden units of the classifier on M (paper: 3000)

    def __post_init__(self) -> None:
        require_positive(self, "vocab_size", "fields", "classes", "embed_dim", "hidden", "attention_dim", "hops", "mlp")
        if self.encoder not in ("bigru", "none"):
            raise ValueError(f"encoder: expected 'bigru' or 'none', got {self.encoder!r}")
        if self.attention not in ("structured", "multidim"):
            raise ValueError(f"attention: expected 'structured' or 'multidim', got {self.attention!r}")


class SelfAttentiveOutput(NamedTuple):
    """``logits`` ``(B, C)``; ``weights`` ``(B, r, T)`` (A; multidim: ``(B, 1, T)``, the mean over
    features); ``feature_weights`` ``(B, T, D)`` for multidim, else None."""

    logits: Tensor
    weights: Tensor
    feature_weights: Tensor | None


class SelfAttentive(nn.Module):
    """Embed, encode, pool with attention (r hops, or feature-wise), classify with an MLP."""

    def __init__(self, config: SelfAttentiveConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = nn.ModuleList(
            nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID) for _ in range(config.fields)
        )
        D = config.fields * config.embed_dim
        if config.encoder == "bigru":
            self.encoder = nn.GRU(D, config.hidden, batch_first=True, bidirectional=True)
            D = 2 * config.hidden
        if config.attention == "multidim":
            self.query = nn.Parameter(torch.randn(config.attention_dim) * config.attention_dim**-0.5)
            self.pooling = MultiDimensionalAttention(config.attention_dim, D, D, config.attention_dim)
            pooled = D
        else:
            self.pooling = StructuredSelfAttention(D, config.attention_dim, config.hops, bias=False)  # eq. (6)
            pooled = config.hops * D
        self.classifier = nn.Sequential(nn.Linear(pooled, config.mlp), nn.ReLU(), nn.Linear(config.mlp, config.classes))

    def forward(self, tokens: Tensor) -> SelfAttentiveOutput:
        """Classify ``tokens`` ``(B, T)`` or ``(B, T, F)`` of ids (0 = padding, from the first field).

        Returns:
            :class:`SelfAttentiveOutput`; padded tokens get zero weight.
        """
        if tokens.dim() == 2 and self.config.fields == 1:
            tokens = tokens[..., None]  # (B, T, 1)
        check_shape("tokens", tokens, (None, None, self.config.fields), "(B, T, F)")
        mask = tokens[..., 0] != PAD_ID  # (B, T)
        if not mask.any(dim=1).all():
            raise ValueError("tokens: expected every sequence to hold at least one token, got an empty one")
        H = torch.cat([embed(tokens[..., f]) for f, embed in enumerate(self.embeddings)], dim=-1)  # (B, T, F * E)
        if self.config.encoder == "bigru":
            H, _ = run_packed(self.encoder, H, mask.sum(dim=1))  # (B, T, 2u)
        if self.config.attention == "multidim":
            query = self.query.expand(tokens.size(0), -1)  # (B, d_a): source2token
            M, feature_weights = self.pooling(query, H, mask=mask)  # (B, D), (B, T, D)
            return SelfAttentiveOutput(self.classifier(M), feature_weights.mean(dim=-1)[:, None], feature_weights)
        M, A = self.pooling(H, mask)  # (B, r, D), (B, r, T)
        return SelfAttentiveOutput(self.classifier(M.flatten(1)), A, None)


ROUTING = {"encoder": "none"}  # routing presets pool the embeddings themselves


@register_model(
    "self-attentive",
    config=SelfAttentiveConfig,
    paper="Lin et al. 2017; Shen et al. 2018",
    presets={
        "lin": Preset(task={"penalty": 1.0}, about="Lin et al. 2017 on reviews: bi-GRU, r = 4 hops, penalty 1.0"),
        "routing-multidim": Preset(
            model={**ROUTING, "attention": "multidim"},
            task={"problem": "routing"},
            about="feature routing, multi-dimensional attention (Shen et al. 2018 eqs. 7-9)",
        ),
        "routing-scalar": Preset(
            model={**ROUTING, "hops": 1}, task={"problem": "routing"}, about="feature routing, one scalar hop"
        ),
        "routing-hops": Preset(
            model={**ROUTING, "hops": 4}, task={"problem": "routing"}, about="feature routing, r = 4 hops, no penalty"
        ),
        "routing-hops-penalty": Preset(
            model={**ROUTING, "hops": 4},
            task={"problem": "routing", "penalty": 0.1},
            about="feature routing, r = 4 hops with Lin's penalty, coefficient 0.1 (1.0 stalls training here)",
        ),
    },
)
def build_self_attentive(config: SelfAttentiveConfig) -> SelfAttentive:
    """Structured self-attentive classifier (Lin et al. 2017) or multi-dimensional pooling (Shen et al. 2018)."""
    return SelfAttentive(config)
