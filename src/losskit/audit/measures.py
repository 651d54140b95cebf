"""The audit's measurements: each takes a sampled :class:`Problem` and a seeded generator and
returns :class:`Check` results in plain words (:mod:`losskit.audit.report` holds the rules that
turn them into a verdict)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from losskit.audit.problems import DTYPE, Others, Problem

__all__ = [
    "Check",
    "convexity",
    "draw",
    "far_side",
    "gradient",
    "gradient_stats",
    "minimum",
    "pct",
    "proper",
    "steps",
]

_POINTS = 512  # points sampled for the gradient statistics
_TRIALS = 48  # small steps toward the target


@dataclass(frozen=True)
class Check:
    """One measurement: ``status`` is "ok", "note", "caveat", "fail" or "n/a"."""

    name: str
    status: str
    detail: str
    value: float | None = None


def gradient(
    problem: Problem, latent: Tensor, others: Others, *, wrt_latent: bool = False
) -> tuple[Tensor, Tensor | None]:
    """The loss and its gradient with respect to the predictions (or the latent point); the
    gradient is None when the output is not connected to them."""
    with torch.enable_grad():
        leaf = latent.detach().clone().requires_grad_(True)
        preds = problem.to_input(leaf)
        if not wrt_latent:
            preds = preds.detach().requires_grad_(True)
        out = problem.call(preds, others)
        if not out.requires_grad:
            return out.detach(), None
        (grad,) = torch.autograd.grad(out, leaf if wrt_latent else preds, allow_unused=True)
    return out.detach(), torch.zeros_like(preds) if grad is None else grad


def draw(problem: Problem, gen: torch.Generator, n: int) -> tuple[Tensor, Others]:
    return problem.draw(gen, problem.fixed_n or n)


def loss_at(problem: Problem, latent: Tensor, others: Others) -> float:
    with torch.no_grad():
        return float(problem.call(problem.to_input(latent), others))


def num(x: float) -> str:
    return "~0" if abs(x) < 1e-10 else f"{x:.4g}"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%" if 0 < x < 0.001 or 0.999 < x < 1 else f"{100 * x:.0f}%"


def _own_losses(problem: Problem, latent: Tensor, others: Others) -> Tensor | None:
    """Each point's loss on its own, or None where points cannot be taken one by one."""
    try:
        with torch.no_grad():
            preds = problem.to_input(latent)
            return problem.per_point(preds, others, loop=problem.fixed_n is None).to(DTYPE)
    except Exception:
        return None


def gradient_stats(problem: Problem, gen: torch.Generator) -> tuple[list[Check], dict[str, Any]]:
    """Where the gradient is exactly zero (or absent) or not finite. A zero gradient matters
    where the point can still improve: it is wrong, and its own loss is above the lowest value
    seen (a hinge beyond its margin, a satisfied triplet, are at their lowest: zero is right)."""
    batches = max(1, min(32, math.ceil(_POINTS / (problem.fixed_n or 64))))
    zeros, bads, wrongs, owns = [], [], [], []
    connected = True
    for _ in range(batches):
        latent, others = draw(problem, gen, 64)
        _, grad = gradient(problem, latent, others)
        n = latent.shape[0] if latent.dim() else 1
        if grad is None:
            connected = False
            zeros.append(torch.ones(n, dtype=torch.bool))
            bads.append(torch.zeros(n, dtype=torch.bool))
        else:
            g = grad.reshape(n, -1)
            zeros.append((g == 0).all(1))
            bads.append(~torch.isfinite(g).all(1))
        wrong = problem.wrong(latent, others) if problem.wrong is not None else None
        wrongs.append(torch.ones(n, dtype=torch.bool) if wrong is None else wrong)
        own = _own_losses(problem, latent, others)
        owns.append(own if own is not None and own.shape == (n,) else None)
    zero, bad, can_improve = torch.cat(zeros), torch.cat(bads), torch.cat(wrongs)
    if all(o is not None for o in owns):
        own = torch.cat([o for o in owns if o is not None])
        low = float(own[torch.isfinite(own)].min()) if bool(torch.isfinite(own).any()) else 0.0
        can_improve &= own > low + 1e-9 * max(1.0, abs(low))
    total, improvable = len(zero), int(can_improve.sum())
    zf, bf = float(zero.float().mean()), float(bad.float().mean())
    sf = float((zero & can_improve).sum()) / improvable if improvable else zf
    facts = {"connected": connected, "stuck": sf, "zero": zf, "nonfinite": bf}
    where = f"{pct(zf)} of {total} sampled points"
    if not connected:
        detail = (
            f"absent at all {total} sampled points: the output is not connected to the "
            "predictions (no grad_fn), so backward has nothing to follow"
        )
    else:
        detail = (
            f"exactly zero at {where}, and at {pct(sf)} of the {improvable} that can still improve"
        )
    status = "fail" if sf >= 0.9 or not connected else "caveat" if sf >= 0.05 else "ok"
    if status == "ok" and zf >= 0.05:
        detail += " (zero only where the loss is already at its lowest, e.g. beyond a margin)"
    bad_status = "fail" if bf >= 0.5 else "caveat" if bf > 0 else "ok"
    return [
        Check("zero gradient", status, detail, zf),
        Check(
            "non-finite gradient",
            bad_status,
            f"inf or NaN at {pct(bf)} of {total} sampled points",
            bf,
        ),
    ], facts


