"""Visual question answering: a baseline, stacked spatial attention (Yang et al. 2016) and
hierarchical co-attention (Lu et al. 2016), on the scenes of :mod:`attnzoo.tasks.questions`.

Every model shares the image encoder: a small CNN (with two coordinate channels) gives a
``g × g`` grid of ``N = g²`` regions, each tagged with its (y, x) centre and projected to ``d``
features, ``v_n = tanh(W_I [f_n; y_n; x_n] + b_I)`` (Yang et al. §3.1; the tags so that a region
knows where it is). They differ in how the question meets the image:

- :class:`Baseline` (no attention; the "LSTM Q+I" of the VQA papers): the mean region vector ⊕
  the question LSTM's last state → an MLP.
- :class:`StackedAttention` (SAN, Yang et al. 2016, eqs. 15-19): the question vector ``v_Q`` (the
  LSTM's last state) is the query of an attention over the regions,
  ``p_I = softmax(W_P tanh(W_I,A v_I ⊕ (W_Q,A u + b_A)))`` (an :class:`AdditiveScore`),
  ``ṽ_I = Σ_n p_n v_n``, ``u = ṽ_I + v_Q``; ``K`` hops refine the query, ``u_k = u_{k-1} + ṽ_k``;
  the answer is ``softmax(W_u u_K + b_u)``.
- :class:`HierarchicalCoAttention` (Lu et al. 2016, §3.2-3.4): the question at three levels (words
  ``Q^w``; phrases ``Q^p``, 1-D convolutions of widths 1-3 max-pooled over the widths, eq. 1;
  the question ``Q^s``, an LSTM over the phrases), a co-attention at each level (parallel, eqs.
  3-4, or alternating, eq. 6: :mod:`attnzoo.attention.coattention`), and the answer from the
  recursive combination of the levels (eq. 7):
  ``h^w = tanh(W_w(q̂^w + v̂^w))``, ``h^p = tanh(W_p[(q̂^p + v̂^p), h^w])``,
  ``h^s = tanh(W_s[(q̂^s + v̂^s), h^p])``, ``p = softmax(W_h h^s)``.

The papers' image features come from a CNN trained on ImageNet first, so every region already
says what is in it when the attention starts to learn. Here the CNN learns from scratch, and from
the answer alone the attention and the features wait on each other: on a long plateau, attention
stays near uniform and the features never learn the shapes. The **object loss** (``object_loss``,
on by default, weight 1) stands in for that pre-training: a linear classifier on each region vector
``v_n`` names the colour and the shape of the object in that cell of the scenes' layout (or none),
trained jointly with the answer. It teaches the encoder what the objects are, never where to look:
the attention maps learn from the answer alone, and ``object_loss=0`` is the ablation.

Every model returns a :class:`VQAOutput` with all its attention maps: one image map per hop (SAN)
or level (co-attention), one question map per level (co-attention); ``model.maps`` names them.

Shape legend: ``B`` batch, ``S`` image side, ``N`` regions (``g × g``), ``T`` question words,
``d`` features, ``A`` answers, ``M`` attention maps (hops or levels).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention import AdditiveScore, Attention, GeneralScore, Score, lengths_to_mask
from attnzoo.attention.coattention import AlternatingCoAttention, ParallelCoAttention
from attnzoo.attention.functional import check_shape
from attnzoo.models.coordinates import append_coordinates, coordinate_grid
from attnzoo.models.recurrent import run_packed
from attnzoo.registry import Preset, register_model
from attnzoo.tasks.questions import COLOURS, SHAPES
from attnzoo.tasks.vocab import PAD_ID

OBJECT_CLASSES = (len(COLOURS) + 1, len(SHAPES) + 1)  # the object loss's classes: colours, shapes (+ none)


@dataclass(frozen=True)
class VQAConfig:
    """Sizes of the VQA models (defaults: 64 × 64 scenes of :mod:`attnzoo.tasks.questions`)."""

    attention: str = "stacked"  # "none" (baseline), "stacked" (SAN), "parallel" or "alternating" (co-attention)
    hops: int = 2  # stacked: K, the attention layers of the SAN (the paper: 2)
    score: str = "additive"  # stacked: each hop's score, "additive" (the paper's eq. 15) or "general" (q^T W v)
    vocab_size: int = 61  # question words incl. <pad> <bos> <eos> <unk> (set from the data by the recipe)
    answers: int = 18  # possible answers (set from the data by the recipe)
    image_size: int = 64  # side of the square RGB images (set from the data by the recipe)
    channels: tuple[int, ...] = (16, 32, 64, 64)  # conv layers' widths (3 x 3, stride 2 each: 64 px -> a 4 x 4 grid)
    coordinates: bool = True  # append (y, x) channels to the image and each region's centre to its features
    dim: int = 64  # d: word embeddings, question vectors and projected regions
    attention_dim: int = 64  # k: the units of each attention's tanh layer
    phrase_widths: tuple[int, ...] = (1, 2, 3)  # co-attention: the phrase convolutions' widths (eq. 1)
    average_affinity: bool = False  # parallel: mean, not the paper's sum, of the affinity-weighted features
    object_loss: float = 1.0  # weight of the object loss: each region names its object's colour and shape (0: none)

    def __post_init__(self) -> None:
        if self.attention not in MODELS:
            raise ValueError(f"attention: expected one of {', '.join(MODELS)}; got {self.attention!r}")
        if self.score not in ("additive", "general"):
            raise ValueError(f"score: expected additive or general; got {self.score!r}")
        if self.object_loss < 0:
            raise ValueError(f"object_loss: expected >= 0, got {self.object_loss}")
        if self.hops < 1:
            raise ValueError(f"hops: expected >= 1, got {self.hops}")
        if not self.channels or not self.phrase_widths or min(self.phrase_widths) < 1:
            raise ValueError(
                f"channels, phrase_widths: expected non-empty, widths >= 1; got {self.channels}, {self.phrase_widths}"
            )

    @property
    def grid(self) -> int:
        """Side ``g`` of the region grid (each stride-2 convolution halves it, rounding up)."""
        side = self.image_size
        for _ in self.channels:
            side = (side - 1) // 2 + 1
        return side


class VQAOutput(NamedTuple):
    """What every VQA model returns.

    logits: ``(B, A)`` answer scores. image_weights: ``(B, M, N)``, one image attention map per hop
    or level (None: no attention). question_weights: ``(B, M, T)``, one question attention map per
    level (None: the model does not attend over the question); zero at padding. regions: ``(B, N, d)``,
    the region vectors ``v_n`` (read by the object loss).
    """

    logits: Tensor
    image_weights: Tensor | None
    question_weights: Tensor | None
    regions: Tensor | None = None


class VQAModel(nn.Module):
    """What every model shares: the CNN over the image and the word embeddings; subclasses answer.

    Args:
        config: a :class:`VQAConfig`.
    """

    maps: tuple[str, ...] = ()  # the names of the attention maps, in order

    def __init__(self, config: VQAConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = 3 + 2 * config.coordinates
        for channels in config.channels:
            layers += [nn.Conv2d(width, channels, 3, stride=2, padding=1), nn.BatchNorm2d(channels), nn.ReLU()]
            width = channels
        self.cnn = nn.Sequential(*layers)
        self.W_I = nn.Linear(width + 2 * config.coordinates, config.dim)  # v_n = tanh(W_I f_n + b_I)
        self.embed = nn.Embedding(config.vocab_size, config.dim, padding_idx=PAD_ID)
        # The object loss's classifier: a region's colour (or none) and shape (or none), from v_n.
        self.objects = nn.Linear(config.dim, OBJECT_CLASSES[0] + OBJECT_CLASSES[1]) if config.object_loss else None

    def regions(self, images: Tensor) -> Tensor:
        """Images ``(B, 3, S, S)`` in [0, 1] -> region features ``(B, N, d)``. With ``coordinates``, the
        image gets (y, x) channels and each region's CNN features its own (y, x) centre before ``W_I``
        (the coordinate tags of Santoro et al. 2017's Sort-of-CLEVR models)."""
        size = self.config.image_size
        check_shape("images", images, (None, 3, size, size), "(B, 3, S, S)")
        if self.config.coordinates:
            images = append_coordinates(images)  # (B, 5, S, S)
        features = self.cnn(images).flatten(2).transpose(1, 2)  # (B, N, C)
        if self.config.coordinates:
            centres = coordinate_grid(self.config.grid, images).flatten(1).T  # (N, 2)
            features = torch.cat([features, centres.expand(images.size(0), -1, -1)], dim=-1)  # (B, N, C + 2)
        return torch.tanh(self.W_I(features))  # (B, N, d)

    def object_logits(self, regions: Tensor) -> tuple[Tensor, Tensor]:
        """Region vectors ``(B, N, d)`` -> colour scores ``(B, N, 7)`` and shape scores ``(B, N, 4)``
        (class 0: no object), for the object loss (raises ``ValueError`` when the config has none)."""
        if self.objects is None:
            raise ValueError("object_logits: this model was built with object_loss = 0")
        return self.objects(regions).split(OBJECT_CLASSES, dim=-1)

    def check_question(self, images: Tensor, question: Tensor, lengths: Tensor) -> Tensor:
        """Raise ``ValueError`` on bad shapes; return the question mask ``(B, T)`` (True = a real word)."""
        check_shape("question", question, (images.size(0), None), "(B, T)")
        check_shape("lengths", lengths, (images.size(0),), "(B,)")
        if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > question.size(1)):
            raise ValueError(f"lengths: expected 1 to T = {question.size(1)}, got {lengths.tolist()}")
        return lengths_to_mask(lengths, question.size(1))

    def forward(self, images: Tensor, question: Tensor, lengths: Tensor) -> VQAOutput:
        """Answer ``question`` ``(B, T)`` word ids (``lengths`` ``(B,)``) about ``images`` ``(B, 3, S, S)``."""
        raise NotImplementedError


