"""Hand-written functions for the audit tests, loaded as ``tests.audit_fixtures:NAME`` the way a
user's own function is loaded on the command line."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def step_loss(preds: Tensor, targets: Tensor) -> Tensor:
    """A step function: the share of predictions off by more than 0.5 (a tolerance "accuracy").
    Comparisons break the graph: the result has no grad_fn."""
    return ((preds - targets).abs() > 0.5).float().mean()


def rounded_loss(preds: Tensor, targets: Tensor) -> Tensor:
    """A step function that keeps the graph: round() has derivative 0 wherever it has one."""
    return (torch.round(preds) - torch.round(targets)).abs().mean()


def python_number(preds: Tensor, targets: Tensor) -> float:
    """Returns a Python float: no tensor, no gradient at all."""
    return float((preds - targets).abs().mean().detach())


def smooth_loss(preds: Tensor, targets: Tensor) -> Tensor:
    """Log-cosh written by hand: log(cosh(r)) = r + softplus(-2 r) - log 2, stable for any r."""
    r = preds - targets
    return (r + F.softplus(-2 * r) - torch.log(torch.tensor(2.0, dtype=r.dtype))).mean()


def logistic(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary logistic loss by hand (the argument name says: binary, on logits)."""
    return F.softplus(-(2 * targets - 1) * logits).mean()


def naive_logistic(logits: Tensor, targets: Tensor) -> Tensor:
    """The same maths through log(sigmoid(x)): -inf once the sigmoid rounds to 0 or 1."""
    p = torch.sigmoid(logits)
    return -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).mean()


def biased_mse(preds: Tensor, targets: Tensor) -> Tensor:
    """Squared error around targets + 1: smooth, but its minimum is off the target."""
    return ((preds - targets - 1) ** 2).mean()


def wrong_way(preds: Tensor, targets: Tensor) -> Tensor:
    """Minus the squared error: it rewards moving away from the target."""
    return -((preds - targets) ** 2).mean()


def hinge(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary hinge loss on 0/1 targets: zero gradient beyond the margin, by design."""
    return torch.relu(1 - (2 * targets - 1) * logits).mean()
