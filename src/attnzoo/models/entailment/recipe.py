"""How the entailment models train and are measured (Rocktäschel et al. 2016).

The data is the generated inference set of :mod:`attnzoo.tasks.entailment` (or a
``premise<TAB>hypothesis<TAB>label`` file, ``--data``). Training minimises the cross-entropy of
the label (§3). Evaluation reports ``accuracy`` (%) and, for the word-by-word reader on generated
data, ``alignment`` (%): of the hypothesis content words (adjective, colour, noun, verb, place),
the share whose most attended premise word is their gold premise word. On ``test`` it adds the
same for the ``heldout`` split (verbs, places and added colours never seen in training).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from attnzoo.models.entailment.model import EntailmentConfig, EntailmentModel
from attnzoo.recipes.base import Command, Recipe, Training, device_of, evaluating, shuffled_batches, split_seed
from attnzoo.tasks.entailment import LABELS, NLIExample, generate_nli, lexicon, read_nli_tsv
from attnzoo.tasks.tokenizers import WordTokenizer
from attnzoo.tasks.vocab import Vocabulary

HELDOUT_SEED = 3_000_003  # added to the run's seed: the held-out split's generator seed
PROBES = 3  # test pairs the explorer (and the formation record) shows
EVAL_BATCH = 500  # pairs per evaluation batch


@dataclass(frozen=True)
class EntailmentTask:
    """The inference data: generated (with gold alignments) or read from a TSV file."""

    train_size: int = 20_000  # generated training pairs
    eval_size: int = 2_000  # generated pairs in each of valid, test and heldout
    clauses: int = 3  # generated premises have 1 .. clauses clauses joined by "and" (at most 3)
    swaps: float = 0.0  # probability that a contradicting noun, verb or place comes from another clause of the premise
    data: str = ""  # a premise<TAB>hypothesis<TAB>label file to use instead (split 90/5/5); "" = generated

    fields_added_later: ClassVar[dict[str, Any]] = {"swaps": 0.0}  # runs written before it

    def __post_init__(self) -> None:
        if not 0 <= self.swaps <= 1:
            raise ValueError(f"entailment task swaps: expected a probability in [0, 1], got {self.swaps}")
        if self.train_size < 1 or self.eval_size < 1:
            raise ValueError(
                f"entailment task train_size, eval_size: expected >= 1, got {self.train_size}, {self.eval_size}"
            )


class Pairs(NamedTuple):
    """One split as padded tensors (``P`` pairs, ``L``/``N`` the longest premise/hypothesis)."""

    premise: Tensor  # (P, L) word ids, 0 = padding
    premise_lengths: Tensor  # (P,)
    hypothesis: Tensor  # (P, N)
    hypothesis_lengths: Tensor  # (P,)
    labels: Tensor  # (P,) index into LABELS
    alignment: Tensor  # (P, N) gold premise position of each hypothesis word; -1: none or padding
    content: Tensor  # (P, N) bool: a content word whose alignment is scored


def to_pairs(examples: list[NLIExample], vocab: Vocabulary) -> Pairs:
    """The examples' words as ids (unknown words: ``<unk>``), padded with 0."""

    def padded(rows: list[list[int]], fill: int) -> Tensor:
        width = max(len(row) for row in rows)
        return torch.tensor([row + [fill] * (width - len(row)) for row in rows], dtype=torch.long)

    premises = [vocab.encode(example.premise, add_eos=False) for example in examples]
    hypotheses = [vocab.encode(example.hypothesis, add_eos=False) for example in examples]
    return Pairs(
        premise=padded(premises, 0),
        premise_lengths=torch.tensor([len(row) for row in premises]),
        hypothesis=padded(hypotheses, 0),
        hypothesis_lengths=torch.tensor([len(row) for row in hypotheses]),
        labels=torch.tensor([example.label for example in examples]),
        alignment=padded([list(example.alignment) for example in examples], -1),
        content=padded([[int(flag) for flag in example.content] for example in examples], 0).bool(),
    )


