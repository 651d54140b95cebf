"""What the audit found: :class:`AuditReport`, and the fixed rules that turn the checks into a
verdict (see :mod:`losskit.audit` for the rules in words)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from losskit.audit.measures import Check, pct

__all__ = ["CAVEATS", "NOT_USABLE", "USABLE", "AuditReport", "verdict"]

USABLE = "usable as a loss"
CAVEATS = "usable with caveats"
NOT_USABLE = "not usable"


@dataclass(frozen=True)
class AuditReport:
    """What the audit found: the verdict, the reasons in plain words, and every check."""

    name: str
    task: str
    input_space: str
    sampled: str
    seed: int
    verdict: str
    reasons: tuple[str, ...]
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()

    def check(self, name: str) -> Check:
        """The check called ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def zero_grad_fraction(self) -> float:
        """Share of sampled points whose gradient is exactly zero or absent."""
        return float(self.check("zero gradient").value or 0.0)

    @property
    def nonfinite_grad_fraction(self) -> float:
        """Share of sampled points whose gradient holds inf or NaN."""
        return float(self.check("non-finite gradient").value or 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return asdict(self)

    def __str__(self) -> str:
        head = f"losskit audit: {self.name} ({self.task}, {self.input_space}; seed {self.seed})"
        lines = [head, f"sampled: {self.sampled}", "", f"verdict: {self.verdict.upper()}"]
        lines += [f"  - {r}" for r in self.reasons]
        lines += ["", "checks:"]
        width = max(len(c.name) for c in self.checks)
        for c in self.checks:
            lines.append(f"  {c.name:<{width}}  {c.status:<6}  {c.detail}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def verdict(found: Sequence[Check], facts: dict[str, Any]) -> tuple[str, list[str]]:
    """The verdict and its reasons: any failed check makes a function not usable, any caveat
    usable with caveats; notes never change the verdict."""
    fails = [c for c in found if c.status == "fail"]
    caveats = [c for c in found if c.status == "caveat"]
    if fails:
        reasons = [f"{c.name}: {c.detail}" for c in fails]
        if any(c.name == "zero gradient" for c in fails):
            reasons.append(
                "SGD cannot step: a small change of the weights does not change this "
                "value, so nothing tells the weights which way to move"
            )
        return NOT_USABLE, reasons
    if caveats:
        return CAVEATS, [f"{c.name}: {c.detail}" for c in caveats]
    reasons = [
        "its gradient is non-zero and finite wherever a prediction can still improve "
        f"({pct(1 - facts['stuck'])} of them), so SGD can always step"
    ]
    reasons += [
        f"{c.name}: {c.detail}"
        for c in found
        if c.status == "ok"
        and c.name in ("better predictions, lower loss", "minimum at the target")
    ]
    return USABLE, reasons