def steps(problem: Problem, gen: torch.Generator) -> Check:
    """Small steps toward the target (or, with no target, against the gradient). Against the
    gradient, a batch whose gradient is exactly zero has no step to take: it is left out here
    (the zero-gradient check judges it), and a loss with no step anywhere scores 0."""
    lower = tried = 0
    for _ in range(_TRIALS):
        latent, others = draw(problem, gen, 16)
        n = latent.shape[0] if latent.dim() else 1
        u = torch.rand((n,) + (1,) * (latent.dim() - 1), generator=gen, dtype=DTYPE)
        if problem.target_latent is not None:
            step = 0.02 * u * (problem.target_latent(others) - latent)
        elif problem.confident is not None:
            step = 0.05 * u * problem.confident(others)
        else:
            _, grad = gradient(problem, latent, others, wrt_latent=True)
            top = 0.0 if grad is None else float(grad.abs().max())
            if grad is None or not top > 0 or not math.isfinite(top):
                continue
            step = -0.01 * float(latent.std() if latent.numel() > 1 else 1) * grad / top
        tried += 1
        lower += loss_at(problem, latent + step, others) < loss_at(problem, latent, others)
    share = lower / tried if tried else 0.0
    if problem.target_latent is not None:
        how = f"{_TRIALS} small steps toward the target"
    elif problem.confident is not None:
        how = f"{_TRIALS} small steps toward more confidence in the true class"
    else:
        how = (
            f"{tried} small steps against the gradient (there is no target to step toward; "
            f"{_TRIALS - tried} batches had a zero gradient)"
            if tried < _TRIALS
            else f"{_TRIALS} small steps against the gradient (there is no target to step toward)"
        )
    status = "fail" if share < 0.5 else "caveat" if share < 0.9 else "ok"
    return Check(
        "better predictions, lower loss", status, f"{pct(share)} of {how} lower the loss", share
    )


