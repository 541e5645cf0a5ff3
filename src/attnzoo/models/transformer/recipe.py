"""How the Transformer trains and is measured (Vaswani et al. 2017 §5).

The translation recipe (:class:`attnzoo.recipes.translation.TranslationRecipe`) with the paper's
optimiser: Adam with β2 = 0.98, the rate ``d_model^-0.5 · min(n^-0.5, n · warmup^-1.5)`` (eq. 3;
``lr`` multiplies it) and label smoothing ε_ls = 0.1 (§5.4). Pictures: every layer's and head's
attention (``heads``) and the last layer's cross-attention averaged over heads (``alignment``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from attnzoo.models.transformer.model import TransformerConfig
from attnzoo.recipes.base import Training, device_of, evaluating
from attnzoo.recipes.translation import TranslationRecipe, TranslationTask, example_source
from attnzoo.tasks.text import TranslationData


@dataclasses.dataclass(frozen=True)
class TransformerTask(TranslationTask):
    """The translation task, with the paper's label smoothing."""

    label_smoothing: float = 0.1  # ε_ls of the training loss (paper §5.4: 0.1)


class TransformerRecipe(TranslationRecipe):
    Task = TransformerTask
    training = Training(
        steps=3_000, batch_size=128, lr=1.0, betas=(0.9, 0.98), schedule="warmup", warmup_steps=400, clip=1.0
    )

    def sized_config(self, config: TransformerConfig, task: TranslationData) -> TransformerConfig:
        """Vocabulary sizes from the data; positions for the longest training sequence + 64."""
        pairs = (task.train.source_ids, task.train.target_ids)
        longest = max(len(ids) for sequences in pairs for ids in sequences)
        sizes = {"source_vocab_size": len(task.source_vocab), "target_vocab_size": len(task.target_vocab)}
        return dataclasses.replace(config, **sizes, max_len=longest + 64)

    def optimizer_settings(self, training: Training, config: TransformerConfig) -> Training:
        """Eq. (3): the warm-up schedule's rate is ``lr · d_model^-0.5 · min(...)``."""
        if training.schedule != "warmup":
            return training
        return dataclasses.replace(training, lr=training.lr * config.d_model**-0.5)

    def pictures(self, config: TransformerConfig | None = None) -> dict[str, Any]:
        return {"heads": self.draw_heads, "alignment": self.draw_alignment}

    @torch.no_grad()
    def attention_maps(self, model: nn.Module, task: TranslationData, text: str, beam: int = 1) -> dict[str, Any]:
        """Translate ``text``, then re-run the model on (source, output) to read every layer's weights.

        The decoder is causal, so the teacher-forced pass over the generated tokens gives exactly
        the weights each generation step used.

        Returns:
            ``output``, ``source_tokens`` (S labels), ``output_tokens`` (T labels), and per layer
            ``encoder_self`` ``(H, S, S)``, ``decoder_self`` ``(H, T, T)``, ``cross`` ``(H, T, S)``.
        """
        translation = self.translate(model, task, [text], beam)[0]
        source_ids = task.encode_source(text)
        previous = task.target_vocab.encode(translation.output_tokens[:-1], add_bos=True, add_eos=False)
        device = device_of(model)
        with evaluating(model):
            weights = model(
                torch.tensor([source_ids], device=device),
                torch.tensor([len(source_ids)], device=device),
                torch.tensor([previous], device=device),
                need_weights=True,
            )
        return {
            "output": translation.output,
            "source_tokens": translation.source_tokens,
            "output_tokens": translation.output_tokens,
            "encoder_self": [layer[0].cpu() for layer in weights.encoder_weights],
            "decoder_self": [layer[0].cpu() for layer in weights.decoder_self_weights],
            "cross": [layer[0].cpu() for layer in weights.cross_weights],
        }

    def attention_views(
        self, model: nn.Module, task: TranslationData, inputs: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per input text (default: the first test sources): the layer × head grid of the encoder
        self-, decoder self- and cross-attention, and the last layer's cross-attention averaged over
        heads as an alignment (with the gold alignment on the reversal task)."""
        from attnzoo.explorer.views import alignment_view, heads_view
        from attnzoo.tasks.vocab import BOS

        texts = inputs if inputs is not None else [source for source, _ in task.test.pairs[: self.probes]]
        views = []
        for text in texts:
            maps = self.attention_maps(model, task, text)
            source, output = maps["source_tokens"], maps["output_tokens"]
            title = f"{text} → {maps['output']}"
            groups = {name: maps[name] for name in ("encoder_self", "decoder_self", "cross")}
            previous = [BOS, *output[:-1]]  # what the decoder read at each step
            tokens = {"encoder_self": (source, source), "decoder_self": (output, previous), "cross": (output, source)}
            gold = self.gold_alignment(source, output)
            views.append(alignment_view(maps["cross"][-1].mean(dim=0), source, output, title=title, gold=gold))
            views.append(heads_view(groups, tokens, title=title))
        return views

    def draw_heads(self, model: nn.Module, task: TranslationData, path, text: str | None = None) -> None:
        """Every layer's and head's attention (encoder self, decoder self, cross) for ``text``."""
        from attnzoo.viz.heads import plot_attention_heads

        text = text or example_source(task)
        maps = self.attention_maps(model, task, text)
        tokens = (maps["source_tokens"], maps["output_tokens"])
        title = f"{text} → {maps['output']}"
        plot_attention_heads(maps["encoder_self"], maps["decoder_self"], maps["cross"], *tokens, path, title=title)

    def draw_alignment(self, model: nn.Module, task: TranslationData, path, text: str | None = None) -> None:
        """The last layer's cross-attention, averaged over heads, as an alignment heat map."""
        from attnzoo.viz.alignment import plot_alignment

        text = text or example_source(task)
        maps = self.attention_maps(model, task, text)
        title = f"{text} → {maps['output']}"
        plot_alignment(maps["cross"][-1].mean(dim=0), maps["source_tokens"], maps["output_tokens"], path, title=title)

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model = {"d_model": 16, "num_heads": 2, "num_encoder_layers": 1, "num_decoder_layers": 1, "d_ff": 32}
        return model, {"train_size": 64, "valid_size": 16, "test_size": 16}


RECIPE = TransformerRecipe