class QuestionVector(VQAModel):
    """A model whose question is one vector ``v_Q``: an LSTM's last state over the word embeddings."""

    def __init__(self, config: VQAConfig) -> None:
        super().__init__(config)
        self.lstm = nn.LSTM(config.dim, config.dim, batch_first=True)

    def question_vector(self, question: Tensor, lengths: Tensor) -> Tensor:
        """Word ids ``(B, T)`` of ``lengths`` ``(B,)`` -> ``v_Q`` ``(B, d)``."""
        _, (hidden, _) = run_packed(self.lstm, self.embed(question), lengths)
        return hidden[-1]  # (B, d)


class Baseline(QuestionVector):
    """No attention: the mean region vector ⊕ ``v_Q`` → a two-layer MLP → answer scores."""

    def __init__(self, config: VQAConfig) -> None:
        super().__init__(config)
        self.mlp = nn.Sequential(
            nn.Linear(2 * config.dim, config.dim), nn.ReLU(), nn.Linear(config.dim, config.answers)
        )

    def forward(self, images: Tensor, question: Tensor, lengths: Tensor) -> VQAOutput:
        self.check_question(images, question, lengths)
        regions = self.regions(images)  # (B, N, d)
        combined = torch.cat([regions.mean(dim=1), self.question_vector(question, lengths)], dim=-1)  # (B, 2d)
        return VQAOutput(self.mlp(combined), None, None, regions)


