"""How the pointer-generator trains and is measured (See et al. 2017, §3-§5).

Data: generated news (:mod:`attnzoo.tasks.news`: out-of-vocabulary entities, restatements,
distractors) or your (article, summary) pairs (``--data FILE``: TSV or JSONL, cut into train /
valid / test), with one vocabulary of the training words seen ``min_count`` times.

Loss (eq. 6-7, 13): the mean over summary tokens of ``-log P(w*_t)`` over the extended vocabulary
(the baseline: over the fixed vocabulary, an OOV target being ``<unk>``), plus, for a coverage
model from optimiser step ``coverage_from`` on, ``lambda sum_i min(a_i^t, c_i^t)``. Before that
step the coverage model is trained exactly as the pointer-generator (``c^t`` is not fed, no
coverage loss): the paper's final coverage phase. The step is counted in the recipe's state
(kept in the checkpoints, so ``--resume`` continues it).

Measures (:mod:`attnzoo.models.pointer_generator.scores`): ROUGE-1/2/L F1 (``rouge-score``), the
OOV entity copy rate, repeated trigrams against the references', mean ``p_gen``, coverage loss.
Validation decodes greedily, the test split with a beam of ``beam``. Pictures: ``copy`` (the
article, the attention and ``p_gen`` of every output word: the paper's Fig. 1) and ``coverage``.
Command: ``attnzoo summarize RUN FILE.txt``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from attnzoo.attention import coverage_loss
from attnzoo.models.pointer_generator.model import PointerGenerator, PointerGeneratorConfig
from attnzoo.models.pointer_generator.scores import Summary, summarize_examples, summary_scores
from attnzoo.recipes.base import Command, Recipe, Training, shuffled_batches
from attnzoo.tasks.corpus import parse_split
from attnzoo.tasks.news import NewsExample, generate_news
from attnzoo.tasks.summaries import SummaryData, collate_summaries, make_summary_data, real_splits
from attnzoo.tasks.vocab import SPECIALS, Vocabulary


@dataclass(frozen=True)
class SummaryTask:
    """The articles, the vocabulary, the coverage phase and the decoding of the evaluation."""

    data: str | None = None  # your (article, summary) pairs: a .jsonl file or an article<TAB>summary file
    split: str = "0.9/0.05/0.05"  # data: train/valid/test fractions of the file
    split_seed: int = 0  # data: seed of that cut (--seed seeds the model and the batches)
    train_size: int = 20_000  # generated news: training articles
    valid_size: int = 300  # generated news: validation articles
    test_size: int = 500  # generated news: test articles
    min_count: int = 20  # keep the training words seen at least this often (the rest are out of vocabulary)
    max_vocab: int | None = None  # keep at most this many words, the most frequent (paper: 50k)
    max_article_len: int = 400  # data: cut articles to this many tokens (paper: 400)
    max_summary_len: int = 100  # data: cut summaries to this many tokens (paper: 100)
    coverage_from: int = 0  # coverage models: the optimiser step from which c^t is fed and its loss added
    coverage_weight: float = 1.0  # lambda of eq. 13 (paper: 1)
    beam: int = 4  # beam width of the test split and of summarize (validation: greedy; paper: 4)
    decode_len: int = 40  # most tokens of a decoded summary (paper: 100 on CNN / Daily Mail)

    def __post_init__(self) -> None:
        positive = ("train_size", "valid_size", "test_size", "min_count", "max_article_len", "max_summary_len")
        positive += ("beam", "decode_len")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"task {name}: expected >= 1, got {getattr(self, name)}")
        if self.max_vocab is not None and self.max_vocab < 1:
            raise ValueError(f"task max_vocab: expected >= 1 or None, got {self.max_vocab}")
        if self.coverage_from < 0 or self.coverage_weight < 0:
            raise ValueError("task coverage_from and coverage_weight: expected >= 0")
        self.fractions()

    def fractions(self) -> tuple[float, float, float]:
        """``split`` as three floats."""
        return parse_split(self.split)


def generated_splits(settings: SummaryTask, seed: int) -> tuple[list[NewsExample], ...]:
    """Generated train / valid / test news (valid and test drawn from their own seeds)."""
    sizes = (settings.train_size, settings.valid_size, settings.test_size)
    return tuple(generate_news(size, seed * 3 + offset) for offset, size in enumerate(sizes))


def as_example(article: str, summary: str) -> NewsExample:
    """A saved (article, summary) pair of space-joined tokens, back as an example (copy positions derived)."""
    from attnzoo.tasks.summaries import example_from_text
    from attnzoo.tasks.tokenizers import WordTokenizer

    return example_from_text(article, summary, WordTokenizer(), 10**9, 10**9)


class SummaryRecipe(Recipe):
    """NLL over the extended vocabulary (+ the coverage loss in the last phase); ROUGE and copy measures."""

    Task = SummaryTask
    training = Training(steps=800, batch_size=32, lr=2e-3, val_every=200, checkpoint_every=200)
    selection = ("rouge1", "max")

    def build_task(self, seed: int) -> SummaryData:
        settings = self.settings
        if settings.data:
            lengths = (settings.max_article_len, settings.max_summary_len)
            splits = real_splits(settings.data, settings.fractions(), settings.split_seed, *lengths)
        else:
            splits = generated_splits(settings, seed)
        return make_summary_data(*splits, min_count=settings.min_count, max_vocab=settings.max_vocab)

    def task_documents(self, task: SummaryData) -> dict[str, Any]:
        """The vocabulary; for your data also the pairs of every split (the file is not read again)."""
        documents: dict[str, Any] = {"vocab": task.vocab.tokens}
        if self.settings.data:
            splits = {name: getattr(task, name).examples for name in ("train", "valid", "test")}
            documents["pairs"] = {
                name: [[" ".join(e.article), " ".join(e.summary)] for e in examples]
                for name, examples in splits.items()
            }
        return documents

    def restore_task(self, seed: int, documents: dict[str, Any]) -> SummaryData:
        if "pairs" not in documents:
            return super().restore_task(seed, documents)
        vocab = Vocabulary(documents["vocab"][len(SPECIALS) :])
        splits = [[as_example(*pair) for pair in documents["pairs"][name]] for name in ("train", "valid", "test")]
        return make_summary_data(*splits, vocab=vocab)

    def sized_config(self, config: PointerGeneratorConfig, task: SummaryData) -> PointerGeneratorConfig:
        return dataclasses.replace(config, vocab_size=len(task.vocab))

    def train_batches(self, task: SummaryData, batch_size: int, seed: int) -> DataLoader:
        return shuffled_batches(task.train, batch_size, seed, collate_fn=collate_summaries)

    def loss(self, model: PointerGenerator, batch: dict[str, Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        """Eq. (6)-(7): mean ``-log P(w*_t)``; eq. (13): ``+ lambda covloss_t`` in the coverage phase."""
        step = int(state.get("step", 0))
        state["step"] = torch.tensor(step + 1)
        covering = model.config.coverage and step >= self.settings.coverage_from
        output = model(batch["source"], batch["source_lengths"], batch["source_extended"], batch["target_in"], covering)
        target = batch["target_out_extended"] if model.config.pointer else batch["target_out"]  # (B, T)
        real = target != model.config.pad_id
        nll = -output.log_probs.gather(-1, target[..., None]).squeeze(-1)[real].mean()
        covered = coverage_loss(output.attentions, output.coverages)[real].mean()  # eq. 12, logged for every model
        loss = nll + self.settings.coverage_weight * covered if covering else nll
        return loss, {"nll": nll, "coverage_loss": covered, "p_gen": output.p_gens[real].mean()}

    def evaluate(self, model: PointerGenerator, task: SummaryData, split: str) -> dict[str, float]:
        """ROUGE-1/2/L, OOV copy rate, repeated trigrams (and the references'), mean p_gen, coverage loss."""
        dataset = getattr(task, split)
        beam = 1 if split == "valid" else self.settings.beam
        summaries = summarize_examples(model, task.vocab, dataset.encoded, beam, self.settings.decode_len)
        return summary_scores(summaries, dataset.examples, task.vocab)

    def summarize_text(self, model: PointerGenerator, task: SummaryData, text: str) -> tuple[list[str], Summary]:
        """The article tokens of ``text`` and its :class:`Summary` (beam ``beam``)."""
        from attnzoo.tasks.summaries import encode_example
        from attnzoo.tasks.tokenizers import WordTokenizer

        article = WordTokenizer().tokenize(text)[: self.settings.max_article_len]
        if not article:
            raise ValueError("the article is empty: give a text file with at least one word")
        encoded = encode_example(article, [], task.vocab)
        return article, summarize_examples(model, task.vocab, [encoded], self.settings.beam, self.settings.decode_len)[
            0
        ]

    def pictures(self, config: PointerGeneratorConfig | None = None) -> dict[str, Any]:
        return {"copy": self.draw_copy, "coverage": self.draw_coverage}

    explore_input = "text"

    def attention_views(self, model: PointerGenerator, task: SummaryData, inputs: list[str] | None = None) -> list:
        """Each summary word's attention over the article (See et al. Fig. 1; the row label carries p_gen),
        for the article texts ``inputs`` or the first test article (the article's ``<eos>``, which
        takes the rest of each row's weight, is not shown, as in the ``copy`` picture)."""
        from attnzoo.explorer.views import alignment_view

        texts = inputs if inputs is not None else [" ".join(task.test.examples[0].article)]
        views = []
        for text in texts:
            article, summary = self.summarize_text(model, task, text)
            rows = [f"{word} (p_gen {float(p):.2f})" for word, p in zip(summary.tokens, summary.p_gen, strict=True)]
            title = " ".join(summary.tokens) or "(empty summary)"
            views.append(alignment_view(summary.attention[:, : len(article)], article, rows, title=title))
        return views

    def draw_copy(self, model: PointerGenerator, task: SummaryData, path: Path, text: str | None = None) -> None:
        """The article, each output word's attention and its p_gen (See et al. Fig. 1) for the first test article."""
        from attnzoo.viz.summary import plot_copy_attention

        article, summary = self.summarize_text(model, task, text or " ".join(task.test.examples[0].article))
        plot_copy_attention(
            article, summary.tokens, summary.attention, summary.p_gen, path, pointer=model.config.pointer
        )

    def draw_coverage(self, model: PointerGenerator, task: SummaryData, path: Path) -> None:
        """The coverage vector c^t over the first test article at every output step."""
        from attnzoo.viz.summary import plot_coverage

        article, summary = self.summarize_text(model, task, " ".join(task.test.examples[0].article))
        plot_coverage(article, summary.tokens, summary.coverage, path)

    def commands(self) -> dict[str, Command]:
        return {"summarize": Command(self.summarize, ("FILE",), "Summarize the article in a text file.", write_article)}

    def summarize(self, model: PointerGenerator, task: SummaryData, arguments: list[str], out: Path | None) -> str:
        """``attnzoo summarize RUN FILE.txt [--out picture.png]``: the summary (and its Fig. 1 picture)."""
        path = Path(arguments[0])
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError):
            raise ValueError(f"{path}: no such file") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not valid UTF-8; save the article as UTF-8") from None
        article, summary = self.summarize_text(model, task, text)
        if out is not None:
            from attnzoo.viz.summary import plot_copy_attention

            plot_copy_attention(article, summary.tokens, summary.attention, summary.p_gen, out, model.config.pointer)
        return " ".join(summary.tokens)

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model = {"embedding_dim": 8, "hidden_size": 8, "attention_dim": 8}
        return model, {"train_size": 64, "valid_size": 4, "test_size": 4, "min_count": 5, "beam": 2}


def write_article(task: SummaryData, arguments: list[str]) -> None:
    """``--example``: a generated news article (the first test article) written at ``arguments[0]``."""
    Path(arguments[0]).write_text(" ".join(task.test.examples[0].article) + "\n", encoding="utf-8")


RECIPE = SummaryRecipe
