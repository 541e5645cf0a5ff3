"""NTM training speed: attnzoo's NTM against the same NTM differentiated by autograd, batched and with
per-sequence loops, in one process, ratios printed.

The task is the paper's copy task at length 20 (41 steps: 20 vectors, the delimiter, 20 answers),
with the usual sizes: LSTM controller of 100, memory 128 x 20, one read and one write head.
A training step is forward, backward and an Adam step; the figure is sequences per second.

- **ours**: :class:`attnzoo.models.ntm.NTM` (every head of every sequence addressed at once; the
  addressing of eqs. (5)-(9) and the memory access of eqs. (2)-(4) are each one autograd node
  with a hand-written backward pass; the controller and the head parameters use autograd).
- **autograd**: the same NTM (same parameters) written in plain batched tensor operations (the
  shift as one ``roll`` per offset) and differentiated by autograd, as attnzoo's NTM was before its
  hand-written backward passes (that code, with ``CosineScore``'s concatenated norms, was a little
  slower still).
- **autograd addr**: ours with :func:`ntm_address` replaced by the same equations
  differentiated by autograd, the content focus of eqs. (5)-(6) through attnzoo's
  ``CosineScore`` (the memory access keeps its hand-written backward pass): what the hand-written
  backward pass of the addressing alone is worth (``ours/addr``).
- **compiled** (``--compile``): ours with ``NTM.compile_step`` (``torch.compile`` of one time step:
  Inductor fuses the chains of small operations into generated C++ loops), as a model prepared
  with ``model.compile_step()`` in Python trains; compiling takes a minute or two once per batch
  size (not in the rates).
- **per-sequence loops**: as **autograd**, but with the circular convolution of eq. (8) and the
  memory write of eqs. (3)-(4) done one sequence at a time, as in the implementation people use
  (``F.conv1d`` per sequence, outer products per sequence). It is written here from the equations,
  not copied; it differs from that implementation in everything else, so it measures the batch
  loops, not the whole gap.
- **quoted reference**: a widely used reference implementation, measured on this kind of 2-core machine at
  11 sequences/s at batch 1 and 59 at batch 32 (the issue's figures; not rerun here). The goal
  is at least 5x that at batch 32, i.e. 295 sequences/s.

The cases are timed in turns (one step each, round after round), so a change of the machine's
load touches them alike. The CPU is shared with other jobs: the script prints the load average
(1-minute, at the start and after each row) and both wall-clock and CPU-time rates (CPU time of
this process, all threads), so a busy machine shows as such. It writes the same table to
``docs/results/ntm_benchmark.md`` (``--markdown``).

Run: ``python benchmarks/ntm.py`` (``--threads 1 2``, ``--repeats 10``).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F

import attnzoo.models.ntm.model as ntm_model
from attnzoo.attention import CosineScore
from attnzoo.models.ntm import NTM, NTMConfig
from attnzoo.models.ntm.addressing import COSINE_EPS, SHARPEN_FLOOR, read_memory
from attnzoo.tasks.algorithmic import CopyTask

QUOTED = {1: 11.0, 32: 59.0}  # reference implementation, sequences/s on this machine kind (from the issue)
GOAL_FACTOR = 5
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results" / "ntm_benchmark.md"


def batched_address(memory, key, beta, gate, shift, gamma, previous):
    """Eqs. (5)-(9) in batched tensor operations, the shift as one ``roll`` per offset (-1, 0, 1)."""
    dots = key @ memory.transpose(1, 2)  # (B, H, N)
    norms = key.norm(dim=-1, keepdim=True) * memory.norm(dim=-1)[:, None, :]
    content = torch.softmax(beta[..., None] * dots / norms.clamp_min(1e-8), dim=-1)
    gated = torch.lerp(previous, content, gate[..., None])  # (B, H, N)
    rolled = [gated.roll(offset, dims=-1) for offset in (-1, 0, 1)]  # w^g(i - o) for each offset o
    shifted = sum(weight[..., None] * w for weight, w in zip(shift.unbind(-1), rolled, strict=True))  # (B, H, N)
    return torch.softmax(gamma[..., None] * shifted.clamp_min(1e-30).log(), dim=-1)


def batched_write(memory, weights, erase, add):
    """Eqs. (3)-(4) for one write head: ``M + w^T (a - M e)``."""
    return torch.addcmul(memory, weights.transpose(1, 2), add - memory * erase)


def cosine_score_address(memory, key, beta, gate, shift, gamma, previous, *, shifts):
    """Eqs. (5)-(9) for ``ntm_address``'s arguments, differentiated by autograd, eq. (6) by ``CosineScore``."""
    content = torch.softmax(CosineScore(eps=COSINE_EPS)(key, memory, beta), dim=-1)  # (5)-(6): (B, H, N)
    gated = torch.lerp(previous, content, gate[..., None])  # (7)
    rolled = [gated.roll(offset, dims=-1) for offset in shifts]  # w^g(i - o) for each offset o
    shifted = sum(weight[..., None] * w for weight, w in zip(shift.unbind(-1), rolled, strict=True))  # (8)
    return torch.softmax(gamma[..., None] * shifted.clamp_min(SHARPEN_FLOOR).log(), dim=-1)  # (9)


