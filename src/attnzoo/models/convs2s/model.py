"""Convolutional sequence to sequence learning (Gehring, Auli, Grangier, Yarats & Dauphin 2017).

Encoder and decoder are stacks of convolutions with gated linear units and residual connections:

    source -> e_j = w_j + p_j -> Linear -> L x [conv -> GLU -> (+ input) * √½] -> Linear -> z_j
    target -> g_i = w_i + p_i -> Linear -> L x [causal conv -> GLU -> h_i^l -> (+ attention) -> (+ input) * √½]
           -> Linear -> Linear -> logits

with learned position embeddings ``p`` (§3.1). Every decoder layer attends ("multi-step attention",
§3.3): ``d_i^l = W_d^l h_i^l + b_d^l + g_i``, ``a_ij^l = softmax_j(d_i^l · z_j^u)`` (eq. 1),
``c_i^l = Σ_j a_ij^l (z_j^u + e_j)`` (eq. 2); ``c_i^l`` is projected back to the layer's width and
added to ``h_i^l``. With ``attention_layers="top"`` only the last decoder layer attends (the
paper's Table 4 question). §3.4: residual sums are scaled by ``√½``, ``c_i^l`` by ``m √(1/m)``
(``m`` = source length) and the weights start with the dropout-aware initialisation of
:meth:`ConvS2S.reset_parameters`.

The decoder's convolutions are causal: the input is padded with ``k - 1`` zeros on the left, so
output ``i`` sees target inputs ``i - k + 1 .. i`` only. Generation (:meth:`ConvS2S.step`) keeps
each layer's last ``k - 1`` inputs, so a generated token costs the same at any position.

Shape legend: ``B`` batch, ``S`` source tokens, ``T`` target tokens, ``f`` embedding size,
``h`` convolution channels, ``k`` kernel width, ``V`` target vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention import Attention, DotScore, lengths_to_mask
from attnzoo.attention.functional import check_shape
from attnzoo.decoding import EncoderDecoderGeneration
from attnzoo.registry import Preset, register_model

SQRT_HALF = math.sqrt(0.5)  # §3.4: the scale of every residual sum


@dataclass(frozen=True)
class ConvS2SConfig:
    """Hyper-parameters of :class:`ConvS2S`."""

    source_vocab_size: int = 64  # source tokens, specials included (set from the data)
    target_vocab_size: int = 64  # target tokens, specials included (set from the data)
    embed_dim: int = 128  # f: word and position embeddings, attention size (paper: 256 to 768)
    channels: int = 128  # h: convolution channels (paper: 512)
    encoder_layers: int = 4  # convolutional blocks of the encoder (paper: 15 to 20)
    decoder_layers: int = 3  # convolutional blocks of the decoder (paper: 15 to 20)
    kernel_size: int = 3  # k: convolution width (paper: 3)
    attention_layers: str = "all"  # "all": attention in every decoder layer (§3.3); "top": the last only
    dropout: float = 0.1  # on embeddings, block inputs and the output (paper: 0.1 to 0.2)
    scale_encoder_gradient: bool = True  # §3.4: divide the encoder's gradient by the number of attending layers
    max_len: int = 256  # longest sequence the learned position embeddings cover
    pad_id: int = 0  # padding token id of both vocabularies
    bos_id: int = 1  # first decoder input token
    eos_id: int = 2  # end-of-sequence token

    def __post_init__(self) -> None:
        if self.attention_layers not in ("all", "top"):
            raise ValueError(f"attention_layers: expected 'all' or 'top', got {self.attention_layers!r}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd width >= 1, got {self.kernel_size}")
        for name in ("embed_dim", "channels", "encoder_layers", "decoder_layers", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """``x`` unchanged in the forward pass; its gradient multiplied by ``factor`` in the backward pass.

    §3.4: "we scale the gradients for the encoder layers by the number of attention mechanisms we
    use"; the source embeddings ``e`` are excluded: they reach eq. 2's ``z_j + e_j`` unscaled.
    """
    return x * factor + x.detach() * (1 - factor)


class ConvS2SOutput(NamedTuple):
    """``logits`` ``(B, T, V)``; ``weights``: per attending decoder layer ``a^l`` ``(B, T, S)`` (or None)."""

    logits: Tensor
    weights: list[Tensor] | None = None


class Embedding(nn.Module):
    """``w + p``: word embeddings plus learned position embeddings (§3.1), then dropout."""

    def __init__(self, vocab_size: int, config: ConvS2SConfig) -> None:
        super().__init__()
        self.words = nn.Embedding(vocab_size, config.embed_dim, padding_idx=config.pad_id)
        self.positions = nn.Embedding(config.max_len, config.embed_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: Tensor, offset: int = 0) -> Tensor:
        """``tokens`` ``(B, T)`` at positions ``offset ..`` -> ``(B, T, f)``."""
        if offset + tokens.size(1) > self.positions.num_embeddings:
            raise ValueError(
                f"tokens: expected at most max_len = {self.positions.num_embeddings} positions,"
                f" got {offset + tokens.size(1)}"
            )
        positions = torch.arange(offset, offset + tokens.size(1), device=tokens.device)
        return self.dropout(self.words(tokens) + self.positions(positions))


class ConvBlock(nn.Module):
    """One convolution with a gated linear unit: ``(B, T, h)`` -> ``(B, T, h)``, ``A ⊗ σ(B)`` (§3.2).

    The caller pads: the convolution itself has no padding, so ``T + k - 1`` inputs give ``T`` outputs.
    """

    def __init__(self, config: ConvS2SConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.conv = nn.Conv1d(config.channels, 2 * config.channels, config.kernel_size)

    def forward(self, padded: Tensor) -> Tensor:
        """``padded`` ``(B, T + k - 1, h)`` -> GLU output ``(B, T, h)``."""
        return F.glu(self.conv(self.dropout(padded).transpose(1, 2)), dim=1).transpose(1, 2)


class MultiStepAttention(nn.Module):
    """One decoder layer's attention (§3.3, eqs. 1–2), returning the conditional input in channels.

    ``d_i = W_d h_i + b_d + g_i``; ``a_ij = softmax_j(d_i · z_j)`` (1); ``c_i = Σ_j a_ij (z_j + e_j)`` (2);
    ``c_i`` is scaled by ``m √(1/m)`` (§3.4) and projected to ``h`` channels.
    """

    def __init__(self, config: ConvS2SConfig) -> None:
        super().__init__()
        self.W_d = nn.Linear(config.channels, config.embed_dim)
        self.attention = Attention(DotScore())
        self.out = nn.Linear(config.embed_dim, config.channels)

    def forward(
        self, h: Tensor, g: Tensor, z: Tensor, values: Tensor, mask: Tensor, lengths: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``h`` ``(B, T, h)`` GLU outputs, ``g`` ``(B, T, f)`` target embeddings, ``z`` ``(B, S, f)``,
        ``values`` ``(B, S, f)`` = ``z + e``, ``mask`` ``(B, 1, S)``, ``lengths`` ``(B,)``
        -> the projected ``c`` ``(B, T, h)`` and ``a`` ``(B, T, S)``."""
        d = self.W_d(h) + g  # (B, T, f): W_d h_i + b_d + g_i
        c, a = self.attention(d, z, values, mask=mask)  # eqs. 1-2
        m = lengths.to(c.dtype)[:, None, None]
        return self.out(c * m * torch.rsqrt(m)), a  # §3.4: m √(1/m)


