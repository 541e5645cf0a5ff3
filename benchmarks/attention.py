"""Speed and memory of attnzoo's attention against PyTorch, in one run.

    python benchmarks/attention.py [--repeats N] [--no-write]

Prints four tables and writes them to ``docs/results/attention_benchmark.md``:

1. ``MultiHeadAttention`` vs ``torch.nn.MultiheadAttention(batch_first=True)``, self-attention,
   B=8, E=512, H=8, L in (128, 512, 1024): inference (eval, ``no_grad``, ``need_weights=False``
   for both) and forward+backward (train mode, dropout 0, ``need_weights=False`` for both, the
   loss ``out.sum()``, gradients of the input and of every parameter).
   Goal: ratio ours/PyTorch <= 1.0 everywhere.
2. The attention core (what ``MultiHeadAttention`` runs without weights: ``fused_dot_product``,
   i.e. ``scaled_dot_product_attention``) in GF/s, counting ``4 * B * H * L^2 * head_dim`` FLOPs
   (the two matrix products), as a share of a plain fp32 square matmul ``(N, N) @ (N, N)`` with
   the same FLOP count (``2 N^3``, N rounded to a multiple of 64). Goal: >= 70%.
3. ``Attention(AdditiveScore)`` at B=8, Tq=Tk=512, D=hidden=128, unchunked vs ``chunk_size``
   64/32/16, inference and training (forward + backward; chunked, the score's backward
   recomputes each chunk's tanh, ``AdditiveScores``, instead of keeping it). Goal: peak memory
   <= 1/8 of unchunked at <= 1.1x its time (training: 1.3x).
4. bfloat16 against float32 on this CPU: a square matmul and the attention core, in GF/s.

How it measures:

- ``torch.set_num_threads(2)`` (``--threads``: on a busy machine one thread avoids waiting for a
  descheduled partner at every parallel region, which costs small operations most); other programs
  may share the CPU, so the contenders of each comparison run *interleaved*, round-robin with the
  order rotating every round, after warm-up runs, and the tables give medians over ``--repeats``
  rounds, or more rounds where they take less than 20 s (table 3: half as many rounds). A ratio is
  the ratio of two medians.
- Peak memory: each variant runs in a fresh Python process (this file with
  ``--peak-memory CHUNK:MODE``), which builds the inputs, resets the kernel's peak-RSS counter
  (``echo 5 > /proc/self/clear_refs``), runs one pass and reports
  ``VmHWM - VmRSS before`` from ``/proc/self/status``: the most memory the pass added
  at any moment, as the OS saw it (large tensors are mmap-ed and returned to the OS when
  freed, so RSS follows live tensors). Median over 3 processes. Where ``/proc`` is missing
  (not Linux) it falls back to ``ru_maxrss`` growth, which can underestimate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
from measure import cpu_name, interleaved_medians, load_average, markdown_table, ms, peak_growth_bytes
from torch import nn

from attnzoo import AdditiveScore, Attention, MultiHeadAttention
from attnzoo.attention.functional import fused_dot_product

THREADS = 2  # the default of --threads
MIN_SECONDS = 20.0  # time each comparison for at least this long (more rounds for quick ones)
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results" / "attention_benchmark.md"

# Table 1 and 2
BATCH, EMBED, HEADS = 8, 512, 8
LENGTHS = (128, 512, 1024)
# Table 3
ADDITIVE_BATCH, ADDITIVE_LENGTH, ADDITIVE_DIM = 8, 512, 128
CHUNKS = (None, 64, 32, 16)
HEADLINE_CHUNK = 32  # the chunked variant the goal is judged on
GOALS = {"inference": 1.1, "training": 1.3}  # the most time a chunked pass may take, against unchunked
# Table 4
BF16_SIDE, BF16_LENGTH = 512, 128


# ------------------------------------------------------------------ 1. MultiHeadAttention vs PyTorch
def copy_into_torch(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """``nn.MultiheadAttention`` with the same weights, so both compute the same function."""
    ref = nn.MultiheadAttention(ours.embed_dim, ours.num_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ref


def multihead_times(length: int, repeats: int) -> tuple[list[float], list[float]]:
    """Median seconds (ours, PyTorch) of inference and of forward+backward at sequence length ``length``."""
    ours = MultiHeadAttention(EMBED, HEADS)
    ref = copy_into_torch(ours)
    x = torch.randn(BATCH, length, EMBED)

    ours.eval(), ref.eval()
    with torch.no_grad():
        # the same function, so a fair race
        torch.testing.assert_close(
            ours(x, need_weights=False).context, ref(x, x, x, need_weights=False)[0], rtol=1e-4, atol=1e-4
        )
        inference = interleaved_medians(
            [lambda: ours(x, need_weights=False), lambda: ref(x, x, x, need_weights=False)],
            repeats,
            min_seconds=MIN_SECONDS,
        )

    ours.train(), ref.train()
    x = x.requires_grad_()

    def ours_training():
        ours.zero_grad(set_to_none=True)
        x.grad = None
        ours(x, need_weights=False).context.sum().backward()

    def torch_training():
        ref.zero_grad(set_to_none=True)
        x.grad = None
        ref(x, x, x, need_weights=False)[0].sum().backward()

    return inference, interleaved_medians([ours_training, torch_training], repeats, min_seconds=MIN_SECONDS)


def multihead_rows(repeats: int) -> tuple[list[list[str]], bool]:
    rows, ok = [], True
    for length in LENGTHS:
        inference, training = multihead_times(length, repeats)
        for mode, (mine, theirs) in (("inference", inference), ("forward+backward", training)):
            ratio = mine / theirs
            ok &= ratio <= 1.0
            rows.append([str(length), mode, ms(mine), ms(theirs), f"{ratio:.2f}", "yes" if ratio <= 1.0 else "no"])
            print(f"  L={length} {mode}: ours/PyTorch {ratio:.2f}", file=sys.stderr)
    return rows, ok


# ------------------------------------------------------------------ 2. attention core vs matmul
def core_times(length: int, repeats: int) -> tuple[float, float, int, int]:
    """Median seconds of the attention core and of a square matmul with as many FLOPs; those FLOPs, its side."""
    head_dim = EMBED // HEADS
    q, k, v = (torch.randn(BATCH, HEADS, length, head_dim) for _ in range(3))  # (B, H, L, hd)
    flops = 4 * BATCH * HEADS * length**2 * head_dim  # Q K^T and weights @ V, 2 FLOPs per multiply-add
    side = max(64, round((flops / 2) ** (1 / 3) / 64) * 64)  # a square matmul with about as many FLOPs
    a, b = torch.randn(side, side), torch.randn(side, side)
    scale = 1.0 / math.sqrt(head_dim)
    with torch.no_grad():
        core, matmul = interleaved_medians(
            [lambda: fused_dot_product(q, k, v, None, scale), lambda: a @ b], repeats, min_seconds=MIN_SECONDS
        )
    return core, matmul, flops, side


def core_rows(repeats: int) -> tuple[list[list[str]], bool]:
    rows, ok = [], True
    for length in LENGTHS:
        core, matmul, flops, side = core_times(length, repeats)
        core_gflops, matmul_gflops = flops / core / 1e9, 2 * side**3 / matmul / 1e9
        share = core_gflops / matmul_gflops
        ok &= share >= 0.70
        rows.append(
            [
                str(length),
                ms(core),
                f"{core_gflops:.0f}",
                f"{side}x{side}",
                ms(matmul),
                f"{matmul_gflops:.0f}",
                f"{share:.0%}",
                "yes" if share >= 0.70 else "no",
            ]
        )
        print(f"  L={length}: core at {share:.0%} of matmul GF/s", file=sys.stderr)
    return rows, ok


# ------------------------------------------------------------------ 3. chunked additive attention
def additive_setup(chunk_size: int | None):
    torch.manual_seed(0)
    d = ADDITIVE_DIM
    attention = Attention(AdditiveScore(d, d, d), chunk_size=chunk_size).eval()
    query = torch.randn(ADDITIVE_BATCH, ADDITIVE_LENGTH, d)
    keys = torch.randn(ADDITIVE_BATCH, ADDITIVE_LENGTH, d)
    return attention, query, keys


def peak_memory_child(argument: str) -> None:
    """Run in a fresh process: print the memory one pass (``CHUNK:MODE``) adds at its peak, in bytes."""
    chunk, mode = argument.split(":")
    attention, query, keys = additive_setup(None if chunk == "none" else int(chunk))
    with torch.no_grad():
        attention(query[:, :1], keys)  # load the kernels once, on one query
    if mode == "inference":
        added, method = peak_growth_bytes(lambda: inference_pass(attention, query, keys))
    else:
        added, method = peak_growth_bytes(training_pass(attention, query, keys))
    print(json.dumps({"bytes": added, "method": method}))


def inference_pass(attention: Attention, query: torch.Tensor, keys: torch.Tensor) -> None:
    with torch.no_grad():
        attention(query, keys)


def training_pass(attention: Attention, query: torch.Tensor, keys: torch.Tensor) -> Callable[[], None]:
    """One forward and backward pass (gradients of the inputs and of every parameter)."""
    query, keys = query.clone().requires_grad_(), keys.clone().requires_grad_()

    def run() -> None:
        attention.zero_grad(set_to_none=True)
        query.grad = keys.grad = None
        attention(query, keys).context.sum().backward()

    return run


def peak_memory(chunk_size: int | None, mode: str, processes: int = 3) -> tuple[float, str]:
    """Median over ``processes`` fresh processes of the peak memory one pass adds, and the method."""
    results = []
    for _ in range(processes):
        argument = f"{'none' if chunk_size is None else chunk_size}:{mode}"
        output = subprocess.run(
            [sys.executable, __file__, "--peak-memory", argument, "--threads", str(torch.get_num_threads())],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    return statistics.median(r["bytes"] for r in results), results[0]["method"]


def additive_times(mode: str, repeats: int) -> list[float]:
    """Median seconds of one pass of every chunk size, interleaved; the chunked results checked equal."""
    whole, query, keys = additive_setup(None)
    variants = [Attention(whole.score, chunk_size=chunk) for chunk in CHUNKS]
    with torch.no_grad():
        expected = whole(query, keys).context
        for variant in variants:
            torch.testing.assert_close(variant(query, keys).context, expected)
    if mode == "inference":
        passes = [lambda v=v: inference_pass(v, query, keys) for v in variants]
    else:
        passes = [training_pass(v, query, keys) for v in variants]
    return interleaved_medians(passes, repeats, warmup=1)


def additive_rows(repeats: int) -> tuple[list[list[str]], dict[str, bool], str]:
    rows, ok = [], {}
    for mode, time_goal in GOALS.items():
        memory = {chunk: peak_memory(chunk, mode) for chunk in CHUNKS}
        seconds = additive_times(mode, repeats)
        for chunk, chunk_time in zip(CHUNKS, seconds, strict=True):
            memory_ratio, time_ratio = memory[chunk][0] / memory[None][0], chunk_time / seconds[0]
            goal = memory_ratio <= 1 / 8 and time_ratio <= time_goal
            if chunk == HEADLINE_CHUNK:
                ok[mode] = goal
            rows.append(
                [
                    mode,
                    "none" if chunk is None else str(chunk),
                    f"{memory[chunk][0] / 2**20:.0f}",
                    "1" if chunk is None else f"1/{1 / memory_ratio:.1f}",
                    ms(chunk_time),
                    f"{time_ratio:.2f}",
                    "-" if chunk is None else ("yes" if goal else "no"),
                ]
            )
            print(f"  {mode} chunk {chunk}: memory 1/{1 / memory_ratio:.1f}, time {time_ratio:.2f}", file=sys.stderr)
    return rows, ok, memory[None][1]


# ------------------------------------------------------------------ 4. bfloat16 on this CPU
def bfloat16_rows(repeats: int) -> list[list[str]]:
    """GF/s of a square matmul and of the attention core, float32 against bfloat16, on this CPU."""
    rows = []
    a, b = torch.randn(BF16_SIDE, BF16_SIDE), torch.randn(BF16_SIDE, BF16_SIDE)
    matmuls = [lambda: a @ b, lambda: a.bfloat16() @ b.bfloat16()]
    q, k, v = (torch.randn(BATCH, HEADS, BF16_LENGTH, EMBED // HEADS) for _ in range(3))
    cores = [
        lambda: fused_dot_product(q, k, v, None, 0.125),
        lambda: fused_dot_product(q.bfloat16(), k.bfloat16(), v.bfloat16(), None, 0.125),
    ]
    flops = {"matmul": 2 * BF16_SIDE**3, "attention core": 4 * BATCH * HEADS * BF16_LENGTH**2 * (EMBED // HEADS)}
    with torch.no_grad():
        for name, functions in (("matmul", matmuls), ("attention core", cores)):
            fp32, bf16 = interleaved_medians(functions, repeats, warmup=1)
            rate32, rate16 = flops[name] / fp32 / 1e9, flops[name] / bf16 / 1e9
            rows.append([name, f"{rate32:.1f}", f"{rate16:.1f}", f"{rate16 / rate32:.2f}"])
            print(f"  {name}: bfloat16 {rate16 / rate32:.2f}x float32", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed pairs per measurement (median taken)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads (1 on a busy machine)")
    parser.add_argument("--peak-memory", help=argparse.SUPPRESS)  # internal: the child process of table 3
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.peak_memory is not None:
        peak_memory_child(args.peak_memory)
        return

    torch.manual_seed(0)
    load_before = load_average()
    print("1/4 MultiHeadAttention vs nn.MultiheadAttention ...", file=sys.stderr)
    mha = multihead_rows(args.repeats)
    print("2/4 attention core vs fp32 matmul ...", file=sys.stderr)
    core = core_rows(args.repeats)
    print("3/4 chunked additive attention, inference and training ...", file=sys.stderr)
    additive = additive_rows(max(3, (args.repeats + 1) // 2))
    print("4/4 bfloat16 against float32 ...", file=sys.stderr)
    bf16 = bfloat16_rows(3)

    report = make_report(args.repeats, load_before, mha, core, additive, bf16)
    print(report)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report, encoding="utf-8")
        print(f"wrote {RESULTS}", file=sys.stderr)


def make_report(repeats: int, load_before: str, multihead: tuple, core_table: tuple, chunked: tuple, bf16) -> str:
    """The markdown report of the four tables."""
    (mha, mha_ok), (core, core_ok), (additive, additive_ok, method) = multihead, core_table, chunked
    met = {True: "yes", False: "NO"}
    return "\n".join(
        [
            "# Attention benchmark",
            "",
            f"`python benchmarks/attention.py --repeats {repeats} --threads {torch.get_num_threads()}`, "
            f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}: torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, {cpu_name()} ({os.cpu_count()} CPUs, "
            f"{torch.backends.cpu.get_cpu_capability()}), load average {load_before} before / {load_average()} "
            "after (the CPU is shared: medians of interleaved runs).",
            "",
            f"## MultiHeadAttention vs torch.nn.MultiheadAttention (B={BATCH}, E={EMBED}, H={HEADS}, self-attention, "
            "need_weights=False) — goal: ratio <= 1.0",
            "",
            markdown_table(["L", "mode", "ours ms", "PyTorch ms", "ours/PyTorch", "goal met"], mha),
            "",
            f"## Attention core (SDPA through fused_dot_product, B={BATCH}, H={HEADS}, head_dim={EMBED // HEADS}) vs a "
            "plain fp32 matmul of the same FLOP count — goal: >= 70%",
            "",
            markdown_table(
                ["L", "core ms", "core GF/s", "matmul", "matmul ms", "matmul GF/s", "share", "goal met"], core
            ),
            "",
            f"## Attention(AdditiveScore), B={ADDITIVE_BATCH}, Tq=Tk={ADDITIVE_LENGTH}, D=hidden={ADDITIVE_DIM} — "
            f"goal: peak memory <= 1/8 of unchunked at <= {GOALS['inference']}x the time (inference), "
            f"<= {GOALS['training']}x (training: forward + backward; chunked, each chunk's tanh "
            "recomputed in the score's backward)",
            "",
            markdown_table(
                ["mode", "chunk_size", "peak MiB added", "vs unchunked", "ms", "time vs unchunked", "goal met"],
                additive,
            ),
            "",
            f"Peak memory: the growth of the process's peak RSS during one pass ({method}), each variant in a "
            "fresh process, median of 3. Times: the variants interleaved round-robin.",
            "",
            f"## bfloat16 against float32 on this CPU (matmul {BF16_SIDE}x{BF16_SIDE}; attention core B={BATCH}, "
            f"H={HEADS}, L={BF16_LENGTH})",
            "",
            markdown_table(["operation", "float32 GF/s", "bfloat16 GF/s", "bfloat16 / float32"], bf16),
            "",
            "bfloat16 pays only where the CPU multiplies it natively (AVX512-BF16 or AMX); elsewhere PyTorch "
            "converts and the products run slower than in float32. `attnzoo train ... --precision bf16-mixed` "
            "trains under bfloat16 autocast on any machine; use it where this table shows a ratio above 1.",
            "",
            f"Goals met: MultiHeadAttention {met[mha_ok]}; attention core {met[core_ok]}; chunked additive "
            f"(chunk_size={HEADLINE_CHUNK}) inference {met[additive_ok['inference']]}, training "
            f"{met[additive_ok['training']]}.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
