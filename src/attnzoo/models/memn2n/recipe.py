"""How end-to-end memory networks train and are measured on bAbI-style stories (Sukhbaatar et al. 2015).

The data are the generated stories of :mod:`attnzoo.tasks.babi` (tasks 1, 2, 3, 4, 6), each question
with its gold supporting facts. The loss is the cross-entropy of the answer word (eq. 3); *linear
start* (§4.2) trains the first ``linear_start_steps`` steps without the memory softmax (the step
count is the recipe's training state, so it survives ``--resume``). Evaluation: answer ``error`` in %
(the paper's measure) and, per hop ``k``, ``hop{k}_fact{k}``: % of questions whose hop-``k``
attention peaks on the ``k``-th gold supporting fact, and ``hop{k}_on_support``: on any of them.
Picture ``hops``: a test story with each hop's attention (the paper's Fig. 2). Command ``answer``:
a user's own story and question.

Shape legend: ``N`` questions, ``B`` batch, ``M`` memory slots, ``L`` words, ``K`` hops, ``S`` facts.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

from attnzoo.models.memn2n.model import MemN2N, MemN2NConfig
from attnzoo.recipes.base import Command, Recipe, Training, device_of, evaluating, shuffled_batches, split_seed
from attnzoo.tasks import babi
from attnzoo.tasks.corpus import text_lines

EVAL_BATCH = 1_000  # questions per forward pass when evaluating
PROBES = 3  # test questions the explorer (and the formation record) shows
EXAMPLE_STORY = (  # the story --example writes for `attnzoo answer`
    "mary went to the kitchen",
    "john went to the garden",
    "john picked up the apple",
    "mary travelled to the office",
    "john journeyed to the hallway",
    "sandra went to the bedroom",
)


@dataclass(frozen=True)
class BabiTask:
    """Which bAbI-style task, how much of it, and how it is trained."""

    task: int = 1  # 1, 2, 3 (one, two, three supporting facts), 4 (two-argument relations) or 6 (yes/no)
    train_size: int = 10_000  # training questions: the paper's regimes are 1,000 and 10,000
    valid_size: int = 500  # validation questions (another seed)
    test_size: int = 1_000  # test questions (bAbI: 1,000)
    memory_size: int = 50  # the most recent sentences kept in memory (paper: 50)
    linear_start_steps: int = 0  # linear start (§4.2): optimiser steps without the memory softmax (0: none)

    def __post_init__(self) -> None:
        if self.task not in babi.TASKS:
            raise ValueError(f"memn2n task: expected one of {', '.join(map(str, babi.TASKS))}; got {self.task!r}")
        for name in ("train_size", "valid_size", "test_size", "memory_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"memn2n {name}: expected >= 1, got {getattr(self, name)}")
        if self.linear_start_steps < 0:
            raise ValueError(f"memn2n linear_start_steps: expected >= 0, got {self.linear_start_steps}")


class BabiData:
    """The splits of one run (questions and their tensors), each generated on first use."""

    def __init__(self, settings: BabiTask, seed: int) -> None:
        self.settings, self.seed = settings, seed
        self.vocab = babi.vocabulary()
        self.questions: dict[str, list[babi.Question]] = {}
        self.tensors: dict[str, babi.BabiTensors] = {}

    def split(self, name: str) -> babi.BabiTensors:
        """Split ``name``: ``train_size``, ``valid_size`` or ``test_size`` questions seeded :func:`split_seed`."""
        if name not in self.tensors:
            settings = self.settings
            size = {"train": settings.train_size, "valid": settings.valid_size, "test": settings.test_size}[name]
            questions = babi.generate(settings.task, size, split_seed(name, self.seed), settings.memory_size)
            self.questions[name] = questions
            self.tensors[name] = babi.encode(questions, self.vocab, settings.memory_size)
        return self.tensors[name]


def hop_support(weights: Tensor, supports: Tensor) -> tuple[Tensor, Tensor]:
    """Where each hop looks, against the gold facts.

    Args:
        weights: ``(N, K, M)`` hop attention. supports: ``(N, S)`` gold slots in reasoning order (-1: none).

    Returns:
        ``kth`` ``(N, min(K, S))`` bool: hop ``k`` peaks on fact ``k`` (False where fact ``k`` is -1);
        ``any`` ``(N, K)`` bool: hop ``k`` peaks on one of the facts.
    """
    peaks = weights.argmax(-1)  # (N, K)
    shared = min(peaks.size(1), supports.size(1))
    kth = (peaks[:, :shared] == supports[:, :shared]) & (supports[:, :shared] >= 0)
    return kth, (peaks[:, :, None] == supports[:, None, :]).any(-1)


@torch.no_grad()
def predict(model: MemN2N, data: babi.BabiTensors) -> tuple[Tensor, Tensor]:
    """Answer logits ``(N, V)`` and hop weights ``(N, K, M)`` of every question, on the CPU."""
    device = device_of(model)
    with evaluating(model):
        outputs = [
            model(data.memories[lo : lo + EVAL_BATCH].to(device), data.questions[lo : lo + EVAL_BATCH].to(device))
            for lo in range(0, len(data.answers), EVAL_BATCH)
        ]
    return torch.cat([out.logits for out in outputs]).cpu(), torch.cat([out.weights for out in outputs]).cpu()


class MemN2NRecipe(Recipe):
    """Answer cross-entropy (with optional linear start); error and per-hop supporting-fact accuracy."""

    Task = BabiTask
    training = Training(steps=3_000, batch_size=32, lr=0.01, schedule="cosine", clip=40.0, val_every=500)
    selection = ("error", "min")

    def build_task(self, seed: int) -> BabiData:
        return BabiData(self.settings, seed)

    def sized_config(self, config: MemN2NConfig, task: BabiData) -> MemN2NConfig:
        return dataclasses.replace(config, vocab_size=len(task.vocab), memory_size=self.settings.memory_size)

    def task_documents(self, task: BabiData) -> dict[str, Any]:
        return {"vocabulary": task.vocab.tokens}

    def train_batches(self, task: BabiData, batch_size: int, seed: int):
        return shuffled_batches(TensorDataset(*task.split("train").tensors()), batch_size, seed)

    def loss(self, model: MemN2N, batch: list[Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        """Cross-entropy of the answer (eq. 3); linear (no softmax) attention for the first steps (§4.2)."""
        memories, questions, answers, _ = batch
        step = int(state.get("step", torch.zeros(()))) + 1
        state["step"] = torch.tensor(step)
        output = model(memories, questions, linear=step <= self.settings.linear_start_steps)
        return F.cross_entropy(output.logits, answers), {}

    def evaluate(self, model: MemN2N, task: BabiData, split: str) -> dict[str, float]:
        """``error`` (%), ``loss``, and per hop ``hop{k}_fact{k}`` and ``hop{k}_on_support`` (%)."""
        data = task.split(split)
        logits, weights = predict(model, data)
        metrics = {
            "error": float((logits.argmax(-1) != data.answers).float().mean() * 100),
            "loss": float(F.cross_entropy(logits, data.answers)),
        }
        kth, on_support = hop_support(weights, data.supports)
        for k in range(kth.size(1)):
            metrics[f"hop{k + 1}_fact{k + 1}"] = float(kth[:, k].float().mean() * 100)
        for k in range(on_support.size(1)):
            metrics[f"hop{k + 1}_on_support"] = float(on_support[:, k].float().mean() * 100)
        return metrics

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {"hops": draw_hops}

    def attention_views(self, model: MemN2N, task: BabiData, inputs: list[str] | None = None) -> list[dict]:
        return hop_views(model, task, inputs)

    def commands(self) -> dict[str, Command]:
        help_text = "Answer a question about your own story (one sentence per line) and show each hop's attention."
        return {"answer": Command(answer, ("STORY_FILE", "QUESTION"), help_text, write_example_story)}

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"embed_dim": 8, "hops": 2}, {"task": 2, "train_size": 64, "valid_size": 16, "test_size": 16}


def hop_views(model: MemN2N, task: BabiData, inputs: list[str] | None = None) -> list[dict]:
    """Each hop's attention over the story's sentences (oldest first) for the first test questions,
    as a memory view (steps: the hops; slots: the sentences, the gold supporting facts starred)."""
    from attnzoo.explorer.views import memory_view

    if inputs is not None:
        raise ValueError("a MemN2N run shows its test questions here; `attnzoo answer` takes your own story")
    data, count = task.split("test"), min(PROBES, len(task.questions["test"]))
    logits, weights = predict(model, babi.BabiTensors(*(tensor[:count] for tensor in data.tensors())))
    views = []
    for index, question in enumerate(task.questions["test"][:count]):
        shown = max(len(question.story) - weights.size(2), 0)  # sentences beyond the memory are not shown
        story = question.story[shown:]
        by_line = weights[index, :, : len(story)].flip(-1)  # (K, n): oldest first
        marks = ["* " if line + shown in question.support else "" for line in range(len(story))]
        slots = [mark + " ".join(words) for mark, words in zip(marks, story, strict=True)]
        answer = task.vocab.id_to_token(int(logits[index].argmax()))
        title = f"{' '.join(question.words)}? answered {answer} (gold {question.answer}; * supporting facts)"
        steps = [f"hop {hop + 1}" for hop in range(by_line.size(0))]
        views.append(memory_view({"attention": by_line}, steps, slots, title=title))
    return views


def draw_hops(model: MemN2N, task: BabiData, path: Any, index: int = 0) -> None:
    """Test question ``index``: its story with each hop's attention and the gold facts (the paper's Fig. 2)."""
    data = task.split("test")
    question = task.questions["test"][index]
    single = babi.BabiTensors(*(tensor[index : index + 1] for tensor in data.tensors()))
    logits, weights = predict(model, single)
    draw_story(question, task.vocab.id_to_token(int(logits.argmax())), weights[0], path)


def draw_story(question: babi.Question, predicted: str, weights: Tensor, path: Any) -> None:
    """Draw ``question``'s story (oldest first) beside the hop weights ``(K, M)`` (slot 0 = last sentence)."""
    from attnzoo.viz.memory_hops import plot_hop_attention

    shown = len(question.story) - weights.size(1)  # sentences beyond the memory are not drawn
    story = question.story[max(shown, 0) :]
    by_line = weights[:, : len(story)].flip(-1).numpy()  # (K, n): oldest first
    support = [index - max(shown, 0) for index in question.support]
    sentences = [" ".join(words) for words in story]
    plot_hop_attention(sentences, " ".join(question.words), question.answer, predicted, by_line, path, support=support)


