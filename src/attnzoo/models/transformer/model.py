"""The Transformer of Vaswani et al. 2017 ("Attention Is All You Need"), built on attnzoo's
:class:`~attnzoo.attention.MultiHeadAttention`.

    source tokens -> embedding * sqrt(d_model) + positions -> N x EncoderLayer -> memory
    target tokens -> embedding * sqrt(d_model) + positions -> N x DecoderLayer(memory) -> linear -> logits

Each sub-layer (self-attention, cross-attention, feed-forward) sits in a residual connection
with layer normalisation: ``LayerNorm(x + Sublayer(x))`` (post-LN, §3.1 of the paper) or
``x + Sublayer(LayerNorm(x))`` (pre-LN, Xiong et al. 2020). Like ``torch.nn.Transformer``, the
encoder and the decoder end with one more LayerNorm.

Generation feeds one target token at a time: each decoder layer keeps a :class:`KVCache` of
its self-attention keys/values (appended every step) and one of its cross-attention
keys/values (projected from the memory once per source).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention import KVCache, MultiHeadAttention, lengths_to_mask
from attnzoo.attention.functional import check_shape
from attnzoo.decoding import EncoderDecoderGeneration
from attnzoo.registry import Preset, register_model


@dataclass(frozen=True)
class TransformerConfig:
    source_vocab_size: int = 64  # source tokens, specials included
    target_vocab_size: int = 64  # target tokens, specials included
    d_model: int = 128  # model width (the paper's base model: 512)
    num_heads: int = 4  # attention heads per layer (paper: 8)
    num_encoder_layers: int = 2  # paper: 6
    num_decoder_layers: int = 2  # paper: 6
    d_ff: int = 512  # inner size of the position-wise feed-forward network (paper: 2048)
    dropout: float = 0.1  # on sub-layer outputs, embeddings and attention weights (paper: 0.1)
    norm_first: bool = False  # False: post-LN as in the paper; True: pre-LN
    positions: str = "sinusoidal"  # "sinusoidal" (paper §3.5) or "learned"
    max_len: int = 512  # longest sequence the positional encoding covers
    tie_embeddings: bool = False  # share the target embedding and the output projection (paper §3.4)
    pad_id: int = 0  # padding token id of both vocabularies
    bos_id: int = 1  # first decoder input token
    eos_id: int = 2  # end-of-sequence token

    def __post_init__(self) -> None:
        sizes = ("source_vocab_size", "target_vocab_size", "d_model", "num_heads", "d_ff", "max_len")
        for name in (*sizes, "num_encoder_layers", "num_decoder_layers"):
            if getattr(self, name) < (0 if name.endswith("layers") else 1):
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model: expected a multiple of num_heads ({self.num_heads}), got {self.d_model}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {self.dropout}")
        if self.positions not in ("sinusoidal", "learned"):
            raise ValueError(f"positions: expected 'sinusoidal' or 'learned', got {self.positions!r}")


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """Vaswani et al. 2017 §3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...).

    Returns:
        ``(max_len, d_model)``.
    """
    positions = torch.arange(max_len, dtype=torch.float32)[:, None]  # (L, 1)
    frequencies = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(positions * frequencies)
    table[:, 1::2] = torch.cos(positions * frequencies[: d_model // 2])
    return table


class Embedding(nn.Module):
    """Token embedding scaled by ``sqrt(d_model)`` plus positional encoding, then dropout (§3.4-3.5)."""

    def __init__(self, config: TransformerConfig, vocab_size: int, device=None, dtype=None) -> None:
        super().__init__()
        self.scale = math.sqrt(config.d_model)
        self.tokens = nn.Embedding(vocab_size, config.d_model, padding_idx=config.pad_id, device=device, dtype=dtype)
        if config.positions == "learned":
            self.positions = nn.Parameter(torch.empty(config.max_len, config.d_model, device=device, dtype=dtype))
        else:  # "sinusoidal", checked by the config
            self.register_buffer("positions", sinusoidal_positions(config.max_len, config.d_model), persistent=False)
        self.dropout = nn.Dropout(config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Token vectors ~ N(0, 1/d_model): after the sqrt(d_model) scale they have unit size, like the
        positional encoding. (``nn.Embedding``'s N(0, 1) would make them sqrt(d_model) times larger,
        drown the positions and saturate the first layer's softmax.) The padding row stays zero."""
        nn.init.normal_(self.tokens.weight, std=self.scale**-1)
        with torch.no_grad():
            self.tokens.weight[self.tokens.padding_idx].zero_()
        if isinstance(self.positions, nn.Parameter):
            nn.init.normal_(self.positions, std=0.02)

    def forward(self, tokens: Tensor, offset: int = 0) -> Tensor:
        """``(B, T)`` token ids starting at position ``offset`` -> ``(B, T, d_model)``."""
        length = tokens.size(1)
        if offset + length > self.positions.size(0):
            raise ValueError(
                f"tokens: expected at most max_len = {self.positions.size(0)} positions, got {offset + length}"
            )
        positions = self.positions[offset : offset + length].to(self.tokens.weight.dtype)
        return self.dropout(self.tokens(tokens) * self.scale + positions)


