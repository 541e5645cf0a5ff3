"""NTM training speed: attnzoo's batched NTM against a per-sequence-loop NTM, in one process, ratios printed.

The task is the paper's copy task at length 20 (41 steps: 20 vectors, the delimiter, 20 answers),
with the usual sizes: LSTM controller of 100, memory 128 x 20, one read and one write head.
A training step is forward, backward and an Adam step; the figure is sequences per second.

- **ours**: :class:`attnzoo.models.ntm.NTM` (every head of every sequence addressed at once).
- **per-sequence loops**: the same NTM (same parameters) with the circular convolution of
  eq. (8) and the memory write of eqs. (3)-(4) done one sequence at a time, as in the
  implementation people use (``F.conv1d`` per sequence, outer
  products per sequence). It is written here from the equations, not copied; it differs from
  that implementation in everything else, so it measures the batch loops, not the whole gap.
- **quoted reference**: a widely used reference implementation, measured on this kind of 2-core machine at
  11 sequences/s at batch 1 and 59 at batch 32 (the issue's figures; not rerun here). The goal
  is at least 5x that at batch 32, i.e. 295 sequences/s.

The CPU is shared with other jobs: the script prints the load average and both wall-clock and
CPU-time rates (CPU time of this process, all threads), so a busy machine shows as such.

Run: ``python benchmarks/ntm.py`` (``--threads 2``, ``--repeats 10``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from attnzoo.models.ntm import NTM, NTMConfig
from attnzoo.models.ntm.addressing import read_memory
from attnzoo.tasks.algorithmic import CopyTask

QUOTED = {1: 11.0, 32: 59.0}  # reference implementation, sequences/s on this machine kind (from the issue)
GOAL_FACTOR = 5


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


def loop_forward(model: NTM, inputs: torch.Tensor) -> torch.Tensor:
    """``model``'s forward pass with :func:`loop_address` and :func:`loop_write`; logits ``(B, T, O)``."""
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
        weights = loop_address(
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
        memory = loop_write(memory, weights[:, 1:], torch.sigmoid(erase), add)
        features.append(torch.cat([h, reads], dim=-1))
    return model.output(torch.stack(features, dim=1))


def rate(forward, model: NTM, batch_size: int, repeats: int) -> tuple[float, float]:
    """Median training sequences per wall-clock second and per CPU second."""
    batch = CopyTask().sample(batch_size, torch.Generator().manual_seed(0), length=20)
    mask = batch.mask[..., None].expand_as(batch.targets)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        logits = forward(model, batch.inputs)
        loss = F.binary_cross_entropy_with_logits(logits[mask], batch.targets[mask])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    step()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return batch_size / statistics.median(wall), batch_size / statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: fastest for these sizes)")
    parser.add_argument("--repeats", type=int, default=10, help="timed training steps per case")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = NTM(NTMConfig())
    load = os.getloadavg()
    print(
        f"copy, length 20; controller 100, memory 128x20, 1 read + 1 write head; torch {torch.__version__}, "
        f"{args.threads} thread(s) on {os.cpu_count()} CPUs; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    header = (
        f"{'batch':>5}  {'ours seq/s':>10}  {'(per CPU s)':>11}  {'loops seq/s':>11}  {'(per CPU s)':>11}  "
        f"{'ours/loops':>10}  {'quoted ref':>10}  {'ours/quoted':>11}"
    )
    print(header)
    for batch_size in args.batches:
        ours, ours_cpu = rate(lambda model, inputs: model(inputs).logits, model, batch_size, args.repeats)
        loops, loops_cpu = rate(loop_forward, model, batch_size, max(3, args.repeats // 3))
        quoted = QUOTED.get(batch_size)
        shown = f"{quoted:10.0f}  {ours / quoted:10.1f}x" if quoted else f"{'-':>10}  {'-':>11}"
        print(
            f"{batch_size:5d}  {ours:10.1f}  {ours_cpu:11.1f}  {loops:11.1f}  {loops_cpu:11.1f}  "
            f"{ours / loops:9.1f}x  {shown}"
        )
    load = os.getloadavg()
    print(f"goal at batch 32: >= {GOAL_FACTOR * QUOTED[32]:.0f} sequences/s; load average after: {load[0]:.1f}")


if __name__ == "__main__":
    main()