def words_of(text: str) -> tuple[str, ...]:
    """Lower-case words of ``text``, punctuation dropped: ``"Where is Mary?"`` -> ``("where", "is", "mary")``."""
    return tuple(re.findall(r"[a-z]+", text.lower()))


def read_story(path: str, question: str, known: Any) -> babi.Question:
    """The story in file ``path`` (one sentence per line) and ``question``; ``ValueError`` naming unknown words."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"STORY_FILE: no such file: {path}")
    lines = [(number, words_of(line)) for number, line in text_lines(file)]  # UTF-8 errors name file:line
    lines = [(number, words) for number, words in lines if words]
    if not lines or not words_of(question):
        raise ValueError(f"expected a story with at least one sentence in {path} and a question with words")
    unknown = [f"{word!r} (line {number})" for number, words in lines for word in words if word not in known]
    unknown += [f"{word!r} (question)" for word in words_of(question) if word not in known]
    if unknown:
        raise ValueError(f"unknown words: {', '.join(unknown)}; the model knows {' '.join(sorted(known))}")
    return babi.Question(tuple(words for _, words in lines), words_of(question), "?", ())


def answer(model: MemN2N, task: BabiData, arguments: list[str], out: Path | None) -> str:
    """``attnzoo answer RUN STORY_FILE QUESTION``: the answer and each hop's most attended sentence."""
    known = {word for word in task.vocab.tokens if not word.startswith("<")}
    question = read_story(arguments[0], arguments[1], known)
    memory = model.config.memory_size
    data = babi.encode([question], task.vocab, memory)
    logits, weights = predict(model, data)
    predicted = task.vocab.id_to_token(int(logits.argmax()))
    lines = [f"answer: {predicted}"]
    if len(question.story) > memory:
        lines.append(f"(only the last {memory} sentences are in memory)")
    for k, hop in enumerate(weights[0], 1):
        slot = int(hop.argmax())
        line = len(question.story) - 1 - slot
        lines.append(f"hop {k}: {float(hop[slot]):.2f} on sentence {line + 1}: {' '.join(question.story[line])}")
    if out is not None:
        draw_story(dataclasses.replace(question, answer="?"), predicted, weights[0], out)
        lines.append(f"attention written to {out}")
    return "\n".join(lines)


def write_example_story(task: BabiData, arguments: list[str]) -> None:
    """``--example``: a short story at the STORY_FILE path."""
    Path(arguments[0]).write_text("\n".join(EXAMPLE_STORY) + "\n")


RECIPE = MemN2NRecipe
