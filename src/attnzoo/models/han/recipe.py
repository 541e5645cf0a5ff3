"""How HAN trains and is measured on generated reviews with gold evidence (:mod:`attnzoo.tasks.reviews`).

- Loss: the negative log-likelihood of the rating (Yang et al. 2016, eq. 12), averaged over documents.
- Metrics (in %): ``accuracy``; ``evidence_sentence``, the reviews whose most-attended sentence is a
  gold evidence sentence; ``polarity_word``, the gold evidence sentences whose most-attended word is
  their polarity word ("good" in "not good"); ``cue_word``, ... is the polarity word or one of its
  modifiers ("not", "very", "for nothing", "but"); ``plain_polarity_word``, ``polarity_word`` on
  the evidence sentences whose polarity word has no modifier ("the food was good"; absent when
  there is none). A mean-pooling model's weights are uniform, so its "most-attended" sentence and
  word are the first (ties): chance, as a floor.
- Picture ``evidence``: the first test review with sentence bars and word highlights (the paper's
  Fig. 5). Command ``attnzoo classify RUN "TEXT"``: the class and the sentences and words attended.
- ``--data FILE``: real ``label<TAB>text`` reviews instead (80/10/10 split, a vocabulary of the
  training words); without gold evidence, only ``accuracy`` is measured.

Shape legend: ``N`` reviews, ``S`` sentences, ``W`` words per sentence, ``C`` classes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

from attnzoo.models.han.model import HAN, HANConfig, HANOutput
from attnzoo.recipes.base import Command, Recipe, Training, device_of, evaluating, shuffled_batches, split_seed
from attnzoo.tasks.labelled import labelled_reviews, split_text
from attnzoo.tasks.reviews import (
    CLASSES,
    Review,
    ReviewData,
    generate_reviews,
    parse_review,
    review_vocabulary,
    reviews_to_tensors,
)
from attnzoo.tasks.vocab import PAD_ID, Vocabulary

EVAL_BATCH = 250  # reviews per forward pass when evaluating


@dataclass(frozen=True)
class ReviewTask:
    """The generated reviews: how long, how many; or a file of real labelled texts."""

    min_sentences: int = 8  # fewest sentences in a review
    max_sentences: int = 30  # most sentences in a review
    max_evidence: int = 3  # most evidence sentences in a review (at least 1)
    train_size: int = 10_000  # training reviews
    eval_size: int = 1_000  # validation and test reviews each
    data: str | None = None  # a label<TAB>text file of real texts, split 80/10/10 (None: generated reviews)
    min_count: int = 2  # with --data: training words seen fewer times become <unk>

    def __post_init__(self) -> None:
        if not 1 <= self.min_sentences <= self.max_sentences:
            raise ValueError(
                f"min_sentences, max_sentences: expected 1 <= min <= max, got {self.min_sentences}, "
                f"{self.max_sentences}"
            )
        if self.max_evidence < 1 or self.train_size < 1 or self.eval_size < 1:
            raise ValueError("max_evidence, train_size, eval_size: expected >= 1")


class ReviewSplits:
    """The reviews of one run: generated on first use from ``split_seed(split, seed)``, or read from
    ``settings.data`` (:func:`attnzoo.tasks.labelled.labelled_reviews`, no gold evidence)."""

    def __init__(self, settings: ReviewTask, seed: int) -> None:
        self.settings, self.seed = settings, seed
        self.vocabulary: Vocabulary = review_vocabulary()
        self.labels = [str(rating) for rating in range(CLASSES)]
        self.texts: dict[str, list[Review]] | None = None
        if settings.data is not None:
            self.texts, self.vocabulary, self.labels = labelled_reviews(settings.data, seed, settings.min_count)
        self.splits: dict[str, tuple[list[Review], ReviewData]] = {}

    @property
    def has_evidence(self) -> bool:
        """Generated reviews know their evidence; real texts do not."""
        return self.texts is None

    def split(self, name: str) -> ReviewData:
        """The tensors of split ``name`` (train: ``train_size`` reviews; valid, test: ``eval_size``)."""
        return self.reviews(name)[1]

    def reviews(self, name: str) -> tuple[list[Review], ReviewData]:
        """``(Review objects, ReviewData)`` of split ``name``."""
        if name not in self.splits and self.texts is not None:
            self.splits[name] = (self.texts[name], reviews_to_tensors(self.texts[name], self.vocabulary))
        if name not in self.splits:
            s = self.settings
            count = s.train_size if name == "train" else s.eval_size
            self.splits[name] = generate_reviews(
                count, s.min_sentences, s.max_sentences, split_seed(name, self.seed), s.max_evidence
            )
        return self.splits[name]

    def sentences(self, text: str) -> list[list[str]]:
        """A user's text as sentences of words (generated reviews refuse an unknown word; real texts: <unk>)."""
        return split_text(text) if self.texts is not None else parse_review(text, self.vocabulary)