def autograd_addressing_forward(model: NTM, inputs: torch.Tensor) -> torch.Tensor:
    """``model``'s own forward pass with its addressing differentiated by autograd; logits ``(B, T, O)``."""
    with mock.patch.object(ntm_model, "ntm_address", cosine_score_address):
        return model(inputs).logits


def loop_address(memory, key, beta, gate, shift, gamma, previous):
    """Eqs. (5)-(9) with the circular convolution done one sequence at a time (``F.conv1d`` each)."""
    dots = key @ memory.transpose(1, 2)  # (B, H, N)
    norms = key.norm(dim=-1, keepdim=True) * memory.norm(dim=-1)[:, None, :]
    content = torch.softmax(beta[..., None] * dots / norms.clamp_min(1e-8), dim=-1)
    gated = gate[..., None] * content + (1 - gate[..., None]) * previous  # (B, H, N)
    shifted = []
    for b in range(memory.size(0)):  # the per-sequence loop
        padded = torch.cat([gated[b, :, -1:], gated[b], gated[b, :, :1]], dim=-1)  # (H, N + 2)
        kernel = shift[b].flip(-1)[:, None, :]  # (H, 1, 3): conv1d correlates, eq. (8) convolves
        shifted.append(F.conv1d(padded[None], kernel, groups=padded.size(0))[0])
    powered = torch.stack(shifted).clamp_min(1e-30) ** gamma[..., None]
    return powered / powered.sum(-1, keepdim=True)


def loop_write(memory, weights, erase, add):
    """Eqs. (3)-(4), one sequence at a time, with outer products."""
    rows = []
    for b in range(memory.size(0)):  # the per-sequence loop
        w, e, a = weights[b, 0], erase[b, 0], add[b, 0]
        rows.append(memory[b] * (1 - torch.outer(w, e)) + torch.outer(w, a))
    return torch.stack(rows)


def autograd_forward(model: NTM, inputs: torch.Tensor, address=batched_address, write=batched_write) -> torch.Tensor:
    """``model``'s forward pass in plain tensor operations, ``address`` and ``write`` given; logits ``(B, T, O)``."""
    config = model.config
    batch = inputs.size(0)
    C, M, heads = config.controller_size, config.memory_width, config.read_heads + config.write_heads
    h, c, memory, weights, reads = model.initial_state(batch)
    input_gates = model.input_gates(inputs).unbind(1)
    features = []
    for x_gates in input_gates:
        gates = x_gates + model.recurrent_gates(torch.cat([reads, h], dim=-1))
        sigmoid_gates, cell_input = gates.split([3 * C, C], dim=-1)
        input_gate, forget_gate, output_gate = torch.sigmoid(sigmoid_gates).chunk(3, dim=-1)
        c = forget_gate * c + input_gate * torch.tanh(cell_input)
        h = output_gate * torch.tanh(c)
        addressing, writing = model.head_parameters(h).clamp(-config.clip, config.clip).split(model.head_split, -1)
        key, beta, gate, gamma, shift = addressing.view(batch, heads, model.head_size).split([M, 1, 1, 1, 3], -1)
        weights = address(
            memory,
            key,
            F.softplus(beta.squeeze(-1)),
            torch.sigmoid(gate.squeeze(-1)),
            torch.softmax(shift, -1),
            1 + F.softplus(gamma.squeeze(-1)),
            weights,
        )
        erase, add = writing.view(batch, 1, 2 * M).split(M, -1)
        reads = read_memory(memory, weights[:, :1]).view(batch, M)
        memory = write(memory, weights[:, 1:], torch.sigmoid(erase), add)
        features.append(torch.cat([h, reads], dim=-1))
    return model.output(torch.stack(features, dim=1))


def loop_forward(model: NTM, inputs: torch.Tensor) -> torch.Tensor:
    """:func:`autograd_forward` with :func:`loop_address` and :func:`loop_write`."""
    return autograd_forward(model, inputs, loop_address, loop_write)


CASES = {  # name: (forward, timed in one round of every how many)
    "ours": (lambda model, inputs: model(inputs).logits, 1),
    "autograd": (autograd_forward, 1),
    "loops": (loop_forward, 3),
    "autograd addr": (autograd_addressing_forward, 1),
}