class StackedAttention(QuestionVector):
    """Yang et al. 2016 (SAN), eqs. (15)-(19): ``K`` attention hops over the regions from the question.

    Each hop ``k``: ``p^k = softmax(W_P^k tanh(W_I,A^k v_I ⊕ (W_Q,A^k u_{k-1} + b_A^k)))`` (an
    :class:`AdditiveScore` in :class:`Attention`), ``ṽ_k = Σ_n p^k_n v_n``, ``u_k = u_{k-1} + ṽ_k``,
    with ``u_0 = v_Q``; the answer is ``W_u u_K + b_u``. ``score="general"`` replaces the MLP score
    by the bilinear ``u^T W v_n`` (:class:`GeneralScore`; not the paper's).
    """

    def __init__(self, config: VQAConfig) -> None:
        super().__init__(config)
        self.hops = nn.ModuleList(Attention(self.make_score()) for _ in range(config.hops))
        self.W_u = nn.Linear(config.dim, config.answers)
        self.maps = tuple(f"hop {k + 1}" for k in range(config.hops))

    def make_score(self) -> Score:
        """One hop's score of the query ``u`` against the regions: the paper's MLP, or a bilinear form."""
        dim = self.config.dim
        return (
            AdditiveScore(dim, dim, self.config.attention_dim)
            if self.config.score == "additive"
            else GeneralScore(dim, dim)
        )

    def forward(self, images: Tensor, question: Tensor, lengths: Tensor) -> VQAOutput:
        self.check_question(images, question, lengths)
        regions = self.regions(images)  # v_I: (B, N, d)
        query = self.question_vector(question, lengths)  # u_0 = v_Q: (B, d)
        maps = []
        for hop in self.hops:
            attended, weights = hop(query, regions)  # ṽ_k: (B, d), p^k: (B, N)
            query = query + attended  # u_k = u_{k-1} + ṽ_k
            maps.append(weights)
        return VQAOutput(self.W_u(query), torch.stack(maps, dim=1), None, regions)  # (B, A), (B, K, N)


