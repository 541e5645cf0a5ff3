"""Command line of the Seq2Seq model: ``attnzoo train seq2seq``, ``evaluate``, ``plot``,
``translate`` and the body of ``attnzoo demo``.

Lightning, the data and the model are imported inside the commands, so ``attnzoo --help``
stays quick.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import typer

TASKS = ("dates", "corpus")

# attnzoo demo: Bahdanau attention on dates, sized to reach >= 99.5% exact match on the 2,000
# test dates in under 2 minutes on 2 CPU cores (measurements: the model's README).
DEMO_DATA = {"train_size": 20_000, "valid_size": 500, "test_size": 2_000, "seed": 0}
DEMO_MODEL = {"embedding_dim": 32, "hidden_size": 64, "attention_dim": 64, "output_dim": 64}
DEMO_TRAINING = {"batch_size": 128, "max_steps": 400, "lr": 4e-3}
DEMO_RUN = Path("runs/demo")
DEMO_PICTURE = Path("alignment.png")


# Options of every `attnzoo train` command on translation tasks (Seq2Seq, Transformer).
OUT = typer.Option(..., help="Run directory to write (model, vocabularies, checkpoints).")
TASK = typer.Option("dates", help="dates (generated) or corpus (a TSV file, --data).")
DATA = typer.Option(None, help="corpus: the source<TAB>target file.")
LEVEL = typer.Option("word", help="corpus: char or word tokens.")
MAX_LEN = typer.Option(None, help="corpus: drop pairs longer than this many tokens.")
TRAIN_SIZE = typer.Option(20_000, help="dates: training pairs generated.")
VALID_SIZE = typer.Option(1_000, help="dates: validation pairs generated.")
TEST_SIZE = typer.Option(2_000, help="dates: test pairs generated.")
EPOCHS = typer.Option(None, help="Training epochs (default: until --steps).")
BATCH_SIZE = typer.Option(128, help="Pairs per step.")
CHECKPOINT_EVERY = typer.Option(200, help="Steps between checkpoints (checkpoints/last.ckpt).")
RESUME = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.ckpt.")
SEED = typer.Option(0, help="Seed of the data and the model.")
DEVICES = typer.Option(1, help="CPU processes; > 1 trains data-parallel (DDP, gloo).")
THREADS = typer.Option(None, help="torch CPU threads per process (default: torch's).")
PROGRESS = typer.Option(True, help="Show the progress bar.")


def register(train_app: typer.Typer) -> None:
    """Add ``attnzoo train seq2seq``."""

    @train_app.command("seq2seq")
    def train_seq2seq(
        out: Path = OUT,
        task: str = TASK,
        data: Path | None = DATA,
        level: str = LEVEL,
        max_len: int | None = MAX_LEN,
        train_size: int = TRAIN_SIZE,
        valid_size: int = VALID_SIZE,
        test_size: int = TEST_SIZE,
        attention: str = typer.Option("bahdanau", help="none (fixed context), bahdanau or luong."),
        score: str = typer.Option("general", help="luong: dot, general, concat or location."),
        local: str = typer.Option("none", help="luong: none (global), monotonic (local-m) or predictive (local-p)."),
        window: int = typer.Option(5, help="luong local: half-width D of the window."),
        input_feeding: bool = typer.Option(True, help="luong: feed h~_{t-1} into the next step."),
        rnn: str = typer.Option("gru", help="gru or lstm."),
        layers: int = typer.Option(1, help="RNN layers of encoder and decoder."),
        embedding: int = typer.Option(32, help="Token embedding size."),
        hidden: int = typer.Option(64, help="RNN state size."),
        attention_dim: int = typer.Option(64, help="Size of v_a in the additive (bahdanau / concat) score."),
        bidirectional: bool | None = typer.Option(
            None, help="Bidirectional encoder (default: yes for none and bahdanau, no for luong)."
        ),
        dropout: float = typer.Option(0.0, help="Dropout on embeddings and before the output layer."),
        epochs: int | None = EPOCHS,
        steps: int = typer.Option(2_000, help="Optimiser steps (-1: until --epochs)."),
        batch_size: int = BATCH_SIZE,
        lr: float = typer.Option(3e-3, help="Adam learning rate."),
        decay: bool = typer.Option(True, help="Cosine decay of the rate to 5% over --steps."),
        checkpoint_every: int = CHECKPOINT_EVERY,
        resume: bool = RESUME,
        seed: int = SEED,
        devices: int = DEVICES,
        threads: int | None = THREADS,
        progress: bool = PROGRESS,
    ) -> None:
        """Train an RNN encoder-decoder (Cho 2014) with Bahdanau (2015) or Luong (2015) attention."""
        from attnzoo.models.seq2seq.model import Seq2SeqConfig

        check_training_options(task, data, epochs, steps, threads)
        config = make_config(
            Seq2SeqConfig,
            embedding_dim=embedding,
            hidden_size=hidden,
            num_layers=layers,
            rnn=rnn,
            bidirectional=attention != "luong" if bidirectional is None else bidirectional,
            attention=attention,
            score=score,
            local=local,
            window=window,
            attention_dim=attention_dim,
            output_dim=hidden,
            input_feeding=input_feeding,
            dropout=dropout,
        )
        description = task_description(task, data, level, max_len, train_size, valid_size, test_size, seed)
        translation = load_task(description)
        config = dataclasses.replace(
            config,
            source_vocab_size=len(translation.source_vocab),
            target_vocab_size=len(translation.target_vocab),
            max_source_len=max(len(ids) for ids in translation.train.source_ids) + 64,
        )
        metrics = fit(
            translation,
            config,
            out,
            description,
            model="seq2seq",
            optimizer={"lr": lr, "decay_steps": steps if decay and steps > 0 else 0},
            **loop_options(epochs, steps, batch_size, checkpoint_every, resume, seed, devices, progress),
        )
        report_training(out, metrics)


def check_training_options(task: str, data: Path | None, epochs: int | None, steps: int, threads: int | None) -> None:
    """Refuse inconsistent options of a translation training command; set the torch threads."""
    import torch

    if task not in TASKS:
        raise typer.BadParameter(f"expected one of {TASKS}, got {task!r}", param_hint="--task")
    if task == "corpus" and data is None:
        raise typer.BadParameter("--task corpus needs --data FILE (source<TAB>target lines)", param_hint="--data")
    if epochs is None and steps < 0:
        raise typer.BadParameter("give --steps or --epochs", param_hint="--steps")
    if threads is not None:
        torch.set_num_threads(threads)


def loop_options(
    epochs: int | None,
    steps: int,
    batch_size: int,
    checkpoint_every: int,
    resume: bool,
    seed: int,
    devices: int,
    progress: bool,
) -> dict[str, Any]:
    """The training-loop keywords of :func:`fit` (those of :func:`attnzoo.training.translation.train`)."""
    return {
        "batch_size": batch_size,
        "max_steps": steps,
        "max_epochs": epochs,
        "seed": seed,
        "resume": resume,
        "checkpoint_every": checkpoint_every,
        "devices": devices,
        "progress": progress,
    }


def make_config(config_class: type, **fields: Any) -> Any:
    """The model config, checked before any data are generated (vocabulary sizes come later)."""
    try:
        return config_class(**fields)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def task_description(
    task: str,
    data: Path | None,
    level: str,
    max_len: int | None,
    train_size: int,
    valid_size: int,
    test_size: int,
    seed: int,
) -> dict[str, Any]:
    """What ``task.json`` records: enough to rebuild the same data (see :func:`load_task`)."""
    if task == "dates":
        sizes = {"train_size": train_size, "valid_size": valid_size, "test_size": test_size}
        return {"task": "dates", "level": "char", **sizes, "seed": seed}
    return {"task": "corpus", "data": str(data.resolve()), "level": level, "max_len": max_len, "seed": seed}


def report_training(out: Path, metrics: dict[str, float] | None) -> None:
    """Print the validation metrics of a finished training command (the DDP process of rank 0)."""
    if metrics is not None:
        typer.echo(format_metrics("valid", metrics))
        typer.echo(f"wrote {out}; evaluate with: attnzoo evaluate {out}")


def load_task(description: dict[str, Any]):
    """The :class:`~attnzoo.tasks.text.TranslationData` a ``task.json`` describes."""
    if description["task"] == "dates":
        from attnzoo.tasks.dates import dates_data

        keys = ("train_size", "valid_size", "test_size", "seed")
        return dates_data(**{key: description[key] for key in keys})
    if description["task"] == "transduction":  # the length experiment's task (experiments/seq2seq_length.py)
        from attnzoo.tasks.corpus import transduction_data

        return transduction_data(**{key: value for key, value in description.items() if key not in ("task", "level")})
    from attnzoo.tasks.corpus import corpus_data

    try:
        return corpus_data(
            description["data"], level=description["level"], max_len=description["max_len"], seed=description["seed"]
        )
    except (OSError, ValueError) as error:
        raise typer.BadParameter(str(error), param_hint="--data") from None


def quiet_lightning() -> None:
    """Hide Lightning's start-up chatter and its advice about DataLoader workers (data are in memory)."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def fit(
    translation,
    config,
    out: Path,
    description: dict[str, Any],
    *,
    model: str,
    optimizer: dict[str, Any],
    label_smoothing: float = 0.0,
    checkpoint_dir: Path | None = None,
    **training: Any,
) -> dict[str, float] | None:
    """Train registered ``model`` ("seq2seq" or "transformer") with ``config`` on ``translation``,
    then save the run (model, vocabularies, task, validation metrics) to ``out``.

    Returns the validation metrics (None in the non-zero DDP processes, which save nothing).
    ``checkpoint_dir`` puts Lightning's checkpoints elsewhere than ``out`` (the demo: a temporary folder).
    """
    from attnzoo.training import seed_everything
    from attnzoo.training.translation import TranslationModule, evaluate_dataset, save_run, train

    quiet_lightning()
    seed_everything(training.get("seed", 0))
    text_of = translation.decode_target
    module = TranslationModule(
        model,
        dataclasses.asdict(config),
        optimizer,
        label_smoothing,
        text_of=text_of if translation.level == "word" else None,
    )
    trainer = train(module, translation.train, translation.valid, checkpoint_dir or out, **training)
    if not trainer.is_global_zero:
        return None
    metrics, _ = evaluate_dataset(module.model, translation.valid, text_of, bleu=translation.level == "word")
    save_run(out, module, translation.source_vocab, translation.target_vocab, description, metrics)
    return metrics