class ConvS2S(nn.Module, EncoderDecoderGeneration):
    """The convolutional encoder-decoder (Gehring et al. 2017, Figure 1)."""

    def __init__(self, config: ConvS2SConfig) -> None:
        super().__init__()
        self.config = config
        f, h = config.embed_dim, config.channels
        self.source_embedding = Embedding(config.source_vocab_size, config)
        self.target_embedding = Embedding(config.target_vocab_size, config)
        self.encoder_in, self.encoder_out = nn.Linear(f, h), nn.Linear(h, f)
        self.encoder = nn.ModuleList(ConvBlock(config) for _ in range(config.encoder_layers))
        self.decoder_in = nn.Linear(f, h)
        self.decoder = nn.ModuleList(ConvBlock(config) for _ in range(config.decoder_layers))
        attending = range(config.decoder_layers) if config.attention_layers == "all" else [config.decoder_layers - 1]
        self.attention = nn.ModuleDict({str(layer): MultiStepAttention(config) for layer in attending})
        self.decoder_out = nn.Linear(h, f)
        self.dropout = nn.Dropout(config.dropout)
        self.generator = nn.Linear(f, config.target_vocab_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """§3.4: embeddings ``N(0, 0.1)``; a convolution (it feeds a GLU) ``N(0, √(4p/n))``, a linear
        layer ``N(0, √(p/n))``, with ``n`` its fan-in and ``p`` the retain probability of the dropout
        on its input (1 for the layers without: ``encoder_out``, ``decoder_out``, the attention's);
        biases zero."""
        p = 1.0 - self.config.dropout
        after_dropout = {self.encoder_in, self.decoder_in, self.generator}
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 0.1)
                if module.padding_idx is not None:
                    nn.init.zeros_(module.weight[module.padding_idx])
            elif isinstance(module, (nn.Linear, nn.Conv1d)):
                gain = 4.0 * p if isinstance(module, nn.Conv1d) else p if module in after_dropout else 1.0
                nn.init.normal_(module.weight, 0.0, math.sqrt(gain / module.weight[0].numel()))
                nn.init.zeros_(module.bias)

    # ---------------------------------------------------------------------------------- encoder

    def encode(self, source: Tensor, source_lengths: Tensor) -> dict[str, Tensor]:
        """Source ids ``(B, S)``, lengths ``(B,)`` -> ``{"z": (B, S, f), "values": z + e (B, S, f),
        "mask": (B, 1, S), "lengths": (B,)}``."""
        check_shape("source", source, (None, None), "(B, S)")
        check_shape("source_lengths", source_lengths, (source.size(0),), "(B,)")
        real = lengths_to_mask(source_lengths, source.size(1))  # (B, S)
        e = self.source_embedding(source)  # (B, S, f)
        x = self.encoder_in(e) * real[..., None]  # (B, S, h), padding zeroed before every convolution
        side = (self.config.kernel_size - 1) // 2
        for block in self.encoder:
            x = (block(F.pad(x, (0, 0, side, side))) + x) * SQRT_HALF * real[..., None]
        z = self.encoder_out(x)  # (B, S, f)
        if self.config.scale_encoder_gradient:  # every attending layer sends z a gradient: average, not add
            z = scale_gradient(z, 1 / len(self.attention))
        return {"z": z, "values": z + e, "mask": real[:, None, :], "lengths": source_lengths}

    # ---------------------------------------------------------------------------------- decoder

    def decode(
        self, g: Tensor, memory: dict[str, Tensor], windows: list[Tensor] | None
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """Decoder layers over target embeddings ``g`` ``(B, T, f)``.

        ``windows``: per layer its last ``k - 1`` inputs ``(B, k - 1, h)`` (generation), or None: the
        causal zero padding. Returns the logits ``(B, T, V)``, each attending layer's ``a`` ``(B, T, S)``
        and the new windows.
        """
        x = self.decoder_in(g)  # (B, T, h)
        weights, new_windows = [], []
        for layer, block in enumerate(self.decoder):
            before = (
                F.pad(x, (0, 0, self.config.kernel_size - 1, 0))
                if windows is None
                else torch.cat([windows[layer], x], 1)
            )
            new_windows.append(before[:, before.size(1) - (self.config.kernel_size - 1) :])
            h = block(before)  # (B, T, h): causal, output i sees inputs i-k+1 .. i
            if str(layer) in self.attention:
                c, a = self.attention[str(layer)](
                    h, g, memory["z"], memory["values"], memory["mask"], memory["lengths"]
                )
                h = (h + c) * SQRT_HALF
                weights.append(a)
            x = (h + x) * SQRT_HALF
        logits = self.generator(self.dropout(self.decoder_out(x)))  # (B, T, V)
        return logits, weights, new_windows

    def forward(
        self, source: Tensor, source_lengths: Tensor, target_in: Tensor, need_weights: bool = False
    ) -> ConvS2SOutput:
        """Teacher-forced logits.

        Args:
            source: ``(B, S)`` ids. source_lengths: ``(B,)``.
            target_in: ``(B, T)`` BOS + target ids (padding after the end is harmless: causal).
            need_weights: also return each attending layer's weights ``(B, T, S)``.
        """
        check_shape("target_in", target_in, (source.size(0), None), "(B, T)")
        memory = self.encode(source, source_lengths)
        logits, weights, _ = self.decode(self.target_embedding(target_in), memory, None)
        return ConvS2SOutput(logits, weights if need_weights else None)

    def start_decoding(self, source: Tensor, source_lengths: Tensor) -> dict:
        """Initial state for :mod:`attnzoo.decoding`: the encoder's output and empty (zero) windows."""
        memory = self.encode(source, source_lengths)
        zeros = memory["z"].new_zeros(source.size(0), self.config.kernel_size - 1, self.config.channels)
        return {"memory": memory, "windows": [zeros] * self.config.decoder_layers, "position": 0}

    def step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor]:
        """One generated token: log-probabilities ``(N, V)``, the new state, the top layer's ``a`` ``(N, S)``.

        Each layer convolves its ``k - 1`` kept inputs and the new one: the cost does not grow with
        the prefix.
        """
        position = state["position"]
        g = self.target_embedding(tokens[:, None], offset=position)  # (N, 1, f)
        logits, weights, windows = self.decode(g, state["memory"], state["windows"])
        new_state = {**state, "windows": windows, "position": position + 1}
        return torch.log_softmax(logits[:, 0], -1), new_state, weights[-1][:, 0]


@register_model(
    "convs2s",
    config=ConvS2SConfig,
    paper="Gehring et al. 2017",
    presets={
        "small": Preset(about="the defaults: 4 + 3 layers of 128 channels, kernel 3, attention in every decoder layer"),
        "top-attention": Preset(
            model={"attention_layers": "top"}, about="Table 4: attention in the last decoder layer only"
        ),
        "matched": Preset(
            model={"embed_dim": 40, "channels": 48},
            about="embeddings 40, 48 channels: about the parameters of seq2seq --preset bahdanau on dates (~140k)",
        ),
    },
)
def build_convs2s(config: ConvS2SConfig) -> ConvS2S:
    """ConvS2S (Gehring et al. 2017)."""
    return ConvS2S(config)
