"""The plain-torch formulas of the multiclass losses without a peer (see the package
docstring): each as its docstring writes it, with the default options."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.formulas import Formula


def _label_prob(x: Tensor, y: Tensor) -> Tensor:
    return torch.softmax(x, 1).gather(1, y[:, None]).squeeze(1)


def logit_adjusted_cross_entropy(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, y = a
    return F.cross_entropy(x + torch.log(kw["class_priors"]), y)


def generalized_cross_entropy(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, y = a
    q = 0.7
    return ((1 - _label_prob(x, y) ** q) / q).mean()


def multiclass_hinge(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, y = a
    x_y = x.gather(1, y[:, None]).squeeze(1)
    rival = x.scatter(1, y[:, None], float("-inf")).amax(1)
    return F.relu(1.0 + rival - x_y).mean()


def poly1_cross_entropy(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x, y = a
    ce = F.cross_entropy(x, y, reduction="none")
    return (ce + 1.0 * (1 - _label_prob(x, y))).mean()


def sparsemax_loss(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    x: Tensor = a[0]
    y: Tensor = a[1]
    z = x - x.amax(1, keepdim=True)
    z_sorted = z.sort(1, descending=True).values
    k = torch.arange(1, z.shape[1] + 1, dtype=z.dtype)
    cumsum = z_sorted.cumsum(1)
    support = (1 + k * z_sorted > cumsum).sum(1, keepdim=True)
    tau = (cumsum.gather(1, support - 1) - 1) / support
    on = z > tau
    loss = 0.5 * torch.where(on, z * z - tau * tau, 0.0).sum(1) + 0.5
    return (loss - z.gather(1, y[:, None]).squeeze(1)).mean()


def z_loss(a: tuple[Any, ...], kw: dict[str, Any]) -> Tensor:
    return torch.logsumexp(a[0], 1).square().mean()


FORMULAS: dict[str, tuple[str, Formula]] = {
    "logit_adjusted_cross_entropy": (
        "plain torch: cross_entropy(x + log priors)",
        logit_adjusted_cross_entropy,
    ),
    "generalized_cross_entropy": (
        "plain torch: (1 - softmax.gather ** q) / q",
        generalized_cross_entropy,
    ),
    "multiclass_hinge": ("plain torch: relu(1 + max rival - x_y)", multiclass_hinge),
    "poly1_cross_entropy": (
        "plain torch: cross_entropy + (1 - softmax.gather)",
        poly1_cross_entropy,
    ),
    "sparsemax_loss": ("plain torch: sort + cumsum threshold", sparsemax_loss),
    "z_loss": ("plain torch: logsumexp(x, 1).square()", z_loss),
}
