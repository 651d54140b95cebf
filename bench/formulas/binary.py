"""The plain-torch formulas of the binary and multilabel losses without a peer (see the
package docstring): each as its docstring writes it, with the default options."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.formulas import Formula


def mnist_loss(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, t = a
    p = torch.sigmoid(x)
    return torch.where(t == 1, 1 - p, p).mean()


def hinge(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, t = a
    return F.relu(1 - (2 * t - 1) * x).mean()


def squared_hinge(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, t = a
    return F.relu(1 - (2 * t - 1) * x).square().mean()


def perceptron(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, t = a
    return F.relu(-(2 * t - 1) * x).mean()


def exponential(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, t = a
    return torch.exp(-(2 * t - 1) * x).mean()


def asymmetric_loss(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, t = a
    gamma_pos = float(kw.get("gamma_pos", 0.0))
    gamma_neg = float(kw.get("gamma_neg", 4.0))
    clip = float(kw.get("clip", 0.05))
    p = torch.sigmoid(x)
    p_m = (p - clip).clamp(min=0)
    pos: Tensor = -t * (1 - p) ** gamma_pos * F.logsigmoid(x)
    neg: Tensor = -(1 - t) * p_m**gamma_neg * torch.log(1 - p_m)
    return (pos + neg).mean()


FORMULAS: dict[str, tuple[str, Formula]] = {
    "mnist_loss": ("plain torch: where(t == 1, 1 - sigmoid, sigmoid)", mnist_loss),
    "hinge": ("plain torch: relu(1 - (2t - 1) x)", hinge),
    "squared_hinge": ("plain torch: relu(1 - (2t - 1) x) ** 2", squared_hinge),
    "perceptron": ("plain torch: relu(-(2t - 1) x)", perceptron),
    "exponential": ("plain torch: exp(-(2t - 1) x)", exponential),
    "asymmetric_loss": (
        "plain torch: -t (1-p)^g+ log p - (1-t) p_m^g- log(1-p_m)",
        asymmetric_loss,
    ),
}
