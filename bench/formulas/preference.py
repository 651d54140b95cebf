"""Plain-torch formulas of the preference losses, each the docstring's formula written the
obvious way (TRL's style: ``F.logsigmoid`` of the margin), reduced as the default ``"mean"``.
They are called on the loss's example inputs, with the options those carry."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.formulas import Formula


def _dpo(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    pc, pr, rc, rr = args[:4]
    beta = kwargs.get("beta", 0.1)
    eps = kwargs.get("label_smoothing", 0.0)
    z = beta * ((pc - rc) - (pr - rr))
    loss = -F.logsigmoid(z) * (1 - eps) - F.logsigmoid(-z) * eps
    return loss.mean()


def _simpo(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    pc, pr = args[:2]
    z = kwargs.get("beta", 2.0) * (pc - pr) - kwargs.get("gamma", 0.5)
    eps = kwargs.get("label_smoothing", 0.0)
    return (-F.logsigmoid(z) * (1 - eps) - F.logsigmoid(-z) * eps).mean()


def _cpo(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    pc, pr = args[:2]
    z = kwargs.get("beta", 0.1) * (pc - pr)
    eps = kwargs.get("label_smoothing", 0.0)
    pref = -F.logsigmoid(z) * (1 - eps) - F.logsigmoid(-z) * eps
    return (pref - kwargs.get("alpha", 1.0) * pc).mean()


def _orpo(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    pc, pr = args[:2]
    log_odds = (pc - pr) - (torch.log1p(-torch.exp(pc)) - torch.log1p(-torch.exp(pr)))
    return (-pc - kwargs.get("beta", 0.1) * F.logsigmoid(log_odds)).mean()


def _kto(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    policy, reference, desirable = args[:3]
    beta = kwargs.get("beta", 0.1)
    z = max(float(kwargs.get("kl", 0.0)), 0.0)
    r = policy - reference
    good = kwargs.get("desirable_weight", 1.0) * (1 - torch.sigmoid(beta * (r - z)))
    bad = kwargs.get("undesirable_weight", 1.0) * (1 - torch.sigmoid(beta * (z - r)))
    return torch.where(desirable, good, bad).mean()


FORMULAS: dict[str, tuple[str, Formula]] = {
    "dpo": ("-(1-e) logsigmoid(z) - e logsigmoid(-z), z = beta (a - b), mean", _dpo),
    "simpo": ("-logsigmoid(beta (pc - pr) - gamma), mean", _simpo),
    "cpo": ("-logsigmoid(beta (pc - pr)) - alpha pc, mean", _cpo),
    "orpo": ("-pc - beta logsigmoid(log odds pc - log odds pr), mean", _orpo),
    "kto": ("w (1 - sigmoid(+-beta (r - z))), mean", _kto),
}