@torch.no_grad()
def classify(model: HAN, words: Tensor, batch_size: int = EVAL_BATCH) -> HANOutput:
    """``model``'s outputs for ``words`` ``(N, S, W)``, in batches on its device, returned on the CPU."""
    device = device_of(model)
    with evaluating(model):
        parts = [model(words[lo : lo + batch_size].to(device)) for lo in range(0, len(words), batch_size)]
    return HANOutput(*(torch.cat([getattr(part, field) for part in parts]).cpu() for field in HANOutput._fields))


def accuracy(output: HANOutput, data: ReviewData) -> float:
    """% of documents classified right."""
    return float((output.logits.argmax(dim=1) == data.labels).float().mean() * 100)


def evidence_metrics(output: HANOutput, data: ReviewData) -> dict[str, float]:
    """Accuracy and how often the attention's top sentence / word is gold evidence (all in %)."""
    top_sentence = output.sentence_weights.argmax(dim=1)  # (N,)
    found = data.evidence.gather(1, top_sentence[:, None])[:, 0]
    top_word = output.word_weights.argmax(dim=-1)  # (N, S): the top word of every sentence
    in_evidence = data.evidence  # (N, S): score the top word of every gold evidence sentence
    polarity = data.polarity.gather(2, top_word[..., None])[..., 0][in_evidence]
    cue = data.cues.gather(2, top_word[..., None])[..., 0][in_evidence]
    plain = (data.cues == data.polarity).all(dim=-1)[in_evidence]  # sentences whose polarity word stands alone
    metrics = {
        "accuracy": accuracy(output, data),
        "evidence_sentence": float(found.float().mean() * 100),
        "polarity_word": float(polarity.float().mean() * 100),
        "cue_word": float(cue.float().mean() * 100),
    }
    if plain.any():
        metrics["plain_polarity_word"] = float(polarity[plain].float().mean() * 100)
    return metrics


