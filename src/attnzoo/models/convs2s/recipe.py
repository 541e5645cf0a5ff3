"""How ConvS2S trains and is measured: the shared translation recipe (dates, reordering, corpora), sized for ConvS2S.

Teacher-forced cross-entropy, Adam with cosine decay, validation by greedy decoding (exact match,
token accuracy; BLEU and chrF on word-level tasks): :class:`attnzoo.recipes.translation.TranslationRecipe`.
What is ConvS2S's own: the vocabulary sizes and the longest sequence the position embeddings cover
come from the data, the ``layers`` picture (one alignment per attending decoder layer), and
:func:`alignment_scores`, each attending layer's agreement with a gold alignment (the reordering
task's, :mod:`attnzoo.tasks.reorder`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from attnzoo.models.convs2s.model import ConvS2SConfig
from attnzoo.recipes.base import device_of, evaluating
from attnzoo.recipes.translation import Translation, TranslationRecipe, example_pair
from attnzoo.tasks.text import TranslationData, collate_pairs


class ConvS2SRecipe(TranslationRecipe):
    """The translation recipe; pictures: ``alignment`` (the top layer) and ``layers`` (every attending layer)."""

    def sized_config(self, config: ConvS2SConfig, task: TranslationData) -> ConvS2SConfig:
        longest = max(len(ids) for ids in (*task.train.source_ids, *task.train.target_ids))
        sizes = {"source_vocab_size": len(task.source_vocab), "target_vocab_size": len(task.target_vocab)}
        return dataclasses.replace(config, **sizes, max_len=2 * longest + 64)

    def pictures(self, config: ConvS2SConfig | None = None) -> dict[str, Any]:
        return {"alignment": self.draw_alignment, "layers": self.draw_layers}

    @torch.no_grad()
    def layer_weights(self, model: nn.Module, task: TranslationData, text: str) -> tuple[Translation, list[Tensor]]:
        """The greedy translation of ``text`` and each attending layer's attention over it, teacher-forced
        on that output: per layer ``(T_out, S)`` (EOS rows and columns included)."""
        translation = self.translate(model, task, [text])[0]
        source = torch.tensor([task.encode_source(text)], device=device_of(model))
        ids = task.target_vocab.encode(translation.output_tokens, add_eos=False)  # the output, its EOS included
        target_in = torch.tensor([[model.config.bos_id, *ids[:-1]]], device=source.device)
        with evaluating(model):
            weights = model(source, torch.tensor([source.size(1)], device=source.device), target_in, need_weights=True)
        return translation, [layer_weights[0].cpu() for layer_weights in weights.weights]

    def draw_layers(self, model: nn.Module, task: TranslationData, path, text: str | None = None) -> None:
        """One alignment heat map per attending decoder layer for the greedy translation of ``text``
        (default: the first test pair the font can draw)."""
        from attnzoo.viz.panels import plot_panels

        translation, weights = self.layer_weights(model, task, text or example_pair(task)[0])
        layers = [int(name) + 1 for name in model.attention]
        plot_panels(
            weights,
            [translation.source_tokens] * len(layers),
            [translation.output_tokens] * len(layers),
            [f"decoder layer {layer}" for layer in layers],
            path,
            axes=("source", "output"),
        )

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        sizes = {"train_size": 64, "valid_size": 16, "test_size": 16}
        return {"embed_dim": 8, "channels": 8, "encoder_layers": 2, "decoder_layers": 2}, sizes


def gold_agreement(weights: Tensor, gold: Tensor) -> Tensor:
    """How well attention matches a gold alignment, per example and layer.

    Args:
        weights: ``(B, L, T, S)`` attention of ``L`` layers (target word ``t`` attends over source ``S``).
        gold: ``(B, T)`` the gold source position of each target word, ``-1`` where there is none (EOS, padding).

    Returns:
        ``(B, L, 3)``: target words whose argmax source position is the gold one, the attention mass
        on the gold position summed over target words, and the number of target words with a gold position.
    """
    if weights.dim() != 4 or gold.shape != (weights.size(0), weights.size(2)):
        raise ValueError(
            f"weights, gold: expected (B, L, T, S) and (B, T), got {tuple(weights.shape)} and {tuple(gold.shape)}"
        )
    real = (gold >= 0)[:, None, :]  # (B, 1, T)
    index = gold.clamp(min=0)[:, None, :, None].expand(-1, weights.size(1), -1, 1)  # (B, L, T, 1)
    hits = ((weights.argmax(-1) == gold[:, None, :]) & real).sum(-1)  # (B, L)
    mass = (weights.gather(-1, index)[..., 0] * real).sum(-1)  # (B, L)
    return torch.stack([hits.to(mass.dtype), mass, real.sum(-1).expand_as(mass).to(mass.dtype)], -1)


@torch.no_grad()
def alignment_scores(model: nn.Module, task: TranslationData, examples: Sequence[Any], batch_size: int = 250) -> Tensor:
    """:func:`gold_agreement` of each attending layer on ``examples`` (with ``source``, ``target`` and
    ``alignment``, as :class:`attnzoo.tasks.reorder.ReorderExample`), teacher-forced on the
    reference: ``(N, L, 3)``."""
    with evaluating(model):
        device, scores = device_of(model), []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            batch = collate_pairs([(task.encode_source(e.source), task.encode_target(e.target)) for e in chunk])
            gold = torch.full(batch["target_in"].shape, -1, dtype=torch.long)
            for row, example in enumerate(chunk):
                gold[row, : len(example.alignment)] = torch.tensor(example.alignment)
            source, lengths = batch["source"].to(device), batch["source_lengths"].to(device)
            output = model(source, lengths, batch["target_in"].to(device), need_weights=True)
            scores.append(gold_agreement(torch.stack(output.weights, 1), gold.to(device)).cpu())
    return torch.cat(scores)


RECIPE = ConvS2SRecipe
