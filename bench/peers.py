"""Peer implementations that are not PyTorch itself: optional libraries, loaded if installed
(``bench/requirements.txt``), and torchvision's formulas, carried here because torchvision's
wheels do not install beside a CPU torch from the same index.

Nothing here is imported by losskit.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


@cache
def load(module: str) -> Any | None:
    """An optional peer module, or None when it is not installed (or fails to import)."""
    try:
        return importlib.import_module(module)
    except Exception:  # any failure means: no such peer in this run
        return None


@cache
def smp_losses() -> Any | None:
    """segmentation-models-pytorch's ``losses`` subpackage alone: it needs only torch, while the
    package's ``__init__`` imports timm and torchvision (not installable here)."""
    spec = importlib.util.find_spec("segmentation_models_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    if "segmentation_models_pytorch" not in sys.modules:
        stub = types.ModuleType("segmentation_models_pytorch")
        stub.__path__ = [str(root)]
        sys.modules["segmentation_models_pytorch"] = stub
    try:
        return importlib.import_module("segmentation_models_pytorch.losses")
    except Exception:  # the subpackage needs only torch; anything else: no peer
        return None


def versions() -> dict[str, str]:
    """Versions of the peer libraries found in this run."""
    out = {"torch": torch.__version__}
    for name, module in (
        ("monai", "monai"),
        ("kornia", "kornia"),
        ("pytorch-metric-learning", "pytorch_metric_learning"),
    ):
        mod = load(module)
        if mod is not None:
            out[name] = getattr(mod, "__version__", "?")
    if smp_losses() is not None:
        from importlib.metadata import version

        out["segmentation-models-pytorch"] = version("segmentation-models-pytorch") + " (losses)"
    return out


# ----------------------------------------------------------------------------- torchvision
# The next functions are torchvision.ops' formulas as published in torchvision 0.2x
# (torchvision/ops/focal_loss.py, giou_loss.py, diou_loss.py, ciou_loss.py, _utils.py;
# BSD-3-Clause, Copyright (c) Soumith Chintala 2016), reduced to reduction="mean".
def tv_sigmoid_focal_loss(
    inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> Tensor:
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss.mean()


def _tv_loss_inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xkis1 = torch.max(x1, x1g)
    ykis1 = torch.max(y1, y1g)
    xkis2 = torch.min(x2, x2g)
    ykis2 = torch.min(y2, y2g)
    intsctk = torch.zeros_like(x1)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsctk[mask] = (xkis2[mask] - xkis1[mask]) * (ykis2[mask] - ykis1[mask])
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def tv_generalized_box_iou_loss(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    intsctk, unionk = _tv_loss_inter_union(boxes1, boxes2)
    iouk = intsctk / (unionk + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1 = torch.min(x1, x1g)
    yc1 = torch.min(y1, y1g)
    xc2 = torch.max(x2, x2g)
    yc2 = torch.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return (1 - miouk).mean()


def _tv_diou_iou_loss(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> tuple[Tensor, Tensor]:
    intsct, union = _tv_loss_inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1 = torch.min(x1, x1g)
    yc1 = torch.min(y1, y1g)
    xc2 = torch.max(x2, x2g)
    yc2 = torch.max(y2, y2g)
    diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x_p = (x2 + x1) / 2
    y_p = (y2 + y1) / 2
    x_g = (x1g + x2g) / 2
    y_g = (y1g + y2g) / 2
    centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
    loss = 1 - iou + (centers_distance_squared / diagonal_distance_squared)
    return loss, iou


def tv_distance_box_iou_loss(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    return _tv_diou_iou_loss(boxes1, boxes2, eps)[0].mean()


def tv_complete_box_iou_loss(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    diou_loss, iou = _tv_diou_iou_loss(boxes1, boxes2, eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    w_pred = x2 - x1
    h_pred = y2 - y1
    w_gt = x2g - x1g
    h_gt = y2g - y1g
    v = (4 / (torch.pi**2)) * torch.pow((torch.atan(w_gt / h_gt) - torch.atan(w_pred / h_pred)), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return (diou_loss + alpha * v).mean()