def format_metrics(split: str, metrics: dict[str, float]) -> str:
    """``valid: exact match 99.60%  token accuracy 99.90%  BLEU 97.1  chrF 98.0``."""
    line = f"{split}: exact match {metrics['exact']:.2%}  token accuracy {metrics['token_acc']:.2%}"
    if "bleu" in metrics:
        line += f"  BLEU {metrics['bleu']:.1f}  chrF {metrics['chrf']:.1f}"
    return line


class Run:
    """A trained run directory: the model, its vocabularies and its task."""

    def __init__(self, run_dir: Path) -> None:
        from attnzoo.tasks.vocab import Vocabulary
        from attnzoo.training import load_model, read_task

        self.model, self.config = load_model(run_dir)
        self.source_vocab = Vocabulary.load(run_dir / "source_vocab.json")
        self.target_vocab = Vocabulary.load(run_dir / "target_vocab.json")
        self.task = read_task(run_dir, "attnzoo train seq2seq|transformer")
        self.level = self.task["level"]

    def translation(self):
        """The run's data; its vocabularies must be the saved ones (same task, same seed)."""
        translation = load_task(self.task)
        if translation.source_vocab != self.source_vocab or translation.target_vocab != self.target_vocab:
            raise typer.BadParameter("the task's data no longer give the run's vocabularies (did the TSV change?)")
        return translation

    def translate(self, texts: list[str], beam: int = 1) -> list[tuple[str, list[str], list[str], Any]]:
        """``(output text, source tokens, output tokens, alignment (T_out, T_in) or None)`` per text."""
        import torch

        from attnzoo.tasks.text import collate_pairs, decode_target, encode_source, tokenize
        from attnzoo.tasks.vocab import EOS
        from attnzoo.training.translation import generation_limit

        source_ids = [encode_source(text, self.source_vocab, self.level) for text in texts]
        batch = collate_pairs([(ids, []) for ids in source_ids])
        with torch.no_grad():
            decoded = self.model.generate(
                batch["source"], batch["source_lengths"], generation_limit(batch["source_lengths"]), beam_size=beam
            )
        results = []
        for row, text in enumerate(texts):
            length = int(decoded.lengths[row])
            output_tokens = self.target_vocab.decode(decoded.tokens[row, :length], strip_special=False)
            source_tokens = [*tokenize(text, self.level), EOS]
            alignment = None if decoded.alignments is None else decoded.alignments[row, :length, : len(source_tokens)]
            output = decode_target(decoded.tokens[row], self.target_vocab, self.level)
            results.append((output, source_tokens, output_tokens, alignment))
        return results