def minimum(problem: Problem, gen: torch.Generator) -> Check:
    if problem.target_latent is not None:
        stops = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0, 1.01, 1.1, 1.5, 2.0)
        curves = []
        for _ in range(4):
            latent, others = draw(problem, gen, 64)
            goal = problem.target_latent(others)
            curves.append([loss_at(problem, latent + s * (goal - latent), others) for s in stops])
        at = [sum(c[i] for c in curves) / len(curves) for i in range(len(stops))]
        best = min(range(len(at)), key=lambda i: at[i])
        tol = 1e-9 * max(1.0, abs(at[0]))
        # every prediction shifted off the target by the same amount: a biased minimum shows
        latent, others = draw(problem, gen, 64)
        goal = problem.target_latent(others)
        at_goal = loss_at(problem, goal, others)
        shifted = min(
            (loss_at(problem, goal + d, others), d) for d in (-1.0, -0.1, -1e-3, 1e-3, 0.1, 1.0)
        )
        if shifted[0] < at_goal - 1e-9 * max(1.0, abs(at_goal)):
            return Check(
                "minimum at the target",
                "caveat",
                f"predictions {shifted[1]:+g} off the target score {num(shifted[0])}, "
                f"lower than the target itself ({num(at_goal)})",
            )
        if not at[6] < at[0]:
            return Check(
                "minimum at the target",
                "fail",
                f"no lower at the target ({num(at[6])}) than at the sampled predictions "
                f"({num(at[0])})",
            )
        if at[6] > at[best] + tol:
            return Check(
                "minimum at the target",
                "caveat",
                f"the lowest loss on the way is {num(at[best])} at {stops[best]:g} of the "
                f"way to the target, not at the target ({num(at[6])})",
            )
        return Check(
            "minimum at the target",
            "ok",
            f"lowest at the target: {num(at[6])} there, {num(at[0])} at the sampled "
            "predictions, higher again past it"
            if at[-1] > at[6] + tol
            else f"lowest at the target ({num(at[6])}; {num(at[0])} at the sampled predictions)",
        )
    if problem.confident is not None:
        scales = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
        latent, others = draw(problem, gen, 64)
        d = problem.confident(others)
        at = [loss_at(problem, latent + s * d, others) for s in scales]
        tol = 1e-9 * max(1.0, abs(at[0]))
        rises = [i for i in range(1, len(at)) if at[i] > at[i - 1] + tol]
        if not min(at[1:]) < at[0]:
            return Check(
                "minimum at the target",
                "fail",
                "the loss does not fall as the true class becomes more confident "
                f"({num(at[0])} -> {num(at[-1])})",
            )
        if rises:
            return Check(
                "minimum at the target",
                "note",
                f"falls from {num(at[0])} to {num(min(at))} as the true class becomes more "
                f"confident, then rises again (to {num(at[-1])}): it penalises "
                "over-confidence",
            )
        return Check(
            "minimum at the target",
            "ok",
            f"falls steadily from {num(at[0])} to {num(at[-1])} as the true class becomes "
            "more confident",
        )
    return Check(
        "minimum at the target",
        "n/a",
        f"no target in the space of the predictions ({problem.input_space})",
    )


