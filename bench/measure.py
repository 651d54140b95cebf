"""How the suite measures: interleaved timing with medians, and peak allocated bytes.

Timing: every variant is warmed up, then calibrated to a batch of calls lasting about
``target_s``; the rounds run the variants one after another, in an order that alternates every
round (A B C, C B A, ...), so a slow spell of a shared machine hits each of them alike. The
figure reported is the median of the rounds, per call.

Memory: the peak of the bytes held by PyTorch's CPU allocator while one call runs, above what
was held when it started (inputs excluded, gradients included), read from the profiler's
memory events. It is exact and repeatable: no sampling, no resident-set noise.

On a GPU (``python -m bench --device cuda``, :func:`use_device`) a batch is timed with CUDA
events around it, and the peak is ``torch.cuda.max_memory_allocated`` above the bytes allocated
when the call starts.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

Call = Callable[[], object]
DEVICE = torch.device("cpu")


def use_device(name: str) -> torch.device:
    """Every later measurement runs on ``name`` ("cpu", "cuda", "cuda:1")."""
    global DEVICE
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch.cuda.is_available() is False on this machine")
    DEVICE = device
    return device


def on_device(x: Any) -> Any:
    """A tensor moved to the measuring device (other values as they are)."""
    return x.to(DEVICE) if isinstance(x, torch.Tensor) else x


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """The profiler's C++ side prints two lines per session on file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_bytes(fn: Call) -> int:
    """Peak of the bytes allocated (above the start) while ``fn()`` runs."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
        start = torch.cuda.memory_allocated(DEVICE)
        torch.cuda.reset_peak_memory_stats(DEVICE)
        fn()
        torch.cuda.synchronize(DEVICE)
        return max(0, torch.cuda.max_memory_allocated(DEVICE) - start)
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    now = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        now += e.nbytes()
        peak = max(peak, now)
    return peak


def _batch(fn: Call, inner: int) -> tuple[float, float]:
    """Wall and process CPU seconds per call over ``inner`` calls (on a GPU, the wall time is
    the CUDA events' elapsed time around the batch)."""
    if DEVICE.type == "cuda":
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(DEVICE)
        cpu = time.process_time()
        begin.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        return begin.elapsed_time(end) / 1e3 / inner, (time.process_time() - cpu) / inner
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - wall) / inner, (time.process_time() - cpu) / inner


def time_interleaved(
    calls: dict[str, Call], *, rounds: int = 7, target_s: float = 0.02, warmup: int = 1
) -> dict[str, dict[str, Any]]:
    """Median (and min, max) wall seconds per call of each variant, measured in interleaved
    rounds, and the median process CPU seconds (less sensitive to other jobs on the machine,
    though it counts every thread's time). ``round_s`` keeps each round's figure, in order, for
    ratios taken round by round (:func:`paired_ratio`)."""
    inner: dict[str, int] = {}
    for name, fn in calls.items():
        for _ in range(warmup):
            fn()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize(DEVICE)
        once = _batch(fn, 1)[0] if target_s > 0 else 1.0
        inner[name] = max(1, min(10_000, int(target_s / max(once, 1e-7))))
    walls: dict[str, list[float]] = {name: [] for name in calls}
    cpus: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for r in range(rounds):
        for name in order if r % 2 == 0 else reversed(order):
            wall, cpu = _batch(calls[name], inner[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {
        name: {
            "median_s": statistics.median(walls[name]),
            "min_s": min(walls[name]),
            "max_s": max(walls[name]),
            "median_cpu_s": statistics.median(cpus[name]),
            "round_s": walls[name],
            "calls_per_round": inner[name],
            "rounds": rounds,
        }
        for name in calls
    }


def paired_ratio(times: dict[str, dict[str, Any]], num: str, den: str) -> float:
    """Median over rounds of ``num``'s time over ``den``'s in the same round: the two ran
    back to back, so a slow spell of the machine slows both and cancels in the ratio."""
    pairs = zip(times[num]["round_s"], times[den]["round_s"], strict=True)
    return statistics.median(a / b for a, b in pairs)
