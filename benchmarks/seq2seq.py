"""Training step of the RNN encoder-decoder: the output layers read out per token or once per batch.

The model is ``attnzoo demo``'s: Bahdanau attention (``seq2seq`` preset ``demo``) on a batch of 128
dates of the demo's task; a training step is forward, backward and an Adam step.

- **per token**: teacher forcing as it was written before, ``decoder(token, state)`` for each
  target token, each step computing its own embedding, deep output (maxout) and output layer.
- **batched readout** (ours, :meth:`attnzoo.models.seq2seq.Seq2Seq.forward`): the loop runs only
  what the next step depends on (attention and RNN, ``Decoder.recur``); the embeddings of all
  target tokens are looked up once before it and the output layers read all steps out once after
  it (``Decoder.readout``). The logits are the same (tested in ``tests/models/test_seq2seq.py``).

The two are timed in turns (:func:`measure.interleaved_medians`), so a change of the machine's
load touches both alike; the load average is printed beside the table, which is also written to
``docs/results/seq2seq_benchmark.md`` (``--markdown``).

Run: ``python benchmarks/seq2seq.py`` (``--threads 1 2``, ``--repeats 20``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from measure import cpu_name, interleaved_medians, load_average, markdown_table, ms

from attnzoo import create_model
from attnzoo.models.seq2seq.presets import PRESETS
from attnzoo.tasks.dates import dates_data
from attnzoo.tasks.text import collate_pairs

BATCH = 128


def per_token_logits(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Teacher forcing one whole decoder step per token: ``(B, T, V)``."""
    state = model.start_decoding(batch["source"], batch["source_lengths"])
    logits = []
    for t in range(batch["target_in"].size(1)):
        step_logits, state, _ = model.decoder(batch["target_in"][:, t], state)
        logits.append(step_logits)
    return torch.stack(logits, dim=1)


def batched_logits(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    return model(batch["source"], batch["source_lengths"], batch["target_in"]).logits


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict, logits_of) -> None:
    logits = logits_of(model, batch)
    loss = F.cross_entropy(logits.flatten(0, 1), batch["target_out"].flatten(), ignore_index=model.config.pad_id)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def measure(threads: int, repeats: int) -> list[str]:
    """One table row: the median step of each way, and their ratio."""
    torch.set_num_threads(threads)
    data = dates_data(train_size=BATCH, valid_size=8, test_size=8)
    batch = collate_pairs([data.train[i] for i in range(BATCH)])
    torch.manual_seed(0)
    model = create_model(
        "seq2seq",
        **PRESETS["demo"].model,
        source_vocab_size=len(data.source_vocab),
        target_vocab_size=len(data.target_vocab),
    ).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    steps = [lambda way=way: training_step(model, optimizer, batch, way) for way in (per_token_logits, batched_logits)]
    per_token, batched = interleaved_medians(steps, repeats)
    return [str(threads), ms(per_token), ms(batched), f"{batched / per_token:.2f}", load_average()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--markdown", type=Path, default=Path("docs/results/seq2seq_benchmark.md"))
    args = parser.parse_args()
    header = ["threads", "per token (ms/step)", "batched readout (ms/step)", "batched / per token", "load average"]
    rows = [measure(threads, args.repeats) for threads in args.threads]
    table = markdown_table(header, rows)
    print(f"{cpu_name()}; the load average (1, 5, 15 min) when each row was done\n{table}")
    args.markdown.write_text(
        "# Seq2Seq training step: per-token against batched readout\n\n"
        f"Written by `python benchmarks/seq2seq.py` (batch {BATCH} dates, the demo's model; forward, "
        f"backward, Adam; medians of interleaved rounds). Machine: {cpu_name()}, torch {torch.__version__}.\n\n"
        f"{table}\n"
    )


if __name__ == "__main__":
    main()