class HANRecipe(Recipe):
    """Cross-entropy on the rating; accuracy and evidence found, against the generator's gold evidence."""

    Task = ReviewTask
    training = Training(steps=1_500, batch_size=64, lr=2e-3, val_every=250, checkpoint_every=250)
    selection = ("accuracy", "max")
    keep_best = True

    def build_task(self, seed: int) -> ReviewSplits:
        return ReviewSplits(self.settings, seed)

    def task_documents(self, task: ReviewSplits) -> dict[str, Any]:
        return {"vocabulary": task.vocabulary.tokens, "labels": task.labels}

    def sized_config(self, config: HANConfig, task: ReviewSplits) -> HANConfig:
        return dataclasses.replace(config, vocab_size=len(task.vocabulary), classes=len(task.labels))

    def train_batches(self, task: ReviewSplits, batch_size: int, seed: int):
        data = task.split("train")
        return shuffled_batches(TensorDataset(data.words, data.labels), batch_size, seed)

    def loss(self, model: HAN, batch: list[Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        words, labels = batch
        logits = model(trim(words)).logits  # (B, C)
        return F.cross_entropy(logits, labels), {}

    def evaluate(self, model: HAN, task: ReviewSplits, split: str) -> dict[str, float]:
        data = task.split(split)
        output = classify(model, data.words)
        return evidence_metrics(output, data) if task.has_evidence else {"accuracy": accuracy(output, data)}

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {"evidence": draw_evidence}

    explore_input = "text"

    def attention_views(self, model: HAN, task: ReviewSplits, inputs: list[str] | None = None) -> list[dict]:
        return document_views(model, task, inputs)

    def commands(self) -> dict[str, Command]:
        help_text = 'Rate a review ("the food was not good. we sat near the bar.") and show the evidence attended.'
        return {"classify": Command(classify_text, ("TEXT",), help_text)}

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model = {"embed_dim": 8, "hidden": 8, "attention_dim": 8}
        return model, {"min_sentences": 2, "max_sentences": 5, "train_size": 32, "eval_size": 8}


def trim(words: Tensor) -> Tensor:
    """``words`` ``(B, S, W)`` without the sentences and word columns that are padding in every document."""
    real = words != PAD_ID
    sentences = int(real.any(dim=-1).sum(dim=1).max())
    width = int(real.sum(dim=-1).max())
    return words[:, :sentences, :width]


def draw_evidence(model: HAN, task: ReviewSplits, path: Path, index: int = 0) -> None:
    """Test review ``index``: its sentence bars and word highlights, gold evidence starred."""
    reviews, data = task.reviews("test")
    review = reviews[index]
    output = classify(model, data.words[index : index + 1])
    labels = task.labels
    title = f"class {labels[review.rating]}, predicted {labels[int(output.logits.argmax())]}; * = gold evidence"
    draw_document(review.sentences, output, path, gold=review.evidence, title=title)


def document_views(model: HAN, task: ReviewSplits, inputs: list[str] | None = None) -> list[dict]:
    """HAN's two levels for the first test review (or each review text of ``inputs``): the sentence
    attention α_i as a memory view (one column over the sentences, gold evidence starred), then
    each sentence's word attention α_it as a one-row alignment."""
    from attnzoo.explorer.views import alignment_view, memory_view

    if inputs is None:
        reviews, data = task.reviews("test")
        gold = f"gold class {task.labels[reviews[0].rating]}; * = gold evidence"
        documents = [(reviews[0].sentences, data.words[:1], set(reviews[0].evidence), gold)]
    else:
        documents = []
        for text in inputs:
            sentences = task.sentences(text)
            documents.append((sentences, encode_sentences(sentences, task.vocabulary), set(), text[:80]))
    views = []
    for sentences, words, evidence, note in documents:
        output, count = classify(model, words), len(sentences)
        title = f"predicted class {task.labels[int(output.logits[0].argmax())]} ({note})"
        labels = [("* " if index in evidence else "") + " ".join(words) for index, words in enumerate(sentences)]
        views.append(memory_view({"sentence": output.sentence_weights[:1, :count]}, ["α_i"], labels, title=title))
        for index, sentence in enumerate(sentences):
            row = output.word_weights[0, index, None, : len(sentence)]  # (1, words)
            weight = float(output.sentence_weights[0, index])
            views.append(
                alignment_view(row, sentence, [f"α_it, sentence {index + 1}"], title=f"{title}; α_i {weight:.2f}")
            )
    return views


def draw_document(sentences: list[list[str]], output: HANOutput, path: Path, **options: Any) -> None:
    """One document's sentence and word weights (``output`` of a batch of one)."""
    from attnzoo.viz.evidence import plot_evidence

    count = len(sentences)
    words = output.word_weights[0, :count].tolist()
    plot_evidence(sentences, output.sentence_weights[0, :count].tolist(), words, path, **options)


def encode_sentences(sentences: list[list[str]], vocabulary: Vocabulary) -> Tensor:
    """Sentences of words as ids ``(1, S, W)``."""
    width = max(len(sentence) for sentence in sentences)
    ids = [vocabulary.encode(sentence, add_eos=False) + [PAD_ID] * (width - len(sentence)) for sentence in sentences]
    return torch.tensor(ids)[None]


def classify_text(model: HAN, task: ReviewSplits, arguments: list[str], out: Path | None) -> str:
    """The rating of review ``arguments[0]``, its three most-attended sentences with their top word in [brackets]."""
    sentences = task.sentences(arguments[0])
    output = classify(model, encode_sentences(sentences, task.vocabulary))
    probabilities = output.logits[0].softmax(dim=0)
    best = int(probabilities.argmax())
    lines = [f"class {task.labels[best]} of {', '.join(task.labels)} (p = {probabilities[best]:.2f})"]
    for s in output.sentence_weights[0].argsort(descending=True)[:3].tolist():
        top = int(output.word_weights[0, s].argmax())
        words = [f"[{word}]" if w == top else word for w, word in enumerate(sentences[s])]
        lines.append(f"  {output.sentence_weights[0, s]:.2f}  sentence {s + 1}: {' '.join(words)}")
    if out is not None:
        draw_document(sentences, output, out, title=f"predicted class {task.labels[best]}")
    return "\n".join(lines)


RECIPE = HANRecipe
