"""The recipe every encoder-decoder on text shares: data, teacher-forced loss, decoding and scores.

A model trained by it takes ``model(source, source_lengths, target_in).logits`` ``(B, T, V)`` for
teacher forcing and ``model.generate(source, source_lengths, max_len, beam_size=K)`` for decoding
(:mod:`attnzoo.decoding`), and has ``model.config.pad_id``. A paper's recipe subclasses
:class:`TranslationRecipe` and adds its config sizes (:meth:`TranslationRecipe.sized_config`) and
its pictures.

The tasks and their tokenisation: :mod:`attnzoo.recipes.translation_data`. Scores are honest:
BLEU and chrF (sacrebleu's standard settings, signature in :data:`SIGNATURE`) and exact match
compare the detokenised outputs with the raw reference strings, never with references rebuilt
from the target vocabulary (where an unknown word would become ``<unk>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from attnzoo.recipes.base import Recipe, Training, device_of, evaluating, shuffled_batches
from attnzoo.recipes.translation_data import (
    TranslationTask,
    build_translation_data,
    restore_translation_data,
    task_documents,
)
from attnzoo.tasks.text import PairDataset, TranslationData, collate_pairs


class Translation(NamedTuple):
    """One decoded input: the output text, the token labels and the alignment ``(T_out, T_in)`` or None."""

    output: str
    source_tokens: list[str]
    output_tokens: list[str]
    alignment: Tensor | None


def generation_limit(source_lengths: Tensor, target_out: Tensor | None = None) -> int:
    """Most tokens to generate for a batch: twice the longest source, plus 10.

    With references ``target_out`` ``(B, T)`` (evaluation), at most ``T + 10``: a longer output
    is wrong anyway, and an untrained model would otherwise run to the limit on every batch.
    """
    limit = 2 * int(source_lengths.max()) + 10
    return limit if target_out is None else min(limit, target_out.size(1) + 10)


def sequence_counts(predicted: Tensor, target_out: Tensor, pad_id: int) -> tuple[int, int]:
    """``(exact matches, B)`` of generated ``(B, T')`` against references ``(B, T)`` (EOS included).

    A sequence matches when every token up to and including EOS agrees and nothing else was generated.
    """
    width = max(predicted.size(1), target_out.size(1))
    predicted = F.pad(predicted, (0, width - predicted.size(1)), value=pad_id)
    target = F.pad(target_out, (0, width - target_out.size(1)), value=pad_id)
    return int((predicted == target).all(dim=1).sum()), predicted.size(0)


def token_counts(logits: Tensor, target_out: Tensor, pad_id: int) -> tuple[int, int]:
    """Teacher-forced token accuracy counts: ``(correct, total)`` over non-padding positions."""
    real = target_out != pad_id
    return int(((logits.argmax(dim=-1) == target_out) & real).sum()), int(real.sum())


def bleu_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu's standard settings: :func:`signature`) against one reference each."""
    from sacrebleu.metrics import BLEU, CHRF

    return {
        "bleu": BLEU().corpus_score(list(hypotheses), [list(references)]).score,
        "chrf": CHRF().corpus_score(list(hypotheses), [list(references)]).score,
    }


def signature() -> str:
    """sacrebleu's signatures of the BLEU and chrF that :func:`bleu_chrf` computes."""
    from sacrebleu.metrics import BLEU, CHRF

    signatures = []
    for metric in (BLEU(), CHRF()):
        metric.corpus_score(["x"], [["x"]])  # sacrebleu knows the number of references once it has scored
        signatures.append(f"{type(metric).__name__} {metric.get_signature()}")
    return "; ".join(signatures)


def pair_loader(dataset: PairDataset, batch_size: int) -> DataLoader:
    """A DataLoader of :func:`attnzoo.tasks.text.collate_pairs` batches, in order."""
    return DataLoader(dataset, batch_size=batch_size, collate_fn=collate_pairs)


@torch.no_grad()
def decode_dataset(
    model: nn.Module, task: TranslationData, split: str, *, beam_size: int = 1, batch_size: int = 500
) -> tuple[dict[str, float], list[str]]:
    """Decode split ``split`` of ``task`` and score it against its raw reference strings.

    Returns:
        ``{"exact", "token_acc"}`` (plus ``"bleu"``, ``"chrf"`` on word and subword tasks), and the
        generated text of each example in order.
    """
    return decode_pairs(model, task, getattr(task, split), beam_size=beam_size, batch_size=batch_size)


@torch.no_grad()
def decode_pairs(
    model: nn.Module, task: TranslationData, dataset: PairDataset, *, beam_size: int = 1, batch_size: int = 500
) -> tuple[dict[str, float], list[str]]:
    """:func:`decode_dataset` for any encoded :class:`PairDataset` of ``task``'s vocabularies."""
    with evaluating(model):
        pad, device = model.config.pad_id, device_of(model)
        counts = torch.zeros(2, dtype=torch.long)  # correct tokens, tokens (teacher forced)
        hypotheses = []
        for batch in pair_loader(dataset, batch_size):
            source, lengths = batch["source"].to(device), batch["source_lengths"].to(device)
            target = batch["target_out"].to(device)
            logits = model(source, lengths, batch["target_in"].to(device)).logits
            decoded = model.generate(source, lengths, generation_limit(lengths, target), beam_size=beam_size)
            counts += torch.tensor(token_counts(logits, target, pad))
            hypotheses.extend(task.decode_target(row) for row in decoded.tokens.cpu())
    references = [reference for _, reference in dataset.pairs] or [
        task.decode_target(ids) for ids in dataset.target_ids
    ]
    metrics = {"exact": exact_match(hypotheses, references), "token_acc": counts[0].item() / max(counts[1].item(), 1)}
    if task.level != "char":
        metrics.update(bleu_chrf(hypotheses, references))
    return metrics, hypotheses


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """The fraction of outputs equal to their reference string (whitespace runs counted as one space)."""
    same = sum(" ".join(h.split()) == " ".join(r.split()) for h, r in zip(hypotheses, references, strict=True))
    return same / max(len(references), 1)


class TranslationRecipe(Recipe):
    """Teacher-forced cross-entropy (label-smoothed with ``label_smoothing`` > 0); evaluation by
    greedy decoding: exact match, token accuracy, and BLEU / chrF on word-level tasks."""

    Task = TranslationTask
    training = Training(steps=2_000, batch_size=128, lr=3e-3)

    @property
    def selection(self) -> tuple[str, str]:
        """Exact match on characters (dates), BLEU on words and subwords (real text is rarely exact)."""
        return ("exact", "max") if self.settings.level == "char" else ("bleu", "max")

    @property
    def keep_best(self) -> bool:
        """A corpus run ends with the weights of its best validation BLEU (later ones may overfit)."""
        return self.settings.kind == "corpus"

    def build_task(self, seed: int) -> TranslationData:
        return build_translation_data(self.settings, seed)

    def task_documents(self, task: TranslationData) -> dict[str, Any]:
        return task_documents(task, self.settings)

    def restore_task(self, seed: int, documents: dict[str, Any]) -> TranslationData:
        """A corpus run's data from its own documents (the original files are not read again)."""
        if self.settings.kind == "corpus" and "pairs" in documents:
            return restore_translation_data(self.settings, documents)
        return super().restore_task(seed, documents)

    def metric_note(self) -> str:
        """What the CLI prints under the metrics: the scores' definitions."""
        note = "exact match and BLEU/chrF against the raw reference strings"
        return note if self.settings.level == "char" else f"{note}; {signature()}"

    def train_batches(self, task: TranslationData, batch_size: int, seed: int) -> DataLoader:
        return shuffled_batches(task.train, batch_size, seed, collate_fn=collate_pairs)

    def loss(self, model: nn.Module, batch: dict[str, Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        logits = model(batch["source"], batch["source_lengths"], batch["target_in"]).logits  # (B, T, V)
        loss = F.cross_entropy(
            logits.flatten(0, 1),
            batch["target_out"].flatten(),
            ignore_index=model.config.pad_id,
            label_smoothing=self.settings.label_smoothing,
        )
        return loss, {}

    def evaluate(self, model: nn.Module, task: TranslationData, split: str) -> dict[str, float]:
        return decode_dataset(model, task, split)[0]

    def translate(self, model: nn.Module, task: TranslationData, texts: list[str], beam: int = 1) -> list[Translation]:
        """Decode ``texts`` (greedy, or beam search of width ``beam``)."""
        return self.decode_texts(model, task, texts, [task.encode_source(text) for text in texts], beam)

    @torch.no_grad()
    def decode_texts(
        self, model: nn.Module, task: TranslationData, texts: list[str], source_ids: list[list[int]], beam: int = 1
    ) -> list[Translation]:
        """:meth:`translate` of ``texts`` already encoded as ``source_ids`` (``task.encode_source``)."""
        from attnzoo.tasks.vocab import EOS

        limit = 2 * max(len(ids) for ids in task.train.source_ids)
        for ids in source_ids:
            if len(ids) > limit:
                raise ValueError(
                    f"the input has {len(ids) - 1} tokens, more than twice the longest training "
                    f"source ({limit // 2 - 1}): the model was never trained on anything near that length"
                )
        batch = collate_pairs([(ids, []) for ids in source_ids])
        source, lengths = batch["source"].to(device_of(model)), batch["source_lengths"].to(device_of(model))
        with evaluating(model):
            decoded = model.generate(source, lengths, generation_limit(lengths), beam_size=beam)
        results = []
        for row, text in enumerate(texts):
            length = int(decoded.lengths[row])
            output_tokens = task.target_vocab.decode(decoded.tokens[row, :length].cpu(), strip_special=False)
            source_tokens = [*task.source_tokens(text), EOS]
            alignment = None
            if decoded.alignments is not None:
                alignment = decoded.alignments[row, :length, : len(source_tokens)].cpu()
            output = task.decode_target(decoded.tokens[row].cpu())
            results.append(Translation(output, source_tokens, output_tokens, alignment))
        return results

    def translate_many(
        self, model: nn.Module, task: TranslationData, texts: list[str], beam: int = 1, batch_size: int = 64
    ) -> list[str]:
        """The outputs of ``texts`` in their order, decoded in batches of similar length (one model load)."""
        source_ids = [task.encode_source(text) for text in texts]
        order = sorted(range(len(texts)), key=lambda index: len(source_ids[index]))
        outputs = [""] * len(texts)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            decoded = self.decode_texts(model, task, [texts[i] for i in rows], [source_ids[i] for i in rows], beam)
            for row, translation in zip(rows, decoded, strict=True):
                outputs[row] = translation.output
        return outputs

    def evaluate_pairs(
        self, model: nn.Module, task: TranslationData, pairs: Sequence[tuple[str, str]], beam: int = 1
    ) -> dict[str, float]:
        """The scores of ``model`` on any ``(source, reference)`` pairs (e.g. a TSV file of yours)."""
        from attnzoo.tasks.text import make_pair_dataset

        vocabularies = (task.source_vocab, task.target_vocab, task.source_tokenizer, task.target_tokenizer)
        return decode_pairs(model, task, make_pair_dataset(pairs, *vocabularies), beam_size=beam)[0]

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {"alignment": self.draw_alignment}

    def draw_alignment(self, model: nn.Module, task: TranslationData, path, text: str | None = None) -> None:
        """The alignment heat map of ``text`` (default: the first test pair the font can draw, with
        its reference under the title)."""
        from attnzoo.viz.alignment import plot_alignment

        text, reference = (text, None) if text else example_pair(task)
        translation = self.translate(model, task, [text])[0]
        if translation.alignment is None:
            raise ValueError("this model has no attention (attention='none'): there is no alignment to draw")
        tokens = (translation.source_tokens, translation.output_tokens)
        plot_alignment(
            translation.alignment, *tokens, path, title=f"{text} → {translation.output}", reference=reference
        )

    explore_input = "text"
    probes = 3  # test sources the formation record follows (the first ones)

    def attention_views(
        self, model: nn.Module, task: TranslationData, inputs: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """One alignment view per input text (default: the first :attr:`probes` test sources), with
        the gold alignment on the reversal task (output word ``i`` is input word ``n - 1 - i``)."""
        from attnzoo.explorer.views import alignment_view

        texts = inputs if inputs is not None else [source for source, _ in task.test.pairs[: self.probes]]
        views = []
        for text, translation in zip(texts, self.translate(model, task, texts), strict=True):
            if translation.alignment is None:
                return []  # attention="none": a fixed context has no alignment
            gold = self.gold_alignment(translation.source_tokens, translation.output_tokens)
            title = f"{text} → {translation.output}"
            tokens = (translation.source_tokens, translation.output_tokens)
            views.append(alignment_view(translation.alignment, *tokens, title=title, gold=gold))
        return views

    def gold_alignment(self, source: list[str], output: list[str]) -> list[int] | None:
        """Reversal (``kind="transduction"``): output word ``i`` translates source word ``n - 1 - i``;
        -1 (no gold) for EOS and past it, where the task says nothing. None on the other tasks."""
        if self.settings.kind != "transduction":
            return None
        words = len(source) - 1  # without EOS
        return [words - 1 - i if i < words else -1 for i in range(len(output))]

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {"train_size": 64, "valid_size": 16, "test_size": 16}


def drawable(text: str) -> bool:
    """Whether the default matplotlib font (DejaVu Sans) has every character: Latin, Greek, Cyrillic."""
    return all(ord(character) < 0x0530 for character in text)


def example_pair(task: TranslationData) -> tuple[str, str]:
    """The task's first test pair whose source the default font can draw: ``(source, reference)``."""
    pairs = task.test.pairs
    return next(((source, target) for source, target in pairs if drawable(source)), pairs[0])


def example_source(task: TranslationData) -> str:
    """The source of :func:`example_pair`."""
    return example_pair(task)[0]