class NLIData:
    """The splits (``train``, ``valid``, ``test`` and, generated only, ``heldout``) and the vocabulary."""

    def __init__(self, settings: EntailmentTask, seed: int) -> None:
        if settings.data:
            examples = read_nli_tsv(settings.data)
            random.Random(seed).shuffle(examples)
            cut = max(1, len(examples) // 20)
            self.examples = {"valid": examples[:cut], "test": examples[cut : 2 * cut], "train": examples[2 * cut :]}
            if not self.examples["train"]:
                raise ValueError(f"{settings.data}: too few examples to split into train, valid and test")
            self.vocab = Vocabulary.build(example.premise + example.hypothesis for example in self.examples["train"])
        else:
            sizes = {"train": settings.train_size, "valid": settings.eval_size, "test": settings.eval_size}
            clauses, swaps = settings.clauses, settings.swaps
            self.examples = {
                name: generate_nli(size, split_seed(name, seed), clauses, swaps=swaps) for name, size in sizes.items()
            }
            self.examples["heldout"] = generate_nli(
                settings.eval_size, HELDOUT_SEED + seed, clauses, heldout=True, swaps=swaps
            )
            self.vocab = Vocabulary(lexicon())
        self.pairs = {name: to_pairs(examples, self.vocab) for name, examples in self.examples.items()}


@torch.no_grad()
def predict(model: EntailmentModel, pairs: Pairs) -> tuple[Tensor, Tensor | None]:
    """Label probabilities ``(P, classes)`` and the attention (``(P, N, L)``, ``(P, L)`` or None), on the CPU."""
    device = device_of(model)
    with evaluating(model):
        probabilities, weights = [], []
        for lo in range(0, len(pairs.labels), EVAL_BATCH):
            inputs = (pairs.premise, pairs.premise_lengths, pairs.hypothesis, pairs.hypothesis_lengths)
            output = model(*(tensor[lo : lo + EVAL_BATCH].to(device) for tensor in inputs))
            probabilities.append(output.logits.softmax(-1).cpu())
            weights.append(None if output.weights is None else output.weights.cpu())
    return torch.cat(probabilities), None if weights[0] is None else torch.cat(weights)


def alignment_accuracy(weights: Tensor, pairs: Pairs, tolerance: int = 0) -> float:
    """% of scored hypothesis words (``pairs.content``) whose most attended premise word (argmax of
    ``weights`` ``(P, N, L)``) is their gold premise word (``tolerance`` > 0: at most that many
    positions away, a diagnosis of off-by-one attention; the reported measure uses 0)."""
    scored = pairs.content & (pairs.alignment >= 0)
    hits = ((weights.argmax(-1) - pairs.alignment).abs() <= tolerance) & scored
    return float(hits.sum() / scored.sum().clamp_min(1) * 100)


class EntailmentRecipe(Recipe):
    """Cross-entropy on the label; accuracy and word-by-word alignment accuracy."""

    Task = EntailmentTask
    training = Training(steps=3_000, batch_size=64, lr=1e-3, weight_decay=1e-4, val_every=500, checkpoint_every=500)
    selection = ("accuracy", "max")
    keep_best = True

    def build_task(self, seed: int) -> NLIData:
        return NLIData(self.settings, seed)

    def sized_config(self, config: EntailmentConfig, task: NLIData) -> EntailmentConfig:
        import dataclasses

        return dataclasses.replace(config, vocab_size=len(task.vocab))

    def task_documents(self, task: NLIData) -> dict[str, Any]:
        return {"vocabulary": task.vocab.to_dict()}

    def train_batches(self, task: NLIData, batch_size: int, seed: int) -> DataLoader:
        pairs = task.pairs["train"]
        dataset = TensorDataset(
            pairs.premise, pairs.premise_lengths, pairs.hypothesis, pairs.hypothesis_lengths, pairs.labels
        )
        return shuffled_batches(dataset, batch_size, seed)

    def loss(self, model: EntailmentModel, batch: list[Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        """``-log p(label | premise, hypothesis)`` averaged over the batch (§3)."""
        premise, premise_lengths, hypothesis, hypothesis_lengths, labels = batch
        width_p, width_h = int(premise_lengths.max()), int(hypothesis_lengths.max())  # drop all-padding columns
        logits = model(premise[:, :width_p], premise_lengths, hypothesis[:, :width_h], hypothesis_lengths).logits
        accuracy = (logits.argmax(-1) == labels).float().mean()
        return F.cross_entropy(logits, labels), {"accuracy": accuracy}

    def evaluate(self, model: EntailmentModel, task: NLIData, split: str) -> dict[str, float]:
        """``accuracy`` (%) and, for word-by-word attention with gold alignments, ``alignment`` (%); on
        ``test`` also ``heldout_accuracy`` and ``heldout_alignment`` (generated data only)."""
        names = {"": split} | ({"heldout_": "heldout"} if split == "test" and "heldout" in task.pairs else {})
        metrics = {}
        for prefix, name in names.items():
            pairs = task.pairs[name]
            probabilities, weights = predict(model, pairs)
            metrics[f"{prefix}accuracy"] = float((probabilities.argmax(-1) == pairs.labels).float().mean() * 100)
            if weights is not None and weights.dim() == 3 and bool((pairs.alignment >= 0).any()):
                metrics[f"{prefix}alignment"] = alignment_accuracy(weights, pairs)
        return metrics

    def pictures(self, config: EntailmentConfig | None = None) -> dict[str, Any]:
        if config is not None and config.reader not in ("attention", "word-by-word"):
            return {}
        return {"attention": self.draw_attention}

    def draw_attention(self, model: EntailmentModel, task: NLIData, path: Any) -> None:
        """The attention of the first test pair of each label (Rocktäschel et al. Figure 3)."""
        if model.config.reader not in ("attention", "word-by-word"):
            raise ValueError(f"a {model.config.reader} run has no attention to draw (readers: attention, word-by-word)")
        from attnzoo.viz.panels import plot_panels

        examples = task.examples["test"]
        chosen = [next((i for i, example in enumerate(examples) if example.label == label), None) for label in range(3)]
        chosen = [i for i in chosen if i is not None]
        pairs = to_pairs([examples[i] for i in chosen], task.vocab)
        probabilities, weights = predict(model, pairs)
        rows = [self.rows(model, examples[i].hypothesis) for i in chosen]
        matrices = [w if w.dim() == 2 else w[None] for w in weights]
        titles = [
            f"gold {LABELS[examples[i].label]}\npredicted {LABELS[int(p.argmax())]} {float(p.max()):.2f}"
            for i, p in zip(chosen, probabilities, strict=True)
        ]
        plot_panels(matrices, [examples[i].premise for i in chosen], rows, titles, path)

    def attention_views(self, model: EntailmentModel, task: NLIData, inputs: list[str] | None = None) -> list[dict]:
        """The first :data:`PROBES` test pairs' attention over the premise: one row per hypothesis word
        (word-by-word) or the last state's (attention), with the gold premise word of every scored
        content word (the generated data's alignments; accuracy = the paper's alignment measure)."""
        from attnzoo.explorer.views import alignment_view

        if inputs is not None:
            raise ValueError("an entailment run shows its test pairs here; `attnzoo entail` takes your own pair")
        if model.config.reader not in ("attention", "word-by-word"):
            return []
        examples = task.examples["test"][:PROBES]
        probabilities, weights = predict(model, to_pairs(examples, task.vocab))
        views = []
        for example, chances, matrix in zip(examples, probabilities, weights, strict=True):
            rows = self.rows(model, example.hypothesis)
            matrix = (matrix if matrix.dim() == 2 else matrix[None])[: len(rows), : len(example.premise)]
            gold = None
            if model.config.reader == "word-by-word" and example.alignment:
                gold = [
                    index if scored else -1 for index, scored in zip(example.alignment, example.content, strict=True)
                ]
            title = f"{LABELS[int(chances.argmax())]} (gold {LABELS[example.label]}): {' '.join(example.hypothesis)}"
            views.append(alignment_view(matrix, example.premise, rows, title=title, gold=gold))
        return views

    @staticmethod
    def rows(model: EntailmentModel, hypothesis: tuple[str, ...]) -> list[str]:
        """Row labels: every hypothesis word (word-by-word), or the last one's state ``h_N`` (attention)."""
        return list(hypothesis) if model.config.reader == "word-by-word" else [f"h_N ({hypothesis[-1]})"]

    def commands(self) -> dict[str, Command]:
        return {"entail": Command(self.entail, ("PREMISE", "HYPOTHESIS"), "Label a premise–hypothesis pair.")}

    def entail(self, model: EntailmentModel, task: NLIData, arguments: list[str], out: Path | None) -> str:
        """The label, the three probabilities and, with attention, each hypothesis word's most attended premise word."""
        tokenizer = WordTokenizer(lowercase=True)
        premise, hypothesis = (tuple(tokenizer.tokenize(text)) for text in arguments)
        for name, words in (("premise", premise), ("hypothesis", hypothesis)):
            if not words:
                raise ValueError(f"the {name} has no words")
            unknown = [word for word in words if word not in task.vocab]
            if unknown:
                raise ValueError(
                    f"unknown word {unknown[0]!r} in the {name} (the run knows {len(task.vocab) - 4} words)"
                )
        example = NLIExample(premise, hypothesis, 0, (-1,) * len(hypothesis), (False,) * len(hypothesis))
        probabilities, weights = predict(model, to_pairs([example], task.vocab))
        p = probabilities[0]
        lines = [f"{LABELS[int(p.argmax())]} (p = {float(p.max()):.3f})"]
        lines.append("  " + "  ".join(f"{label} {float(value):.3f}" for label, value in zip(LABELS, p, strict=True)))
        if weights is None:
            lines.append(f"(the {model.config.reader} reader has no attention)")
            return "\n".join(lines)
        matrix = weights[0] if weights.dim() == 3 else weights[0][None]  # (rows, L)
        rows = self.rows(model, hypothesis)
        lines.append("attention (hypothesis word → most attended premise word, weight):")
        for row, alpha in zip(rows, matrix, strict=False):
            lines.append(f"  {row} → {premise[int(alpha.argmax())]} {float(alpha.max()):.2f}")
        if out is not None:
            from attnzoo.viz.panels import plot_panels

            plot_panels([matrix], [premise], [rows], [f"{LABELS[int(p.argmax())]} {float(p.max()):.2f}"], out)
        return "\n".join(lines)

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"embed_dim": 8, "hidden_size": 8}, {"train_size": 64, "eval_size": 16}


RECIPE = EntailmentRecipe