class HierarchicalCoAttention(VQAModel):
    """Lu et al. 2016, §3.2-3.4: co-attention at the word, phrase and question levels, combined by eq. (7).

    Args:
        config: a :class:`VQAConfig`.
        coattention: the co-attention class, :class:`ParallelCoAttention` (eqs. 3-4) or
            :class:`AlternatingCoAttention` (eq. 6); one instance per level.
    """

    maps = ("word", "phrase", "question")

    def __init__(self, config: VQAConfig, coattention: type[nn.Module]) -> None:
        super().__init__(config)
        dim = config.dim
        self.phrases = nn.ModuleList(nn.Conv1d(dim, dim, width) for width in config.phrase_widths)  # W_c^s
        self.lstm = nn.LSTM(dim, dim, batch_first=True)  # Q^s = LSTM(Q^p)
        self.levels = nn.ModuleList(coattention(dim, config.attention_dim) for _ in self.maps)
        self.W_w = nn.Linear(dim, dim)
        self.W_p = nn.Linear(2 * dim, dim)
        self.W_s = nn.Linear(2 * dim, dim)
        self.W_h = nn.Linear(dim, config.answers)

    def phrase_features(self, words: Tensor, mask: Tensor) -> Tensor:
        """Eq. (1): ``q^p_t = max_s tanh(W_c^s q^w_{t:t+s-1})``, ``(B, T, d) -> (B, T, d)``; the words are
        zero-padded on the right so every width keeps ``T`` positions; zero at padding."""
        columns = words.transpose(1, 2)  # (B, d, T)
        grams = [torch.tanh(conv(nn.functional.pad(columns, (0, conv.kernel_size[0] - 1)))) for conv in self.phrases]
        return torch.stack(grams).amax(dim=0).transpose(1, 2) * mask[:, :, None]  # (B, T, d)

    def forward(self, images: Tensor, question: Tensor, lengths: Tensor) -> VQAOutput:
        mask = self.check_question(images, question, lengths)  # (B, T)
        regions = self.regions(images)  # V: (B, N, d)
        words = self.embed(question)  # Q^w: (B, T, d)
        phrases = self.phrase_features(words, mask)  # Q^p: (B, T, d)
        sentence, _ = run_packed(self.lstm, phrases, lengths)  # Q^s: (B, T, d)
        attended = [
            level(q, regions, query_mask=mask) for level, q in zip(self.levels, (words, phrases, sentence), strict=True)
        ]
        (word, phrase, whole) = (out.question_context + out.context for out in attended)  # q̂^r + v̂^r: (B, d) each
        h_w = torch.tanh(self.W_w(word))  # eq. (7)
        h_p = torch.tanh(self.W_p(torch.cat([phrase, h_w], dim=-1)))
        h_s = torch.tanh(self.W_s(torch.cat([whole, h_p], dim=-1)))
        image_maps = torch.stack([out.weights for out in attended], dim=1)  # (B, 3, N)
        question_maps = torch.stack([out.question_weights for out in attended], dim=1)  # (B, 3, T)
        return VQAOutput(self.W_h(h_s), image_maps, question_maps, regions)


MODELS = {
    "none": Baseline,
    "stacked": StackedAttention,
    "parallel": lambda config: HierarchicalCoAttention(
        config, functools.partial(ParallelCoAttention, average=config.average_affinity)
    ),
    "alternating": lambda config: HierarchicalCoAttention(config, AlternatingCoAttention),
}

PRESETS = {
    "baseline": Preset(model={"attention": "none"}, about="no attention: mean region vector ⊕ question LSTM → MLP"),
    "san-1": Preset(model={"attention": "stacked", "hops": 1}, about="stacked attention, one hop (Yang et al. 2016)"),
    "san-2": Preset(model={"attention": "stacked", "hops": 2}, about="stacked attention, two hops (Yang et al. 2016)"),
    "coatt-parallel": Preset(
        model={"attention": "parallel"}, about="hierarchical parallel co-attention (Lu et al. 2016)"
    ),
    "coatt-alternating": Preset(
        model={"attention": "alternating"}, about="hierarchical alternating co-attention (Lu et al. 2016)"
    ),
}


@register_model("vqa", config=VQAConfig, paper="Yang et al. 2016; Lu et al. 2016", presets=PRESETS)
def build_vqa(config: VQAConfig) -> VQAModel:
    return MODELS[config.attention](config)
