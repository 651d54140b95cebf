"""Edge cases of the box losses: degenerate boxes (finite values and gradients), validation,
invariances, hand-checked values, and the CIoU choices that differ from torchvision."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import losskit
from losskit.losses._boxes import ciou, diou, giou
from tests.infos.boxes import ciou_ref, diou_ref, giou_ref, random_boxes

D64 = torch.float64
LOSSES = {"giou": giou, "diou": diou, "ciou": ciou}
REFS = {"giou": giou_ref, "diou": diou_ref, "ciou": ciou_ref}


def _grad(out: torch.Tensor, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(out, xs)


def test_hand_values() -> None:
    # [0,0,2,2] vs [1,1,3,3]: I = 1, U = 7, C = 3 x 3, centres 1 apart in x and y, diagonal^2 18
    b = torch.tensor([0.0, 0.0, 2.0, 2.0], dtype=D64)
    t = torch.tensor([1.0, 1.0, 3.0, 3.0], dtype=D64)
    iou = 1 / (7 + 1e-7)
    assert giou(b, t).item() == pytest.approx(1 - iou + 2 / (9 + 1e-7), rel=1e-12)
    assert diou(b, t).item() == pytest.approx(1 - iou + 2 / (18 + 1e-7), rel=1e-12)
    assert ciou(b, t).item() == pytest.approx(diou(b, t).item(), rel=1e-12)  # same aspect: v = 0
    # disjoint boxes: IoU 0, GIoU above 1, towards 2 as they part
    far = giou(b, torch.tensor([10.0, 10.0, 12.0, 12.0], dtype=D64)).item()
    assert 1.9 < far < 2.0


def test_single_box_and_extra_dims() -> None:
    b = random_boxes(torch.Generator().manual_seed(0), 2, 3, dtype=D64)
    t = random_boxes(torch.Generator().manual_seed(1), 2, 3, dtype=D64)
    for name, fn in LOSSES.items():
        none = fn(b, t, reduction="none")
        assert none.shape == (2, 3)
        assert fn(b[1, 2], t[1, 2], reduction="none").shape == ()
        torch.testing.assert_close(fn(b[1, 2], t[1, 2]), none[1, 2], msg=name)


@pytest.mark.parametrize("name", list(LOSSES))
def test_identical_boxes_cost_eps_over_area(name: str) -> None:
    b = torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 1.5, 4.0]], dtype=D64)
    out = LOSSES[name](b, b.clone(), reduction="none")
    area = torch.tensor([6.0, 1.5], dtype=D64)
    torch.testing.assert_close(out, 1e-7 / (area + 1e-7), rtol=1e-9, atol=1e-15)


DEGENERATE = {
    "zero width": [1.0, 1.0, 1.0, 3.0],
    "zero height": [1.0, 1.0, 4.0, 1.0],
    "point": [2.0, 2.0, 2.0, 2.0],
}


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("kind", list(DEGENERATE))
@pytest.mark.parametrize("side", ["boxes", "targets", "both"])
def test_degenerate_boxes_give_finite_values_and_gradients(name: str, kind: str, side: str) -> None:
    degenerate = torch.tensor([DEGENERATE[kind]], dtype=D64)
    normal = torch.tensor([[0.5, 0.5, 3.0, 2.5]], dtype=D64)
    b = (degenerate if side != "targets" else normal).clone().requires_grad_()
    t = (degenerate if side != "boxes" else normal).clone().requires_grad_()
    out = LOSSES[name](b, t)
    grads = _grad(out, b, t)
    assert torch.isfinite(out) and all(torch.isfinite(g).all() for g in grads)
    # the value is the documented one (torchvision's formula; CIoU's angle extended by atan2)
    want = REFS[name](b.detach().numpy(), t.detach().numpy(), reduction="mean")
    assert out.item() == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize("name", list(LOSSES))
def test_identical_degenerate_boxes_have_loss_one(name: str) -> None:
    for box in DEGENERATE.values():
        b = torch.tensor([box], dtype=D64, requires_grad=True)
        out = LOSSES[name](b, b.detach().clone())  # IoU 0/0 is taken as 0 (eps), nothing else
        assert out.item() == pytest.approx(1.0)
        assert torch.isfinite(_grad(out, b)[0]).all()


def test_ciou_aspect_angle_of_degenerate_boxes() -> None:
    # a zero-height box has angle pi/2, a square pi/4; the point box counts as square
    flat = torch.tensor([[0.0, 0.0, 2.0, 0.0]], dtype=D64)
    square = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=D64)
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=D64)
    v_flat = (4 / math.pi**2) * (math.pi / 2 - math.pi / 4) ** 2
    iou = 0.0
    alpha = v_flat / (1 - iou + v_flat + 1e-7)
    expected = diou(flat, square).item() + alpha * v_flat
    assert ciou(flat, square).item() == pytest.approx(expected, rel=1e-12)
    assert ciou(point, square).item() == pytest.approx(diou(point, square).item(), rel=1e-12)


def test_ciou_differentiates_alpha_unlike_torchvision() -> None:
    # the gradient is the derivative of the value returned: check against finite differences
    b = torch.tensor([[0.0, 0.0, 1.0, 3.0]], dtype=D64, requires_grad=True)
    t = torch.tensor([[0.5, 0.2, 2.5, 1.5]], dtype=D64)
    assert torch.autograd.gradcheck(lambda x: ciou(x, t), (b,))
    # torchvision's gradient (alpha under no_grad) differs from it
    x1, y1, x2, y2 = b.unbind(-1)
    v = (4 / math.pi**2) * (math.atan(2.0 / 1.3) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    iou = (
        1.0 - (diou(b, t, reduction="none") - _center(b, t)).detach()
    )  # diou = 1 - IoU + centre term
    with torch.no_grad():
        alpha = v / (1 - iou + v + 1e-7)
    tv = (diou(b, t, reduction="none") + alpha * v).mean()
    ours = ciou(b, t)
    torch.testing.assert_close(tv, ours)  # the same value ...
    assert not torch.allclose(_grad(tv, b)[0], _grad(ours, b)[0])  # ... not the same gradient


def _center(b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """DIoU's centre term alone, for the test above."""
    (x1, y1, x2, y2), (a1, b1, a2, b2) = b.unbind(-1), t.unbind(-1)
    cw = torch.maximum(x2, a2) - torch.minimum(x1, a1)
    ch = torch.maximum(y2, b2) - torch.minimum(y1, b1)
    rho = ((x1 + x2 - a1 - a2) / 2) ** 2 + ((y1 + y2 - b1 - b2) / 2) ** 2
    return rho / (cw**2 + ch**2 + 1e-7)


