"""Every registered loss against its peer: forward + backward time and peak memory at three
sizes, and the cost of the check modes."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import losskit
from bench.cases import CASES, SIZES, Case, Inputs
from bench.measure import paired_ratio, peak_bytes, time_interleaved
from losskit import _checks


def missing_cases() -> list[str]:
    """Registered losses that have no entry in ``bench/cases.py`` yet."""
    return [s.name for s in losskit.list_specs() if s.name not in CASES]


def _prepare(case: Case, n: int) -> Inputs:
    inp = case.make(n, torch.Generator().manual_seed(0))
    args = tuple(
        a.detach().clone().requires_grad_() if i in inp.grad else a for i, a in enumerate(inp.args)
    )
    return Inputs(args, inp.kwargs, inp.grad, inp.extra)


def step(fn: Callable[[], torch.Tensor], inputs: list[torch.Tensor]) -> Callable[[], Any]:
    """One forward + backward: the loss, then the gradients of the inputs that need them."""

    def run() -> Any:
        return torch.autograd.grad(fn(), inputs)

    return run


def _ours(name: str, inp: Inputs) -> Callable[[], torch.Tensor]:
    fn = losskit.get_spec(name).function
    return lambda: fn(*inp.args, **inp.kwargs)


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def bench_loss(name: str, sizes: list[str], *, rounds: int, target_s: float) -> dict[str, Any]:
    """One loss at each size: median times and peaks of ours and the peer, their ratios."""
    case = CASES[name]
    out: dict[str, Any] = {
        "loss": name,
        "peer": case.peer_name or None,
        "native": case.native if case.peer else None,
        "note": case.note or None,
        "sizes": {},
    }
    for size in sizes:
        row: dict[str, Any] = {"elements": SIZES[size]}
        try:
            inp = _prepare(case, SIZES[size])
            grads = [inp.args[i] for i in inp.grad]
            row["shape"] = next(list(a.shape) for a in inp.args if torch.is_tensor(a))
            calls = {"ours": step(_ours(name, inp), grads)}
            if case.peer is not None:
                peer = case.peer
                try:
                    row["value_rel_diff"] = _rel_diff(_ours(name, inp)(), peer(inp.args, inp.extra))
                    calls["peer"] = step(lambda p=peer, i=inp: p(i.args, i.extra), grads)
                except Exception as exc:  # the peer library is missing or refuses the input
                    row["peer_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
            times = time_interleaved(calls, rounds=rounds, target_s=target_s)
            for key, t in times.items():
                row[f"{key}_s"] = t["median_s"]
                row[f"{key}_cpu_s"] = t["median_cpu_s"]
                row[f"{key}_peak_bytes"] = peak_bytes(calls[key])
            if "peer_s" in row:
                row["time_ratio"] = row["ours_s"] / row["peer_s"]
                row["cpu_time_ratio"] = row["ours_cpu_s"] / max(row["peer_cpu_s"], 1e-9)
                row["memory_ratio"] = (row["ours_peak_bytes"] + 1) / (row["peer_peak_bytes"] + 1)
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        out["sizes"][size] = row
    return out


class _OpCount(TorchDispatchMode):
    """Counts the PyTorch operators dispatched while active (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.ops += 1
        return func(*args, **(kwargs or {}))


def _ops_per_call(run: Callable[[], Any], calls: int) -> float:
    with _OpCount() as count:
        for _ in range(calls):
            run()
    return count.ops / calls


def bench_check_modes(
    name: str, size: str, *, rounds: int, target_s: float, count_ops: bool = False
) -> dict[str, Any] | None:
    """Forward + backward of one loss in each check mode, interleaved, after the warm-up calls of
    ``"full"``; ratios to ``"off"``, and of ``"off"`` to itself (the noise)."""
    case = CASES[name]
    try:
        inp = _prepare(case, SIZES[size])
        grads = [inp.args[i] for i in inp.grad]
        call = step(_ours(name, inp), grads)

        def in_mode(mode: str) -> Callable[[], Any]:
            def run() -> Any:
                with losskit.checks(mode):  # type: ignore[arg-type]
                    return call()

            return run

        # A training loop's steady state: "full" reads the values of a large tensor on the first
        # _EVERY calls of its signature, then every _EVERY-th (losskit._checks.read_values).
        for _ in range(_checks._EVERY + 1):
            in_mode("full")()
        # "off" twice: an A/A control, how far two runs of the same code differ on this machine
        times = time_interleaved(
            {
                "full": in_mode("full"),
                "shapes": in_mode("shapes"),
                "off": in_mode("off"),
                "off_again": in_mode("off"),
            },
            rounds=rounds,
            target_s=target_s,
        )
        # The cost without the noise: operators "full" adds per call in the steady state, over
        # one period of its reads (the same at every size: "full" reads a fixed sample)
        extra_ops = (
            _ops_per_call(in_mode("full"), _checks._EVERY)
            - _ops_per_call(in_mode("off"), _checks._EVERY)
            if count_ops
            else None
        )
    except Exception as exc:
        return {"loss": name, "size": size, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {
        "loss": name,
        "size": size,
        "elements": SIZES[size],
        **{f"{m}_s": t["median_s"] for m, t in times.items()},
        "full_over_off": paired_ratio(times, "full", "off"),
        "shapes_over_off": paired_ratio(times, "shapes", "off"),
        "off_again_over_off": paired_ratio(times, "off_again", "off"),
        "full_extra_ops_per_call": extra_ops,
        "cpu_full_over_off": times["full"]["median_cpu_s"]
        / max(times["off"]["median_cpu_s"], 1e-9),
    }


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")
