"""linear_cross_entropy against the plain formula (values and gradients, every option, float32
and bfloat16), its autograd contract (upstream gradients, retain_graph, frozen heads), and the
memory it promises: never a (N, V) tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import losskit
from losskit.losses._large_vocab import default_chunk_size, linear_cross_entropy
from losskit.nn._large_vocab import LinearCrossEntropyLoss
from tests.infos.large_vocab import lce_reference

OPTIONS = [
    {},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-2},
    {"softcap": 3.0},
    {"bias": True},
    {"ignore": True},
    {"bias": True, "ignore": True, "label_smoothing": 0.2, "z_loss": 0.05, "softcap": 2.0},
]


def _naive(hidden, weight, y, *, bias=None, ignore_index=-100, label_smoothing=0.0, z_loss=0.0,
           softcap=None, reduction="mean", chunk_size=None):  # fmt: skip
    """The formula with torch ops on the materialised logits, in the inputs' dtype."""
    z = F.linear(hidden, weight, bias).reshape(-1, weight.shape[0])
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    t = y.reshape(-1)
    per = F.cross_entropy(
        z, t, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none"
    )
    valid = t != ignore_index
    per = per + z_loss * torch.logsumexp(z, 1).square() * valid
    if reduction == "none":
        return per.reshape(y.shape)
    return per.sum() if reduction == "sum" else per.sum() / valid.sum().clamp(min=1)


def _case(gen, opts, *, n=37, d=16, v=53, dtype=torch.float32, scale=1.0):
    hidden = (scale * torch.randn(n, d, generator=gen) / d**0.5).to(dtype).requires_grad_()
    weight = torch.randn(v, d, generator=gen).to(dtype).requires_grad_()
    y = torch.randint(0, v, (n,), generator=gen)
    kw = {k: val for k, val in opts.items() if k not in ("bias", "ignore")}
    if opts.get("ignore"):
        y[::4] = -100
    if opts.get("bias"):
        kw["bias"] = torch.randn(v, generator=gen).to(dtype).requires_grad_()
    return hidden, weight, y, kw


