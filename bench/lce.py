"""``linear_cross_entropy`` against the plain formula, PyTorch's own
``F.linear_cross_entropy`` (its default reference path, and its chunked path with default
options) and the bare matrix products no implementation can avoid.

Every variant does a full forward + backward of ``mean`` cross-entropy on fp32 inputs
``hidden (N, D)``, ``weight (V, D)``. Times are medians of interleaved rounds; memory is the peak
of allocated bytes above the inputs (gradients included), from the profiler, on the first call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from bench import measure
from bench.measure import peak_bytes, time_interleaved
from losskit.losses._large_vocab import default_chunk_size, linear_cross_entropy

# name: (N tokens, D, V)
SHAPES = {
    "quick": (256, 64, 8192),  # past the small-call threshold: the chunked path
    "lm": (4096, 512, 32768),  # the target shape
    "vocab": (2048, 256, 131072),  # the plain formula holds 3 GiB here
}


def _torch_chunked(h: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    from torch.nn.modules.linear_cross_entropy_options import LinearCrossEntropyOptions

    return F.linear_cross_entropy(h, w, y, options=LinearCrossEntropyOptions())


# timed by one call only: PyTorch's chunked path picks 16-32-row chunks on a CPU (tuned on an
# A100), which makes it 3-20x slower than the rest here
SINGLE = {"torch_chunked"}

VARIANTS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "losskit": lambda h, w, y: linear_cross_entropy(h, w, y),
    "naive": lambda h, w, y: F.cross_entropy(h @ w.T, y),
    "torch_default": lambda h, w, y: F.linear_cross_entropy(h, w, y),
    "torch_chunked": _torch_chunked,
}


def run(shape: str, *, rounds: int, variants: list[str] | None = None) -> dict[str, Any]:
    n, d, v = SHAPES[shape]
    g = torch.Generator().manual_seed(0)
    dev = measure.DEVICE
    hidden = (torch.randn(n, d, generator=g) / d**0.5).to(dev).requires_grad_()
    weight = torch.randn(v, d, generator=g).to(dev).requires_grad_()
    labels = torch.randint(0, v, (n,), generator=g).to(dev)
    names = variants or list(VARIANTS)

    def step(fn: Callable[..., torch.Tensor]) -> Callable[[], Any]:
        return lambda: torch.autograd.grad(fn(hidden, weight, labels), (hidden, weight))

    calls = {name: step(VARIANTS[name]) for name in names}
    # The floor: the three products of the formula (logits, grad of hidden, grad of weight)
    # into preallocated outputs, with the gradient of the logits given.
    h0, w0 = hidden.detach(), weight.detach()
    logits, dlogits = torch.empty(n, v, device=dev), (torch.randn(n, v, generator=g) / v).to(dev)
    gh, gw = torch.empty(n, d, device=dev), torch.empty(v, d, device=dev)

    def floor() -> None:
        torch.mm(h0, w0.T, out=logits)
        torch.mm(dlogits, w0, out=gh)
        torch.mm(dlogits.T, h0, out=gw)

    # the first call of each is profiled for its peak (and is the warm-up); the slow ones
    # (SINGLE) are timed by that call alone
    peaks, single = {}, {}
    for name, call in calls.items():
        start = time.perf_counter()
        peaks[name] = peak_bytes(call)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        single[name] = time.perf_counter() - start
    timed = {name: call for name, call in calls.items() if name not in SINGLE}
    timed["matmul_floor"] = floor
    times = time_interleaved(timed, rounds=rounds, target_s=0.0, warmup=0)
    for name in calls:
        if name in SINGLE:
            t = single[name]
            times[name] = {"median_s": t, "min_s": t, "max_s": t, "rounds": 1}
    flops = 6 * n * d * v
    result: dict[str, Any] = {
        "shape": {"N": n, "D": d, "V": v},
        "chunk_size": default_chunk_size(n, v),
        "logits_bytes": 4 * n * v,
        "gradient_bytes": 4 * (n * d + v * d),
        "threads": torch.get_num_threads(),
        "rounds": rounds,
        "variants": {},
    }
    for name, t in times.items():
        result["variants"][name] = {
            "median_s": t["median_s"],
            "min_s": t["min_s"],
            "timed_calls": t["rounds"],
            "gflops": flops / t["median_s"] / 1e9,
            "peak_bytes": peaks.get(name),
        }
    ours = result["variants"]["losskit"]
    ratios: dict[str, float] = {}
    for name, row in result["variants"].items():
        if name == "losskit":
            continue
        ratios[f"time_vs_{name}"] = ours["median_s"] / row["median_s"]
        if row["peak_bytes"]:
            ratios[f"memory_vs_{name}"] = ours["peak_bytes"] / row["peak_bytes"]
    result["ratios"] = ratios
    return result
