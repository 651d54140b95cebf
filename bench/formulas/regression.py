"""Plain-torch formulas of the regression, probabilistic and divergence losses that no installed
library has: each is the docstring's formula written the obvious way, mean-reduced as the loss's
default ``"mean"`` (every element; for ``js_div`` every distribution along dim 1)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from bench.formulas import Formula


def _tensors(args: tuple[Any, ...]) -> tuple[Tensor, ...]:
    return tuple(args)


def _log_cosh(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    preds, targets = _tensors(args)
    return torch.log(torch.cosh(preds - targets)).mean()


def _mape(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    preds, targets = _tensors(args)
    eps = kwargs.get("eps", 0.0)
    return ((preds - targets).abs() / targets.abs().clamp(min=eps)).mean()


def _msle(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    preds, targets = _tensors(args)
    return ((torch.log1p(preds) - torch.log1p(targets)) ** 2).mean()


def _quantile(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    preds, targets = _tensors(args)
    q = kwargs.get("q", 0.5)
    d = targets - preds
    return torch.maximum(q * d, (q - 1) * d).mean()


def _tweedie_deviance(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    mu, y = _tensors(args)
    p = kwargs["power"]
    if p == 0:
        dev = (y - mu) ** 2
    elif p == 1:
        dev = 2 * (torch.xlogy(y, y / mu) - y + mu)
    elif p == 2:
        dev = 2 * (torch.log(mu / y) + y / mu - 1)
    else:
        dev = 2 * (
            y.clamp(min=0) ** (2 - p) / ((1 - p) * (2 - p))
            - y * mu ** (1 - p) / (1 - p)
            + mu ** (2 - p) / (2 - p)
        )
    return dev.mean()


def _crps_gaussian(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    mean, targets, std = _tensors(args)
    z = (targets - mean) / std
    cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return (std * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))).mean()


def _student_t_nll(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    preds, targets, scale = _tensors(args)
    nu = torch.as_tensor(kwargs["df"], dtype=preds.dtype)
    z = (targets - preds) / scale
    nll = (
        torch.log(scale)
        + 0.5 * torch.log(nu * math.pi)
        + torch.lgamma(nu / 2)
        - torch.lgamma((nu + 1) / 2)
        + (nu + 1) / 2 * torch.log1p(z * z / nu)
    )
    return nll.mean()


def _js_div(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    log_preds, targets = _tensors(args)
    p = log_preds.exp()
    q = targets.exp() if kwargs.get("log_targets", False) else targets
    m = (p + q) / 2
    js = 0.5 * torch.xlogy(p, p / m) + 0.5 * torch.xlogy(q, q / m)
    return js.sum(1).mean()


FORMULAS: dict[str, tuple[str, Formula]] = {
    "log_cosh": ("log(cosh(p - t)).mean()", _log_cosh),
    "mape": ("(|p - t| / max(|t|, eps)).mean()", _mape),
    "msle": ("((log1p(p) - log1p(t))**2).mean()", _msle),
    "quantile": ("max(q d, (q - 1) d).mean(), d = t - p", _quantile),
    "tweedie_deviance": ("the textbook Tweedie deviance, mean", _tweedie_deviance),
    "crps_gaussian": ("sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)), mean", _crps_gaussian),
    "student_t_nll": ("log s + log-normaliser + (nu+1)/2 log1p(z^2/nu), mean", _student_t_nll),
    "js_div": ("1/2 KL(P||M) + 1/2 KL(Q||M) over dim 1, mean", _js_div),
}
