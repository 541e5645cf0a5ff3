"""Recording the attention weights that a fast path never forms.

With a dot-product score and ``need_weights=False``, :class:`~attnzoo.attention.MultiHeadAttention`
and :class:`~attnzoo.attention.Attention` run ``F.scaled_dot_product_attention``, which never
materialises the ``(B, H, Tq, Tk)`` weights ``softmax(Q K^T / sqrt(d_k))`` (Vaswani et al. 2017,
eq. 1). To look at them without giving up the fast path for the rest of the model::

    with attnzoo.record_attention(model, layers=["decoder_layers.*.cross_attention"], heads=[0]) as seen:
        logits = model(source, lengths, target_in).logits      # the same logits as without recording
    seen["decoder_layers.0.cross_attention"]                   # one (B, 1, Tq, Tk) tensor per call
    seen.weights("decoder_layers.0.cross_attention")           # the calls joined along Tq

A forward hook on each chosen layer recomputes its weights from the layer's own inputs after the
layer has run (without gradients, ``chunk_size`` queries at a time, so memory stays bounded): the
model's outputs are untouched. A layer that returned its weights anyway is recorded as it returned them.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention.functional import query_chunks, standardise_inputs
from attnzoo.attention.multihead import MultiHeadAttention
from attnzoo.attention.soft import Attention


class Recording(dict):
    """``{layer name: [weights of each call]}``; ``(B, H, Tq, Tk)`` per call for a multi-head layer
    (only the chosen heads), ``(B, Tq, Tk)`` (or ``(B, Tk)`` for a single query) for :class:`Attention`."""

    def weights(self, name: str) -> Tensor:
        """The calls of layer ``name`` joined along the query dimension (incremental decoding calls a
        layer once per token); a call that saw fewer keys (causal self-attention with a growing cache)
        is padded with zero weights on the right. ``(B, [H,] total Tq, max Tk)``."""
        if name not in self:
            raise KeyError(f"no attention was recorded for {name!r}; recorded: {', '.join(self) or 'none'}")
        calls = [call if call.dim() > 2 else call.unsqueeze(-2) for call in self[name]]  # (..., Tq, Tk)
        widest = max(call.size(-1) for call in calls)
        return torch.cat([F.pad(call, (0, widest - call.size(-1))) for call in calls], dim=-2)


def attention_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The model's attention layers that :func:`record_attention` can record, by module name: those of
    exactly these two classes (a subclass such as ``CoverageAttention`` scores other inputs, so its
    weights could not be recomputed from the ones these classes take)."""
    return {name: module for name, module in model.named_modules() if type(module) in (MultiHeadAttention, Attention)}


def chosen_layers(model: nn.Module, layers: Iterable[str] | None) -> dict[str, nn.Module]:
    """The layers named by ``layers`` (module names or glob patterns; None: all), each pattern checked."""
    available = attention_layers(model)
    if not available:
        raise ValueError(f"{type(model).__name__} has no MultiHeadAttention or Attention layer to record")
    if layers is None:
        return available
    if isinstance(layers, str):
        layers = [layers]
    chosen: dict[str, nn.Module] = {}
    for pattern in layers:
        matches = fnmatch.filter(available, pattern)
        if not matches:
            raise ValueError(f"layers: {pattern!r} names no attention layer; the model's are: {', '.join(available)}")
        chosen.update((name, available[name]) for name in matches)
    return chosen


def multihead_weights(module: MultiHeadAttention, inputs: dict, chunk_size: int) -> Tensor:
    """Recompute a :class:`MultiHeadAttention` call's weights ``(B, H, Tq, Tk)`` from its bound inputs."""
    query, cache = inputs["query"], inputs.get("cache")
    keys = query if inputs.get("keys") is None else inputs["keys"]
    if cache is not None and cache.is_filled:  # after the call the cache holds every key it attended to
        head_keys = cache.keys
    else:
        head_keys = module.split_heads(module.k_proj(keys))  # (B, H, Tk, hd)
    queries = module.split_heads(module.q_proj(query))  # (B, H, Tq, hd)
    batch, tq, tk = query.size(0), query.size(1), head_keys.size(2)
    mask = module.head_mask(inputs.get("mask"), inputs.get("causal", False), batch, tq, tk, query.device)
    weights_of = module.chunk_weights(queries, head_keys, mask)
    return torch.cat([weights_of(rows) for rows in query_chunks(tq, chunk_size)], dim=2)


def soft_weights(module: Attention, inputs: dict, chunk_size: int) -> Tensor:
    """Recompute an :class:`Attention` call's weights ``(B, Tq, Tk)`` (``(B, Tk)`` for one query)."""
    query, keys, values, mask, single = standardise_inputs(
        module.score, inputs["query"], inputs["keys"], inputs.get("values"), inputs.get("mask")
    )
    prepared = inputs.get("prepared_keys")
    weights_of = module.chunk_weights(query, module.prepare_keys(keys) if prepared is None else prepared, mask)
    weights = torch.cat([weights_of(rows) for rows in query_chunks(query.size(1), chunk_size)], dim=1)
    return weights.squeeze(1) if single else weights


def recorder(module: nn.Module, calls: list[Tensor], heads: list[int] | None, chunk_size: int):
    """The forward hook that appends one call's weights (the chosen heads) to ``calls``."""
    signature = inspect.signature(module.forward)
    multihead = isinstance(module, MultiHeadAttention)

    def hook(layer: nn.Module, args: tuple, kwargs: dict, output) -> None:
        weights = output[1]
        if weights is None:
            inputs = signature.bind(*args, **kwargs).arguments
            with torch.no_grad():
                weights = (multihead_weights if multihead else soft_weights)(layer, inputs, chunk_size)
        weights = weights.detach()
        calls.append(weights[:, heads] if multihead and heads is not None else weights)

    return hook


@contextmanager
def record_attention(
    model: nn.Module,
    layers: Iterable[str] | str | None = None,
    heads: Iterable[int] | None = None,
    chunk_size: int = 64,
) -> Iterator[Recording]:
    """Record the attention weights of ``model``'s chosen layers while the ``with`` block runs.

    Args:
        model: any module containing :class:`MultiHeadAttention` or :class:`Attention` layers.
        layers: module names or glob patterns (``"encoder_layers.*.self_attention"``); None: every one.
            :func:`attention_layers` lists the names.
        heads: the head indices to keep from each multi-head layer (None: all heads).
        chunk_size: the recomputation takes at most this many queries at a time.

    Yields:
        a :class:`Recording`, filled as the model runs; the hooks are removed on leaving the block.

    Raises:
        ValueError: a pattern that names no attention layer, or a head a chosen layer does not have.
    """
    chosen = chosen_layers(model, layers)
    heads = None if heads is None else [int(head) for head in heads]
    for name, module in chosen.items():
        count = getattr(module, "num_heads", None)
        if heads is not None and count is not None and not all(0 <= head < count for head in heads):
            raise ValueError(f"heads: expected indices in 0..{count - 1} for {name}, got {heads}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive integer, got {chunk_size}")
    recording = Recording({name: [] for name in chosen})
    handles = [
        module.register_forward_hook(recorder(module, recording[name], heads, chunk_size), with_kwargs=True)
        for name, module in chosen.items()
    ]
    try:
        yield recording
    finally:
        for handle in handles:
            handle.remove()
