"""The recipe every encoder-decoder on text shares: data, teacher-forced loss, decoding and scores.

A model trained by it takes ``model(source, source_lengths, target_in).logits`` ``(B, T, V)`` for
teacher forcing and ``model.generate(source, source_lengths, max_len, beam_size=K)`` for decoding
(:mod:`attnzoo.decoding`), and has ``model.config.pad_id``. A paper's recipe subclasses
:class:`TranslationRecipe` and adds its config sizes (:meth:`TranslationRecipe.sized_config`) and
its pictures.

The tasks: ``dates`` (dates in 20 locales → ISO 8601, generated, characters), ``corpus`` (a
``source<TAB>target`` file, ``data=...``) and ``transduction`` (the length experiment's generated
word task).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from attnzoo.recipes.base import Recipe, Training, device_of, shuffled_batches
from attnzoo.tasks.text import PairDataset, TranslationData, collate_pairs

TASKS = ("dates", "corpus", "transduction")


@dataclass(frozen=True)
class TranslationTask:
    """The data of a translation run and the options of its loss."""

    kind: str = "dates"  # "dates" (generated), "corpus" (the TSV file data) or "transduction" (generated words)
    data: str | None = None  # corpus: the source<TAB>target file, one pair per line
    level: str = "word"  # corpus: "char" or "word" tokens (dates are characters, transduction words)
    max_len: int | None = None  # corpus: drop pairs longer than this many tokens
    train_size: int = 20_000  # dates, transduction: training pairs generated
    valid_size: int = 1_000  # dates, transduction: validation pairs generated
    test_size: int = 2_000  # dates, transduction: test pairs generated
    train_max_len: int = 40  # transduction: longest training source (words)
    test_max_len: int = 60  # transduction: longest test source (words)
    label_smoothing: float = 0.0  # ε_ls of the training loss (Szegedy et al. 2016; Vaswani §5.4: 0.1)

    def __post_init__(self) -> None:
        if self.kind not in TASKS:
            raise ValueError(f"task kind: expected one of {', '.join(TASKS)}; got {self.kind!r}")
        if self.kind == "corpus" and not self.data:
            raise ValueError("task kind 'corpus' needs data=FILE (a source<TAB>target file)")
        for name in ("train_size", "valid_size", "test_size", "train_max_len", "test_max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"task {name}: expected >= 1, got {getattr(self, name)}")
        if self.max_len is not None and self.max_len < 1:
            raise ValueError(f"task max_len: expected >= 1, got {self.max_len}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"task label_smoothing: expected a value in [0, 1), got {self.label_smoothing}")


class Translation(NamedTuple):
    """One decoded input: the output text, the token labels and the alignment ``(T_out, T_in)`` or None."""

    output: str
    source_tokens: list[str]
    output_tokens: list[str]
    alignment: Tensor | None


def build_translation_data(settings: TranslationTask, seed: int) -> TranslationData:
    """The :class:`TranslationData` that ``settings`` describe."""
    if settings.kind == "dates":
        from attnzoo.tasks.dates import dates_data

        sizes = {"train_size": settings.train_size, "valid_size": settings.valid_size}
        return dates_data(**sizes, test_size=settings.test_size, seed=seed)
    if settings.kind == "transduction":
        from attnzoo.tasks.corpus import transduction_data

        return transduction_data(
            settings.train_size,
            settings.valid_size,
            settings.test_size,
            train_max_len=settings.train_max_len,
            test_max_len=settings.test_max_len,
            seed=seed,
        )
    from attnzoo.tasks.corpus import corpus_data

    return corpus_data(settings.data, level=settings.level, max_len=settings.max_len, seed=seed)


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
    """Corpus BLEU and chrF (sacrebleu, default settings) of hypotheses against one reference each."""
    import sacrebleu

    return {
        "bleu": sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score,
        "chrf": sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score,
    }


def pair_loader(dataset: PairDataset, batch_size: int) -> DataLoader:
    """A DataLoader of :func:`attnzoo.tasks.text.collate_pairs` batches, in order."""
    return DataLoader(dataset, batch_size=batch_size, collate_fn=collate_pairs)


@torch.no_grad()
def decode_dataset(
    model: nn.Module, task: TranslationData, split: str, *, beam_size: int = 1, batch_size: int = 500
) -> tuple[dict[str, float], list[str]]:
    """Decode split ``split`` of ``task`` and score it.

    Returns:
        ``{"exact", "token_acc"}`` (plus ``"bleu"``, ``"chrf"`` on word-level tasks), and the
        generated text of each example in order.
    """
    was_training = model.training
    model.eval()
    pad, device = model.config.pad_id, device_of(model)
    counts = torch.zeros(4, dtype=torch.long)  # correct tokens, tokens, exact, sequences
    hypotheses, references = [], []
    for batch in pair_loader(getattr(task, split), batch_size):
        source, lengths = batch["source"].to(device), batch["source_lengths"].to(device)
        target = batch["target_out"].to(device)
        logits = model(source, lengths, batch["target_in"].to(device)).logits
        decoded = model.generate(source, lengths, generation_limit(lengths, target), beam_size=beam_size)
        counts += torch.tensor([*token_counts(logits, target, pad), *sequence_counts(decoded.tokens, target, pad)])
        hypotheses.extend(task.decode_target(row) for row in decoded.tokens.cpu())
        references.extend(task.decode_target(row) for row in target.cpu())
    model.train(was_training)
    metrics = {
        "exact": counts[2].item() / max(counts[3].item(), 1),
        "token_acc": counts[0].item() / max(counts[1].item(), 1),
    }
    if task.level == "word":
        metrics.update(bleu_chrf(hypotheses, references))
    return metrics, hypotheses


class TranslationRecipe(Recipe):
    """Teacher-forced cross-entropy (label-smoothed with ``label_smoothing`` > 0); evaluation by
    greedy decoding: exact match, token accuracy, and BLEU / chrF on word-level tasks."""

    Task = TranslationTask
    training = Training(steps=2_000, batch_size=128, lr=3e-3)
    selection = ("exact", "max")

    def build_task(self, seed: int) -> TranslationData:
        return build_translation_data(self.settings, seed)

    def task_documents(self, task: TranslationData) -> dict[str, Any]:
        return {"source_vocab": task.source_vocab.tokens, "target_vocab": task.target_vocab.tokens}

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

    @torch.no_grad()
    def translate(self, model: nn.Module, task: TranslationData, texts: list[str], beam: int = 1) -> list[Translation]:
        """Decode ``texts`` (greedy, or beam search of width ``beam``)."""
        from attnzoo.tasks.text import collate_pairs, tokenize
        from attnzoo.tasks.vocab import EOS

        model.eval()
        longest = max(len(ids) for ids in task.train.source_ids)
        for text in texts:
            if len(task.encode_source(text)) > longest:
                raise ValueError(
                    f"the input has {len(task.encode_source(text)) - 1} tokens, longer than the longest training "
                    f"source ({longest - 1}): the model was never trained on such lengths"
                )
        batch = collate_pairs([(task.encode_source(text), []) for text in texts])
        source, lengths = batch["source"].to(device_of(model)), batch["source_lengths"].to(device_of(model))
        decoded = model.generate(source, lengths, generation_limit(lengths), beam_size=beam)
        results = []
        for row, text in enumerate(texts):
            length = int(decoded.lengths[row])
            output_tokens = task.target_vocab.decode(decoded.tokens[row, :length].cpu(), strip_special=False)
            source_tokens = [*tokenize(text, task.level), EOS]
            alignment = None
            if decoded.alignments is not None:
                alignment = decoded.alignments[row, :length, : len(source_tokens)].cpu()
            output = task.decode_target(decoded.tokens[row].cpu())
            results.append(Translation(output, source_tokens, output_tokens, alignment))
        return results

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {"alignment": self.draw_alignment}

    def draw_alignment(self, model: nn.Module, task: TranslationData, path, text: str | None = None) -> None:
        """The alignment heat map of ``text`` (default: the first test source the font can draw)."""
        from attnzoo.viz.alignment import plot_alignment

        text = text or example_source(task)
        translation = self.translate(model, task, [text])[0]
        if translation.alignment is None:
            raise ValueError("this model has no attention (attention='none'): there is no alignment to draw")
        title = f"{text} → {translation.output}"
        plot_alignment(translation.alignment, translation.source_tokens, translation.output_tokens, path, title=title)

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {"train_size": 64, "valid_size": 16, "test_size": 16}


def drawable(text: str) -> bool:
    """Whether the default matplotlib font (DejaVu Sans) has every character: Latin, Greek, Cyrillic."""
    return all(ord(character) < 0x0530 for character in text)


def example_source(task: TranslationData) -> str:
    """The source of the task's first test pair that the default font can draw."""
    pairs = task.test.pairs
    return next((source for source, _ in pairs if drawable(source)), pairs[0][0])
