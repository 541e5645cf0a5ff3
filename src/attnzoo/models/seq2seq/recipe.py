"""How the Seq2Seq models train and are measured: the shared translation recipe, sized for Seq2Seq.

Teacher-forced cross-entropy, Adam with cosine decay, validation by greedy decoding (exact match,
token accuracy; BLEU and chrF on word-level corpora): :class:`attnzoo.recipes.translation.TranslationRecipe`.
What is Seq2Seq's own: the vocabulary sizes and the longest source the location score must
address (the longest training source + 64) come from the data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from attnzoo.models.seq2seq.model import Seq2SeqConfig
from attnzoo.recipes.translation import TranslationRecipe
from attnzoo.tasks.text import TranslationData


class Seq2SeqRecipe(TranslationRecipe):
    """The translation recipe; pictures: ``alignment`` (for a model with attention)."""

    def sized_config(self, config: Seq2SeqConfig, task: TranslationData) -> Seq2SeqConfig:
        return dataclasses.replace(
            config,
            source_vocab_size=len(task.source_vocab),
            target_vocab_size=len(task.target_vocab),
            max_source_len=max(len(ids) for ids in task.train.source_ids) + 64,
        )

    def pictures(self, config: Seq2SeqConfig | None = None) -> dict[str, Any]:
        if config is not None and config.attention == "none":
            return {}  # a fixed context has no alignment
        return {"alignment": self.draw_alignment}

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        sizes = {"train_size": 64, "valid_size": 16, "test_size": 16}
        return {"embedding_dim": 8, "hidden_size": 8, "attention_dim": 8}, sizes


RECIPE = Seq2SeqRecipe
