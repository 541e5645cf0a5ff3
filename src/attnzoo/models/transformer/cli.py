"""Command line of the Transformer: ``attnzoo train transformer``, ``evaluate``, ``translate``, ``plot``.

The data, the run directory, the training loop and the evaluation are the Seq2Seq model's
(:mod:`attnzoo.models.seq2seq.cli`, :mod:`attnzoo.training.translation`); what is the
Transformer's own is its options, the paper's optimiser (Adam with β2 = 0.98, warm-up then
inverse square-root decay, label smoothing) and the per-head picture.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer

from attnzoo.models.seq2seq.cli import (
    BATCH_SIZE,
    CHECKPOINT_EVERY,
    DATA,
    DEVICES,
    EPOCHS,
    LEVEL,
    MAX_LEN,
    OUT,
    PROGRESS,
    RESUME,
    SEED,
    TASK,
    TEST_SIZE,
    THREADS,
    TRAIN_SIZE,
    VALID_SIZE,
    Run,
    check_training_options,
    evaluate,
    example_source,
    fit,
    load_task,
    loop_options,
    make_config,
    report_training,
    task_description,
)

__all__ = ["evaluate", "plot", "register", "translate"]


def register(train_app: typer.Typer) -> None:
    """Add ``attnzoo train transformer``."""

    @train_app.command("transformer")
    def train_transformer(
        out: Path = OUT,
        task: str = TASK,
        data: Path | None = DATA,
        level: str = LEVEL,
        max_len: int | None = MAX_LEN,
        train_size: int = TRAIN_SIZE,
        valid_size: int = VALID_SIZE,
        test_size: int = TEST_SIZE,
        d_model: int = typer.Option(128, help="Model width (the paper's base model: 512)."),
        heads: int = typer.Option(4, help="Attention heads per layer (paper: 8)."),
        encoder_layers: int = typer.Option(2, help="Encoder layers (paper: 6)."),
        decoder_layers: int = typer.Option(2, help="Decoder layers (paper: 6)."),
        d_ff: int = typer.Option(512, help="Inner size of the feed-forward networks (paper: 2048)."),
        dropout: float = typer.Option(0.1, help="Dropout on sub-layer outputs, embeddings and attention weights."),
        norm_first: bool = typer.Option(False, help="Pre-LN instead of the paper's post-LN."),
        positions: str = typer.Option("sinusoidal", help="sinusoidal (paper §3.5) or learned."),
        tie_embeddings: bool = typer.Option(False, help="Share the target embedding and the output layer (§3.4)."),
        label_smoothing: float = typer.Option(0.1, help="ε_ls of the training loss (paper: 0.1)."),
        warmup: int = typer.Option(400, help="Warm-up steps of the rate schedule (paper: 4000, for 100k steps)."),
        lr_factor: float = typer.Option(1.0, help="Multiplies the paper's rate d_model^-0.5 · min(n^-0.5, n·w^-1.5)."),
        epochs: int | None = EPOCHS,
        steps: int = typer.Option(3_000, help="Optimiser steps (-1: until --epochs)."),
        batch_size: int = BATCH_SIZE,
        checkpoint_every: int = CHECKPOINT_EVERY,
        resume: bool = RESUME,
        seed: int = SEED,
        devices: int = DEVICES,
        threads: int | None = THREADS,
        progress: bool = PROGRESS,
    ) -> None:
        """Train a Transformer (Vaswani et al. 2017) on the dates task or a TSV corpus."""
        from attnzoo.models.transformer.model import TransformerConfig

        check_training_options(task, data, epochs, steps, threads)
        config = make_config(
            TransformerConfig,
            d_model=d_model,
            num_heads=heads,
            num_encoder_layers=encoder_layers,
            num_decoder_layers=decoder_layers,
            d_ff=d_ff,
            dropout=dropout,
            norm_first=norm_first,
            positions=positions,
            tie_embeddings=tie_embeddings,
        )
        description = task_description(task, data, level, max_len, train_size, valid_size, test_size, seed)
        translation = load_task(description)
        config = sized_for(config, translation)
        metrics = fit(
            translation,
            config,
            out,
            description,
            model="transformer",
            optimizer=paper_optimizer(d_model, warmup, lr_factor),
            label_smoothing=label_smoothing,
            **loop_options(epochs, steps, batch_size, checkpoint_every, resume, seed, devices, progress),
        )
        report_training(out, metrics)


def sized_for(config: Any, translation: Any) -> Any:
    """The config with the task's vocabulary sizes and room for its longest sequences (+ 64 positions)."""
    longest = max(len(ids) for pairs in (translation.train.source_ids, translation.train.target_ids) for ids in pairs)
    return dataclasses.replace(
        config,
        source_vocab_size=len(translation.source_vocab),
        target_vocab_size=len(translation.target_vocab),
        max_len=longest + 64,
    )


