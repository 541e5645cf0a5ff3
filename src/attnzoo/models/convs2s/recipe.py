"""How ConvS2S trains and is measured: the shared translation recipe (dates, corpora), sized for ConvS2S.

Teacher-forced cross-entropy, Adam with cosine decay, validation by greedy decoding (exact match,
token accuracy; BLEU and chrF on word-level corpora): :class:`attnzoo.recipes.translation.TranslationRecipe`.
What is ConvS2S's own: the vocabulary sizes and the longest sequence the position embeddings cover
come from the data, and the ``layers`` picture (one alignment per attending decoder layer).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from attnzoo.models.convs2s.model import ConvS2SConfig
from attnzoo.recipes.base import device_of
from attnzoo.recipes.translation import TranslationRecipe, example_pair
from attnzoo.tasks.text import TranslationData


class ConvS2SRecipe(TranslationRecipe):
    """The translation recipe; pictures: ``alignment`` (the top layer) and ``layers`` (every attending layer)."""

    def sized_config(self, config: ConvS2SConfig, task: TranslationData) -> ConvS2SConfig:
        longest = max(len(ids) for ids in (*task.train.source_ids, *task.train.target_ids))
        sizes = {"source_vocab_size": len(task.source_vocab), "target_vocab_size": len(task.target_vocab)}
        return dataclasses.replace(config, **sizes, max_len=2 * longest + 64)

    def pictures(self, config: ConvS2SConfig | None = None) -> dict[str, Any]:
        return {"alignment": self.draw_alignment, "layers": self.draw_layers}

    @torch.no_grad()
    def draw_layers(self, model: nn.Module, task: TranslationData, path, text: str | None = None) -> None:
        """One alignment heat map per attending decoder layer for the greedy translation of ``text``
        (default: the first test pair the font can draw)."""
        from attnzoo.viz.panels import plot_panels

        text = text or example_pair(task)[0]
        translation = self.translate(model, task, [text])[0]
        source = torch.tensor([task.encode_source(text)], device=device_of(model))
        ids = task.target_vocab.encode(translation.output_tokens, add_eos=False)  # the output, its EOS included
        target_in = torch.tensor([[model.config.bos_id, *ids[:-1]]], device=source.device)
        was_training = model.training
        model.eval()
        weights = model(source, torch.tensor([source.size(1)], device=source.device), target_in, need_weights=True)
        model.train(was_training)
        layers = [int(name) + 1 for name in model.attention]
        plot_panels(
            [layer_weights[0] for layer_weights in weights.weights],
            [translation.source_tokens] * len(layers),
            [translation.output_tokens] * len(layers),
            [f"decoder layer {layer}" for layer in layers],
            path,
            axes=("source", "output"),
        )

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        sizes = {"train_size": 64, "valid_size": 16, "test_size": 16}
        return {"embed_dim": 8, "channels": 8, "encoder_layers": 2, "decoder_layers": 2}, sizes


RECIPE = ConvS2SRecipe
