"""attnzoo's Transformer against torch.nn.Transformer, in one process, ratios printed.

(a) training tokens/s (forward + backward + Adam step) of the same configuration;
(b) greedy generation of 256 tokens with a 6-layer decoder: ours with the KV cache vs
    nn.Transformer recomputing the whole prefix at every step;
(c) peak resident memory of each of the above, measured in a fresh child process per case:
    the kernel's peak-RSS mark is reset just before the case (``/proc/self/clear_refs``), and
    the peak reached during the case minus the resident size before it is reported.

Run: ``python benchmarks/transformer.py`` (``--quick`` for a smaller, faster configuration).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from attnzoo.decoding import greedy_decode
from attnzoo.models.transformer import Transformer, TransformerConfig

VOCAB = 64
SETUP = (
    "Training: one forward + backward + Adam step, batch 32, source and target of 64 tokens, d_model 256,\n"
    "8 heads, 3 + 3 layers, d_ff 1024 (median of 5). Generation: 256 greedy tokens for 8 sources of 32,\n"
    "d_model 256, 8 heads, 6 + 6 layers: ours with the KV cache against nn.Transformer recomputing the\n"
    "whole prefix at every step (median of 3). Peak memory: the rise of the peak RSS of a fresh process\n"
    "running the case once. Same sizes, embeddings and output layer, same inputs, one process for the timings."
)


def make_pair(d_model: int, heads: int, layers: int, d_ff: int) -> tuple[Transformer, nn.Module]:
    """Our model and a reference: nn.Transformer with the same embeddings and output layer."""
    config = TransformerConfig(
        source_vocab_size=VOCAB,
        target_vocab_size=VOCAB,
        d_model=d_model,
        num_heads=heads,
        num_encoder_layers=layers,
        num_decoder_layers=layers,
        d_ff=d_ff,
        dropout=0.1,
        max_len=1024,
    )
    ours = Transformer(config)
    core = nn.Transformer(d_model, heads, layers, layers, d_ff, dropout=0.1, batch_first=True)
    reference = nn.ModuleDict(
        {"core": core, "source": ours.source_embedding, "target": ours.target_embedding, "out": ours.generator}
    )
    return ours, reference


def reference_logits(reference: nn.ModuleDict, source, source_keep, target_in) -> torch.Tensor:
    causal = torch.ones(target_in.size(1), target_in.size(1), dtype=torch.bool).triu(1)
    hidden = reference["core"](
        reference["source"](source),
        reference["target"](target_in),
        tgt_mask=causal,
        src_key_padding_mask=~source_keep,
        memory_key_padding_mask=~source_keep,
    )
    return reference["out"](hidden)


def training_step(model_logits, parameters, target_out) -> None:
    optimiser = torch.optim.Adam(parameters, lr=1e-4)
    logits = model_logits()
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), target_out.flatten())
    loss.backward()
    optimiser.step()
    optimiser.zero_grad()


def median_time(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_case(name: str, size: dict, batch: int, length: int):
    torch.manual_seed(0)
    ours, reference = make_pair(**size)
    source = torch.randint(4, VOCAB, (batch, length))
    lengths = torch.full((batch,), length)
    target_in, target_out = torch.randint(4, VOCAB, (batch, length)), torch.randint(4, VOCAB, (batch, length))
    keep = torch.ones(batch, length, dtype=torch.bool)
    if name == "ours":
        return lambda: training_step(lambda: ours(source, lengths, target_in).logits, ours.parameters(), target_out)
    return lambda: training_step(
        lambda: reference_logits(reference, source, keep, target_in), reference.parameters(), target_out
    )


@torch.no_grad()
def generation_case(name: str, size: dict, batch: int, steps: int):
    torch.manual_seed(0)
    ours, reference = make_pair(**size)
    ours.eval()
    reference.eval()
    source = torch.randint(4, VOCAB, (batch, 32))
    lengths = torch.full((batch,), 32)
    keep = torch.ones(batch, 32, dtype=torch.bool)
    if name == "ours":
        return lambda: greedy_decode(ours.step, ours.start_decoding(source, lengths), batch, bos_id=1, max_len=steps)

    def recompute():
        prefix = torch.full((batch, 1), 1)
        for _ in range(steps):
            next_token = reference_logits(reference, source, keep, prefix)[:, -1].argmax(-1)
            prefix = torch.cat([prefix, next_token[:, None]], dim=1)

    return recompute


def memory_status(key: str) -> float:
    """``VmRSS`` / ``VmHWM`` (peak) of this process in MiB, from /proc (Linux)."""
    with open("/proc/self/status") as status:
        return int(re.search(rf"{key}:\s+(\d+)", status.read()).group(1)) / 1024


def run_child(case: str, name: str, quick: bool) -> None:
    """In a child process: build one case, run it once, print the rise of peak RSS in MiB."""
    function = build_case(case, name, quick)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak-RSS mark to the current RSS
    before = memory_status("VmRSS")
    function()
    print(memory_status("VmHWM") - before)


def build_case(case: str, name: str, quick: bool):
    if case == "train":
        size = (
            {"d_model": 128, "heads": 4, "layers": 2, "d_ff": 512}
            if quick
            else {"d_model": 256, "heads": 8, "layers": 3, "d_ff": 1024}
        )
        return training_case(name, size, batch=32, length=32 if quick else 64)
    size = (
        {"d_model": 128, "heads": 4, "layers": 6, "d_ff": 512}
        if quick
        else {"d_model": 256, "heads": 8, "layers": 6, "d_ff": 1024}
    )
    return generation_case(name, size, batch=8, steps=64 if quick else 256)


def peak_memory(case: str, name: str, quick: bool) -> float:
    command = [sys.executable, __file__, "--child", case, name] + (["--quick"] if quick else [])
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller model and fewer steps")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "NAME"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = parser.parse_args()
    if args.child:
        run_child(*args.child, args.quick)
        return
    rows = []
    for case, what, repeats in (("train", "training step", 5), ("generate", "greedy generation", 3)):
        ours_time = median_time(build_case(case, "ours", args.quick), repeats)
        torch_time = median_time(build_case(case, "torch", args.quick), repeats)
        ours_memory, torch_memory = peak_memory(case, "ours", args.quick), peak_memory(case, "torch", args.quick)
        rows.append((what, ours_time, torch_time, ours_memory, torch_memory))
    train_tokens = 32 * (32 if args.quick else 64) * 2  # source + target tokens per step
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        f"threads: {torch.get_num_threads()}  torch {torch.__version__}  quick={args.quick}  "
        f"CPUs: {os.cpu_count()}  load average after the run: {load}",
        "",
        "| case | ours (s) | nn.Transformer (s) | speed-up | ours peak MiB | torch peak MiB | tokens/s ours / torch |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for what, ours_time, torch_time, ours_memory, torch_memory in rows:
        rate = f"{train_tokens / ours_time:.0f} / {train_tokens / torch_time:.0f}" if what == "training step" else "-"
        lines.append(
            f"| {what} | {ours_time:.4f} | {torch_time:.4f} | {torch_time / ours_time:.2f}x | "
            f"{ours_memory:.0f} | {torch_memory:.0f} | {rate} |"
        )
    print("\n".join(lines))
    if args.out is not None:
        command = "python benchmarks/transformer.py" + (" --quick" if args.quick else "")
        args.out.write_text(f"# Transformer benchmark\n\n`{command}`\n\n{SETUP}\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
