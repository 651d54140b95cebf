"""LossInfo entries of the box losses. References are float64 NumPy ports of torchvision's
formulas (``generalized_box_iou_loss``, ``distance_box_iou_loss``, ``complete_box_iou_loss``,
eps=1e-7), written here: torchvision itself does not install beside this torch."""

from __future__ import annotations

import numpy as np
import torch

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, np_reduce, rand, randn


def box_terms(b: np.ndarray, t: np.ndarray, eps: float):
    """torchvision's ``_loss_inter_union`` and enclosing box, per box: iou, union, cw, ch."""
    x1, y1, x2, y2 = np.moveaxis(b, -1, 0)
    x1g, y1g, x2g, y2g = np.moveaxis(t, -1, 0)
    xkis1, ykis1 = np.maximum(x1, x1g), np.maximum(y1, y1g)
    xkis2, ykis2 = np.minimum(x2, x2g), np.minimum(y2, y2g)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsct = np.where(mask, (xkis2 - xkis1) * (ykis2 - ykis1), 0.0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsct
    iou = intsct / (union + eps)
    cw = np.maximum(x2, x2g) - np.minimum(x1, x1g)
    ch = np.maximum(y2, y2g) - np.minimum(y1, y1g)
    return iou, union, cw, ch


def giou_ref(b, t, *, reduction, eps=1e-7):
    iou, union, cw, ch = box_terms(b, t, eps)
    area_c = cw * ch
    return np_reduce(1 - (iou - (area_c - union) / (area_c + eps)), reduction)


def _diou_terms(b, t, eps):
    iou, _, cw, ch = box_terms(b, t, eps)
    x1, y1, x2, y2 = np.moveaxis(b, -1, 0)
    x1g, y1g, x2g, y2g = np.moveaxis(t, -1, 0)
    diag = cw**2 + ch**2 + eps
    centers = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2
    return 1 - iou + centers / diag, iou


def diou_ref(b, t, *, reduction, eps=1e-7):
    return np_reduce(_diou_terms(b, t, eps)[0], reduction)


def _angle(w, h):
    """torchvision's atan(w / h) where h > 0; losskit's documented extension elsewhere: pi/2 for
    a zero-height box, pi/4 for a point box."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tv = np.arctan(w / h)
    return np.where(h > 0, tv, np.where(w > 0, np.pi / 2, np.pi / 4))


def ciou_ref(b, t, *, reduction, eps=1e-7):
    diou, iou = _diou_terms(b, t, eps)
    w, h = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    wg, hg = t[..., 2] - t[..., 0], t[..., 3] - t[..., 1]
    v = (4 / np.pi**2) * (_angle(wg, hg) - _angle(w, h)) ** 2
    alpha = v / (1 - iou + v + eps)
    return np_reduce(diou + alpha * v, reduction)


def random_boxes(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    """(x1, y1, x2, y2) with sizes in [0.2, 3.2): x2 > x1, y2 > y1 after any rounding."""
    corner = 2 * randn(gen, *shape, 2)
    size = 3 * rand(gen, *shape, 2) + 0.2
    return torch.cat([corner, corner + size], dim=-1).to(dtype)


def _box_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for shape in ((6,), (2, 3), (1,)):
        boxes = random_boxes(gen, *shape, dtype=dtype)
        near = (boxes.double() + 0.3 * randn(gen, *shape, 4)).to(dtype)  # mostly overlapping
        near = torch.cat([near[..., :2], torch.maximum(near[..., 2:], near[..., :2] + 0.1)], -1)
        targets = torch.where(torch.arange(shape[-1]) % 2 == 0, 1, 0)[..., None].bool()
        targets = torch.where(targets, near, random_boxes(gen, *shape, dtype=dtype))
        grad_args = (0, 1) if shape == (6,) else (0,)  # sample 1 is the gradgradcheck one: small
        out.append(Sample((boxes, targets), desc=f"{shape}", grad_args=grad_args))
    # integer targets (pixel coordinates), a non-default eps, a box containing the other
    pixels = torch.tensor([[10, 10, 50, 40], [0, 0, 8, 8], [5, 5, 6, 9], [0, 0, 100, 100]])
    preds = (pixels.double() + 2 * randn(gen, 4, 4)).to(dtype)
    preds = torch.cat([preds[..., :2], torch.maximum(preds[..., 2:], preds[..., :2] + 0.5)], -1)
    out.append(Sample((preds, pixels), {"eps": 1e-5}, "integer targets, eps=1e-5"))
    inner = torch.tensor([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 2.0, 3.0]], dtype=dtype)
    out.append(Sample((inner, inner[[1, 0]].clone()), desc="one box inside the other"))
    return out


def _box_errors() -> list[ErrorCase]:
    good = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 3.0, 2.0]])
    swapped = torch.tensor([[0.0, 0.0, 1.0, 1.0], [3.0, 1.0, 1.0, 2.0]])
    return [
        ErrorCase(
            (swapped, good), {}, r"boxes must be \(x1, y1, x2, y2\).*boxes\[1\].*x2 < x1", "x"
        ),
        ErrorCase((good, swapped[:, [1, 0, 3, 2]]), {}, r"targets\[1\].*y2 < y1", "targets y"),
        ErrorCase((good, good[:1]), {}, r"boxes \(2, 4\) vs targets \(1, 4\)", "count mismatch"),
        ErrorCase((good[:, :3], good[:, :3]), {}, r"shape \(\*, 4\)", "3 coordinates"),
        ErrorCase((good.T, good.T), {}, "move the coordinates last", "coordinates first"),
        ErrorCase((good, good), {"eps": 0.0}, r"eps must lie in \(0, inf\)", "eps = 0"),
        ErrorCase((good.long(), good), {}, "boxes must be a floating tensor", "integer boxes"),
    ]


for _name, _ref in (("giou", giou_ref), ("diou", diou_ref), ("ciou", ciou_ref)):
    add(LossInfo(_name, _box_samples, _ref, errors=_box_errors))
