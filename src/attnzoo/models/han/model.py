"""Hierarchical Attention Networks (Yang, Yang, Dyer, He, Smola & Hovy 2016) and two baselines.

Words are read sentence by sentence, then sentences are read as a document (§2):

    h_it = [GRU→(W_e w_it); GRU←(W_e w_it)]                     word encoder (eqs. 2-4)
    u_it = tanh(W_w h_it + b_w)                                 word attention (eq. 5)
    α_it = exp(u_it^T u_w) / sum_t exp(u_it^T u_w)              (eq. 6)
    s_i  = sum_t α_it h_it                                      (eq. 7)
    h_i  = [GRU→(s_i); GRU←(s_i)]                               sentence encoder (eqs. 8-9)
    u_i = tanh(W_s h_i + b_s),  α_i = softmax_i(u_i^T u_s),  v = sum_i α_i h_i   (eq. 10)
    p = softmax(W_c v + b_c)                                    (eq. 11)

Eqs. (5)-(7) and (10) are :class:`~attnzoo.attention.StructuredSelfAttention` with one hop (the
learned context vectors ``u_w``, ``u_s`` are its queries). Baselines, chosen by the config:
``pooling="mean"`` averages instead of attending at both levels (the paper's HN-AVE), and
``hierarchical=False`` reads the whole document with one bi-GRU and attends over all its words
(a flat model; its sentence weights are the sums of its word weights).

Shape legend: ``B`` documents, ``S`` sentences, ``W`` words per sentence, ``L`` words of a
flattened document, ``N`` real sentences in the batch, ``E`` embedding, ``H`` GRU units per
direction, ``C`` classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor, nn

from attnzoo.attention import AttentionOutput, StructuredSelfAttention
from attnzoo.attention.functional import check_shape
from attnzoo.models.recurrent import run_packed
from attnzoo.registry import Preset, register_model, require_positive
from attnzoo.tasks.reviews import flatten_documents
from attnzoo.tasks.vocab import PAD_ID


@dataclass(frozen=True)
class HANConfig:
    """Hyper-parameters of :class:`HAN` (paper: embedding 200, GRU 50 per direction, attention 100)."""

    vocab_size: int = 100  # words in the vocabulary, with the special tokens (set from the data by the recipe)
    classes: int = 5  # output classes (set from the data by the recipe)
    embed_dim: int = 32  # word embedding W_e (paper: 200, from word2vec)
    hidden: int = 32  # GRU units per direction of the word and the sentence encoders (paper: 50)
    attention_dim: int = 32  # size of u_it, u_w and u_s (paper: 100)
    hierarchical: bool = True  # words per sentence, then sentences (False: one bi-GRU over the whole document)
    pooling: str = "attention"  # "attention" (eqs. 5-7, 10) or "mean" (the paper's HN-AVE baseline)

    def __post_init__(self) -> None:
        require_positive(self, "vocab_size", "classes", "embed_dim", "hidden", "attention_dim")
        if self.pooling not in ("attention", "mean"):
            raise ValueError(f"pooling: expected 'attention' or 'mean', got {self.pooling!r}")


class HANOutput(NamedTuple):
    """``logits`` ``(B, C)``; ``sentence_weights`` ``(B, S)`` (α_i); ``word_weights`` ``(B, S, W)`` (α_it)."""

    logits: Tensor
    sentence_weights: Tensor
    word_weights: Tensor


class MeanPooling(nn.Module):
    """The average of the real positions, with its uniform weights (the paper's HN-AVE)."""

    def forward(self, states: Tensor, mask: Tensor) -> AttentionOutput:
        """``states`` ``(B, T, D)``, ``mask`` ``(B, T)`` -> ``AttentionOutput((B, 1, D), (B, 1, T))``."""
        weights = mask.to(states.dtype) / mask.sum(dim=1, keepdim=True).clamp_min(1)  # (B, T)
        return AttentionOutput((weights[:, :, None] * states).sum(dim=1, keepdim=True), weights[:, None])


def make_pooling(config: HANConfig) -> nn.Module:
    """Attention with one learned context vector (eqs. 5-7, 10), or the mean."""
    if config.pooling == "mean":
        return MeanPooling()
    return StructuredSelfAttention(2 * config.hidden, config.attention_dim, hops=1)


class HAN(nn.Module):
    """Hierarchical attention network (Yang et al. 2016), or its mean-pooling / flat baselines."""

    def __init__(self, config: HANConfig) -> None:
        super().__init__()
        self.config = config
        E, H = config.embed_dim, config.hidden
        self.embed = nn.Embedding(config.vocab_size, E, padding_idx=PAD_ID)  # W_e
        self.word_encoder = nn.GRU(E, H, batch_first=True, bidirectional=True)  # eqs. (2)-(4)
        self.word_attention = make_pooling(config)  # eqs. (5)-(7): u_w
        if config.hierarchical:
            self.sentence_encoder = nn.GRU(2 * H, H, batch_first=True, bidirectional=True)  # eqs. (8)-(9)
            self.sentence_attention = make_pooling(config)  # eq. (10): u_s
        self.classifier = nn.Linear(2 * H, config.classes)  # eq. (11): W_c, b_c

    def forward(self, words: Tensor) -> HANOutput:
        """Classify documents ``words`` ``(B, S, W)`` of word ids (0 = padding; every document has a word).

        Returns:
            :class:`HANOutput`: logits ``(B, C)``, sentence weights ``(B, S)``, word weights
            ``(B, S, W)`` (zero on padding; each real sentence's words sum to 1, as do a document's
            sentences).
        """
        check_shape("words", words, (None, None, None), "(B, S, W)")
        if not (words != PAD_ID).flatten(1).any(dim=1).all():
            raise ValueError("words: expected every document to hold at least one word, got an empty one")
        if self.config.hierarchical:
            document, sentence_weights, word_weights = self.read_hierarchically(words)
        else:
            document, sentence_weights, word_weights = self.read_flat(words)
        return HANOutput(self.classifier(document), sentence_weights, word_weights)

    def read_hierarchically(self, words: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Eqs. (2)-(10): the document vector ``v`` ``(B, 2H)``, α_i ``(B, S)`` and α_it ``(B, S, W)``."""
        word_mask = words != PAD_ID  # (B, S, W)
        sentence_mask = word_mask.any(dim=-1)  # (B, S)
        real_mask = word_mask[sentence_mask]  # (N, W): only the real sentences are encoded
        h, _ = run_packed(self.word_encoder, self.embed(words[sentence_mask]), real_mask.sum(dim=1))  # (N, W, 2H)
        s, alpha = self.word_attention(h, real_mask)  # (N, 1, 2H), (N, 1, W): s_i, α_it
        sentences = h.new_zeros(*sentence_mask.shape, h.size(-1))  # (B, S, 2H)
        sentences[sentence_mask] = s[:, 0]
        word_weights = alpha.new_zeros(words.shape)  # (B, S, W)
        word_weights[sentence_mask] = alpha[:, 0]
        h_sentences, _ = run_packed(self.sentence_encoder, sentences, sentence_mask.sum(dim=1))  # (B, S, 2H): h_i
        v, beta = self.sentence_attention(h_sentences, sentence_mask)  # (B, 1, 2H), (B, 1, S): v, α_i
        return v[:, 0], beta[:, 0], word_weights

    def read_flat(self, words: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One bi-GRU and word attention over the whole document; sentence weights = summed word weights."""
        tokens, positions = flatten_documents(words)  # (B, L) each
        mask = tokens != PAD_ID
        h, _ = run_packed(self.word_encoder, self.embed(tokens), mask.sum(dim=1))  # (B, L, 2H)
        v, alpha = self.word_attention(h, mask)  # (B, 1, 2H), (B, 1, L)
        grid = alpha.new_zeros(words.size(0), words.size(1) * words.size(2))  # (B, S * W)
        word_weights = grid.scatter(1, positions, alpha[:, 0] * mask).view(words.shape)  # (B, S, W)
        return v[:, 0], word_weights.sum(dim=-1), word_weights


@register_model(
    "han",
    config=HANConfig,
    paper="Yang et al. 2016",
    presets={
        "paper": Preset(
            model={"embed_dim": 200, "hidden": 50, "attention_dim": 100},
            about="the paper's sizes: embedding 200, GRU 50 per direction, attention 100 (HN-ATT)",
        ),
        "mean": Preset(model={"pooling": "mean"}, about="baseline: mean pooling at both levels (the paper's HN-AVE)"),
        "flat": Preset(
            model={"hierarchical": False}, about="baseline: one bi-GRU over the whole document with word attention"
        ),
    },
)
def build_han(config: HANConfig) -> HAN:
    """Hierarchical Attention Network (Yang et al. 2016)."""
    return HAN(config)