def evaluate(run_dir: Path, *, split: str, length: int | None) -> None:
    """Print exact match and token accuracy (BLEU, chrF on corpora) of greedy decoding on ``split``."""
    from attnzoo.training.translation import evaluate_dataset

    if split not in ("train", "valid", "test"):
        raise typer.BadParameter(f"expected train, valid or test, got {split!r}", param_hint="--split")
    if length is not None:
        raise typer.BadParameter("seq2seq evaluates whole splits; --length is for models that take one")
    run = Run(run_dir)
    translation = run.translation()
    metrics, _ = evaluate_dataset(
        run.model, getattr(translation, split), translation.decode_target, bleu=run.level == "word"
    )
    typer.echo(format_metrics(f"{split} ({len(getattr(translation, split)):,} pairs)", metrics))


def drawable(text: str) -> bool:
    """Whether the default matplotlib font (DejaVu Sans) has every character: Latin, Greek, Cyrillic."""
    return all(ord(character) < 0x0530 for character in text)


def example_source(run: Run) -> str:
    """The source of the run's first test pair that the default font can draw."""
    pairs = run.translation().test.pairs
    return next((source for source, _ in pairs if drawable(source)), pairs[0][0])


def plot(run_dir: Path, *, picture: str, path: Path) -> None:
    """``picture="alignment"``: the alignment heatmap of a test example (its first drawable one)."""
    from attnzoo.viz.alignment import plot_alignment

    if picture != "alignment":
        raise typer.BadParameter(f"a seq2seq run draws --alignment, not --{picture}")
    run = Run(run_dir)
    if run.config.attention == "none":
        raise typer.BadParameter(f"{run_dir} has no attention (--attention none): there is no alignment to draw")
    source = example_source(run)
    output, source_tokens, output_tokens, alignment = run.translate([source])[0]
    plot_alignment(alignment, source_tokens, output_tokens, path, title=f"{source} → {output}")