class FeedForward(nn.Module):
    """Position-wise feed-forward network, eq. (2): ``FFN(x) = max(0, x W1 + b1) W2 + b2``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, device=None, dtype=None) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff, device=device, dtype=dtype)
        self.linear2 = nn.Linear(d_ff, d_model, device=device, dtype=dtype)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class Residual(nn.Module):
    """A residual connection with layer norm around one sub-layer (§5.4 dropout on its output).

    post-LN: ``LayerNorm(x + Dropout(Sublayer(x)))``; pre-LN: ``x + Dropout(Sublayer(LayerNorm(x)))``.
    """

    def __init__(self, d_model: int, dropout: float, norm_first: bool, device=None, dtype=None) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, device=device, dtype=dtype)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], Tensor]) -> Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each in a :class:`Residual` (§3.1)."""

    def __init__(self, config: TransformerConfig, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attention = MultiHeadAttention(config.d_model, config.num_heads, dropout=config.dropout, **factory)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout, **factory)
        self.attention_block = Residual(config.d_model, config.dropout, config.norm_first, **factory)
        self.feed_forward_block = Residual(config.d_model, config.dropout, config.norm_first, **factory)

    def forward(self, x: Tensor, mask: Tensor | None, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """``(B, S, D)`` and a mask broadcastable to ``(B, S, S)`` -> ``(B, S, D)``, weights ``(B, H, S, S)``."""
        weights = None

        def attend(h: Tensor) -> Tensor:
            nonlocal weights
            context, weights = self.self_attention(h, mask=mask, need_weights=need_weights)
            return context

        x = self.attention_block(x, attend)
        return self.feed_forward_block(x, self.feed_forward), weights


class LayerCache:
    """The two KV caches of one decoder layer during generation."""

    def __init__(self) -> None:
        self.self_attention = KVCache()  # grows by one step per generated token
        self.cross_attention = KVCache(static=True)  # the memory, projected once

    def reorder(self, batch_indices: Tensor) -> None:
        self.self_attention.reorder(batch_indices)
        self.cross_attention.reorder(batch_indices)


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over the memory, feed-forward (§3.1)."""

    def __init__(self, config: TransformerConfig, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attention = MultiHeadAttention(config.d_model, config.num_heads, dropout=config.dropout, **factory)
        self.cross_attention = MultiHeadAttention(config.d_model, config.num_heads, dropout=config.dropout, **factory)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout, **factory)
        self.self_block = Residual(config.d_model, config.dropout, config.norm_first, **factory)
        self.cross_block = Residual(config.d_model, config.dropout, config.norm_first, **factory)
        self.feed_forward_block = Residual(config.d_model, config.dropout, config.norm_first, **factory)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        target_mask: Tensor | None = None,
        cache: LayerCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """One decoder layer.

        Args:
            x: ``(B, T, D)`` target states (``T = 1`` per step with a cache).
            memory: ``(B, S, D)`` encoder output.
            memory_mask: broadcastable to ``(B, T, S)``, True = may attend (source padding).
            target_mask: broadcastable to ``(B, T, T)`` on top of the causal mask (target padding).
            cache: this layer's caches for incremental decoding.

        Returns:
            ``(B, T, D)``, self-attention weights ``(B, H, T, T_so_far)`` and cross-attention
            weights ``(B, H, T, S)`` (None unless ``need_weights``).
        """
        self_weights = cross_weights = None

        def attend_self(h: Tensor) -> Tensor:
            nonlocal self_weights
            cached = None if cache is None else cache.self_attention
            context, self_weights = self.self_attention(
                h, mask=target_mask, causal=True, need_weights=need_weights, cache=cached
            )
            return context

        def attend_memory(h: Tensor) -> Tensor:
            nonlocal cross_weights
            cached = None if cache is None else cache.cross_attention
            context, cross_weights = self.cross_attention(
                h, memory, mask=memory_mask, need_weights=need_weights, cache=cached
            )
            return context

        x = self.self_block(x, attend_self)
        x = self.cross_block(x, attend_memory)
        return self.feed_forward_block(x, self.feed_forward), self_weights, cross_weights


@dataclass
class TransformerOutput:
    """logits ``(B, T, V)`` and, when asked, per-layer attention weights ``(B, H, Tq, Tk)``."""

    logits: Tensor
    encoder_weights: list[Tensor] | None = None
    decoder_self_weights: list[Tensor] | None = None
    cross_weights: list[Tensor] | None = None


class Transformer(nn.Module, EncoderDecoderGeneration):
    """Encoder-decoder Transformer (Vaswani et al. 2017, Fig. 1)."""

    def __init__(self, config: TransformerConfig, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.config = config
        self.source_embedding = Embedding(config, config.source_vocab_size, **factory)
        self.target_embedding = Embedding(config, config.target_vocab_size, **factory)
        self.encoder_layers = nn.ModuleList(EncoderLayer(config, **factory) for _ in range(config.num_encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(config, **factory) for _ in range(config.num_decoder_layers))
        self.encoder_norm = nn.LayerNorm(config.d_model, **factory)
        self.decoder_norm = nn.LayerNorm(config.d_model, **factory)
        self.generator = nn.Linear(config.d_model, config.target_vocab_size, **factory)
        if config.tie_embeddings:
            self.generator.weight = self.target_embedding.tokens.weight

    def encode_embedded(
        self, x: Tensor, source_mask: Tensor | None, need_weights: bool = False
    ) -> tuple[Tensor, list[Tensor]]:
        """Encoder stack over embedded source ``(B, S, D)``; mask broadcastable to ``(B, S, S)``."""
        weights = []
        for layer in self.encoder_layers:
            x, layer_weights = layer(x, source_mask, need_weights)
            weights.append(layer_weights)
        return self.encoder_norm(x), weights

    def decode_embedded(
        self,
        y: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        target_mask: Tensor | None = None,
        caches: list[LayerCache] | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """Decoder stack over embedded target ``(B, T, D)``; returns ``(B, T, D)`` and weights per layer."""
        self_weights, cross_weights = [], []
        for index, layer in enumerate(self.decoder_layers):
            cache = None if caches is None else caches[index]
            y, layer_self, layer_cross = layer(y, memory, memory_mask, target_mask, cache, need_weights)
            self_weights.append(layer_self)
            cross_weights.append(layer_cross)
        return self.decoder_norm(y), self_weights, cross_weights

    def encode(self, source: Tensor, source_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Source ids ``(B, S)`` and lengths ``(B,)`` -> memory ``(B, S, D)`` and key mask ``(B, 1, S)``."""
        check_shape("source", source, (None, None), "(B, S)")
        check_shape("source_lengths", source_lengths, (source.size(0),), "(B,)")
        source_mask = lengths_to_mask(source_lengths, source.size(1))[:, None, :]  # (B, 1, S)
        memory, _ = self.encode_embedded(self.source_embedding(source), source_mask)
        return memory, source_mask

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor,
        target_in: Tensor,
        need_weights: bool = False,
    ) -> TransformerOutput:
        """Teacher-forced logits.

        Args:
            source: ``(B, S)`` ids. source_lengths: ``(B,)``.
            target_in: ``(B, T)`` BOS + target ids (padding after the end is harmless: causal).
            need_weights: also return every layer's attention weights.

        Returns:
            :class:`TransformerOutput` with logits ``(B, T, target_vocab_size)``.
        """
        check_shape("source", source, (None, None), "(B, S)")
        check_shape("target_in", target_in, (source.size(0), None), "(B, T)")
        check_shape("source_lengths", source_lengths, (source.size(0),), "(B,)")
        source_mask = lengths_to_mask(source_lengths, source.size(1))[:, None, :]  # (B, 1, S)
        memory, encoder_weights = self.encode_embedded(self.source_embedding(source), source_mask, need_weights)
        decoded, self_weights, cross_weights = self.decode_embedded(
            self.target_embedding(target_in), memory, source_mask, need_weights=need_weights
        )
        logits = self.generator(decoded)
        if not need_weights:
            return TransformerOutput(logits)
        return TransformerOutput(logits, encoder_weights, self_weights, cross_weights)

    def start_decoding(self, source: Tensor, source_lengths: Tensor, need_weights: bool = False) -> dict:
        """Initial state for :func:`attnzoo.decoding.greedy_decode` / ``beam_search`` with :meth:`step`."""
        memory, source_mask = self.encode(source, source_lengths)
        return {
            "memory": memory,  # (B, S, D)
            "memory_mask": source_mask,  # (B, 1, S)
            "caches": [LayerCache() for _ in self.decoder_layers],
            "position": 0,
            "need_weights": need_weights,
        }

    def step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """One generation step with KV caches: cost independent of recomputing the prefix.

        Args:
            tokens: ``(N,)`` the previous token of each hypothesis.
            state: from :meth:`start_decoding` (or the previous step).

        Returns:
            log-probabilities ``(N, V)``, the new state, and the last layer's cross-attention
            weights averaged over heads ``(N, S)`` (None unless the state asked for weights).
        """
        embedded = self.target_embedding(tokens[:, None], offset=state["position"])  # (N, 1, D)
        decoded, _, cross_weights = self.decode_embedded(
            embedded, state["memory"], state["memory_mask"], caches=state["caches"], need_weights=state["need_weights"]
        )
        log_probs = torch.log_softmax(self.generator(decoded[:, 0]), dim=-1)  # (N, V)
        alignment = cross_weights[-1][:, :, 0].mean(dim=1) if state["need_weights"] else None  # (N, S)
        return log_probs, {**state, "position": state["position"] + 1}, alignment


@register_model(
    "transformer",
    config=TransformerConfig,
    paper="Vaswani 2017",
    presets={
        "small": Preset(about="the defaults: 2 + 2 layers of width 128, 4 heads (trains on dates on a CPU)"),
        "pre-ln": Preset(model={"norm_first": True}, about="the defaults with layer norm before each sub-layer"),
        "corpus-small": Preset(
            model={"d_model": 128, "num_heads": 4, "num_encoder_layers": 3, "num_decoder_layers": 3, "d_ff": 512},
            task={"level": "subword", "vocab_size": 4000},
            training={"batch_size": 64, "warmup_steps": 500, "steps": 50_000, "minutes": 10, "val_every": 500},
            about="a real corpus in 10 minutes: 3 + 3 layers of width 128, subwords (any language pair)",
        ),
        "paper-base": Preset(
            model={"d_model": 512, "num_heads": 8, "num_encoder_layers": 6, "num_decoder_layers": 6, "d_ff": 2048},
            training={"warmup_steps": 4000},
            about="the paper's base model (§6.1; 65M parameters on WMT, slow on a CPU)",
        ),
    },
)
def build_transformer(config: TransformerConfig) -> Transformer:
    return Transformer(config)