@pytest.mark.parametrize("name", list(LOSSES))
def test_symmetric_and_translation_invariant(name: str) -> None:
    gen = torch.Generator().manual_seed(3)
    b, t = random_boxes(gen, 8, dtype=D64), random_boxes(gen, 8, dtype=D64)
    fn = LOSSES[name]
    torch.testing.assert_close(fn(b, t, reduction="none"), fn(t, b, reduction="none"))
    shift = torch.tensor([5.0, -3.0, 5.0, -3.0], dtype=D64)
    torch.testing.assert_close(fn(b + shift, t + shift), fn(b, t), rtol=1e-9, atol=1e-12)


def test_swapped_corners_are_refused_with_a_hint() -> None:
    xywh = torch.tensor([[10.0, 10.0, 5.0, 5.0]])  # (x, y, w, h) given as corners: x2 < x1
    with pytest.raises(
        losskit.LossInputError, match=r"boxes\[0\] = \(10, 10, 5, 5\) has x2 < x1.*softplus"
    ):
        giou(xywh, torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    with losskit.checks("shapes"):  # value checks off: no error, no device sync
        assert torch.isfinite(giou(xywh, torch.tensor([[0.0, 0.0, 1.0, 1.0]])))


def test_non_finite_boxes_are_named() -> None:
    b = torch.tensor([[0.0, 0.0, float("nan"), 1.0]])
    with pytest.raises(losskit.LossInputError, match="boxes holds non-finite values"):
        ciou(b, torch.tensor([[0.0, 0.0, 1.0, 1.0]]))


def test_pixel_boxes_in_half_precision_do_not_overflow() -> None:
    # areas of 300 x 300 boxes (90000) overflow float16 (max 65504): computed in float32
    b = torch.tensor([[0.0, 0.0, 300.0, 300.0]], dtype=torch.float16)
    t = torch.tensor([[10, 20, 310, 330]])  # integer targets are accepted
    for name, fn in LOSSES.items():
        out = fn(b, t)
        assert out.dtype == torch.float32 and torch.isfinite(out), name
        want = REFS[name](b.double().numpy(), t.numpy().astype(np.float64), reduction="mean")
        assert out.item() == pytest.approx(float(want), rel=1e-5), name


def test_empty_boxes() -> None:
    b = torch.zeros(0, 4, requires_grad=True)
    for fn in LOSSES.values():
        out = fn(b, torch.zeros(0, 4))
        assert out.item() == 0.0 and out.grad_fn is not None
        assert fn(b, torch.zeros(0, 4), reduction="none").shape == (0,)


# ----------------------------------------------------------------------------- issue 14
@pytest.mark.parametrize("name", list(LOSSES))
def test_mixed_dtypes_promote_as_torch(name: str) -> None:
    b, t = torch.tensor([[0.0, 0.0, 2.0, 3.0]]), torch.tensor([[1.0, 0.5, 3.0, 2.0]], dtype=D64)
    out = LOSSES[name](b, t)
    assert out.dtype == D64  # float32 boxes, float64 targets: float64, as torch.result_type
    want = REFS[name](b.double().numpy(), t.numpy(), reduction="mean")
    assert out.item() == pytest.approx(float(want), rel=1e-12)
    out = LOSSES[name](b.double(), t.float())
    assert out.dtype == D64
    with pytest.raises(losskit.LossInputError, match="targets must be real"):
        LOSSES[name](b, t.to(torch.complex64))
    with pytest.raises(losskit.LossInputError, match="boxes must be real"):
        LOSSES[name](b.to(torch.complex64), t)


@pytest.mark.parametrize("name", list(LOSSES))
def test_eps_takes_numpy_scalars_and_refuses_bad_values_by_name(name: str) -> None:
    fn = LOSSES[name]
    b, t = torch.tensor([[0.0, 0.0, 2.0, 3.0]]), torch.tensor([[1.0, 0.5, 3.0, 2.0]])
    assert fn(b, t, eps=np.float32(1e-3)).item() == pytest.approx(fn(b, t, eps=1e-3).item())
    for eps, match in [
        ("1e-7", "eps must be a number"),
        (None, "eps must be a number"),
        (float("nan"), r"eps must lie in \(0, inf\)"),
        (float("inf"), r"eps must lie in \(0, inf\)"),
        (0.0, r"eps must lie in \(0, inf\)"),
    ]:
        with pytest.raises(losskit.LossInputError, match=match):
            fn(b, t, eps=eps)


def test_swapped_corners_are_read_only_where_data_can_be_read() -> None:
    # under vmap the value check skips itself (no data read): the loss of those boxes
    xywh = torch.tensor([[[10.0, 10.0, 5.0, 5.0]]])
    t = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]])
    out = torch.func.vmap(lambda x, y: giou(x, y, reduction="none"))(xywh, t)
    with losskit.checks("off"):
        torch.testing.assert_close(out, giou(xywh, t, reduction="none"))
    with pytest.raises(losskit.LossInputError, match="has x2 < x1"):
        giou(xywh, t)
