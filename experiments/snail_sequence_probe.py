"""What SNAIL's two block kinds can learn on their own: a probe of the sequence model without images.

The few-shot table (``docs/results/snail.md``) has TC-only at chance, training accuracy included.
Is that a defect of the blocks or what a stack of kernel-2 causal convolutions can learn in the
budget? This probe trains the sequence part of each preset (the blocks and the output layer of
:class:`attnzoo.models.snail.model.SNAIL`, no image embedding) on synthetic episodes whose steps are
random vectors instead of embedded images, each concatenated with its one-hot label as in the model:

- *relay*: answer the label of the first support step (step 0): no comparison, only carrying a
  label across the whole sequence, so it checks that the query's step reads every earlier step;
- *matching*: the query is a noisy copy (noise 0.3 per coordinate) of one support vector (each a
  noisy copy of its class's random centre); answer that step's label: the few-shot task itself,
  with a perfect embedding.

Accuracy is measured on 2,000 new episodes after training, overall and by the position of the
query's match in the support set (matching only; position 4 is the step just before the query).
Writes ``docs/results/snail_sequence_probe.md``.

    python experiments/snail_sequence_probe.py            # about 8 minutes on one thread
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from attnzoo.models.snail.model import SNAIL, SNAILConfig

ROOT = Path(__file__).resolve().parent.parent
WAYS, SIZE, NOISE = 5, 32, 0.3  # classes per episode, vector size, noise of a drawing around its class centre
PRESETS = {
    "tc-only": ("tc", "tc"),
    "attention-only": ("attention", "attention", "attention"),
    "snail": ("attention", "tc", "attention", "tc", "attention"),
}


def episodes(task: str, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` synthetic 5-way 1-shot episodes: the sequence ``(B, T, SIZE + N)``, the answer ``(B,)`` and
    the support position the answer is read from ``(B,)``."""
    labels = torch.argsort(torch.rand(count, WAYS, generator=generator), dim=1)  # (B, S): a class per step
    centres = torch.randn(count, WAYS, SIZE, generator=generator)  # (B, N, SIZE): one per class
    support = torch.gather(centres, 1, labels[..., None].expand(-1, -1, SIZE))
    support = support + NOISE * torch.randn(count, WAYS, SIZE, generator=generator)
    if task == "relay":
        position = torch.zeros(count, dtype=torch.long)  # the first step's label, whatever the query is
    else:
        position = torch.randint(0, WAYS, (count,), generator=generator)
    answer = labels[torch.arange(count), position]
    query = centres[torch.arange(count), answer] + NOISE * torch.randn(count, SIZE, generator=generator)
    if task == "relay":
        query = torch.randn(count, SIZE, generator=generator)  # unrelated to any step
    steps = torch.cat([support, query[:, None]], dim=1)  # (B, T, SIZE)
    one_hot = torch.cat([F.one_hot(labels, WAYS).float(), torch.zeros(count, 1, WAYS)], dim=1)  # query's zeros
    return torch.cat([steps, one_hot], dim=-1), answer, position


def logits_of(model: SNAIL, sequence: torch.Tensor) -> torch.Tensor:
    """``(B, N)``: the blocks over the sequence, the output layer at the query's step."""
    features, _ = model.read(sequence)
    return model.output(features[:, -1])


def probe(blocks: tuple[str, ...], task: str, steps: int, seed: int) -> dict:
    """Train the blocks on ``task`` (Adam 1e-3, batches of 64) and measure them on 2,000 new episodes."""
    torch.manual_seed(seed)
    config = SNAILConfig(blocks=blocks, channels=SIZE)
    model = SNAIL(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    start = time.process_time()
    for _ in range(steps):
        sequence, answer, _ = episodes(task, 64, generator)
        loss = F.cross_entropy(logits_of(model, sequence), answer)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
    with torch.no_grad():
        sequence, answer, position = episodes(task, 2000, torch.Generator().manual_seed(seed + 1))
        correct = logits_of(model, sequence).argmax(-1) == answer
    by_position = [100 * float(correct[position == index].float().mean()) for index in range(WAYS)]
    accuracy = 100 * float(correct.float().mean())
    return {"accuracy": accuracy, "by_position": by_position, "cpu_minutes": (time.process_time() - start) / 60}


def table(results: dict[tuple[str, str], dict], steps: int) -> str:
    lines = [
        "| blocks | task | accuracy (%) | by position of the match: 0, 1, 2, 3, 4 (%) | CPU min |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for (name, task), result in results.items():
        positions = ", ".join(f"{value:.0f}" for value in result["by_position"]) if task == "matching" else "–"
        lines.append(f"| {name} | {task} | {result['accuracy']:.1f} | {positions} | {result['cpu_minutes']:.1f} |")
    return "\n".join(lines)


def reading(results: dict[tuple[str, str], dict], steps: int) -> str:
    """What the table says, with its numbers."""
    relay = ", ".join(f"{name} {results[name, 'relay']['accuracy']:.0f}%" for name in PRESETS)
    matching = ", ".join(f"{name} {results[name, 'matching']['accuracy']:.1f}%" for name in PRESETS)
    return (
        f"Relaying the first step's label to the query: {relay}. Matching the query to its support "
        f"step after {steps:,} steps: {matching}. A DenseBlock joins two steps only through "
        "`tanh(W_f [x_t, x_(t-d)]) ⊙ σ(W_g [x_t, x_(t-d)])`, elementwise functions of sums, with no product "
        "of one step's features with the other's; attention's score `q · k` is that product, a "
        "similarity from the start. A stack that relays perfectly but does not match is what the "
        "few-shot TC-only run shows at chance, training accuracy included (`docs/results/snail.md`)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps of each probe (batches of 64)")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "results")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for name, blocks in PRESETS.items():
        for task in ("relay", "matching"):
            results[name, task] = probe(blocks, task, arguments.steps, seed=0)
            print(name, task, results[name, task], flush=True)
    text = (
        "# SNAIL's blocks on their own: relaying a label against matching a query\n\n"
        "Written by `experiments/snail_sequence_probe.py` (see its docstring for the two tasks). "
        f"Each row: the preset's blocks and output layer, no image embedding, {arguments.steps:,} steps of 64 "
        f"synthetic 5-way 1-shot episodes (vectors of {SIZE}, noise {NOISE}), Adam 1e-3, seed 0, one thread, "
        f"torch {torch.__version__}, Python {platform.python_version()}; accuracy on 2,000 new episodes "
        "(chance 20%).\n\n" + table(results, arguments.steps) + "\n\n" + reading(results, arguments.steps) + "\n\n"
        "Reproduce: `python experiments/snail_sequence_probe.py`.\n"
    )
    arguments.docs.mkdir(parents=True, exist_ok=True)
    (arguments.docs / "snail_sequence_probe.md").write_text(text)
    print(f"wrote {arguments.docs / 'snail_sequence_probe.md'}")


if __name__ == "__main__":
    main()
