"""Contrastive losses in one process: identities between them, extreme temperatures and
scales, degenerate batches, check modes and the Modules. References are float64 NumPy (in
``tests/infos/contrastive.py`` and below); the multi-process behaviour is in
``test_distributed.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import losskit
from losskit.losses._contrastive import clip_loss, info_nce, supcon
from losskit.nn._contrastive import CLIPLoss, InfoNCELoss, SupConLoss
from tests.infos.contrastive import clip_ref, info_nce_ref, supcon_ref

F64 = torch.float64


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(shape, generator=gen, dtype=F64).to(dtype)


def _val(x: torch.Tensor) -> float:
    return float(x.detach())


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().double().numpy()


def _assert_finite_grads(*tensors: torch.Tensor) -> None:
    for t in tensors:
        assert t.grad is not None and bool(torch.isfinite(t.grad).all()), t.grad


# ----------------------------------------------------------------------------- identities
def test_clip_is_the_mean_of_two_info_nce(gen: torch.Generator) -> None:
    img, txt = _randn(gen, 6, 4), _randn(gen, 6, 4)
    log_scale = 2.3
    tau = 1 / math.exp(log_scale)
    both = (
        info_nce(img, txt, temperature=tau, reduction="none")
        + info_nce(txt, img, temperature=tau, reduction="none")
    ) / 2
    got = clip_loss(img, txt, logit_scale=log_scale, reduction="none")
    assert got.shape == (6,)
    torch.testing.assert_close(got, both, rtol=1e-12, atol=1e-12)


def _nt_xent_ref(z1: np.ndarray, z2: np.ndarray, t: float) -> float:
    """SimCLR's NT-Xent over 2N views, written as in the paper: positive = the other view,
    denominator = the 2N - 1 other views."""
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    sim = z @ z.T / t
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denom = sum(math.exp(sim[i, a]) for a in range(2 * n) if a != i)
        losses.append(-math.log(math.exp(sim[i, j]) / denom))
    return float(np.mean(losses))


def test_supcon_with_two_views_is_simclr_nt_xent(gen: torch.Generator) -> None:
    z1 = _randn(gen, 5, 3)
    z2 = z1 + 0.5 * _randn(gen, 5, 3)
    ids = torch.arange(5)
    got = supcon(torch.cat([z1, z2]), torch.cat([ids, ids]), temperature=0.3)
    np.testing.assert_allclose(_val(got), _nt_xent_ref(_np(z1), _np(z2), 0.3), rtol=1e-12)


def test_scale_invariant_and_row_equivariant(gen: torch.Generator) -> None:
    q, k = _randn(gen, 7, 3), _randn(gen, 7, 3)
    base = info_nce(q, k, temperature=0.2, reduction="none")
    torch.testing.assert_close(info_nce(3.0 * q, 0.01 * k, temperature=0.2, reduction="none"), base)
    perm = torch.randperm(7, generator=gen)
    got = info_nce(q[perm], k[perm], temperature=0.2, reduction="none")
    torch.testing.assert_close(got, base[perm], rtol=1e-12, atol=1e-12)


def test_perfect_pairs_approach_zero() -> None:
    eye = torch.eye(4, dtype=F64)
    assert _val(info_nce(eye, eye, temperature=0.01)) < 1e-40
    assert _val(clip_loss(eye, eye, logit_scale=math.log(100))) < 1e-40
    labels = torch.tensor([0, 0, 1, 1])
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=F64)
    assert _val(supcon(z, labels, temperature=0.01)) < 1e-40


# ----------------------------------------------------------------------------- stability
@pytest.mark.parametrize("name", ["info_nce", "clip_loss", "supcon"])
def test_identical_and_zero_embeddings_have_finite_gradients(name: str) -> None:
    fn = losskit.get_spec(name).function
    for rows in (torch.ones(4, 3, dtype=F64), torch.zeros(4, 3, dtype=F64)):
        a = rows.clone().requires_grad_(True)
        b = rows.clone().requires_grad_(True)
        if name == "supcon":
            loss = fn(a, torch.tensor([0, 0, 1, 2]))
            loss.backward()
            _assert_finite_grads(a)
        else:
            loss = fn(a, b)
            loss.backward()
            _assert_finite_grads(a, b)
        # all similarities equal: each row's loss is log(number of candidates)
        expected = math.log(3) if name == "supcon" else math.log(4)
        np.testing.assert_allclose(_val(loss), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("tau", [1e-2, 1e-4])
def test_tiny_temperature_is_finite_and_exact(gen: torch.Generator, dtype, tau) -> None:
    q = _randn(gen, 6, 4, dtype=dtype).requires_grad_(True)
    k = _randn(gen, 6, 4, dtype=dtype).requires_grad_(True)
    t = torch.tensor(tau, dtype=dtype, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 1, 2, 2])
    rtol = 1e-10 if dtype == F64 else 1e-4
    loss = info_nce(q, k, temperature=t) + supcon(q, labels, temperature=t)
    want = info_nce_ref(_np(q), _np(k), reduction="mean", temperature=tau) + supcon_ref(
        _np(q), labels.numpy(), reduction="mean", temperature=tau
    )
    np.testing.assert_allclose(_val(loss), want, rtol=rtol)
    loss.backward()
    _assert_finite_grads(q, k, t)


def test_logit_scale_is_clamped_at_100(gen: torch.Generator) -> None:
    img, txt = _randn(gen, 5, 3), _randn(gen, 5, 3)
    at_100 = clip_ref(_np(img), _np(txt), reduction="mean", logit_scale=math.log(100))
    for value in (math.log(100), 5.0, 1e4):
        s = torch.tensor(value, dtype=F64, requires_grad=True)
        loss = clip_loss(img, txt, logit_scale=s)
        np.testing.assert_allclose(_val(loss), at_100, rtol=1e-12)
        np.testing.assert_allclose(_val(clip_loss(img, txt, logit_scale=value)), at_100, rtol=1e-12)
        loss.backward()
        assert s.grad is not None and torch.isfinite(s.grad)
        if value > math.log(100):
            assert _val(s.grad) == 0.0  # a true clamp: no gradient above the bound
    below = torch.tensor(2.0, dtype=F64, requires_grad=True)
    clip_loss(img, txt, logit_scale=below).backward()
    assert below.grad is not None and _val(below.grad) != 0.0


def test_half_precision_is_computed_in_float32(gen: torch.Generator) -> None:
    q, k = _randn(gen, 6, 4), _randn(gen, 6, 4)
    want = info_nce_ref(_np(q), _np(k), reduction="mean", temperature=0.1)
    for dtype in (torch.float16, torch.bfloat16):
        got = info_nce(q.to(dtype), k.to(dtype), temperature=0.1)
        assert got.dtype == torch.float32
        np.testing.assert_allclose(_val(got), want, rtol=3e-2)


# ----------------------------------------------------------------------------- degenerate batches
def test_supcon_without_any_positive_is_a_connected_zero(gen: torch.Generator) -> None:
    z = _randn(gen, 4, 3).requires_grad_(True)
    loss = supcon(z, torch.tensor([0, 1, 2, 3]))
    assert _val(loss) == 0.0 and loss.requires_grad
    loss.backward()
    assert z.grad is not None and bool((z.grad == 0).all())


def test_supcon_mean_leaves_out_anchors_without_positive(gen: torch.Generator) -> None:
    z = _randn(gen, 5, 3)
    labels = torch.tensor([0, 1, 0, 2, 0])  # rows 1 and 3 have no positive
    per = supcon(z, labels, reduction="none")
    assert per.shape == (5,) and _val(per[1]) == 0.0 and _val(per[3]) == 0.0
    torch.testing.assert_close(supcon(z, labels), per[[0, 2, 4]].mean())


@pytest.mark.parametrize("name", ["info_nce", "clip_loss", "supcon"])
def test_empty_batch(name: str) -> None:
    fn = losskit.get_spec(name).function
    x = torch.zeros(0, 3, dtype=F64, requires_grad=True)
    other = torch.zeros(0, dtype=torch.long) if name == "supcon" else x
    assert fn(x, other, reduction="none").shape == (0,)
    for reduction in ("mean", "sum"):
        out = fn(x, other, reduction=reduction)
        assert out.shape == () and _val(out) == 0.0 and out.requires_grad
        out.backward()
        assert x.grad is not None and x.grad.shape == (0, 3)


def test_single_pair_has_zero_loss() -> None:
    q = torch.tensor([[1.0, 2.0]], dtype=F64)
    assert _val(info_nce(q, -q)) == 0.0  # one candidate: softmax is 1 whatever the similarity


# ----------------------------------------------------------------------------- checks and modules
@pytest.mark.parametrize("mode", ["shapes", "off"])
def test_check_modes_give_the_same_values(gen: torch.Generator, mode: str) -> None:
    q, k = _randn(gen, 4, 3), _randn(gen, 4, 3)
    y = torch.tensor([0, 1, 1, 0])
    want = (info_nce(q, k), clip_loss(q, k), supcon(q, y))
    with losskit.checks(mode):
        got = (info_nce(q, k), clip_loss(q, k), supcon(q, y))
        # a tensor temperature is not read outside full mode (no device sync)
        info_nce(q, k, temperature=torch.tensor(-1.0, dtype=F64))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def test_modules_learn_a_temperature_parameter(gen: torch.Generator) -> None:
    q, k = _randn(gen, 5, 3), _randn(gen, 5, 3)
    for module in (InfoNCELoss(temperature=0.1), SupConLoss(), CLIPLoss(logit_scale=1.0)):
        name = "logit_scale" if isinstance(module, CLIPLoss) else "temperature"
        setattr(module, name, torch.nn.Parameter(torch.tensor(0.5, dtype=F64)))
        second = torch.tensor([0, 1, 0, 1, 1]) if isinstance(module, SupConLoss) else k
        module(q, second).backward()
        param = getattr(module, name)
        assert [p is param for p in module.parameters()] == [True]
        assert param.grad is not None and _val(param.grad) != 0.0
        assert list(module.state_dict()) == [name]


def test_module_repr_and_buffers() -> None:
    module = InfoNCELoss(temperature=torch.tensor(0.2), gather="global")
    assert repr(module) == "InfoNCELoss(temperature=(), gather='global', reduction='mean')"
    assert "temperature" in dict(module.named_buffers())
    assert module.spec.name == "info_nce" and module.spec.family == "embedding"


# ----------------------------------------------------------------------------- issue 14
def test_info_nce_promotes_float64_queries_with_float32_keys(gen: torch.Generator) -> None:
    # was a raw matmul dtype error
    q, k = _randn(gen, 5, 3), _randn(gen, 5, 3, dtype=torch.float32)
    out = info_nce(q, k, temperature=0.3)
    assert out.dtype == F64
    want = info_nce_ref(_np(q), _np(k), reduction="mean", temperature=0.3)
    assert _val(out) == pytest.approx(float(want), rel=1e-12)
    out = clip_loss(q.float(), k.double(), logit_scale=0.5)
    assert out.dtype == F64
    want = clip_ref(_np(q.float()), _np(k), reduction="mean", logit_scale=0.5)
    assert _val(out) == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize("temp", [np.float32(0.25), np.float64(0.25), torch.tensor(0.25)])
def test_numpy_and_tensor_temperatures_are_accepted(gen: torch.Generator, temp: object) -> None:
    q, k = _randn(gen, 4, 3), _randn(gen, 4, 3)
    y = torch.tensor([0, 0, 1, 1])
    want = info_nce_ref(_np(q), _np(k), reduction="mean", temperature=0.25)
    assert _val(info_nce(q, k, temperature=temp)) == pytest.approx(float(want), rel=1e-6)
    want = supcon_ref(_np(q), y.numpy(), reduction="mean", temperature=0.25)
    assert _val(supcon(q, y, temperature=temp)) == pytest.approx(float(want), rel=1e-6)
    scale = np.float32(0.5)
    want = clip_ref(_np(q), _np(k), reduction="mean", logit_scale=0.5)
    assert _val(clip_loss(q, k, logit_scale=scale)) == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize("bad", ["0.1", None, [0.1], float("nan"), float("inf"), -0.1, True])
def test_a_bad_temperature_is_refused_by_name(bad: object) -> None:
    x = torch.randn(4, 3)
    with pytest.raises(losskit.LossInputError, match="temperature"):
        info_nce(x, x, temperature=bad)  # type: ignore[arg-type]
    with pytest.raises(losskit.LossInputError, match="temperature"):
        supcon(x, torch.tensor([0, 0, 1, 1]), temperature=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["1.0", None, [1.0], float("nan"), float("inf"), True])
def test_a_bad_logit_scale_is_refused_by_name(bad: object) -> None:
    x = torch.randn(4, 3)
    with pytest.raises(losskit.LossInputError, match="logit_scale"):
        clip_loss(x, x, logit_scale=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["all", 1, True, "LOCAL", torch.tensor(1)])
def test_a_bad_gather_is_refused_by_name(bad: object) -> None:
    x = torch.randn(4, 3)
    with pytest.raises(losskit.LossInputError, match="gather must be one of"):
        info_nce(x, x, gather=bad)  # type: ignore[arg-type]


def test_complex_embeddings_are_refused() -> None:
    z = torch.randn(4, 3, dtype=torch.complex64)
    with pytest.raises(losskit.LossInputError, match="queries must be real"):
        info_nce(z, z)
    with pytest.raises(losskit.LossInputError, match="image_embeddings must be real"):
        clip_loss(z, z)
    with pytest.raises(losskit.LossInputError, match="embeddings must be real"):
        supcon(z, torch.tensor([0, 0, 1, 1]))
    with pytest.raises(losskit.LossInputError, match="keys must be real"):
        info_nce(z.real, z)
    with pytest.raises(losskit.LossInputError, match="text_embeddings must be a floating"):
        clip_loss(z.real, z.real.long())


@pytest.mark.parametrize("gather", ["local", None])
def test_vmap_over_an_outer_dim_gives_per_batch_losses(
    gen: torch.Generator, gather: str | None
) -> None:
    # each vmapped slice is its own batch with its own in-batch negatives (the no-process-group
    # path of every gather mode)
    q, k = _randn(gen, 3, 5, 4), _randn(gen, 3, 5, 4)
    y = torch.tensor([[0, 0, 1, 1, 2], [0, 1, 2, 3, 4], [1, 1, 1, 0, 0]])
    kw = {"gather": gather, "reduction": "none"}
    got = torch.func.vmap(lambda a, b: info_nce(a, b, temperature=0.5, **kw))(q, k)
    want = [info_nce_ref(_np(q[i]), _np(k[i]), reduction="none", temperature=0.5) for i in range(3)]
    np.testing.assert_allclose(got.numpy(), np.stack(want), rtol=1e-10)
    got = torch.func.vmap(lambda a, b: clip_loss(a, b, logit_scale=1.0, **kw))(q, k)
    want = [clip_ref(_np(q[i]), _np(k[i]), reduction="none", logit_scale=1.0) for i in range(3)]
    np.testing.assert_allclose(got.numpy(), np.stack(want), rtol=1e-10)
    got = torch.func.vmap(lambda a, b: supcon(a, b, temperature=0.5, **kw))(q, y)
    want = [
        supcon_ref(_np(q[i]), y[i].numpy(), reduction="none", temperature=0.5) for i in range(3)
    ]
    np.testing.assert_allclose(got.numpy(), np.stack(want), rtol=1e-10)
    # per-batch gradients equal the loop's
    grads = torch.func.vmap(torch.func.grad(lambda a, b: info_nce(a, b, gather=gather)))(q, k)
    for i in range(3):
        qi = q[i].clone().requires_grad_()
        (g,) = torch.autograd.grad(info_nce(qi, k[i], gather=gather), qi)
        torch.testing.assert_close(grads[i], g)
