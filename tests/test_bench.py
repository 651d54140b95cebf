"""The benchmark's own logic: the plain-torch formula peers give the loss's value, and the
target lines count what they say. No timing here (speed lives in ``python -m bench``)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from bench import formulas, report
from bench.cases import CASES

import losskit

FORMULAS = formulas.all_formulas()


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_formula_peer_gives_the_loss_value(name: str) -> None:
    """A formula peer is the docstring's maths: on the loss's example it matches the loss in
    float64, value and gradient (else the bench would time two different things)."""
    spec = losskit.get_spec(name)
    assert spec.example is not None
    ex = spec.example(600, torch.Generator().manual_seed(3))
    args = tuple(
        a.double().requires_grad_() if i in ex.grad and a.is_floating_point() else a
        for i, a in enumerate(a if not a.is_floating_point() else a.double() for a in ex.args)
    )
    kwargs = {
        k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v
        for k, v in ex.kwargs.items()
    }
    ours = spec.function(*args, **kwargs)
    peer = FORMULAS[name][1](args, kwargs)
    torch.testing.assert_close(peer, ours, rtol=1e-9, atol=1e-12)
    inputs = [args[i] for i in ex.grad]
    for g_peer, g_ours in zip(
        torch.autograd.grad(peer, inputs), torch.autograd.grad(ours, inputs), strict=True
    ):
        torch.testing.assert_close(g_peer, g_ours, rtol=1e-7, atol=1e-10)


def test_every_formula_is_a_case() -> None:
    for name in FORMULAS:
        assert CASES[name].formula and CASES[name].peer is not None, name


def _entry(kind: str, **sizes: dict[str, Any]) -> dict[str, Any]:
    return {"loss": "x", "peer": "p", "kind": kind, "sizes": sizes}


def test_targets_by_kind_of_peer() -> None:
    row = {
        "shapes_time_ratio": 1.04,
        "time_ratio": 1.3,
        "ours_peak_bytes": 10,
        "peer_peak_bytes": 10,
    }
    slow_small = {**row, "shapes_time_ratio": 1.12}
    assert report.misses(_entry("native", small=slow_small, medium=row, large=row)) == [
        "time small"
    ]
    # 1.04 meets the native target but not a library's 1.00
    assert report.misses(_entry("library", small=slow_small, medium=row)) == ["time medium"]
    big = {**row, "shapes_time_ratio": 0.9, "ours_peak_bytes": 20_000}
    assert report.misses(_entry("library", medium=big)) == ["mem medium"]
    assert report.misses(_entry("formula", medium={**row, "shapes_time_ratio": 0.99})) == []
    # only sizes no target names: not judged
    assert report.misses(_entry("library", small=row)) is None


def test_target_lines_count_what_they_say() -> None:
    ok = {"shapes_time_ratio": 0.9, "ours_peak_bytes": 1, "peer_peak_bytes": 1,
          "full_over_shapes": 1.02}  # fmt: skip
    bad = {**ok, "shapes_time_ratio": 1.5, "full_over_shapes": 1.3}
    result = {
        "losses": [
            {"loss": "a", "peer": "p", "kind": "native", "sizes": {"medium": ok}},
            {"loss": "b", "peer": "p", "kind": "native", "sizes": {"medium": bad}},
        ]
    }
    text = report.targets(result)
    assert "1 of 2 meet it; missed: b (time medium)" in text
    assert "above: b 1.30" in text
