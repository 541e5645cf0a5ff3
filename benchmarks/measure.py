"""How every benchmark measures on a shared CPU: interleaved medians, peak memory, the machine.

- :func:`interleaved_medians`: the contenders run round-robin, the order rotating every round,
  after warm-up runs; a ratio is the ratio of two medians, so a busy moment slows all alike.
- :func:`peak_growth_bytes`: the most memory one call added at any moment, as the OS saw it
  (``VmHWM`` after resetting it through ``/proc/self/clear_refs``; ``ru_maxrss`` growth where
  there is no ``/proc``, which can underestimate). Run it in a fresh process per variant.
- :func:`load_average` and :func:`cpu_name`, printed beside every table.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def interleaved_medians(
    functions: list[Callable[[], object]], repeats: int, warmup: int = 2, min_seconds: float = 0.0
) -> list[float]:
    """Median seconds of each function, timed round-robin (the order rotating each round) after warm-up.

    Interleaving spreads the slow and fast moments of a shared CPU over all the contenders alike.
    It runs ``repeats`` rounds, and more (up to ``20 * repeats``) until ``min_seconds`` have passed,
    so quick functions get enough rounds for a steady median.
    """
    for _ in range(warmup):
        for function in functions:
            function()
    times: list[list[float]] = [[] for _ in functions]
    started = time.perf_counter()
    rounds = 0
    while rounds < repeats or (time.perf_counter() - started < min_seconds and rounds < 20 * repeats):
        for offset in range(len(functions)):
            which = (rounds + offset) % len(functions)
            start = time.perf_counter()
            functions[which]()
            times[which].append(time.perf_counter() - start)
        rounds += 1
    return [statistics.median(seconds) for seconds in times]


def proc_status_kib(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))


def peak_growth_bytes(function: Callable[[], object]) -> tuple[int, str]:
    """The most memory ``function()`` added at its peak, in bytes, and how it was read."""
    if Path("/proc/self/clear_refs").exists():
        before = proc_status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS
        function()
        return (proc_status_kib("VmHWM") - before) * 1024, "VmHWM"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    function()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024, "ru_maxrss"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = names[0] if names else cpu
    return cpu