def translate(run_dir: Path, text: str, *, beam: int, plot: Path | None) -> None:
    """Print the translation of ``text`` (greedy or beam search); ``plot``: draw its alignment."""
    from attnzoo.viz.alignment import plot_alignment

    run = Run(run_dir)
    output, source_tokens, output_tokens, alignment = run.translate([text], beam=beam)[0]
    typer.echo(output)
    if plot is not None:
        if alignment is None:
            raise typer.BadParameter(
                f"{run_dir} has no attention (--attention none): nothing to plot", param_hint="--plot"
            )
        plot_alignment(alignment, source_tokens, output_tokens, plot, title=f"{text} → {output}")
        typer.echo(f"wrote {plot}")


def demo() -> None:
    """Train Bahdanau attention on dates (CPU), print test accuracy and examples, draw alignment.png."""
    import torch

    from attnzoo.models.seq2seq.model import Seq2SeqConfig
    from attnzoo.tasks.dates import dates_data
    from attnzoo.training.translation import evaluate_dataset
    from attnzoo.viz.alignment import plot_alignment

    start = time.perf_counter()
    typer.echo(
        f"attnzoo demo: Bahdanau attention learns to read dates in 20 locales and write them as ISO 8601.\n"
        f"Generating {DEMO_DATA['train_size']:,} training and {DEMO_DATA['test_size']:,} test dates "
        f"(disjoint by date) ..."
    )
    translation = dates_data(**DEMO_DATA)
    config = Seq2SeqConfig(
        source_vocab_size=len(translation.source_vocab),
        target_vocab_size=len(translation.target_vocab),
        attention="bahdanau",
        **DEMO_MODEL,
    )
    steps, batch_size = DEMO_TRAINING["max_steps"], DEMO_TRAINING["batch_size"]
    typer.echo(
        f"Training a bidirectional-GRU encoder + attention decoder ({config.hidden_size} units) for {steps} steps "
        f"of {batch_size} on {torch.get_num_threads()} CPU threads ..."
    )
    description = {"task": "dates", "level": "char", **DEMO_DATA}
    optimizer = {"lr": DEMO_TRAINING["lr"], "decay_steps": steps}
    with tempfile.TemporaryDirectory(prefix="attnzoo-demo-") as checkpoints:
        fit(
            translation,
            config,
            DEMO_RUN,
            description,
            model="seq2seq",
            optimizer=optimizer,
            checkpoint_dir=Path(checkpoints),
            batch_size=batch_size,
            max_steps=steps,
            seed=DEMO_DATA["seed"],
            checkpoint_every=steps,
        )
    run = Run(DEMO_RUN)
    metrics, outputs = evaluate_dataset(run.model, translation.test, translation.decode_target)
    typer.echo(f"\nHeld-out test dates: {format_metrics('test', metrics).split(': ', 1)[1]}")
    typer.echo("Examples (source → output, reference):")
    for (source, reference), output in list(zip(translation.test.pairs, outputs, strict=True))[:5]:
        mark = "✓" if output == reference else f"✗ (expected {reference})"
        typer.echo(f"  {source:<32} → {output} {mark}")
    source = next(source for source, _ in translation.test.pairs if drawable(source) and len(source) > 12)
    output, source_tokens, output_tokens, alignment = run.translate([source])[0]
    plot_alignment(alignment, source_tokens, output_tokens, DEMO_PICTURE, title=f"{source} → {output}")
    typer.echo(f'Run saved to {DEMO_RUN} (try: attnzoo translate {DEMO_RUN} "3 марта 2015 г." --plot a.png).')
    typer.echo(f"Total time {time.perf_counter() - start:.0f} s.")
    typer.echo(
        f"Exact match on {len(translation.test):,} held-out test dates: {metrics['exact']:.2%}; "
        f"alignment heatmap written to {DEMO_PICTURE}"
    )
