"""Every registered loss against its peer: forward + backward time and peak memory at three
sizes, and the cost of the check modes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

import losskit
from bench.cases import CASES, NO_CASE, SIZES, Case
from bench.measure import on_device, paired_ratio, peak_bytes, time_interleaved


def missing_cases() -> list[str]:
    """Registered losses that have no entry in ``bench/cases.py`` yet (timed without a peer)."""
    return [s.name for s in losskit.list_specs() if s.name not in CASES]


def case_of(name: str) -> Case:
    return CASES.get(name, NO_CASE)


@dataclass
class Inputs:
    """One call of a loss: the example's tensors (gradients on), options, and the peer's formats."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    grad: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def _prepare(name: str, n: int) -> Inputs:
    """The loss's own example inputs (``losskit.get_spec(name).example``) at about ``n``
    elements, the same draw for every size and mode (seed 0)."""
    make = losskit.get_spec(name).example
    if make is None:
        raise LookupError(f"{name} names no example factory in @register(example=...)")
    ex = make(n, torch.Generator().manual_seed(0))
    args = tuple(
        on_device(a.detach().clone()).requires_grad_() if i in ex.grad else on_device(a)
        for i, a in enumerate(ex.args)
    )
    extra = case_of(name).extra
    peer_extra = {"kwargs": dict(ex.kwargs), **(extra(args) if extra else {})}
    return Inputs(args, dict(ex.kwargs), ex.grad, peer_extra)


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


def kind_of(case: Case) -> str | None:
    """``"native"`` (PyTorch's own kernel or formula), ``"library"`` (MONAI, kornia, PML,
    torchvision's formula), ``"formula"`` (the loss's docstring in plain torch), or None."""
    if case.peer is None:
        return None
    if case.formula:
        return "formula"
    return "native" if case.native else "library"


def _in_mode(mode: str, call: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with losskit.checks(mode):  # type: ignore[arg-type]
            return call()

    return run


def bench_loss(name: str, sizes: list[str], *, rounds: int, target_s: float) -> dict[str, Any]:
    """One loss at each size: ours in the default ``"full"`` check mode and in ``"shapes"``, and
    the peer, timed in the same interleaved rounds; medians, peaks and their ratios."""
    case = case_of(name)
    out: dict[str, Any] = {
        "loss": name,
        "peer": case.peer_name or None,
        "kind": kind_of(case),
        "native": case.native if case.peer else None,
        "note": case.note or None,
        "sizes": {},
    }
    for size in sizes:
        row: dict[str, Any] = {"elements": SIZES[size]}
        try:
            inp = _prepare(name, SIZES[size])
            grads = [inp.args[i] for i in inp.grad]
            row["shape"] = next(list(a.shape) for a in inp.args if torch.is_tensor(a))
            ours = step(_ours(name, inp), grads)
            calls = {"ours": _in_mode("full", ours), "ours_shapes": _in_mode("shapes", ours)}
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
            row["ours_peak_bytes"] = peak_bytes(calls["ours"])
            row["full_over_shapes"] = paired_ratio(times, "ours", "ours_shapes")
            if "peer" in calls:
                row["peer_peak_bytes"] = peak_bytes(calls["peer"])
                row["time_ratio"] = paired_ratio(times, "ours", "peer")
                row["shapes_time_ratio"] = paired_ratio(times, "ours_shapes", "peer")
                row["cpu_time_ratio"] = row["ours_cpu_s"] / max(row["peer_cpu_s"], 1e-9)
                row["memory_ratio"] = (row["ours_peak_bytes"] + 1) / (row["peer_peak_bytes"] + 1)
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        out["sizes"][size] = row
    return out


def bench_check_modes(name: str, size: str, *, rounds: int, target_s: float) -> dict[str, Any]:
    """Forward + backward of one loss in each check mode, interleaved; ratios to ``"off"``, and
    of ``"off"`` to itself (an A/A control: how far two runs of the same code differ here).

    The checks are deterministic (``"full"`` reads every constrained input whole on every call),
    so every call costs the same: no warm-up schedule to step past."""
    try:
        inp = _prepare(name, SIZES[size])
        grads = [inp.args[i] for i in inp.grad]
        call = step(_ours(name, inp), grads)

        times = time_interleaved(
            {
                m: _in_mode(m.removesuffix("_again"), call)
                for m in ("full", "shapes", "off", "off_again")
            },
            rounds=rounds,
            target_s=target_s,
        )
    except Exception as exc:
        return {"loss": name, "size": size, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {
        "loss": name,
        "size": size,
        "elements": SIZES[size],
        "rounds": rounds,
        **{f"{m}_s": t["median_s"] for m, t in times.items()},
        "full_over_off": paired_ratio(times, "full", "off"),
        "shapes_over_off": paired_ratio(times, "shapes", "off"),
        "off_again_over_off": paired_ratio(times, "off_again", "off"),
        "cpu_full_over_off": times["full"]["median_cpu_s"]
        / max(times["off"]["median_cpu_s"], 1e-9),
    }


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")
