"""Training any encoder-decoder of attnzoo on translation tasks with Lightning, and evaluating it.

The Seq2Seq and Transformer models share this: both take ``forward(source, source_lengths,
target_in).logits`` for teacher forcing and ``generate(source, source_lengths, max_len, beam_size)``
for decoding. :class:`TranslationModule` holds the model by its registry name; its
hyperparameters are plain dicts (the model config as a dict, the optimiser settings), so a
training checkpoint stays pickle-free JSON + safetensors. :func:`train` runs a whole training
job into a run directory:

    <out>/config.json, model.safetensors    the final model (attnzoo.training.save_model)
    <out>/source_vocab.json, target_vocab.json
    <out>/task.json                         how to rebuild the data (task, sizes, seed, file, level)
    <out>/metrics.json                      validation metrics of the final model
    <out>/checkpoints/last.ckpt             Lightning's checkpoint, for --resume
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from attnzoo.models.registry import config_class, create_model
from attnzoo.tasks.text import PairDataset, collate_pairs

DEFAULT_OPTIMIZER = {
    "lr": 3e-3,  # Adam's learning rate (schedule "warmup": the peak factor, e.g. d_model ** -0.5)
    "schedule": "cosine",  # "cosine" decay over decay_steps, or the Transformer's "warmup" (Vaswani §5.3)
    "decay_steps": 0,  # cosine: decay of the rate over this many steps (0: constant rate)
    "final_lr_fraction": 0.05,  # cosine: the rate at the end of the decay, as a fraction of lr
    "warmup_steps": 4000,  # warmup: steps of linear increase before the inverse square-root decay
    "betas": (0.9, 0.999),  # Adam's betas (the Transformer paper: 0.9, 0.98)
}


def cosine_factor(step: int, decay_steps: int, final_fraction: float) -> float:
    """Cosine decay from 1 to ``final_fraction`` over ``decay_steps``, then flat."""
    progress = min(step / decay_steps, 1.0)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Vaswani et al. 2017, eq. (3) without d_model^-0.5: min(step^-0.5, step * warmup_steps^-1.5).

    ``step`` counts from 0 here (Lightning's scheduler), the paper's from 1.
    """
    step += 1
    return min(step**-0.5, step * warmup_steps**-1.5)


def generation_limit(source_lengths: Tensor, target_out: Tensor | None = None) -> int:
    """Most tokens to generate for a batch: twice the longest source, plus 10.

    With references ``target_out`` ``(B, T)`` (evaluation), at most ``T + 10``: a longer output
    is wrong anyway, and an untrained model would otherwise run to the limit on every batch.
    """
    limit = 2 * int(source_lengths.max()) + 10
    return limit if target_out is None else min(limit, target_out.size(1) + 10)


