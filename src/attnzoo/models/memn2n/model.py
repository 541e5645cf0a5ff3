"""End-to-end memory networks (Sukhbaatar, Szlam, Weston & Fergus 2015, *End-To-End Memory Networks*).

The sentences ``x_1 .. x_n`` of a story are written into memory twice: as input memories
``m_i = sum_j A x_ij`` and as output memories ``c_i = sum_j C x_ij``; the question is embedded as
``u = sum_j B q_j``. One hop reads the memory with soft attention and adds what it read to ``u``:

    p_i     = softmax(u^T m_i)                  (eq. 1)
    o       = sum_i p_i c_i                     (eq. 2)
    u^{k+1} = u^k + o^k                         (§2.2)
    a_hat   = softmax(W (o^K + u^K))            (eq. 3, W u^{K+1})

``K`` hops with *adjacent* weight tying (§2.2): ``A^{k+1} = C^k``, ``B = A^1`` and ``W^T = C^K``,
so the model holds ``K + 1`` embedding matrices ``E_0 .. E_K`` (hop ``k`` reads ``A = E_{k-1}``,
``C = E_k``). Options of §4.1: *position encoding* (PE) weighs word ``j`` of a sentence of ``J``
words by ``l_kj = (1 - j/J) - (k/d)(1 - 2j/J)`` instead of summing a bag of words; *temporal
encoding* (TE) adds ``T_A(i)``, ``T_C(i)`` to the ``i``-th most recent memory (tied like A and C).
*Linear start* (§4.2) is ``forward(..., linear=True)``: the memory softmax is left out (the recipe
does it for the first training steps).

Memories come most recent first (slot 0 is ``x_1``, the story's last sentence, as in the paper).
Shape legend: ``B`` batch, ``N`` memory slots, ``L`` words per sentence, ``Lq`` question words,
``d`` embedding size, ``K`` hops, ``V`` vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnzoo.attention import DotScore, attend, masked_softmax
from attnzoo.attention.functional import check_shape
from attnzoo.registry import Preset, register_model


@dataclass(frozen=True)
class MemN2NConfig:
    """Hyper-parameters of :class:`MemN2N` (defaults: the paper's bAbI model, PE + TE, 3 hops)."""

    vocab_size: int = 48  # words, with the 4 special tokens (set from the data by the recipe)
    memory_size: int = 50  # memory slots: the most recent sentences read (paper: 50); rows of T_A, T_C
    embed_dim: int = 20  # d, the size of every embedding (paper: 20 on bAbI)
    hops: int = 3  # K, memory hops (paper: 1, 2 or 3)
    position_encoding: bool = True  # PE (§4.1): word j of J weighted by l_kj; False: a bag of words
    temporal_encoding: bool = True  # TE (§4.1): add T_A(i), T_C(i) to the i-th most recent memory
    init_std: float = 0.1  # embeddings and T start N(0, init_std²) (paper: 0.1)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "memory_size", "embed_dim", "hops"):
            if getattr(self, name) < 1:
                raise ValueError(f"memn2n {name}: expected >= 1, got {getattr(self, name)}")


class MemoryOutput(NamedTuple):
    """``logits`` ``(B, V)`` of the answer word (eq. 3 before its softmax); ``weights`` ``(B, K, N)``
    the attention ``p`` of every hop over the memory slots (eq. 1)."""

    logits: Tensor
    weights: Tensor


def position_encoding(lengths: Tensor, width: int, dim: int) -> Tensor:
    """§4.1: ``l_kj = (1 - j/J) - (k/d)(1 - 2j/J)`` for word ``j = 1..J`` and embedding dim ``k = 1..d``.

    Args:
        lengths: ``(...)`` the number of words ``J`` of each sentence.
        width: ``L``, the padded sentence length. dim: ``d``.

    Returns:
        ``(..., L, d)`` weights, zero at the padding positions ``j > J``.
    """
    j = torch.arange(1, width + 1, device=lengths.device, dtype=torch.float32)[:, None]  # (L, 1)
    k = torch.arange(1, dim + 1, device=lengths.device, dtype=torch.float32)  # (d,)
    words = lengths.clamp_min(1)[..., None, None].float()  # (..., 1, 1): J
    weights = (1 - j / words) - (k / dim) * (1 - 2 * j / words)  # (..., L, d)
    return weights * (j <= lengths[..., None, None])


class MemN2N(nn.Module):
    """End-to-end memory network with adjacent weight tying (Sukhbaatar et al. 2015, §2).

    Args:
        config: a :class:`MemN2NConfig`.
    """

    def __init__(self, config: MemN2NConfig) -> None:
        super().__init__()
        self.config = config
        V, d, K = config.vocab_size, config.embed_dim, config.hops
        # E_0 = B = A^1, E_k = C^k = A^{k+1}, E_K = W^T (adjacent tying); word 0 is padding: zero
        self.embeddings = nn.ModuleList(nn.Embedding(V, d, padding_idx=0) for _ in range(K + 1))
        rows = config.memory_size if config.temporal_encoding else 0
        self.temporal = nn.Parameter(torch.empty(K + 1, rows, d))  # T_0 = T_A^1, T_k = T_C^k = T_A^{k+1}
        self.score = DotScore()  # u^T m_i
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every embedding and temporal matrix ~ N(0, init_std²) (paper: 0.1); padding stays zero."""
        for embedding in self.embeddings:
            nn.init.normal_(embedding.weight, std=self.config.init_std)
            embedding.weight.data[0].zero_()
        nn.init.normal_(self.temporal, std=self.config.init_std)

    def embed(self, words: Tensor, matrix: int) -> Tensor:
        """Sentence embeddings ``(..., d)`` of ``words`` ``(..., L)`` with embedding ``E_matrix``:
        ``sum_j l_j * E x_j`` with PE (§4.1), else the bag of words ``sum_j E x_j``."""
        embedded = self.embeddings[matrix](words)  # (..., L, d)
        if self.config.position_encoding:
            lengths = (words != 0).sum(-1)  # (...): J
            embedded = embedded * position_encoding(lengths, words.size(-1), self.config.embed_dim)
        return embedded.sum(-2)

    def memory(self, memories: Tensor, matrix: int) -> Tensor:
        """Memory vectors ``(B, N, d)``: sentences embedded with ``E_matrix`` plus ``T_matrix(i)`` (TE)."""
        vectors = self.embed(memories, matrix)  # (B, N, d)
        if self.config.temporal_encoding:
            vectors = vectors + self.temporal[matrix, : memories.size(1)]
        return vectors

    def forward(self, memories: Tensor, question: Tensor, *, linear: bool = False) -> MemoryOutput:
        """Answer ``question`` from ``memories``.

        Args:
            memories: ``(B, N, L)`` word ids, slot 0 the most recent sentence; all-padding slots are
                empty and get zero weight. ``N <= memory_size`` with TE.
            question: ``(B, Lq)`` word ids (0: padding).
            linear: leave out the softmax of eq. 1 (linear start, §4.2): ``p_i = u^T m_i``.

        Returns:
            :class:`MemoryOutput`: answer logits ``(B, V)`` and the hops' weights ``(B, K, N)``.
        """
        check_shape("memories", memories, (None, None, None), "(B, N, L)")
        check_shape("question", question, (memories.size(0), None), "(B, Lq)")
        if self.config.temporal_encoding and memories.size(1) > self.config.memory_size:
            raise ValueError(
                f"memories: expected at most memory_size = {self.config.memory_size} slots, got {memories.size(1)}"
            )
        filled = (memories != 0).any(-1)  # (B, N): True = a sentence (may attend)
        u = self.embed(question, 0)  # (B, d): u = B q
        hops = []
        for k in range(1, self.config.hops + 1):
            m, c = self.memory(memories, k - 1), self.memory(memories, k)  # (B, N, d): A^k, C^k memories
            scores = self.score(u[:, None], m)[:, 0]  # (B, N): u^T m_i
            p = scores.masked_fill(~filled, 0.0) if linear else masked_softmax(scores, filled)  # eq. 1
            o = attend(p[:, None], c)[:, 0]  # (B, d): o = sum_i p_i c_i (eq. 2)
            u = u + o  # u^{k+1} = u^k + o^k
            hops.append(p)
        logits = u @ self.embeddings[-1].weight.T  # (B, V): W (o^K + u^K) with W^T = C^K (eq. 3)
        return MemoryOutput(logits, torch.stack(hops, dim=1))


@register_model(
    "memn2n",
    config=MemN2NConfig,
    paper="Sukhbaatar et al. 2015",
    presets={
        "pe-te-3hops": Preset(model={"hops": 3}, about="the paper's best bAbI model: PE, TE, 3 hops, adjacent tying"),
        "pe-te-ls-3hops": Preset(
            model={"hops": 3}, task={"linear_start_steps": 600}, about="PE, TE, 3 hops and linear start (§4.2)"
        ),
        "bow-1hop": Preset(
            model={"hops": 1, "position_encoding": False, "temporal_encoding": False},
            about="the simplest MemN2N: a bag of words read once",
        ),
    },
)
def build_memn2n(config: MemN2NConfig) -> MemN2N:
    return MemN2N(config)
