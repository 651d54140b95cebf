"""``linear_cross_entropy`` against the plain formula, PyTorch's own
``F.linear_cross_entropy`` (its default reference path, and its chunked path with default
options) and the bare matrix products no implementation can avoid. Beside it (``run``'s
``"fused"`` entry, :func:`fused_table`), the other fused heads against their naive formulas
on the materialised logits: ``linear_log_probs`` (with and without the entropy, each token's
output weighted by its own upstream factor) and ``linear_distillation`` (JSD at beta 0.5).

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
from losskit.losses._large_vocab import (
    default_chunk_size,
    linear_cross_entropy,
    linear_distillation,
    linear_log_probs,
)

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
    result["fused"] = run_fused(shape, rounds=rounds)
    return result


# ----------------------------------------------------------------------------- other fused heads
# Each case: (hidden, weight, labels, per-token upstream weights) -> (ours, naive), two
# callables that return a scalar whose gradient (in hidden and weight) the step takes. The
# upstream weights stand for the loss built on top (a DPO or policy-gradient loss weights every
# token's log-prob by its own factor), so the per-token outputs need a real backward.
Pair = tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]


def _log_probs_case(
    h: torch.Tensor, w: torch.Tensor, y: torch.Tensor, up: torch.Tensor, *, entropy: bool
) -> Pair:
    def ours() -> torch.Tensor:
        if entropy:
            lp, ent = linear_log_probs(h, w, y, entropy=True)
            return (lp * up + ent * up).sum()
        return (linear_log_probs(h, w, y) * up).sum()

    def naive() -> torch.Tensor:
        log_p = torch.log_softmax(h @ w.T, 1)  # (N, V)
        lp = log_p.gather(1, y.unsqueeze(1)).squeeze(1)
        if entropy:
            ent = -(log_p.exp() * log_p).sum(1)
            return (lp * up + ent * up).sum()
        return (lp * up).sum()

    return ours, naive


def naive_distillation(
    student_hidden: torch.Tensor,
    student_weight: torch.Tensor,
    teacher_hidden: torch.Tensor,
    teacher_weight: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
    ignore_index: int = -100,
) -> torch.Tensor:
    """The generalized JSD on the materialised logits of both heads, as TRL's GKD trainer
    writes it (log-softmax, the mixture by logsumexp, F.kl_div with log targets), mean over
    the counted tokens; the teacher under no_grad."""
    ls = torch.log_softmax(student_hidden @ student_weight.T / temperature, -1)  # (N, V)
    with torch.no_grad():
        lt = torch.log_softmax(teacher_hidden @ teacher_weight.T / temperature, -1)
    if beta == 0:
        per = F.kl_div(ls, lt, reduction="none", log_target=True)
    elif beta == 1:
        per = F.kl_div(lt, ls, reduction="none", log_target=True)
    else:
        b = torch.tensor(beta, dtype=ls.dtype, device=ls.device)
        lm = torch.logsumexp(torch.stack([ls + torch.log1p(-b), lt + torch.log(b)]), 0)
        per = b * F.kl_div(lm, lt, reduction="none", log_target=True) + (1 - b) * F.kl_div(
            lm, ls, reduction="none", log_target=True
        )
    loss = per.sum(-1)
    if labels is None:
        return loss.mean()
    valid = labels != ignore_index
    return (loss * valid).sum() / valid.sum().clamp(min=1)


def _distillation_case(h: torch.Tensor, w: torch.Tensor, y: torch.Tensor, up: torch.Tensor) -> Pair:
    # a teacher head as wide as the student's (its hidden states fixed, no gradient)
    g = torch.Generator().manual_seed(1)
    th = (torch.randn(h.shape, generator=g) / h.shape[1] ** 0.5).to(h.device)
    tw = torch.randn(w.shape, generator=g).to(w.device)
    del up  # a scalar loss: its own mean
    return (
        lambda: linear_distillation(h, w, th, tw, y),
        lambda: naive_distillation(h, w, th, tw, y),
    )


FUSED: dict[str, Callable[..., Pair]] = {
    "log_probs": lambda h, w, y, up: _log_probs_case(h, w, y, up, entropy=False),
    "log_probs_entropy": lambda h, w, y, up: _log_probs_case(h, w, y, up, entropy=True),
    "distillation": _distillation_case,
}


# matrix products of each case's materialised formula, forward + backward
PRODUCTS = {"log_probs": 3, "log_probs_entropy": 3, "distillation": 4}


def run_fused(shape: str, *, rounds: int, cases: list[str] | None = None) -> dict[str, Any]:
    """Every case of :data:`FUSED` at ``shape``: ours and the naive formula (the materialised
    logits), forward + backward, timed in interleaved rounds with the bare matrix products;
    peak bytes above the inputs (gradients included) from the first call."""
    n, d, v = SHAPES[shape]
    g = torch.Generator().manual_seed(0)
    dev = measure.DEVICE
    hidden = (torch.randn(n, d, generator=g) / d**0.5).to(dev).requires_grad_()
    weight = torch.randn(v, d, generator=g).to(dev).requires_grad_()
    labels = torch.randint(0, v, (n,), generator=g).to(dev)
    up = (torch.rand(n, generator=g) + 0.5).to(dev)
    h0, w0 = hidden.detach(), weight.detach()
    logits, dlogits = torch.empty(n, v, device=dev), (torch.randn(n, v, generator=g) / v).to(dev)
    gh, gw = torch.empty(n, d, device=dev), torch.empty(v, d, device=dev)

    def floor() -> None:  # the three products of the materialised formula
        torch.mm(h0, w0.T, out=logits)
        torch.mm(dlogits, w0, out=gh)
        torch.mm(dlogits.T, h0, out=gw)

    def step(fn: Callable[[], torch.Tensor]) -> Callable[[], Any]:
        return lambda: torch.autograd.grad(fn(), (hidden, weight))

    out: dict[str, Any] = {}
    for case in cases or list(FUSED):
        ours, naive = FUSED[case](hidden, weight, labels, up)
        calls = {"losskit": step(ours), "naive": step(naive)}
        peaks = {name: peak_bytes(call) for name, call in calls.items()}  # warm-up too
        times = time_interleaved(
            {**calls, "matmul_floor": floor}, rounds=rounds, target_s=0.0, warmup=0
        )
        variants = {
            name: {
                "median_s": t["median_s"],
                "min_s": t["min_s"],
                "timed_calls": t["rounds"],
                "peak_bytes": peaks.get(name),
            }
            for name, t in times.items()
        }
        mine, theirs = variants["losskit"], variants["naive"]
        # the bare products of the materialised formula: the three of one head's logits and
        # its two gradients, plus the teacher's logits for distillation
        floor_s = variants["matmul_floor"]["median_s"] * PRODUCTS.get(case, 3) / 3
        grad_bytes = 4 * (n * d + v * d)
        out[case] = {
            "variants": variants,
            "gradient_bytes": grad_bytes,
            "ratios": {
                "time_vs_naive": mine["median_s"] / theirs["median_s"],
                "time_vs_matmul_floor": mine["median_s"] / floor_s,
                "memory_vs_naive": mine["peak_bytes"] / max(theirs["peak_bytes"], 1),
                "peak_over_gradients": mine["peak_bytes"] / grad_bytes,
            },
        }
    return out


def fused_table(runs: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per fused case and shape of :func:`run` results (``runs`` as in
    ``result["lce"]``)."""
    lines = [
        "| case | N, D, V | ours s | naive s | ours / naive (time) | ours / bare products "
        "| ours peak MiB | naive peak MiB | ours / naive (memory) | ours peak / gradients |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs.values():
        s = r["shape"]
        for case, c in r.get("fused", {}).items():
            mine, theirs, q = c["variants"]["losskit"], c["variants"]["naive"], c["ratios"]
            lines.append(
                f"| {case} | {s['N']}, {s['D']}, {s['V']} | {mine['median_s']:.3f} | "
                f"{theirs['median_s']:.3f} | {q['time_vs_naive']:.2f} | "
                f"{q['time_vs_matmul_floor']:.2f} | {mine['peak_bytes'] / 2**20:.0f} | "
                f"{theirs['peak_bytes'] / 2**20:.0f} | {q['memory_vs_naive']:.3f} | "
                f"{q['peak_over_gradients']:.2f} |"
            )
    return "\n".join(lines)
