"""Show, Attend and Tell (Xu et al. 2015): an image captioner that looks at one region per word.

A small CNN turns the image into a grid of ``L = H' × W'`` annotation vectors ``a_i`` (the
paper's 14 × 14 × 512 from VGG, scaled down and trained end to end: no pretrained weights exist
offline). An LSTM writes the caption; before each word it attends over the annotations:

    e_ti = f_att(a_i, h_{t-1}) = v^T tanh(W h_{t-1} + U a_i)       §3.1.2, eq. (4)  (AdditiveScore)
    α_ti = softmax_i(e_ti)                                          eq. (5)
    β_t  = σ(f_β(h_{t-1}))                                          §4.2.1, the gating scalar
    ẑ_t  = β_t Σ_i α_ti a_i        (soft, §4.2: the expected context)
    ẑ_t  = β_t a_{s_t}, s_t ~ Multinoulli(α_t)   (hard, §4.1: one sampled location; argmax when not training)
    h_t, c_t = LSTM([E y_{t-1}; ẑ_t], h_{t-1}, c_{t-1})            eqs. (1)-(3)
    p(y_t) ∝ exp(L_o(E y_{t-1} + L_h h_t + L_z ẑ_t))                eq. (7), the deep output layer
    c_0 = f_init,c(mean_i a_i),  h_0 = f_init,h(mean_i a_i)         §3.1.2, the initial state

Three models share this decoder, each overriding :meth:`CaptionModel.look`:
:class:`ShowAttendTell` (soft attention), :class:`HardShowAttendTell` (hard attention, with the
§4.1 trick of using the expected context for a random half of the images in training) and
:class:`ShowAndTell` (no attention: the image vector is the LSTM's first input, Vinyals et al.
2015). Decoding goes through :mod:`attnzoo.decoding` (:meth:`CaptionModel.step`).

Not in the paper: two coordinate channels are appended to the image (``coordinates``), so an
annotation knows where it is and a context can tell "left of" from "right of" (VGG's 14 × 14
features carry position through padding effects of 16 layers; four layers do not).

Shape legend: ``B`` batch, ``S`` image side, ``L`` annotations, ``D`` annotation size, ``T``
caption steps, ``V`` vocabulary, ``E`` embedding, ``H`` LSTM units, ``A`` attention units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention import AdditiveScore, Attention, HardAttention, Score, attend
from attnzoo.attention.functional import check_shape
from attnzoo.decoding import Decoded, beam_search, greedy_decode
from attnzoo.models.coordinates import append_coordinates
from attnzoo.registry import Preset, register_model
from attnzoo.tasks.vocab import BOS_ID, EOS_ID, PAD_ID


@dataclass(frozen=True)
class ShowAttendTellConfig:
    """Sizes of the captioner (defaults: 48 × 48 scenes of :mod:`attnzoo.tasks.scenes`)."""

    attention: str = "soft"  # "soft" (§4.2), "hard" (§4.1) or "none" (Show and Tell: no attention)
    vocab_size: int = 31  # words including <pad> <bos> <eos> <unk> (set from the data by the recipe)
    image_size: int = 48  # side of the square RGB images (set from the data by the recipe)
    channels: tuple[int, ...] = (16, 32, 64, 64)  # conv layers' widths; the last is D
    kernels: tuple[int, ...] = (4, 3, 3, 1)  # conv layers' kernel sides (>= stride, same parity): cells see 20 × 20 px
    strides: tuple[int, ...] = (2, 3, 1, 1)  # conv layers' strides: the grid is S / product (48 → 8 × 8, L = 64)
    coordinates: bool = True  # append (x, y) channels to the image (not in the paper; see the module doc)
    embed_dim: int = 64  # m: word embedding E y
    hidden_size: int = 128  # n: LSTM units
    attention_dim: int = 64  # units of the attention MLP f_att
    expected_fraction: float = 0.5  # hard: share of training images that use the expected context (§4.1)

    def __post_init__(self) -> None:
        if self.attention not in MODELS:
            raise ValueError(f"attention: expected one of {', '.join(MODELS)}; got {self.attention!r}")
        if not self.channels or not len(self.channels) == len(self.kernels) == len(self.strides):
            raise ValueError(
                f"channels, kernels, strides: expected as many (>= 1), "
                f"got {self.channels}, {self.kernels}, {self.strides}"
            )
        if any(k < s or (k - s) % 2 for k, s in zip(self.kernels, self.strides, strict=True)):
            raise ValueError(
                f"kernels: expected each >= its stride and of the same parity, got {self.kernels} for {self.strides}"
            )

    @property
    def grid(self) -> int:
        """Side of the annotation grid, ``S / prod(strides)`` (``L = grid²``)."""
        side = self.image_size
        for stride in self.strides:
            side = side // stride  # a k × k convolution with padding (k - stride) / 2
        return side


class Look(NamedTuple):
    """What the decoder saw at one step (``B`` rows).

    context: ``(B, D)`` ẑ_t (``(B, 0)`` without attention). weights: ``(B, L)`` α_t (None without).
    log_prob: ``(B,)`` log p(s_t) of a sampled location (0 where none was sampled).
    entropy: ``(B,)`` H[α_t] (0 for soft attention).
    """

    context: Tensor
    weights: Tensor | None
    log_prob: Tensor
    entropy: Tensor


class CaptionOutput(NamedTuple):
    """:meth:`CaptionModel.forward` on a teacher-forced caption.

    log_probs: ``(B, T, V)``. weights: ``(B, T, L)`` α (None without attention).
    log_pi: ``(B, T)`` log p(s_t) of the sampled locations. entropy: ``(B, T)`` H[α_t].
    """

    log_probs: Tensor
    weights: Tensor | None
    log_pi: Tensor
    entropy: Tensor


class PreparedKeys(Score):
    """A score whose keys arrive prepared (``inner.prepare_keys(a)``, once per image), for :class:`HardAttention`."""

    def __init__(self, inner: Score) -> None:
        super().__init__(inner.query_dim, None)
        self.inner = inner

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        return self.inner.score(query, prepared_keys)  # (B, Tq, L)


def encoder(config: ShowAttendTellConfig) -> nn.Sequential:
    """The CNN: convolutions, each with batch normalisation (it trains from scratch much faster
    than VGG's plain layers) and ReLU, ``(B, 3 [+2], S, S) -> (B, D, grid, grid)``.

    Each convolution is padded by ``(kernel - stride) / 2``, so that annotation ``(r, c)`` is
    centred on the pixels of grid cell ``(r, c)`` (rows ``r·S/grid`` to ``(r+1)·S/grid``), the cell
    that the attention pictures and the attention-correctness measure put its α on. (A ``k // 2``
    padding centres it on the cell's top-left pixel instead, half a cell up and left.) The default's
    last layer is 1 × 1, so that an annotation sees 20 × 20 pixels around its cell (an object and
    little more) rather than most of a 48 × 48 scene.
    """
    layers: list[nn.Module] = []
    width = 3 + 2 * config.coordinates
    for channels, kernel, stride in zip(config.channels, config.kernels, config.strides, strict=True):
        convolution = nn.Conv2d(width, channels, kernel, stride=stride, padding=(kernel - stride) // 2)
        layers += [convolution, nn.BatchNorm2d(channels), nn.ReLU()]
        width = channels
    return nn.Sequential(*layers)


class CaptionModel(nn.Module):
    """The shared captioner; subclasses choose what the decoder looks at (:meth:`look`).

    Args:
        config: a :class:`ShowAttendTellConfig`.
    """

    context_dim: int  # size of ẑ_t

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__()
        self.config = config
        D, E, H = config.channels[-1], config.embed_dim, config.hidden_size
        self.context_dim = self.context_size(D)
        self.encoder = encoder(config)
        self.embed = nn.Embedding(config.vocab_size, E, padding_idx=PAD_ID)
        self.init_h, self.init_c = nn.Linear(D, H), nn.Linear(D, H)  # f_init,h and f_init,c
        self.lstm = nn.LSTMCell(E + self.context_dim, H)
        self.L_h = nn.Linear(H, E)  # eq. (7)
        self.L_z = nn.Linear(self.context_dim, E, bias=False) if self.context_dim else None  # None: no context
        self.L_o = nn.Linear(E, config.vocab_size)

    def context_size(self, annotation_size: int) -> int:
        return annotation_size

    # ---- encoding ------------------------------------------------------------------------------

    def annotate(self, images: Tensor) -> Tensor:
        """The annotation vectors ``a_i``: images ``(B, 3, S, S)`` in [0, 1] -> ``(B, L, D)``."""
        side = self.config.image_size
        check_shape("images", images, (None, 3, side, side), "(B, 3, S, S)")
        images = images - 0.5
        if self.config.coordinates:
            images = append_coordinates(images)  # (B, 5, S, S)
        return self.encoder(images).flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, L, D)

    def start(self, images: Tensor) -> dict[str, Tensor]:
        """The decoder's first state: annotations ``(B, L, D)`` and ``h``, ``c`` ``(B, H)`` (eq. 5's init)."""
        annotations = self.annotate(images)
        mean = annotations.mean(dim=1)  # (B, D)
        return {"annotations": annotations, "h": torch.tanh(self.init_h(mean)), "c": torch.tanh(self.init_c(mean))}

    # ---- one step ------------------------------------------------------------------------------

    def look(self, state: dict[str, Tensor]) -> Look:
        """ẑ_t and α_t from ``h_{t-1}`` (overridden by each model)."""
        raise NotImplementedError

    def advance(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor], Look]:
        """One word: previous tokens ``(B,)`` -> log-probabilities ``(B, V)``, the next state and the look."""
        look = self.look(state)
        embedded = self.embed(tokens)  # E y_{t-1}: (B, E)
        h, c = self.lstm(torch.cat([embedded, look.context], dim=-1), (state["h"], state["c"]))  # eqs. (1)-(3)
        deep = embedded + self.L_h(h)  # E y_{t-1} + L_h h_t
        if self.L_z is not None:
            deep = deep + self.L_z(look.context)  # + L_z ẑ_t
        logits = self.L_o(deep)  # eq. (7): (B, V)
        return torch.log_softmax(logits, dim=-1), {**state, "h": h, "c": c}, look

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor], Tensor | None]:
        """:mod:`attnzoo.decoding`'s step: ``(log_probs (B, V), state, α_t (B, L) or None)``."""
        log_probs, state, look = self.advance(tokens, state)
        return log_probs, state, look.weights

    # ---- whole captions ------------------------------------------------------------------------

    def forward(self, images: Tensor, inputs: Tensor) -> CaptionOutput:
        """Teacher forcing: images ``(B, 3, S, S)``, inputs ``(B, T)`` (``<bos> w_1 .. w_{T-1}``).

        Returns a :class:`CaptionOutput`: the log-probabilities of ``w_1 .. w_T`` ``(B, T, V)``, α
        ``(B, T, L)``, log p(s_t) and H[α_t] ``(B, T)``.
        """
        check_shape("inputs", inputs, (images.size(0), None), "(B, T)")
        state, steps = self.start(images), []
        for t in range(inputs.size(1)):
            log_probs, state, look = self.advance(inputs[:, t], state)
            steps.append((log_probs, look))
        log_probs = torch.stack([log_probs for log_probs, _ in steps], dim=1)  # (B, T, V)
        weights = None if steps[0][1].weights is None else torch.stack([look.weights for _, look in steps], dim=1)
        log_pi = torch.stack([look.log_prob for _, look in steps], dim=1)  # (B, T)
        entropy = torch.stack([look.entropy for _, look in steps], dim=1)  # (B, T)
        return CaptionOutput(log_probs, weights, log_pi, entropy)

    @torch.no_grad()
    def generate(self, images: Tensor, max_len: int = 24, beam_size: int = 1) -> Decoded:
        """Greedy (``beam_size = 1``) or beam-search captions of images ``(B, 3, S, S)``.

        Returns :class:`~attnzoo.decoding.Decoded`: tokens ``(B, T)`` (EOS, then padding), scores,
        lengths, and α ``(B, T, L)`` of each word (None without attention).
        """
        state = self.start(images)
        common = {"batch_size": images.size(0), "bos_id": BOS_ID, "max_len": max_len, "eos_id": EOS_ID}
        common |= {"pad_id": PAD_ID, "device": images.device}
        if beam_size == 1:
            return greedy_decode(self.step, state, **common)
        return beam_search(self.step, state, beam_size=beam_size, **common)


class ShowAttendTell(CaptionModel):
    """Soft attention (§4.2): ẑ_t = β_t Σ_i α_ti a_i, trained by backpropagation."""

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__(config)
        D, H = config.channels[-1], config.hidden_size
        self.f_att = AdditiveScore(H, D, config.attention_dim)  # e_ti = v^T tanh(W h_{t-1} + U a_i)
        self.attention = Attention(self.f_att)
        self.f_beta = nn.Linear(H, 1)  # β_t = σ(f_β(h_{t-1})), §4.2.1

    def start(self, images: Tensor) -> dict[str, Tensor]:
        state = super().start(images)
        return {**state, "keys": self.f_att.prepare_keys(state["annotations"])}  # U a_i: (B, L, A), once

    def look(self, state: dict[str, Tensor]) -> Look:
        context, weights = self.attention(state["h"], state["annotations"], prepared_keys=state["keys"])
        beta = torch.sigmoid(self.f_beta(state["h"]))  # (B, 1)
        zero = state["h"].new_zeros(state["h"].size(0))
        return Look(beta * context, weights, zero, zero)  # ẑ_t = β_t Σ α_ti a_i: (B, D)


class HardShowAttendTell(ShowAttendTell):
    """Hard attention (§4.1): ẑ_t = β_t a_{s_t} with ``s_t ~ Multinoulli(α_t)`` (argmax in eval mode).

    In training, a random ``expected_fraction`` of the images (drawn once per caption) use the
    expected context Σ_i α_ti a_i instead of a sample, the paper's variance-reduction trick; their
    ``log_prob`` is 0, so REINFORCE skips them.
    """

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__(config)
        self.hard = HardAttention(PreparedKeys(self.f_att))

    def start(self, images: Tensor) -> dict[str, Tensor]:
        state = super().start(images)
        draw = torch.rand(images.size(0), device=images.device) < self.config.expected_fraction
        return {**state, "expected": draw & self.training}  # (B,) bool: this image uses E[ẑ] (§4.1)

    def look(self, state: dict[str, Tensor]) -> Look:
        chosen = self.hard(state["h"], state["keys"], state["annotations"])  # s_t and the α it came from
        expected = state["expected"][:, None]  # (B, 1)
        context = torch.where(expected, attend(chosen.probs[:, None], state["annotations"])[:, 0], chosen.context)
        beta = torch.sigmoid(self.f_beta(state["h"]))  # (B, 1)
        log_prob = chosen.log_prob.masked_fill(state["expected"], 0.0)  # (B,)
        return Look(beta * context, chosen.probs, log_prob, chosen.entropy)


class ShowAndTell(CaptionModel):
    """No attention (Vinyals et al. 2015): the mean annotation, embedded, is the LSTM's first input."""

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__(config)
        self.image_embed = nn.Linear(config.channels[-1], config.embed_dim)

    def context_size(self, annotation_size: int) -> int:
        return 0

    def start(self, images: Tensor) -> dict[str, Tensor]:
        annotations = self.annotate(images)
        image = self.image_embed(annotations.mean(dim=1))  # x_{-1} = W_I CNN(I): (B, E)
        h, c = self.lstm(torch.cat([image, image.new_zeros(image.size(0), 0)], dim=-1))  # from a zero state
        return {"h": h, "c": c}

    def look(self, state: dict[str, Tensor]) -> Look:
        zero = state["h"].new_zeros(state["h"].size(0))
        return Look(state["h"].new_zeros(state["h"].size(0), 0), None, zero, zero)


MODELS: dict[str, type[CaptionModel]] = {"soft": ShowAttendTell, "hard": HardShowAttendTell, "none": ShowAndTell}


def doubly_stochastic_penalty(weights: Tensor, mask: Tensor) -> Tensor:
    """Eq. (14)'s regulariser Σ_i (1 − Σ_t α_ti)², per caption.

    Args:
        weights: ``(B, T, L)`` α. mask: ``(B, T)`` bool, True at the caption's real steps (padding
            steps do not count in Σ_t).

    Returns:
        ``(B,)``: the penalty of each caption (the loss adds λ times its mean).
    """
    check_shape("mask", mask, tuple(weights.shape[:2]), "(B, T)")
    coverage = (weights * mask[..., None]).sum(dim=1)  # Σ_t α_ti: (B, L)
    return (1 - coverage).pow(2).sum(dim=-1)


PRESETS: dict[str, Any] = {
    "soft": Preset(model={"attention": "soft"}, about="soft attention (§4.2); --doubly-stochastic 1: eq. (14)'s term"),
    "hard": Preset(
        model={"attention": "hard"},
        task={"reward": "word", "reward_weight": 0.1, "entropy_weight": 0.002},
        about="hard attention (§4.1), REINFORCE as the authors' code: each location rewarded by its own word",
    ),
    "no-attention": Preset(model={"attention": "none"}, about="Show and Tell: the image only at the first step"),
}


@register_model("show-attend-tell", config=ShowAttendTellConfig, paper="Xu et al. 2015", presets=PRESETS)
def build_show_attend_tell(config: ShowAttendTellConfig) -> CaptionModel:
    return MODELS[config.attention](config)