def _inputs(hidden, weight, kw):
    return [hidden, weight] + ([kw["bias"]] if "bias" in kw else [])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_float32_matches_naive_values_and_grads(gen, opts, reduction) -> None:
    hidden, weight, y, kw = _case(gen, opts)
    got = linear_cross_entropy(hidden, weight, y, reduction=reduction, chunk_size=8, **kw)
    want = _naive(hidden, weight, y, reduction=reduction, **kw)
    assert got.shape == want.shape and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    upstream = torch.rand(got.shape, generator=gen) + 0.5  # not 1: the grads must be scaled
    ins = _inputs(hidden, weight, kw)
    for a, b in zip(
        torch.autograd.grad(got, ins, upstream),
        torch.autograd.grad(want, ins, upstream),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_bfloat16_close_to_float64(gen, opts, reduction) -> None:
    """bf16 inputs are computed in float32: the error is that of rounding the inputs and the
    outputs to bf16, checked against float64 of the same (bf16-rounded) inputs."""
    hidden, weight, y, kw = _case(gen, opts, dtype=torch.bfloat16, scale=4.0)
    got = linear_cross_entropy(hidden, weight, y, reduction=reduction, chunk_size=16, **kw)
    assert got.dtype == torch.bfloat16
    up = lambda t: t.detach().double().requires_grad_()  # noqa: E731
    h64, w64 = up(hidden), up(weight)
    kw64 = {**kw, **({"bias": up(kw["bias"])} if "bias" in kw else {})}
    want = _naive(h64, w64, y, reduction=reduction, **kw64)
    torch.testing.assert_close(got.double(), want, rtol=1e-2, atol=1e-2)
    upstream = torch.rand(got.shape, generator=gen) + 0.5
    for a, b in zip(
        torch.autograd.grad(got, _inputs(hidden, weight, kw), upstream.bfloat16()),
        torch.autograd.grad(want, _inputs(h64, w64, kw64), upstream.double()),
        strict=True,
    ):
        assert a.dtype == torch.bfloat16
        # bf16 keeps 8 bits: 1% of the largest gradient entry
        torch.testing.assert_close(a.double(), b, rtol=2e-2, atol=1e-2 * float(b.abs().max()))


def test_bfloat16_near_one_hot_true_class_gradient(gen) -> None:
    """softmax(x_y) -> 1: the true-class gradient p_y - 1 is computed in float32 before the
    cast (Liger #1329 lost it to cancellation in bf16)."""
    hidden = torch.zeros(4, 8, dtype=torch.bfloat16)
    hidden[:, 0] = 1.0
    weight = torch.zeros(16, 8, dtype=torch.bfloat16)
    weight[3, 0] = 9.0  # logit 9 for class 3, 0 elsewhere: p_3 = 0.99814...
    hidden.requires_grad_()
    y = torch.full((4,), 3)
    (g,) = torch.autograd.grad(linear_cross_entropy(hidden, weight, y, reduction="sum"), hidden)
    p3 = np.exp(9.0) / (np.exp(9.0) + 15.0)
    np.testing.assert_allclose(g[:, 0].float().numpy(), 9.0 * (p3 - 1.0), rtol=1e-2)


@pytest.mark.parametrize("n", [1, 11, 64, 65])
@pytest.mark.parametrize("chunk", [1, 4, 7, 64, None])
def test_chunk_size_does_not_change_the_result(gen, n, chunk) -> None:
    hidden, weight, y, kw = _case(gen, {"bias": True, "ignore": True}, n=n, dtype=torch.float64)
    got = linear_cross_entropy(hidden, weight, y, chunk_size=chunk, **kw)
    want = lce_reference(
        hidden.detach().numpy(),
        weight.detach().numpy(),
        y.numpy(),
        bias=kw["bias"].detach().numpy(),
        reduction="mean",
    )
    np.testing.assert_allclose(got.item(), want, rtol=1e-12)
    ins = _inputs(hidden, weight, kw)
    for a, b in zip(
        torch.autograd.grad(got, ins),
        torch.autograd.grad(_naive(hidden, weight, y, **kw), ins),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_every_label_ignored_is_a_graph_connected_zero(gen, reduction) -> None:
    hidden, weight, y, kw = _case(gen, {"bias": True, "label_smoothing": 0.1, "z_loss": 0.1})
    y[:] = -100
    got = linear_cross_entropy(hidden, weight, y, reduction=reduction, **kw)
    assert got.grad_fn is not None and torch.count_nonzero(got) == 0
    grads = torch.autograd.grad(got.sum(), _inputs(hidden, weight, kw))
    assert all(torch.count_nonzero(g) == 0 for g in grads)


def test_label_smoothing_is_applied(gen) -> None:
    """Liger #243 silently dropped it: with smoothing the value moves, towards the formula."""
    hidden, weight, y, _ = _case(gen, {})
    plain = linear_cross_entropy(hidden, weight, y)
    smooth = linear_cross_entropy(hidden, weight, y, label_smoothing=0.3)
    logits = (hidden @ weight.T).double()
    want = 0.7 * F.cross_entropy(logits, y) + 0.3 * (-torch.log_softmax(logits, 1).mean(1)).mean()
    assert abs(smooth.item() - plain.item()) > 1e-3
    np.testing.assert_allclose(smooth.item(), want.item(), rtol=1e-5)


def test_z_loss_adds_its_term_to_the_value(gen) -> None:
    hidden, weight, y, _ = _case(gen, {})
    lse = torch.logsumexp((hidden @ weight.T).double(), 1)
    got = linear_cross_entropy(hidden, weight, y, z_loss=1e-3)
    want = F.cross_entropy((hidden @ weight.T).double(), y) + 1e-3 * lse.square().mean()
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)


def test_softcap_bounds_the_logits(gen) -> None:
    """With a cap of 1 every logit lies in (-1, 1): the loss is at most log(V) + 2."""
    hidden, weight, y, _ = _case(gen, {}, scale=100.0)
    got = linear_cross_entropy(hidden, weight, y, softcap=1.0, reduction="none")
    assert float(got.detach().max()) < np.log(53) + 2
    z = torch.tanh((hidden @ weight.T).double())
    torch.testing.assert_close(got.double(), F.cross_entropy(z, y, reduction="none"))


def test_none_with_nonuniform_upstream_gradient(gen) -> None:
    """Liger #968/#1298: every token's gradient must be scaled by its own upstream value."""
    hidden, weight, y, _ = _case(gen, {"ignore": True}, dtype=torch.float64)
    upstream = torch.zeros(37, dtype=torch.float64)
    upstream[5] = 2.0  # a single token: weight.grad is that token's alone
    got = torch.autograd.grad(linear_cross_entropy(hidden, weight, y, reduction="none"),
                              [hidden, weight], upstream)  # fmt: skip
    want = torch.autograd.grad(_naive(hidden, weight, y, reduction="none"), [hidden, weight],
                               upstream)  # fmt: skip
    assert torch.count_nonzero(got[0].sum(1)) == 1
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_retain_graph_backward_twice_and_once_only_otherwise(gen) -> None:
    hidden, weight, y, _ = _case(gen, {}, dtype=torch.float64)
    loss = linear_cross_entropy(hidden, weight, y, chunk_size=8)  # the chunked path
    three = torch.tensor(3.0, dtype=torch.float64)
    loss.backward(three, retain_graph=True)
    first = weight.grad.clone()
    loss.backward(three)  # the buffers survived the first call
    torch.testing.assert_close(weight.grad, 2 * first)
    want = torch.autograd.grad(3.0 * _naive(hidden, weight, y), weight)[0]
    torch.testing.assert_close(first, want)
    with pytest.raises(RuntimeError, match="backward through the same call twice"):
        loss.backward()


def test_frozen_head_and_no_grad(gen) -> None:
    hidden, weight, y, _ = _case(gen, {})
    frozen = weight.detach()
    linear_cross_entropy(hidden, frozen, y, chunk_size=8).backward()
    assert frozen.grad is None
    torch.testing.assert_close(
        hidden.grad, torch.autograd.grad(_naive(hidden, frozen, y), hidden)[0]
    )
    with torch.no_grad():
        out = linear_cross_entropy(hidden, weight, y, chunk_size=8)
    assert out.grad_fn is None
    torch.testing.assert_close(out, _naive(hidden, weight, y).detach())


def test_batched_hidden_keeps_the_label_shape(gen) -> None:
    hidden = torch.randn(2, 5, 8, generator=gen, requires_grad=True)
    weight = torch.randn(11, 8, generator=gen)
    y = torch.randint(0, 11, (2, 5), generator=gen)
    got = linear_cross_entropy(hidden, weight, y, reduction="none")
    assert got.shape == (2, 5)
    torch.testing.assert_close(
        got, F.cross_entropy((hidden @ weight.T).transpose(1, 2), y, reduction="none")
    )


def test_extreme_hidden_gives_finite_loss_and_grads(gen) -> None:
    hidden, weight, y, _ = _case(gen, {}, scale=1e4)
    loss = linear_cross_entropy(hidden, weight, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(hidden.grad).all()
    assert torch.isfinite(weight.grad).all()


def test_non_finite_hidden_is_named(gen) -> None:
    hidden, weight, y, _ = _case(gen, {})
    bad = hidden.detach().clone()
    bad[3, 2] = float("nan")
    with pytest.raises(losskit.LossInputError, match=r"hidden holds non-finite values.*\(3, 2\)"):
        linear_cross_entropy(bad, weight, y)
    with losskit.checks("off"):
        assert torch.isnan(linear_cross_entropy(bad, weight, y))


@pytest.mark.parametrize("mode", ["shapes", "off"])
def test_lighter_check_modes_give_the_same_value(gen, mode) -> None:
    hidden, weight, y, kw = _case(gen, {"bias": True, "ignore": True})
    want = linear_cross_entropy(hidden, weight, y, **kw)
    with losskit.checks(mode):
        torch.testing.assert_close(linear_cross_entropy(hidden, weight, y, **kw), want)


def test_module_takes_the_head_in_forward(gen) -> None:
    hidden, weight, y, kw = _case(gen, {"bias": True, "ignore": True})
    module = LinearCrossEntropyLoss(label_smoothing=0.1, chunk_size=5)
    got = module(hidden, weight, y, kw["bias"])
    want = linear_cross_entropy(hidden, weight, y, bias=kw["bias"], label_smoothing=0.1)
    torch.testing.assert_close(got, want)
    fixed = LinearCrossEntropyLoss(bias=kw["bias"].detach())
    torch.testing.assert_close(fixed(hidden, weight, y), want.new_tensor(
        linear_cross_entropy(hidden, weight, y, bias=kw["bias"]).item()))  # fmt: skip
    assert "bias" in dict(fixed.named_buffers())
    assert module.spec.family == "large_vocab" and module.spec.input_space == "hidden"


def test_default_chunk_size_never_skinny_never_more_than_the_tokens() -> None:
    assert default_chunk_size(4096, 32768) == 512
    assert default_chunk_size(100_000, 256_000) == 256  # at least 256 rows
    assert default_chunk_size(50, 1000) == 50
    assert default_chunk_size(0, 1000) == 1


def _peak_bytes(fn) -> int:
    """Peak of the bytes allocated by the CPU allocator while ``fn`` runs (profiler events)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    now = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        now += e.nbytes()
        peak = max(peak, now)
    return peak


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_peak_memory_is_gradients_plus_one_chunk(gen, reduction) -> None:
    """Deterministic (allocator bytes, not time): N=512, V=4096, chunks of 32 rows. The logits
    alone would be 8 MiB; we may hold the gradients, one (32, V) buffer and small vectors."""
    n, d, v, chunk = 512, 32, 4096, 32
    hidden = torch.randn(n, d, generator=gen, requires_grad=True)
    weight = torch.randn(v, d, generator=gen, requires_grad=True)
    y = torch.randint(0, v, (n,), generator=gen)

    def step() -> None:
        linear_cross_entropy(
            hidden, weight, y, chunk_size=chunk, reduction=reduction
        ).sum().backward()

    step()
    hidden.grad = weight.grad = None
    peak = _peak_bytes(step)
    grads = 4 * (n * d + v * d)
    logits = 4 * n * v
    assert peak <= grads + 4 * chunk * v + 64 * 1024, (peak, grads, logits)
    assert peak < logits / 4


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_empty_batch(gen, reduction) -> None:
    hidden = torch.zeros(0, 4, requires_grad=True)
    weight = torch.randn(6, 4, generator=gen, requires_grad=True)
    got = linear_cross_entropy(
        hidden, weight, torch.zeros(0, dtype=torch.long), reduction=reduction
    )
    assert got.shape == ((0,) if reduction == "none" else ())
    assert torch.count_nonzero(got) == 0
    got.sum().backward()
    assert torch.count_nonzero(weight.grad) == 0


# ----------------------------------------------------------------------------- issue 14
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", [{}, OPTIONS[-1]], ids=["plain", "every option"])
def test_double_backward_matches_the_plain_formula(gen, opts, reduction) -> None:
    # a gradient penalty on the chunked path: d/dw (L + |dL/dh|^2); the penalty's share of the
    # weight gradient was a silent 0 before
    hidden, weight, y, kw = _case(gen, opts, n=19, d=6, v=11, dtype=torch.float64)
    upstream = torch.linspace(0.5, 2.0, 19, dtype=torch.float64)
    inputs = _inputs(hidden, weight, kw)
    results = []
    for fn in (linear_cross_entropy, _naive):
        out = fn(hidden, weight, y, **kw, reduction=reduction, chunk_size=4)
        loss = (out * upstream).sum() if reduction == "none" else out
        (gh,) = torch.autograd.grad(loss, hidden, create_graph=True)
        results.append(torch.autograd.grad(loss + gh.square().sum(), inputs))
    assert any(g.abs().max() > 0 for g in results[1])
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_ignore_index_none_ignores_no_label(gen) -> None:
    for chunk in (None, 8):  # materialised and chunked paths
        hidden, weight, y, _ = _case(gen, {}, dtype=torch.float64)
        got = linear_cross_entropy(hidden, weight, y, ignore_index=None, chunk_size=chunk)
        want = F.cross_entropy(hidden @ weight.T, y)
        torch.testing.assert_close(got, want)
        y[0] = -100  # no longer a label to skip: out of range
        with pytest.raises(losskit.LossInputError, match=r"labels must lie in \[0, 53\)"):
            linear_cross_entropy(hidden, weight, y, ignore_index=None, chunk_size=chunk)
    module = LinearCrossEntropyLoss(ignore_index=None)
    y[0] = 0
    torch.testing.assert_close(module(hidden, weight, y), F.cross_entropy(hidden @ weight.T, y))


def test_options_take_numpy_scalars_and_refuse_bad_values_by_name(gen) -> None:
    hidden, weight, y, _ = _case(gen, {}, dtype=torch.float64)
    got = linear_cross_entropy(
        hidden,
        weight,
        y,
        label_smoothing=np.float32(0.25),
        z_loss=np.float64(0.01),
        softcap=np.float32(3.0),
        chunk_size=np.int64(8),
        ignore_index=np.int64(-100),
    )
    want = _naive(hidden, weight, y, label_smoothing=0.25, z_loss=0.01, softcap=3.0)
    torch.testing.assert_close(got, want)
    bad = [
        ({"label_smoothing": "0.1"}, "label_smoothing must be a number"),
        ({"label_smoothing": float("nan")}, r"label_smoothing must lie in \[0, 1\]"),
        ({"z_loss": None}, "z_loss must be a number"),
        ({"z_loss": float("inf")}, r"z_loss must lie in \[0, inf\)"),
        ({"softcap": float("inf")}, r"softcap must lie in \(0, inf\)"),
        ({"softcap": [2.0]}, "softcap must be a number"),
        ({"chunk_size": 2.5}, "chunk_size must be an integer"),
        ({"chunk_size": True}, "chunk_size must be an integer"),
        ({"ignore_index": "pad"}, "ignore_index must be an integer"),
        ({"ignore_index": -1.0}, "ignore_index must be an integer"),
    ]
    for kw, match in bad:
        with pytest.raises(losskit.LossInputError, match=match):
            linear_cross_entropy(hidden, weight, y, **kw)


@pytest.mark.parametrize("chunk", [None, 8])
def test_mixed_dtypes_promote_as_torch(gen, chunk) -> None:
    hidden, weight, y, kw = _case(gen, {"bias": True, "ignore": True})
    low = hidden.detach().to(torch.bfloat16).requires_grad_()
    wide = weight.detach().double().requires_grad_()
    out = linear_cross_entropy(low, weight, y, bias=kw["bias"].double(), chunk_size=chunk)
    assert out.dtype == torch.float64
    want = _naive(low.double(), weight.double(), y, bias=kw["bias"].double())
    torch.testing.assert_close(out, want)
    out = linear_cross_entropy(hidden, wide, y, chunk_size=chunk)
    assert out.dtype == torch.float64
    out.backward()
    assert hidden.grad.dtype == torch.float32 and wide.grad.dtype == torch.float64
    (want,) = torch.autograd.grad(_naive(hidden.double(), wide, y), wide)
    torch.testing.assert_close(wide.grad, want)
    with pytest.raises(losskit.LossInputError, match="bias must be real"):
        linear_cross_entropy(hidden, weight, y, bias=torch.zeros(53, dtype=torch.complex64))


def test_traced_and_meta_calls_use_the_plain_formula(gen) -> None:
    # the chunked options under torch.compile, vmap and meta tensors: the same value as the
    # plain formula (and the eager chunked loop), the same output shapes
    hidden, weight, y, kw = _case(gen, OPTIONS[-1], n=12, d=5, v=9, dtype=torch.float64)
    kw["chunk_size"] = 3
    want = _naive(hidden, weight, y, **kw)
    torch.testing.assert_close(linear_cross_entropy(hidden, weight, y, **kw), want)
    torch._dynamo.reset()
    compiled = torch.compile(linear_cross_entropy, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(hidden, weight, y, **kw), want)
    per = torch.func.vmap(lambda h, t: linear_cross_entropy(h, weight, t, **kw, reduction="none"))(
        hidden.reshape(3, 4, 5), y.reshape(3, 4)
    )
    torch.testing.assert_close(per.reshape(-1), _naive(hidden, weight, y, **kw, reduction="none"))
    meta = {k: v.to("meta") if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    out = linear_cross_entropy(hidden.to("meta"), weight.to("meta"), y.to("meta"), **meta)
    assert out.is_meta and out.shape == () and out.dtype == torch.float64
