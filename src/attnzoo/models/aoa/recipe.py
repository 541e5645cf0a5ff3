"""How the AS and AoA readers train and are measured on the generated cloze task (:mod:`attnzoo.tasks.cloze`).

Loss: ``-log P(answer | D, Q)`` with ``P`` the sum attention over the candidates (Kadlec et al.
eq. 2, Cui et al. eq. 9). Evaluation: ``accuracy`` (%) and ``accuracy_{lo}_{hi}`` by number of
candidates, and for the AoA reader ``top_word_gold``: % of queries with a disambiguating word whose
query-level attention ``beta`` (eq. 7) peaks on one of them, ``top_word_placeholder``: % of queries
whose ``beta`` peaks on ``@placeholder``, ``top_clue_gold``: as ``top_word_gold`` with the
placeholder left out. Picture ``matching``: a test document's
matching matrix ``M`` with ``beta`` (AoA runs; AS runs draw the document attention).

Shape legend: ``N`` questions, ``T`` document words, ``Q`` query words, ``C`` candidates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from attnzoo.models.aoa.model import Reader, ReaderConfig, ReaderOutput
from attnzoo.recipes.base import Recipe, Training, device_of, evaluating, shuffled_batches, split_seed
from attnzoo.tasks import cloze

EVAL_BATCH = 500  # questions per forward pass when evaluating
BINS = ((3, 5), (6, 8), (9, 12))  # numbers of candidates the accuracy is broken down by


@dataclass(frozen=True)
class ClozeTask:
    """The generated cloze task: how many questions, how many candidates."""

    train_size: int = 20_000  # training questions
    valid_size: int = 500  # validation questions (another seed)
    test_size: int = 2_000  # test questions
    min_candidates: int = 3  # fewest entities in a document
    max_candidates: int = 12  # most entities in a document (at most 16 markers)

    def __post_init__(self) -> None:
        for name in ("train_size", "valid_size", "test_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"cloze {name}: expected >= 1, got {getattr(self, name)}")
        cloze.generate(0, 0, self.min_candidates, self.max_candidates)  # refuses a bad range, naming both


class ClozeData:
    """The splits of one run, each generated on first use."""

    def __init__(self, settings: ClozeTask, seed: int) -> None:
        self.settings, self.seed = settings, seed
        self.vocab = cloze.vocabulary()
        self.questions: dict[str, list[cloze.ClozeQuestion]] = {}
        self.tensors: dict[str, cloze.ClozeTensors] = {}

    def split(self, name: str) -> cloze.ClozeTensors:
        if name not in self.tensors:
            s = self.settings
            size = {"train": s.train_size, "valid": s.valid_size, "test": s.test_size}[name]
            questions = cloze.generate(size, split_seed(name, self.seed), s.min_candidates, s.max_candidates)
            self.questions[name] = questions
            self.tensors[name] = cloze.encode(questions, self.vocab)
        return self.tensors[name]


@torch.no_grad()
def predict(model: Reader, data: cloze.ClozeTensors) -> tuple[Tensor, Tensor | None]:
    """Candidate log-probabilities ``(N, C)`` and ``beta`` ``(N, Q)`` (None: AS reader), on the CPU."""
    device = device_of(model)
    with evaluating(model):
        outputs = []
        for lo in range(0, len(data.answers), EVAL_BATCH):
            part = (data.documents, data.queries, data.candidates)
            outputs.append(model(*(tensor[lo : lo + EVAL_BATCH].to(device) for tensor in part)))
    log_probs = torch.cat([out.log_probs for out in outputs]).cpu()
    betas = None if outputs[0].beta is None else torch.cat([out.beta for out in outputs]).cpu()
    return log_probs, betas


def top_word_gold(beta: Tensor, gold: Tensor) -> Tensor:
    """``(N,)`` bool: the query word with the largest ``beta`` ``(N, Q)`` is a gold word (``gold`` ``(N, Q)``)."""
    return gold.gather(1, beta.argmax(1, keepdim=True)).squeeze(1)


class ReaderRecipe(Recipe):
    """Negative log-likelihood of the answer under sum attention; accuracy by number of candidates."""

    Task = ClozeTask
    training = Training(steps=2_000, batch_size=32, lr=1e-3, clip=5.0, val_every=500)
    selection = ("accuracy", "max")

    def build_task(self, seed: int) -> ClozeData:
        return ClozeData(self.settings, seed)

    def sized_config(self, config: ReaderConfig, task: ClozeData) -> ReaderConfig:
        return dataclasses.replace(config, vocab_size=len(task.vocab))

    def task_documents(self, task: ClozeData) -> dict[str, Any]:
        return {"vocabulary": task.vocab.tokens}

    def train_batches(self, task: ClozeData, batch_size: int, seed: int):
        return shuffled_batches(TensorDataset(*task.split("train").tensors()), batch_size, seed)

    def loss(self, model: Reader, batch: list[Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        documents, queries, candidates, answers, _ = batch
        log_probs = model(documents, queries, candidates).log_probs  # (B, C)
        return -log_probs.gather(1, answers[:, None]).mean(), {}

    def evaluate(self, model: Reader, task: ClozeData, split: str) -> dict[str, float]:
        """``accuracy`` (%), ``accuracy_{lo}_{hi}`` per number of candidates; AoA: where ``beta`` peaks (%)."""
        data = task.split(split)
        log_probs, beta = predict(model, data)
        right = log_probs.argmax(1) == data.answers
        counts = (data.candidates != 0).sum(1)
        metrics = {"accuracy": float(right.float().mean() * 100)}
        for lo, hi in BINS:
            chosen = (counts >= lo) & (counts <= hi)
            if chosen.any():
                metrics[f"accuracy_{lo}_{hi}"] = float(right[chosen].float().mean() * 100)
        has_gold = data.gold.any(1)
        if beta is not None and has_gold.any():
            placeholder = data.queries == task.vocab.token_to_id(cloze.PLACEHOLDER)  # (N, Q)
            metrics["top_word_gold"] = float(top_word_gold(beta, data.gold)[has_gold].float().mean() * 100)
            metrics["top_word_placeholder"] = float(top_word_gold(beta, placeholder).float().mean() * 100)
            clues = beta.masked_fill(placeholder, -1.0)  # the placeholder left out
            metrics["top_clue_gold"] = float(top_word_gold(clues, data.gold)[has_gold].float().mean() * 100)
        return metrics

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {"matching": draw_matching}

    probes = 3  # test questions the explorer shows and the formation record follows (the first ones)

    def attention_views(self, model: Reader, task: ClozeData, inputs: list[str] | None = None) -> list[dict]:
        """For the first :attr:`probes` test questions: the document-level attention ``s`` (the answer is the
        candidate with the most of it; Kadlec eq. 4, Cui eq. 8) and, for the AoA reader, ``β`` over the query."""
        from attnzoo.explorer.views import alignment_view

        if inputs is not None:
            raise ValueError("the readers take no typed input: their questions come from the cloze generator")
        out, views = read_test(model, task, slice(0, self.probes)), []
        for number, question in enumerate(task.questions["test"][: self.probes]):
            document, query = list(question.document), list(question.query)
            predicted = question.candidates[int(out.log_probs[number].argmax())]
            title = f"{' '.join(query)}: answer {question.answer}, predicted {predicted}"
            views.append(
                alignment_view(out.weights[number : number + 1, : len(document)].cpu(), document, ["s"], title=title)
            )
            if out.beta is not None:
                views.append(
                    alignment_view(out.beta[number : number + 1, : len(query)].cpu(), query, ["β"], title=title)
                )
        return views

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"embed_dim": 8, "hidden_size": 8}, {"train_size": 32, "valid_size": 8, "test_size": 8}


@torch.no_grad()
def read_test(model: Reader, task: ClozeData, rows: slice) -> ReaderOutput:
    """The model's output (eval mode) on the test questions ``rows``."""
    data = task.split("test")
    with evaluating(model):
        return model(*(tensor[rows].to(device_of(model)) for tensor in (data.documents, data.queries, data.candidates)))


@torch.no_grad()
def draw_matching(model: Reader, task: ClozeData, path: Any, index: int = 0) -> None:
    """Test question ``index``: the matching matrix ``M`` with ``beta`` (AoA), or the document attention (AS)."""
    from attnzoo.viz.matching import plot_matching

    out = read_test(model, task, slice(index, index + 1))  # builds the test split (and its questions) first
    question = task.questions["test"][index]
    T, Q = len(question.document), len(question.query)
    predicted = question.candidates[int(out.log_probs[0].argmax())]
    matching = None if out.matching is None else out.matching[0, :T, :Q].cpu().numpy()
    beta = None if out.beta is None else out.beta[0, :Q].cpu().numpy()
    plot_matching(
        list(question.document),
        list(question.query),
        out.weights[0, :T].cpu().numpy(),
        path,
        matching=matching,
        beta=beta,
        title=f"answer {question.answer}, predicted {predicted}; gold words: {' '.join(question.disambiguating)}",
    )


RECIPE = ReaderRecipe