def rates(model: NTM, cases: dict, batch_size: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median training sequences per wall-clock second and per CPU second of every case, timed in turns."""
    batch = CopyTask().sample(batch_size, torch.Generator().manual_seed(0), length=20)
    mask = batch.mask[..., None].expand_as(batch.targets)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(forward) -> tuple[float, float]:
        started, cpu_started = time.perf_counter(), time.process_time()
        logits = forward(model, batch.inputs)
        loss = F.binary_cross_entropy_with_logits(logits[mask], batch.targets[mask])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return time.perf_counter() - started, time.process_time() - cpu_started

    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for forward, _ in cases.values():
        step(forward)  # warm-up
    for repeat in range(repeats):
        for name, (forward, every) in cases.items():
            if repeat % every == 0:
                times[name].append(step(forward))
    return {
        name: (batch_size / statistics.median(w for w, _ in timed), batch_size / statistics.median(c for _, c in timed))
        for name, timed in times.items()
    }


def compiled_case(model: NTM, inputs: torch.Tensor, say) -> tuple:
    """Ours with :meth:`NTM.compile_step` (``torch.compile`` of one time step), on a shallow copy
    that shares the parameters; says how long compiling took and how far its logits are from the
    eager model's."""
    compiled = copy.copy(model)
    compiled.compile_step()
    started = time.perf_counter()
    logits = compiled(inputs).logits
    logits.sum().backward()  # compiles the backward graph too
    model.zero_grad()
    say(f"torch.compile: {time.perf_counter() - started:.0f} s to compile a step forward and backward (batch 4)")
    say(f"max |logits of compiled - logits of ours| = {(logits - model(inputs).logits).abs().max().item():.1e}")
    return (lambda _model, batch_inputs: compiled(batch_inputs).logits, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads, one table row each")
    parser.add_argument("--repeats", type=int, default=10, help="timed training steps per case (loops: a third)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--markdown", type=Path, default=RESULTS, help="also write the table here")
    parser.add_argument("--compile", action="store_true", help="also time ours through torch.compile")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    torch.manual_seed(0)
    model = NTM(NTMConfig())
    say(
        f"copy, length 20; controller 100, memory 128x20, 1 read + 1 write head; torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs; load average at the start {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    inputs = CopyTask().sample(4, torch.Generator().manual_seed(1), length=20).inputs
    difference = (model(inputs).logits - autograd_forward(model, inputs)).abs().max().item()
    say(f"same model, same inputs: max |logits of ours - logits of autograd| = {difference:.1e}")
    difference = (model(inputs).logits - autograd_addressing_forward(model, inputs)).abs().max().item()
    say(f"max |logits of ours - logits of ours with autograd addressing| = {difference:.1e}")
    cases = dict(CASES)
    if args.compile:
        cases["compiled"] = compiled_case(model, inputs, say)
    say("training sequences/s, median over the steps (in brackets: per CPU second); load: 1-min load average after")
    say(
        f"{'threads':>7} {'batch':>5}  " + "  ".join(f"{name:>15}" for name in cases) + "  "
        f"{'ours/autograd':>13} {'ours/loops':>10} {'ours/addr':>9} {'fastest/quoted':>14}  {'load':>4}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch_size in args.batches:
            measured = rates(model, cases, batch_size, args.repeats)
            ours, autograd, loops, addressing = (measured[name][0] for name in CASES)
            cells = "  ".join(f"{wall:6.1f} ({cpu:6.1f})" for wall, cpu in measured.values())
            quoted = QUOTED.get(batch_size)
            fastest = max(wall for wall, _ in measured.values())
            versus_quoted = f"{fastest / quoted:13.1f}x" if quoted else f"{'-':>14}"
            say(
                f"{threads:>7} {batch_size:>5}  {cells}  {ours / autograd:12.2f}x {ours / loops:9.1f}x "
                f"{ours / addressing:8.2f}x "
                f"{versus_quoted}  {os.getloadavg()[0]:4.1f}"
            )
    say(f"quoted reference: {QUOTED[1]:.0f} sequences/s at batch 1, {QUOTED[32]:.0f} at batch 32")
    say(f"goal at batch 32: >= {GOAL_FACTOR * QUOTED[32]:.0f} sequences/s (wall clock)")
    if args.markdown is not None:
        command = f"python benchmarks/ntm.py --threads {' '.join(map(str, args.threads))} --repeats {args.repeats}"
        command += " --compile" if args.compile else ""
        body = "\n".join(lines)
        args.markdown.write_text(
            f"# NTM training speed benchmark\n\n`{command}` on a shared 2-core CPU (other jobs running):\n\n"
            f"```\n{body}\n```\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