def paper_optimizer(d_model: int, warmup: int, factor: float = 1.0) -> dict[str, Any]:
    """Vaswani et al. 2017 §5.3: Adam(β1 = 0.9, β2 = 0.98), lrate = d_model^-0.5 · min(n^-0.5, n · warmup^-1.5)."""
    return {"lr": factor * d_model**-0.5, "schedule": "warmup", "warmup_steps": warmup, "betas": (0.9, 0.98)}


def attention_maps(run: Run, text: str, beam: int = 1) -> dict[str, Any]:
    """Translate ``text``, then re-run the model on (source, output) to read every layer's weights.

    The decoder is causal, so the teacher-forced pass over the generated tokens gives exactly the
    weights each generation step used.

    Returns:
        ``output`` (text), ``source_tokens`` (S labels, EOS included), ``output_tokens`` (T labels,
        EOS included), and per layer ``encoder_self`` ``(H, S, S)``, ``decoder_self`` ``(H, T, T)``,
        ``cross`` ``(H, T, S)``.
    """
    import torch

    from attnzoo.tasks.text import encode_source

    output, source_tokens, output_tokens, _ = run.translate([text], beam=beam)[0]
    source_ids = encode_source(text, run.source_vocab, run.level)  # tokens + EOS, as in translate
    previous = run.target_vocab.encode(output_tokens[:-1], add_bos=True, add_eos=False)  # BOS + all but the last
    with torch.no_grad():
        weights = run.model(
            torch.tensor([source_ids]), torch.tensor([len(source_ids)]), torch.tensor([previous]), need_weights=True
        )
    return {
        "output": output,
        "source_tokens": source_tokens,
        "output_tokens": output_tokens,
        "encoder_self": [layer[0] for layer in weights.encoder_weights],
        "decoder_self": [layer[0] for layer in weights.decoder_self_weights],
        "cross": [layer[0] for layer in weights.cross_weights],
    }


def draw(maps: dict[str, Any], picture: str, path: Path, text: str) -> None:
    """``picture="heads"``: every layer and head; ``"alignment"``: the last layer's cross-attention
    averaged over heads, as an alignment heatmap."""
    from attnzoo.viz.alignment import plot_alignment
    from attnzoo.viz.heads import plot_attention_heads

    title = f"{text} → {maps['output']}"
    tokens = (maps["source_tokens"], maps["output_tokens"])
    if picture == "heads":
        plot_attention_heads(maps["encoder_self"], maps["decoder_self"], maps["cross"], *tokens, path, title=title)
    else:
        plot_alignment(maps["cross"][-1].mean(dim=0), *tokens, path, title=title)


def plot(run_dir: Path, *, picture: str, path: Path) -> None:
    """Draw ``picture`` ("heads" or "alignment") for the run's first drawable test example."""
    if picture not in ("heads", "alignment"):
        raise typer.BadParameter(f"a transformer run draws --heads or --alignment, not --{picture}")
    run = Run(run_dir)
    source = example_source(run)
    draw(attention_maps(run, source), picture, path, source)


def translate(run_dir: Path, text: str, *, beam: int, plot: Path | None) -> None:
    """Print the translation of ``text``; ``plot``: draw every layer's and head's attention for it."""
    maps = attention_maps(Run(run_dir), text, beam)
    typer.echo(maps["output"])
    if plot is not None:
        draw(maps, "heads", plot, text)
        typer.echo(f"wrote {plot}")
