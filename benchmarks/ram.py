"""RAM's glimpse sensor: vectorised extraction against a per-image loop, in one process, ratios printed.

The loop is the common PyTorch way (as in the widely used reimplementation): for each scale,
zero-pad the whole batch by half the patch side, slice each image's patch in a Python loop over
the batch, stack, and average-pool the larger patches down to ``g × g``. Ours
(:class:`attnzoo.models.ram.GlimpseSensor`) takes one ``grid_sample`` for all scales and the whole
batch and touches only the ``O(g² 4^(k-1))`` pixels it reads, so its time should not depend on the
canvas size. Both give the same glimpses (the maximum difference is printed).

Batch 128, 3 scales, g = 12, canvases 60², 100², 200², one torch thread by default. Times are the
median over repeats, the two methods measured alternately so that they share the machine's load.
"same batch" extracts from one batch again and again (it stays in the CPU cache when it is small:
1.8 MB at 60², 20 MB at 200²); "fresh batches" cycles through 64 MB of batches, as data coming
from a loader would, which is the fair comparison across canvas sizes for a method that reads
only a few pixels per image.

Run: ``python benchmarks/ram.py`` (``--repeats``, ``--threads``; ``--markdown PATH`` also writes the
table to a Markdown file, e.g. ``docs/results/ram_benchmark.md``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from attnzoo.models.ram import GlimpseSensor

BATCH, SIZE, SCALES = 128, 12, 3
CANVASES = (60, 100, 200)


def loop_glimpses(images: torch.Tensor, locations: torch.Tensor, size: int, scales: int) -> torch.Tensor:
    """The per-image loop: pad the batch, slice each image's patch, stack; ``(B, k, C, g, g)``."""
    batch, _, height, _ = images.shape
    centres = (0.5 * ((locations + 1.0) * height)).long()  # (B, 2) (col, row) of the centre pixel
    patches = []
    side = size
    for _ in range(scales):
        padded = F.pad(images, (side // 2, side // 2, side // 2, side // 2))
        starts, ends = centres, centres + side  # in padded coordinates: the centre minus side // 2
        patch = torch.stack(
            [padded[i, :, starts[i, 1] : ends[i, 1], starts[i, 0] : ends[i, 0]] for i in range(batch)]
        )  # (B, C, side, side)
        patches.append(F.avg_pool2d(patch, side // size) if side > size else patch)
        side *= 2
    return torch.stack(patches, dim=1)


def timed(function, batches: list[tuple[torch.Tensor, torch.Tensor]], loops: int, offset: int = 0) -> float:
    """Seconds per call of ``function(*batch)``, averaged over ``loops`` calls cycling through ``batches``."""
    start = time.perf_counter()
    for index in range(loops):
        function(*batches[(offset + index) % len(batches)])
    return (time.perf_counter() - start) / loops


def fresh_batches(batch: int, side: int, *, fresh: bool, megabytes: int = 64) -> list[torch.Tensor]:
    """Random ``(batch, 1, side, side)`` image batches: ``fresh``: at least ``megabytes`` MB of them
    (cycled through, a batch is not already in the cache, as with a data loader), else one batch."""
    count = max(2, -(-megabytes * 2**20 // (batch * side * side * 4))) if fresh else 1
    return [torch.rand(batch, 1, side, side) for _ in range(count)]


@torch.no_grad()
def time_per_image(model: torch.nn.Module, canvases: tuple[int, ...], batch: int, repeats: int, *, fresh: bool):
    """ms per image of ``model`` on each canvas side in ``canvases``: ``{side: ms}``, medians of ``repeats`` rounds.

    Batches of ``batch`` images (see :func:`fresh_batches`). One warm-up batch per canvas, then rounds
    that time one batch of every canvas in turn (the sizes interleaved, so that a change of a shared
    machine's load hits them alike). Used by ``experiments/ram_costs.py`` for whole models.
    """
    batches, times = {}, {side: [] for side in canvases}
    for side in canvases:
        batches[side] = fresh_batches(batch, side, fresh=fresh)
        model(batches[side][0])  # warm-up
    for index in range(1, repeats + 1):
        for side in canvases:
            images = batches[side][index % len(batches[side])]
            start = time.perf_counter()
            model(images)
            times[side].append(time.perf_counter() - start)
    return {side: statistics.median(times[side]) * 1e3 / batch for side in canvases}


def main() -> None:
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per method and canvas")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this Markdown file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]  # 1-minute load average: other processes share the CPU
    sensor = GlimpseSensor(SIZE, SCALES)
    generator = torch.Generator().manual_seed(0)
    say(f"glimpse extraction, batch {BATCH}, {SCALES} scales, g = {SIZE}, {args.threads} thread(s), median ms/batch")
    say(f"{'':>8} {'same batch':^34}  {'fresh batches':^34}")
    header = f"{'loop':>10} {'vectorised':>11} {'speed-up':>10}"
    say(f"{'canvas':>8} {header}  {header}  {'max |diff|':>10}")
    ours = {"same": {}, "fresh": {}}
    for canvas in CANVASES:
        count = max(2, -(-64 * 2**20 // (BATCH * canvas * canvas * 4)))  # >= 64 MB of images
        batches = [
            (
                torch.rand(BATCH, 1, canvas, canvas, generator=generator),
                torch.rand(BATCH, 2, generator=generator) * 2 - 1,
            )
            for _ in range(count)
        ]
        images, locations = batches[0]
        difference = (sensor(images, locations) - loop_glimpses(images, locations, SIZE, SCALES)).abs().max().item()
        times: dict[str, list[float]] = {key: [] for key in ("loop same", "ours same", "loop fresh", "ours fresh")}
        for repeat in range(args.repeats):
            for kind, chosen in [("same", batches[:1]), ("fresh", batches)]:
                times[f"loop {kind}"].append(timed(loop, chosen, 3, offset=repeat * 3))
                times[f"ours {kind}"].append(timed(sensor, chosen, 10, offset=repeat * 10))
        ms = {key: statistics.median(values) * 1e3 for key, values in times.items()}
        cells = []
        for kind in ("same", "fresh"):
            ours[kind][canvas] = ms[f"ours {kind}"]
            speed_up = ms[f"loop {kind}"] / ms[f"ours {kind}"]
            cells.append(f"{ms[f'loop {kind}']:>10.3f} {ms[f'ours {kind}']:>11.3f} {speed_up:>9.1f}x")
        say(f"{canvas:>6}² {cells[0]}  {cells[1]}  {difference:>10.1e}")
    first, last = CANVASES[0], CANVASES[-1]
    for kind in ("same", "fresh"):
        growth = ours[kind][last] / ours[kind][first]
        say(f"vectorised, {kind} batch(es), {last}² / {first}²: {growth:.2f}x (flat = 1.00x)")
    if args.markdown is not None:
        title = f"# RAM glimpse extraction benchmark\n\n`python benchmarks/ram.py --repeats {args.repeats}`"
        machine = f"{os.cpu_count()} CPU cores, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
        body = "\n".join(lines)
        args.markdown.write_text(f"{title} ({machine}):\n\n```\n{body}\n```\n")


def loop(images: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    return loop_glimpses(images, locations, SIZE, SCALES)


if __name__ == "__main__":
    main()
