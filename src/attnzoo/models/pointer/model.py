"""Pointer Networks (Vinyals, Fortunato & Jaitly 2015): attention *is* the output.

An LSTM encoder reads the inputs ``x_1 .. x_n`` (numbers, planar points) into ``e_1 .. e_n``.
At output step ``i`` an LSTM decoder, fed the input it pointed at last, has state ``d_i``,
and its additive attention over the inputs is the output distribution itself (eq. 3):

    u_j^i = v^T tanh(W1 e_j + W2 d_i)        j = 1 .. n
    p(C_i | C_1 .. C_{i-1}, P) = softmax(u^i)

so the "vocabulary" is the input positions and grows with ``n``. ``W1 e_j`` is computed once
per input (``AdditiveScore.prepare_keys``). Options from Bello et al. 2016 (§3): inputs are
embedded linearly; ``n_glimpses`` glimpses ``d <- sum_j softmax(u'_j) e_j`` refine the query
before pointing; logits may be clipped to ``C tanh(u)``. A task whose output is a permutation
forbids pointing at an input twice (``mask_chosen``); a task with variable-length output
(the convex hull) gets a learned end input at index ``n`` (``end_token``).

Decoding goes through :mod:`attnzoo.decoding`: :meth:`PointerNet.initial_state` and
:meth:`PointerNet.step` follow its ``step(tokens, state)`` protocol, with tokens being the
input indices chosen so far and :data:`START` before the first step.

Shape legend: ``B`` batch, ``n`` inputs, ``K`` keys (``n``, or ``n + 1`` with the end input),
``T`` output steps, ``F`` features per input, ``E`` embedding, ``H`` LSTM units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attnzoo.attention import AdditiveScore, Attention
from attnzoo.attention.functional import check_shape
from attnzoo.decoding import Decoded, beam_search, greedy_decode, sample_decode
from attnzoo.registry import Preset, register_model

START = -1  # the "previous token" of the first decoding step: the decoder is fed a learned start vector


@dataclass(frozen=True)
class PointerConfig:
    """Hyper-parameters of :class:`PointerNet` (defaults: TSP on planar points)."""

    input_dim: int = 2  # features of one input: 1 for sorting numbers, 2 for planar points
    embed_dim: int = 128  # linear embedding of each input before the encoder (Bello et al. 2016 §3)
    hidden_size: int = 128  # LSTM units of the encoder and the decoder (Vinyals et al.: 256 or 512)
    attention_dim: int = 128  # size of v in u_j = v^T tanh(W1 e_j + W2 d_i) (eq. 3)
    n_glimpses: int = 0  # glimpses before pointing (Bello et al. 2016 §3.1); 0 = the plain pointer of eq. 3
    logit_clip: float | None = None  # C in u <- C tanh(u) (Bello et al. 2016 §5; they use 10); None = no clipping
    mask_chosen: bool = True  # an input pointed at once cannot be chosen again (permutations, hull vertices)
    end_token: bool = False  # add a learned end input at index n, for outputs of varying length (convex hull)
    score_init: float = 0.8  # W1, W2 of eq. 3 start U(-a, a): tanh must bend from the start (see reset_parameters)


class PointerNet(nn.Module):
    """Pointer Network: LSTM encoder, LSTM decoder, additive attention as the output (eq. 3).

    Args:
        config: a :class:`PointerConfig`.
    """

    def __init__(self, config: PointerConfig, device=None, dtype=None) -> None:
        super().__init__()
        self.config = config
        factory = {"device": device, "dtype": dtype}
        E, H = config.embed_dim, config.hidden_size
        self.embed = nn.Linear(config.input_dim, E, **factory)
        self.start = nn.Parameter(torch.empty(E, **factory))  # decoder input of the first step
        self.end = nn.Parameter(torch.empty(E if config.end_token else 0, **factory))  # embedded end input
        self.encoder = nn.LSTM(E, H, batch_first=True, **factory)
        self.decoder = nn.LSTM(E, H, batch_first=True, **factory)
        self.glimpse = Attention(AdditiveScore(H, H, config.attention_dim, **factory))
        self.pointer = AdditiveScore(H, H, config.attention_dim, **factory)  # W2 = W_a, W1 = U_a, v = v_a
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-0.08, 0.08) (Vinyals et al. §4.4, Bello et al. §5), but ``U(-a, a)`` for ``W1``, ``W2``.

        ``W2 d_i`` is added to every key alike, so the gradient that reaches the decoder through
        ``u_j = v^T tanh(W1 e_j + W2 d_i)`` cancels over the softmax except for tanh's curvature.
        With 0.08 the pre-activations are ~0.05, tanh is nearly linear, and training sits at the
        uniform distribution for hundreds of steps; ``a = score_init = 0.8`` puts them near 0.5
        (TSP-10: greedy gap 43% at 400 steps becomes 5%).
        """
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -0.08, 0.08)
        for score in (self.pointer, self.glimpse.score):
            for layer in (score.W_a, score.U_a):
                nn.init.uniform_(layer.weight, -self.config.score_init, self.config.score_init)

    def end_index(self, n: int) -> int | None:
        """The output index that ends a sequence over ``n`` inputs: ``n`` with ``end_token``, else None."""
        return n if self.config.end_token else None

    # ------------------------------------------------------------------------------------ encoder

    def initial_state(self, inputs: Tensor) -> dict[str, Tensor]:
        """Encode ``inputs`` ``(B, n, F)`` into the decoder's first state (all tensors batch first).

        Returns a dict: ``embedded`` ``(B, K, E)`` the decoder inputs of each index, ``keys``
        ``(B, K, H)`` encoder outputs ``e_j``, ``pointer_keys`` ``(B, K, A)`` = ``W1 e_j`` and
        ``glimpse_keys`` likewise, ``h``/``c`` ``(B, H)`` the decoder LSTM state (the encoder's
        final state), ``chosen`` ``(B, K)`` bool, the inputs already pointed at.
        """
        check_shape("inputs", inputs, (None, None, self.config.input_dim), "(B, n, F)")
        embedded = self.embed(inputs)  # (B, n, E)
        if self.config.end_token:
            embedded = torch.cat([embedded, self.end.expand(inputs.size(0), 1, -1)], dim=1)  # (B, K = n + 1, E)
        keys, (h, c) = self.encoder(embedded)  # (B, K, H), (1, B, H) each
        return {
            "embedded": embedded,
            "keys": keys,
            "pointer_keys": self.pointer.prepare_keys(keys),  # (B, K, A): W1 e_j, once per input
            "glimpse_keys": self.glimpse.prepare_keys(keys),
            "h": h[0],
            "c": c[0],
            "chosen": torch.zeros(keys.shape[:2], dtype=torch.bool, device=keys.device),
        }

    # ------------------------------------------------------------------------------------ pointing

    def point(self, query: Tensor, state: dict[str, Tensor], allowed: Tensor | None) -> Tensor:
        """Log-probabilities ``(B, T, K)`` of pointing at each input from decoder states ``(B, T, H)``.

        ``allowed`` ``(B, T, K)`` (None: all) is True where an input may be chosen; forbidden
        inputs get log-probability ``-inf`` (probability exactly 0), a row with none allowed
        gets all ``-inf``, never NaN.
        """
        for _ in range(self.config.n_glimpses):  # Bello et al. 2016 §3.1: glimpse, then point
            query = self.glimpse(
                query, state["keys"], mask=allowed, prepared_keys=state["glimpse_keys"], need_weights=False
            ).context  # (B, T, H)
        logits = self.pointer.score(query, state["pointer_keys"])  # (B, T, K): u = v^T tanh(W1 e_j + W2 d_i)
        if self.config.logit_clip is not None:
            logits = self.config.logit_clip * torch.tanh(logits)
        if allowed is None:
            return torch.log_softmax(logits, dim=-1)
        logits = logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)
        return torch.log_softmax(logits, dim=-1).masked_fill(~allowed, float("-inf"))

    def allowed(self, chosen: Tensor) -> Tensor | None:
        """Where pointing is allowed given the ``chosen`` mask ``(..., K)`` (None: everywhere)."""
        return ~chosen if self.config.mask_chosen else None

    def _mark(self, chosen: Tensor, tokens: Tensor) -> Tensor:
        """``chosen`` ``(..., K)`` with the inputs ``tokens`` ``(...)`` added (START and the end input are not)."""
        is_input = tokens >= 0
        if self.config.end_token:
            is_input &= tokens != chosen.size(-1) - 1
        picked = torch.zeros_like(chosen).scatter(-1, tokens.clamp_min(0)[..., None], True)
        return chosen | (picked & is_input[..., None])

    def _decoder_inputs(self, tokens: Tensor, embedded: Tensor) -> Tensor:
        """Embedded input ``(B, T, E)`` at each token ``(B, T)``; the start vector for :data:`START`."""
        picked = embedded.gather(1, tokens.clamp_min(0)[..., None].expand(-1, -1, embedded.size(-1)))
        return torch.where((tokens == START)[..., None], self.start, picked)

    # ------------------------------------------------------------------------------------ decoding step

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """One output step, the protocol of :mod:`attnzoo.decoding`.

        Args:
            tokens: ``(N,)`` the input index chosen at the previous step (:data:`START` first).
            state: from :meth:`initial_state` or the previous step.

        Returns:
            log_probs ``(N, K)``, the new state, and the alignment ``(N, K)`` = the output
            distribution itself.
        """
        chosen = self._mark(state["chosen"], tokens)  # (N, K)
        inputs = self._decoder_inputs(tokens[:, None], state["embedded"])  # (N, 1, E)
        output, (h, c) = self.decoder(inputs, (state["h"][None], state["c"][None]))  # (N, 1, H)
        allowed = self.allowed(chosen)
        log_probs = self.point(output, state, None if allowed is None else allowed[:, None])[:, 0]  # (N, K)
        return log_probs, {**state, "h": h[0], "c": c[0], "chosen": chosen}, log_probs.exp()

    # ------------------------------------------------------------------------------------ teacher forcing

    def forward(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Log-probabilities of every output step under teacher forcing, all steps at once.

        Args:
            inputs: ``(B, n, F)``.
            targets: ``(B, T)`` the correct input indices (padding: any valid index, e.g. the
                end index; mask it out of the loss).

        Returns:
            log_probs ``(B, T, K)``: step ``i`` conditioned on ``targets[:, :i]``; equal to
            feeding the targets through :meth:`step` one at a time.
        """
        check_shape("targets", targets, (inputs.size(0), None), "(B, T)")
        state = self.initial_state(inputs)
        previous = torch.cat([torch.full_like(targets[:, :1], START), targets[:, :-1]], dim=1)  # (B, T)
        decoder_inputs = self._decoder_inputs(previous, state["embedded"])  # (B, T, E)
        output, _ = self.decoder(decoder_inputs, (state["h"][None], state["c"][None]))  # (B, T, H)
        marked = self._mark(state["chosen"][:, None].expand(-1, targets.size(1), -1), previous)  # (B, T, K)
        chosen = marked.long().cumsum(dim=1) > 0  # step i: everything pointed at before i
        return self.point(output, state, self.allowed(chosen))

    # ------------------------------------------------------------------------------------ search

    def decode(
        self, inputs: Tensor, *, beam_size: int = 1, sample: bool = False, max_len: int | None = None
    ) -> Decoded:
        """Decode ``inputs`` ``(B, n, F)`` with the shared greedy / beam / sampling decoders.

        Permutation tasks take ``n`` steps; with ``end_token`` decoding stops at the end index.
        ``sample=True`` draws every choice and keeps the graph (``Decoded.scores`` are the
        summed log-probabilities, differentiable, for REINFORCE).
        """
        n = inputs.size(1)
        end = self.end_index(n)
        options = {
            "batch_size": inputs.size(0),
            "bos_id": START,
            "max_len": max_len or (n + 1 if end is not None else n),
            "eos_id": end,
            "pad_id": 0 if end is None else end,  # after the end: the end index again
            "device": inputs.device,
        }
        if sample:
            return sample_decode(self.step, self.initial_state(inputs), **options)
        with torch.no_grad():
            state = self.initial_state(inputs)
        if beam_size > 1:
            return beam_search(self.step, state, beam_size=beam_size, **options)
        return greedy_decode(self.step, state, **options)


@register_model(
    "pointer",
    config=PointerConfig,
    paper="Vinyals et al. 2015",
    presets={
        "vinyals": Preset(
            model={"n_glimpses": 0, "logit_clip": None},
            task={"rl": False},
            about="Vinyals et al. 2015: supervised on the exact answers (eq. 3 pointer, no glimpse), 128 units",
        ),
        "bello-rl": Preset(
            model={"n_glimpses": 1, "logit_clip": 10.0},
            task={"problem": "tsp", "rl": True},
            about="Bello et al. 2016: REINFORCE on tour length (eq. 4), 1 glimpse, logits clipped to 10·tanh",
        ),
    },
)
def pointer_network(config: PointerConfig) -> PointerNet:
    """Pointer Network (Vinyals et al. 2015)."""
    return PointerNet(config)