def sequence_counts(predicted: Tensor, target_out: Tensor, pad_id: int) -> tuple[int, int]:
    """Exact matches of generated sequences against references.

    Args:
        predicted: ``(B, T')`` generated tokens, EOS included, padding after it.
        target_out: ``(B, T)`` reference + EOS, padded with ``pad_id``.

    Returns:
        ``(exact matches, B)``: a sequence matches when every token up to and including EOS
        agrees and nothing else was generated.
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


class TranslationModule(L.LightningModule):
    """Teacher-forced cross-entropy training (optionally label-smoothed, Szegedy et al. 2016, as in
    Vaswani et al. 2017 §5.4); validation: token accuracy, exact match (greedy), and BLEU / chrF
    when ``text_of`` is given.

    Args:
        name: the registered model, ``"seq2seq"`` or ``"transformer"``.
        model: the fields of its config dataclass, as a dict.
        optimizer: overrides of :data:`DEFAULT_OPTIMIZER`.
        label_smoothing: ε_ls of the training loss (0: plain cross-entropy; the paper: 0.1).
        text_of: ids -> text (cut at EOS); with it, validation also logs BLEU and chrF. Not a
            hyperparameter (not saved).
    """

    def __init__(
        self,
        name: str,
        model: dict[str, Any],
        optimizer: dict[str, Any] | None = None,
        label_smoothing: float = 0.0,
        text_of: Callable[[Tensor], str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["text_of"])
        self.name = name
        self.config = config_class(name)(**model)
        self.model = create_model(name, self.config)
        self.optimizer_options = {**DEFAULT_OPTIMIZER, **(optimizer or {})}
        self.label_smoothing = label_smoothing
        self.text_of = text_of
        self._counts = torch.zeros(4, dtype=torch.long)  # correct tokens, tokens, exact, sequences
        self._texts: tuple[list[str], list[str]] = ([], [])

    def loss(self, batch: dict[str, Tensor], label_smoothing: float = 0.0) -> tuple[Tensor, Tensor]:
        logits = self.model(batch["source"], batch["source_lengths"], batch["target_in"]).logits  # (B, T, V)
        loss = F.cross_entropy(
            logits.flatten(0, 1),
            batch["target_out"].flatten(),
            ignore_index=self.config.pad_id,
            label_smoothing=label_smoothing,
        )
        return loss, logits

    def training_step(self, batch: dict[str, Tensor], batch_index: int) -> Tensor:
        loss, _ = self.loss(batch, self.label_smoothing)
        self.log("loss", loss, prog_bar=True, batch_size=batch["source"].size(0))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._counts = torch.zeros(4, dtype=torch.long, device=self.device)
        self._texts = ([], [])

    def validation_step(self, batch: dict[str, Tensor], batch_index: int) -> None:
        loss, logits = self.loss(batch)
        self.log("val_loss", loss, batch_size=batch["source"].size(0), sync_dist=True)
        target = batch["target_out"]
        decoded = self.model.generate(
            batch["source"], batch["source_lengths"], generation_limit(batch["source_lengths"], target)
        )
        counts = (
            *token_counts(logits, target, self.config.pad_id),
            *sequence_counts(decoded.tokens, target, self.config.pad_id),
        )
        self._counts += torch.tensor(counts, device=self.device)
        if self.text_of is not None:
            self._texts[0].extend(self.text_of(row) for row in decoded.tokens)
            self._texts[1].extend(self.text_of(row) for row in target)

    def on_validation_epoch_end(self) -> None:
        counts = self.trainer.strategy.reduce(self._counts.float(), reduce_op="sum")  # over DDP processes
        metrics = {"val_token_acc": counts[0] / counts[1].clamp_min(1), "val_exact": counts[2] / counts[3].clamp_min(1)}
        if self.text_of is not None and self._texts[0]:
            metrics.update({f"val_{k}": v for k, v in bleu_chrf(*self._texts).items()})  # this process's share
        self.log_dict(metrics, prog_bar=True)

    def configure_optimizers(self) -> Any:
        options = self.optimizer_options
        optimizer = torch.optim.Adam(self.parameters(), lr=options["lr"], betas=tuple(options["betas"]))
        if options["schedule"] == "warmup":
            factor = functools.partial(warmup_factor, warmup_steps=options["warmup_steps"])
        elif options["schedule"] != "cosine":
            raise ValueError(f"schedule: expected 'cosine' or 'warmup', got {options['schedule']!r}")
        elif options["decay_steps"]:
            factor = functools.partial(
                cosine_factor, decay_steps=options["decay_steps"], final_fraction=options["final_lr_fraction"]
            )
        else:
            return optimizer
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def loader(dataset: PairDataset, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader of :func:`attnzoo.tasks.text.collate_pairs` batches (seeded shuffling)."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_pairs, generator=generator)


@torch.no_grad()
def evaluate_dataset(
    model: torch.nn.Module,
    dataset: PairDataset,
    text_of: Callable[[Tensor], str],
    *,
    batch_size: int = 500,
    beam_size: int = 1,
    bleu: bool = False,
) -> tuple[dict[str, float], list[str]]:
    """Decode a whole dataset and score it.

    Returns:
        metrics ``{"exact": ..., "token_acc": ...}`` (plus ``bleu`` and ``chrf`` with ``bleu``),
        and the generated text of each example in order.
    """
    model.eval()
    pad = model.config.pad_id
    correct = tokens = exact = total = 0
    hypotheses, references = [], []
    for batch in loader(dataset, batch_size):
        source, lengths, target = batch["source"], batch["source_lengths"], batch["target_out"]
        logits = model(source, lengths, batch["target_in"]).logits
        decoded = model.generate(source, lengths, generation_limit(lengths, target), beam_size=beam_size)
        right, count = token_counts(logits, target, pad)
        matches, rows = sequence_counts(decoded.tokens, target, pad)
        correct, tokens, exact, total = correct + right, tokens + count, exact + matches, total + rows
        hypotheses.extend(text_of(row) for row in decoded.tokens)
        references.extend(text_of(row) for row in target)
    metrics = {"exact": exact / max(total, 1), "token_acc": correct / max(tokens, 1)}
    if bleu:
        metrics.update(bleu_chrf(hypotheses, references))
    return metrics, hypotheses


def train(
    module: TranslationModule,
    train_set: PairDataset,
    valid_set: PairDataset,
    out_dir: str | Path,
    *,
    batch_size: int = 128,
    max_steps: int = -1,
    max_epochs: int | None = None,
    seed: int = 0,
    resume: bool = False,
    checkpoint_every: int = 100,
    progress: bool = True,
    devices: int = 1,
    val_check_interval: int | float | None = None,
    callbacks: list[Any] | None = None,
) -> L.Trainer:
    """Fit ``module`` with :func:`attnzoo.training.make_trainer`; ``resume`` continues from
    ``<out_dir>/checkpoints/last.ckpt``. Validation runs after every epoch (or every
    ``val_check_interval`` training batches). ``devices > 1`` runs DDP processes (gloo on the CPU).
    """
    from attnzoo.training import make_trainer

    options: dict[str, Any] = {}
    if val_check_interval is not None:
        options.update(val_check_interval=val_check_interval, check_val_every_n_epoch=None)
    trainer = make_trainer(
        out_dir,
        max_epochs=max_epochs,
        max_steps=max_steps,
        checkpoint_every=checkpoint_every,
        progress=progress,
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        callbacks=callbacks,
        num_sanity_val_steps=0,
        **options,
    )
    checkpoint = "last" if resume else None
    if resume and not (Path(out_dir) / "checkpoints" / "last.ckpt").is_file():
        raise FileNotFoundError(f"{out_dir}/checkpoints/last.ckpt: nothing to resume from")
    trainer.fit(
        module,
        loader(train_set, batch_size, shuffle=True, seed=seed),
        loader(valid_set, max(batch_size, 256)),
        ckpt_path=checkpoint,
    )
    return trainer


def save_run(
    out_dir: str | Path,
    module: TranslationModule,
    source_vocab: Any,
    target_vocab: Any,
    task: dict[str, Any],
    metrics: dict[str, float] | None = None,
) -> None:
    """Write the final model, its vocabularies, the task description and metrics to ``out_dir``."""
    from attnzoo.training import save_model, write_task

    out_dir = Path(out_dir)
    save_model(out_dir, module.name, module.model, module.config)
    source_vocab.save(out_dir / "source_vocab.json")
    target_vocab.save(out_dir / "target_vocab.json")
    write_task(out_dir, task)
    if metrics is not None:
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