def proper(problem: Problem, gen: torch.Generator) -> Check:
    name = "proper scoring rule"
    if not problem.classes or problem.constant_targets is None:
        return Check(name, "n/a", "applies to binary and multiclass probabilistic predictions")
    make = problem.constant_targets
    with torch.no_grad():
        if problem.classes == 1:
            z = torch.linspace(-8.0, 8.0, 321, dtype=DTYPE)
            p = torch.sigmoid(z)
            loss1 = problem.per_point(problem.to_input(z), make(len(z), 1.0))
            loss0 = problem.per_point(problem.to_input(z), make(len(z), 0.0))
            weak = None
            for q in (0.2, 0.35, 0.65, 0.8):
                expected = q * loss1 + (1 - q) * loss0
                low = float(expected.min())
                minimisers = p[expected <= low + 1e-9 * max(1.0, abs(low))]
                lo, hi = float(minimisers.min()), float(minimisers.max())
                if not lo - 0.02 <= q <= hi + 0.02:
                    at = lo if abs(lo - q) > abs(hi - q) else hi
                    return Check(
                        name,
                        "note",
                        f"no: for a true probability of {q:g} the expected "
                        f"loss is lowest at p = {at:.2f}, so its outputs are not "
                        "calibrated probabilities",
                        0.0,
                    )
                if hi - lo > 0.05:
                    weak = q, lo, hi
            if weak:
                return Check(
                    name,
                    "note",
                    f"only weakly: for a true probability of {weak[0]:g} "
                    f"every p in [{weak[1]:.2f}, {weak[2]:.2f}] has the same lowest "
                    "expected loss, so p = q is not singled out",
                    0.5,
                )
            return Check(
                name,
                "note",
                "yes: under a Bernoulli(q) target the expected loss is "
                "lowest at p = q (q = 0.2 ... 0.8)",
                1.0,
            )
        c = problem.classes
        weak_q: tuple[Tensor, Tensor] | None = None
        for _ in range(3):
            qv = torch.softmax(torch.randn(c, generator=gen, dtype=DTYPE), 0)
            noise = torch.randn(120, c, generator=gen, dtype=DTYPE)
            cand = torch.cat((qv.log()[None], qv.log() + 0.5 * noise[:60], 3.0 * noise[60:]))
            total_e = torch.stack(
                [
                    qv[k] * problem.per_point(problem.to_input(cand), make(len(cand), float(k)))
                    for k in range(c)
                ]
            ).sum(0)
            tol_q = 1e-9 * max(1.0, float(total_e[0].abs()))
            best = int(torch.argmin(total_e))
            if total_e[best] < total_e[0] - tol_q:
                return Check(
                    name,
                    "note",
                    f"no: under a categorical target q = {vec(qv)} the "
                    f"prediction p = {vec(torch.softmax(cand[best], 0))} has a lower "
                    "expected loss than p = q",
                    0.0,
                )
            far = (torch.softmax(cand, 1) - qv).abs().amax(1) > 0.05
            ties = (total_e <= total_e[0] + tol_q) & far
            if bool(ties.any()):
                weak_q = qv, torch.softmax(cand[int(ties.nonzero()[0])], 0)
        if weak_q:
            return Check(
                name,
                "note",
                f"only weakly: under a categorical target q = "
                f"{vec(weak_q[0])} the prediction p = {vec(weak_q[1])} has the same "
                "lowest expected loss, so p = q is not singled out",
                0.5,
            )
        return Check(
            name,
            "note",
            "yes: under a categorical target q no sampled prediction has "
            "an expected loss as low as p = q",
            1.0,
        )


def vec(v: Tensor) -> str:
    return "(" + ", ".join(f"{x:.2f}" for x in v.tolist()) + ")"


def convexity(problem: Problem, gen: torch.Generator) -> Check:
    """Each point's loss along a line between two sampled predictions (the batch's mean loss
    where points cannot be taken one by one): never above the chord if convex."""
    lams = (0.25, 0.5, 0.75)
    bent = lines = 0
    for _ in range(8):
        za, others = draw(problem, gen, 16)
        zb, _ = draw(problem, gen, 16)
        with torch.no_grad():
            a, b = problem.to_input(za), problem.to_input(zb)

            def losses(x: Tensor, others: Others = others) -> Tensor:
                try:
                    return problem.per_point(x, others)
                except Exception:  # not separable into points: the whole batch is one point
                    return problem.call(x, others).reshape(1)

            la, lb = losses(a), losses(b)
            tol = 1e-9 * (la.abs() + lb.abs()) + 1e-12
            over = [
                losses(lam * a + (1 - lam) * b) > lam * la + (1 - lam) * lb + tol for lam in lams
            ]
        lines += len(la)
        bent += int(torch.stack(over).any(0).sum())
    if bent:
        return Check(
            "convex along lines",
            "note",
            f"no: on {bent} of {lines} random lines "
            f"between sampled {problem.input_space} the loss rises above the chord",
            0.0,
        )
    return Check(
        "convex along lines",
        "note",
        f"yes, along all {lines} random lines between sampled {problem.input_space}",
        1.0,
    )


def far_side(problem: Problem, gen: torch.Generator) -> tuple[list[Check], bool]:
    """Boundedness, the gradient's growth with the error, and finiteness at extremes."""
    latent, others = draw(problem, gen, 32)
    sign = torch.where(torch.rand(latent.shape, generator=gen, dtype=DTYPE) < 0.5, -1.0, 1.0)

    def far_loss(scale: float) -> float:
        try:
            return loss_at(problem, problem.far(latent, others, scale, sign), others)
        except Exception:  # refused (e.g. an overflowed input): not finite
            return math.nan

    with torch.no_grad():
        at = {s: far_loss(s) for s in (10, 100, 1e4)}
    classify = problem.target_latent is None and problem.confident is not None
    what = "margin" if classify else "error" if problem.target_latent is not None else "scale"
    out = []
    if all(math.isfinite(v) for v in at.values()) and at[1e4] <= 1.5 * abs(at[100]) + 1e-12:
        out.append(
            Check("bounded", "note", f"yes: levels off near {at[1e4]:.4g} as the {what} grows", 1.0)
        )
    else:
        vals = ", ".join(f"{v:.3g} at {s:g}" for s, v in at.items())
        out.append(Check("bounded", "note", f"no: grows with the {what} ({vals})", 0.0))
    sizes = {}
    for s in (10.0, 100.0):
        _, grad = gradient(problem, problem.far(latent, others, s, sign), others, wrt_latent=True)
        sizes[s] = 0.0 if grad is None else float(grad.abs().mean())
    if not (sizes[10.0] > 0 and math.isfinite(sizes[10.0]) and math.isfinite(sizes[100.0])):
        growth = "the gradient is zero (or not finite) on large errors"
    else:
        ratio = sizes[100.0] / sizes[10.0]
        e = math.log10(ratio) if ratio > 0 else -math.inf
        if classify:
            growth = (
                f"confident mistakes keep a steady gradient (x{ratio:.3g} from margin -10 to -100)"
                if abs(e) < 0.2
                else f"the gradient vanishes on confident mistakes (x{ratio:.2g} from margin -10 "
                "to -100): a confidently wrong prediction barely moves"
                if e < 0
                else f"the gradient grows with the confidence of a mistake (x{ratio:.3g})"
            )
        elif problem.target_latent is not None:
            growth = (
                f"sensitive to outliers: the gradient grows with the error (x{ratio:.3g} from "
                "error 10 to 100)"
                if e >= 0.2
                else f"robust: the gradient stays the same size however large the error "
                f"(x{ratio:.3g} from 10 to 100)"
                if e > -0.2
                else f"redescending: the gradient shrinks for large errors (x{ratio:.2g} from 10 "
                "to 100), so outliers are ignored"
            )
        else:
            growth = f"the gradient changes x{ratio:.3g} as the predictions grow from x10 to x100"
    name = "confident mistakes" if classify else "outliers"
    out.append(Check(name, "note", growth, sizes[100.0] / sizes[10.0] if sizes[10.0] else None))
    bad = []
    big = problem.extreme
    for dtype in (torch.float64, torch.float32):
        points = [
            (
                "on confident mistakes"
                if classify
                else "far from the target"
                if problem.target_latent is not None
                else "on large inputs",
                problem.far(latent, others, big, sign),
            )
        ]
        if classify and problem.confident is not None:
            points.append(("on confident right answers", big * problem.confident(others)))
        elif problem.target_latent is not None:
            points.append(("at the target", problem.target_latent(others)))
        cast = tuple(
            o.to(dtype) if isinstance(o, Tensor) and o.is_floating_point() else o for o in others
        )
        for where, z in points:
            try:
                value, grad = gradient(problem, z.to(dtype), cast)
            except Exception as err:
                bad.append(f"refused {where} ({str(dtype)[6:]}: {type(err).__name__})")
                continue
            if not bool(torch.isfinite(value).all()):
                bad.append(f"loss not finite {where} ({str(dtype)[6:]})")
            elif grad is not None and not bool(torch.isfinite(grad).all()):
                bad.append(f"gradient not finite {where} ({str(dtype)[6:]})")
    scale = f"logits of +-{big:g}" if classify else f"{what}s of {big:g}"
    if bad:
        return [*out, Check("extreme inputs", "caveat", f"at {scale}: " + "; ".join(bad))], True
    return [
        *out,
        Check("extreme inputs", "ok", f"finite loss and gradient at {scale} (float32 and float64)"),
    ], False
