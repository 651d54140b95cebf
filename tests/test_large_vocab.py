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
from losskit.losses._large_vocab import (
    _topk_dense,
    default_chunk_size,
    linear_cross_entropy,
    linear_distillation,
    linear_log_probs,
    linear_topk_distillation,
)
from losskit.nn._large_vocab import (
    LinearCrossEntropyLoss,
    LinearDistillationLoss,
    LinearTopkDistillationLoss,
)
from tests.infos.large_vocab import (
    distill_peer,
    distill_reference,
    lce_reference,
    topk_reference,
)

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


# ----------------------------------------------------------------------------- linear_log_probs
def _np_log_probs(h, w, y, *, bias=None, temperature=1.0, softcap=None, ignore_index=-100,
                  g_lp=None, g_ent=None):  # fmt: skip
    """float64 NumPy on the full (N, V) logits: log p of the labels, the entropy, and the
    gradients (hidden, weight, bias) of sum(g_lp * log p + g_ent * H) by the chain rule:
    du_c = g_lp ([c == y] - p_c) - g_ent p_c (log p_c + H)   (H = -sum p log p, so
    dH/du_c = -p_c (log p_c + H)), dz = du / temperature, dlogits = dz (1 - tanh^2)."""
    logits = h @ w.T + (0.0 if bias is None else bias)  # (N, V)
    t = np.tanh(logits / softcap) if softcap is not None else None
    z = logits if softcap is None else softcap * t
    u = z / temperature
    m = u.max(1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(u - m).sum(1))
    log_p = u - lse[:, None]
    p = np.exp(log_p)
    valid = y != ignore_index
    safe = np.where(valid, y, 0)
    lp = np.where(valid, log_p[np.arange(len(y)), safe], 0.0)
    ent = np.where(valid, -(p * log_p).sum(1), 0.0)
    n, v = u.shape
    g_lp = np.zeros(n) if g_lp is None else np.where(valid, g_lp, 0.0)
    g_ent = np.zeros(n) if g_ent is None else np.where(valid, g_ent, 0.0)
    onehot = np.zeros((n, v))
    onehot[np.arange(n), safe] = 1.0
    du = g_lp[:, None] * (onehot - p) - g_ent[:, None] * p * (log_p + ent[:, None])
    dlogits = du / temperature * (1.0 if t is None else 1.0 - t**2)
    return lp, ent, (dlogits @ w, dlogits.T @ h, dlogits.sum(0))


LP_OPTIONS = [
    {},
    {"bias": True},
    {"ignore": True},
    {"softcap": 2.0},
    {"temperature": 0.6},
    {"temperature": 1.7, "softcap": 1.5, "bias": True, "ignore": True},
]


def _np(t):
    return t.detach().double().numpy()


def _lp_check(gen, opts, *, entropy, chunk, n=37, dtype=torch.float64):
    hidden, weight, y, kw = _case(gen, opts, n=n, dtype=dtype, scale=3.0)
    out = linear_log_probs(hidden, weight, y, chunk_size=chunk, entropy=entropy, **kw)
    lp, ent = out if entropy else (out, None)
    g_lp = torch.rand(n, generator=gen, dtype=torch.float64) + 0.5  # not 1: scaled per token
    g_ent = torch.randn(n, generator=gen, dtype=torch.float64) if entropy else None
    np_kw = {k: (_np(val) if k == "bias" else val) for k, val in kw.items()}
    want_lp, want_ent, want_grads = _np_log_probs(
        _np(hidden), _np(weight), y.numpy(), **np_kw, g_lp=g_lp.numpy(),
        g_ent=None if g_ent is None else g_ent.numpy(),
    )  # fmt: skip
    outs, ups = [lp], [g_lp.to(lp.dtype)]
    if entropy:
        outs.append(ent)
        ups.append(g_ent.to(lp.dtype))
    grads = torch.autograd.grad(outs, _inputs(hidden, weight, kw), ups)
    return (lp, ent, grads), (want_lp, want_ent, want_grads)


@pytest.mark.parametrize("entropy", [False, True], ids=["log_probs", "entropy"])
@pytest.mark.parametrize("chunk", [1, 5, 64, None])  # 5 does not divide 37; None: materialised
@pytest.mark.parametrize("opts", LP_OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_log_probs_match_float64_numpy_values_and_grads(gen, opts, entropy, chunk) -> None:
    (lp, ent, grads), (want_lp, want_ent, want_grads) = _lp_check(
        gen, opts, entropy=entropy, chunk=chunk
    )
    assert lp.shape == (37,) and lp.dtype == torch.float64
    np.testing.assert_allclose(lp.detach().numpy(), want_lp, rtol=1e-12, atol=1e-13)
    assert (lp.detach().numpy() <= 0).all()
    if entropy:
        assert ent.shape == (37,)
        np.testing.assert_allclose(ent.detach().numpy(), want_ent, rtol=1e-12, atol=1e-13)
        assert (ent.detach().numpy() <= np.log(53) + 1e-12).all()  # H <= log V
    for got, want in zip(grads, want_grads, strict=False):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("opts", LP_OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_log_probs_float32_chunked_close_to_float64(gen, opts) -> None:
    (lp, ent, grads), (want_lp, want_ent, want_grads) = _lp_check(
        gen, opts, entropy=True, chunk=8, dtype=torch.float32
    )
    assert lp.dtype == ent.dtype == torch.float32
    np.testing.assert_allclose(_np(lp), want_lp, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(ent), want_ent, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, want_grads, strict=False):
        np.testing.assert_allclose(_np(got), want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("entropy", [False, True], ids=["log_probs", "entropy"])
@pytest.mark.parametrize("opts", [{}, LP_OPTIONS[-1]], ids=["plain", "every option"])
def test_log_probs_gradcheck_and_gradgradcheck(gen, opts, entropy) -> None:
    hidden, weight, y, kw = _case(gen, opts, n=9, d=3, v=6, dtype=torch.float64, scale=3.0)
    bias = kw.pop("bias", None)

    def fn(h, w, *b):
        return linear_log_probs(h, w, y, bias=b[0] if b else None, chunk_size=4,
                                entropy=entropy, **kw)  # fmt: skip

    ins = (hidden, weight) + ((bias,) if bias is not None else ())
    assert torch.autograd.gradcheck(fn, ins)
    assert torch.autograd.gradgradcheck(fn, ins)  # create_graph: the materialised formula


def test_log_probs_one_output_used_alone(gen) -> None:
    """The entropy alone (an entropy bonus) and the log-probs alone, from entropy=True: the
    unused output sends no gradient and costs nothing."""
    hidden, weight, y, kw = _case(gen, {"ignore": True, "softcap": 3.0}, dtype=torch.float64)
    ins = _inputs(hidden, weight, kw)
    for which in (0, 1):
        out = linear_log_probs(hidden, weight, y, chunk_size=6, entropy=True, **kw)
        got = torch.autograd.grad(out[which].sum(), ins)
        ones = np.ones(37)
        *_, want = _np_log_probs(_np(hidden), _np(weight), y.numpy(), softcap=3.0,
                                 **({"g_lp": ones} if which == 0 else {"g_ent": ones}))  # fmt: skip
        for a, b in zip(got, want, strict=False):
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-10, atol=1e-12)


def test_log_probs_ignored_tokens_are_zero_without_gradient(gen) -> None:
    hidden, weight, y, _ = _case(gen, {"ignore": True}, dtype=torch.float64)
    lp, ent = linear_log_probs(hidden, weight, y, chunk_size=7, entropy=True)
    ignored = y == -100
    assert torch.count_nonzero(lp[ignored]) == 0 and torch.count_nonzero(ent[ignored]) == 0
    assert (lp[~ignored] < 0).all() and (ent[~ignored] > 0).all()
    (gh,) = torch.autograd.grad(lp.sum() + ent.sum(), hidden)
    assert (
        torch.count_nonzero(gh[ignored]) == 0 and torch.count_nonzero(gh[~ignored].abs().sum(1)) > 0
    )
    # an ignore_index other than -100, and None (then -100 is out of range)
    # label 7 is a real class too: ignoring it drops the tokens that held it as well
    y7 = torch.where(ignored, 7, y)
    got = linear_log_probs(hidden, weight, y7, ignore_index=7, chunk_size=7)
    want, _, _ = _np_log_probs(_np(hidden), _np(weight), y7.numpy(), ignore_index=7)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    with pytest.raises(losskit.LossInputError, match=r"labels must lie in \[0, 53\)"):
        linear_log_probs(hidden, weight, y, ignore_index=None)


@pytest.mark.parametrize("chunk", [None, 4])
def test_log_probs_every_label_ignored_is_a_graph_connected_zero(gen, chunk) -> None:
    hidden, weight, y, kw = _case(gen, {"bias": True}, n=9)
    y[:] = -100
    lp, ent = linear_log_probs(hidden, weight, y, chunk_size=chunk, entropy=True, **kw)
    assert lp.grad_fn is not None and torch.count_nonzero(lp) + torch.count_nonzero(ent) == 0
    grads = torch.autograd.grad((lp + ent).sum(), _inputs(hidden, weight, kw))
    assert all(torch.count_nonzero(g) == 0 for g in grads)


def test_log_probs_sum_is_minus_the_cross_entropy(gen) -> None:
    """At temperature 1: -sum_t log p_t(y_t) is the summed cross-entropy (the plain formula,
    torch's own F.cross_entropy on float64 logits)."""
    hidden, weight, y, kw = _case(gen, {"ignore": True, "bias": True}, dtype=torch.float64)
    got = -linear_log_probs(hidden, weight, y, chunk_size=8, **kw).sum()
    want = F.cross_entropy(hidden @ weight.T + kw["bias"], y, reduction="sum")
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_log_probs_temperature_limits(gen) -> None:
    """A large temperature flattens the distribution (log p -> -log V, H -> log V); a small one
    makes it one-hot on the largest logit (H -> 0, log p of the argmax -> 0)."""
    hidden, weight, _, _ = _case(gen, {}, dtype=torch.float64)
    top = (hidden @ weight.T).argmax(1)
    lp, ent = linear_log_probs(hidden, weight, top, temperature=1e6, chunk_size=8, entropy=True)
    np.testing.assert_allclose(lp.detach().numpy(), -np.log(53), rtol=1e-5)
    np.testing.assert_allclose(ent.detach().numpy(), np.log(53), rtol=1e-5)
    lp, ent = linear_log_probs(hidden, weight, top, temperature=1e-4, chunk_size=8, entropy=True)
    assert lp.abs().max() < 1e-6 and ent.abs().max() < 1e-4


def test_log_probs_batched_keeps_the_label_shape(gen) -> None:
    hidden = torch.randn(2, 5, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 11, (2, 5), generator=gen)
    lp, ent = linear_log_probs(hidden, weight, y, chunk_size=3, entropy=True)
    assert lp.shape == ent.shape == (2, 5)
    want_lp, want_ent, _ = _np_log_probs(_np(hidden).reshape(10, 8), _np(weight), y.numpy().ravel())
    np.testing.assert_allclose(lp.detach().numpy().ravel(), want_lp, rtol=1e-12)
    np.testing.assert_allclose(ent.detach().numpy().ravel(), want_ent, rtol=1e-12)


def test_log_probs_bfloat16_close_to_float64(gen) -> None:
    hidden, weight, y, kw = _case(gen, {"ignore": True, "bias": True}, dtype=torch.bfloat16)
    lp, ent = linear_log_probs(hidden, weight, y, chunk_size=8, entropy=True, temperature=0.8,
                               **kw)  # fmt: skip
    assert lp.dtype == ent.dtype == torch.bfloat16
    want_lp, want_ent, want = _np_log_probs(_np(hidden), _np(weight), y.numpy(),
                                            bias=_np(kw["bias"]), temperature=0.8,
                                            g_lp=np.ones(37), g_ent=np.ones(37))  # fmt: skip
    np.testing.assert_allclose(_np(lp), want_lp, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(_np(ent), want_ent, rtol=1e-2, atol=1e-2)
    got = torch.autograd.grad((lp + ent).sum(), _inputs(hidden, weight, kw))
    for a, b in zip(got, want, strict=True):
        assert a.dtype == torch.bfloat16
        np.testing.assert_allclose(_np(a), b, rtol=2e-2, atol=1e-2 * np.abs(b).max())


@pytest.mark.parametrize("chunk", [None, 8])
def test_log_probs_mixed_dtypes_promote_and_empty_batch(gen, chunk) -> None:
    hidden, weight, y, _ = _case(gen, {})
    out = linear_log_probs(hidden.detach().bfloat16(), weight.double(), y, chunk_size=chunk)
    assert out.dtype == torch.float64
    want, _, _ = _np_log_probs(_np(hidden.bfloat16()), _np(weight), y.numpy())
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12)
    empty = torch.zeros(0, 16, requires_grad=True)
    lp, ent = linear_log_probs(empty, weight, torch.zeros(0, dtype=torch.long), chunk_size=chunk,
                               entropy=True)  # fmt: skip
    assert lp.shape == ent.shape == (0,)
    (lp.sum() + ent.sum()).backward()
    assert torch.count_nonzero(weight.grad) == 0


def test_log_probs_backward_twice_with_retain_graph(gen) -> None:
    hidden, weight, y, _ = _case(gen, {}, dtype=torch.float64)
    lp = linear_log_probs(hidden, weight, y, chunk_size=8)
    lp.sum().backward(retain_graph=True)
    first = weight.grad.clone()
    lp.sum().backward()
    torch.testing.assert_close(weight.grad, 2 * first)
    *_, (_, want, _) = _np_log_probs(_np(hidden), _np(weight), y.numpy(), g_lp=np.ones(37))
    np.testing.assert_allclose(first.numpy(), want, rtol=1e-10, atol=1e-12)


def test_log_probs_refuse_bad_input_by_name(gen) -> None:
    hidden, weight, y, _ = _case(gen, {}, dtype=torch.float64)
    bad = [
        ((hidden, weight.T, y), {}, r"did you pass weight\.T"),
        ((hidden, weight[0], y), {}, r"weight must be the \(V, D\) classifier matrix"),
        ((hidden[0, 0], weight, y), {}, "the last dim of hidden"),
        ((hidden, weight, y[:-1]), {}, r"labels must have shape \(37,\)"),
        ((hidden, weight, y[:, None]), {}, r"labels must have shape \(37,\).*reshape"),
        ((hidden, weight, torch.full((37,), 53)), {}, r"labels must lie in \[0, 53\)"),
        ((hidden, weight, torch.full((37,), -1)), {}, r"labels must lie in \[0, 53\)"),
        ((hidden, weight, y.double()), {}, "integer class indices"),
        ((hidden.long(), weight, y), {}, "hidden must be a floating tensor"),
        ((hidden, weight[:1], y), {}, "single row"),
        ((hidden, weight, y), {"bias": torch.zeros(52)}, r"bias must have shape \(53,\)"),
        ((hidden, weight, y), {"temperature": 0.0}, r"temperature must lie in \(0, inf\)"),
        ((hidden, weight, y), {"temperature": -1.0}, r"temperature must lie in \(0, inf\)"),
        ((hidden, weight, y), {"temperature": float("nan")}, "temperature must lie in"),
        ((hidden, weight, y), {"temperature": float("inf")}, "temperature must lie in"),
        ((hidden, weight, y), {"temperature": "1"}, "temperature must be a number"),
        ((hidden, weight, y), {"softcap": 0.0}, r"softcap must lie in \(0, inf\)"),
        ((hidden, weight, y), {"chunk_size": 0}, r"chunk_size must lie in \[1, inf\)"),
        ((hidden, weight, y), {"entropy": 1}, "entropy must be True or False"),
        ((hidden, weight, y), {"ignore_index": 1.5}, "ignore_index must be an integer"),
    ]
    for args, kw, match in bad:
        with pytest.raises(losskit.LossInputError, match=match):
            linear_log_probs(*args, **kw)


def test_log_probs_non_finite_hidden_is_named(gen) -> None:
    hidden, weight, y, _ = _case(gen, {})
    bad = hidden.detach().clone()
    bad[3, 2] = float("nan")
    for chunk in (None, 8):
        with pytest.raises(losskit.LossInputError, match=r"hidden holds non-finite.*\(3, 2\)"):
            linear_log_probs(bad, weight, y, chunk_size=chunk, entropy=True)
        with losskit.checks("off"):
            lp, ent = linear_log_probs(bad, weight, y, chunk_size=chunk, entropy=True)
        assert torch.isnan(lp[3]) and torch.isnan(ent[3])


def test_log_probs_traced_vmapped_and_meta(gen) -> None:
    """Where data cannot be read (compile with fullgraph, vmap, meta tensors) the materialised
    formula gives the same values."""
    hidden, weight, y, _ = _case(gen, {"ignore": True}, n=12, dtype=torch.float64)
    fn = lambda h, w: linear_log_probs(h, w, y, softcap=2.0, temperature=0.9, chunk_size=4,  # noqa: E731
                                       entropy=True)  # fmt: skip
    want_lp, want_ent, _ = _np_log_probs(_np(hidden), _np(weight), y.numpy(), softcap=2.0,
                                         temperature=0.9)  # fmt: skip
    for lp, ent in (fn(hidden, weight), torch.compile(fn, fullgraph=True, backend="eager")(
            hidden, weight)):  # fmt: skip
        np.testing.assert_allclose(lp.detach().numpy(), want_lp, rtol=1e-12)
        np.testing.assert_allclose(ent.detach().numpy(), want_ent, rtol=1e-12)
    stacked = torch.stack([hidden.detach(), 2 * hidden.detach()])
    lp, ent = torch.func.vmap(fn, in_dims=(0, None))(stacked, weight.detach())
    want2, _, _ = _np_log_probs(2 * _np(hidden), _np(weight), y.numpy(), softcap=2.0,
                                temperature=0.9)  # fmt: skip
    np.testing.assert_allclose(lp[1].numpy(), want2, rtol=1e-12)
    np.testing.assert_allclose(lp[0].numpy(), want_lp, rtol=1e-12)
    on_meta = [t.detach().to("meta") for t in (hidden, weight, y)]
    meta = linear_log_probs(*on_meta, chunk_size=4, entropy=True)
    assert meta[0].shape == meta[1].shape == (12,) and meta[0].device.type == "meta"


@pytest.mark.parametrize("entropy", [False, True], ids=["log_probs", "entropy"])
def test_log_probs_peak_memory_is_gradients_plus_chunk_buffers(gen, entropy) -> None:
    """Allocator bytes, not time: N=512, V=4096, chunks of 32 rows. The logits alone would be
    8 MiB; we may hold the gradients, one (32, V) buffer per buffer the docstring names (two
    with entropy) and (N,) vectors."""
    n, d, v, chunk = 512, 32, 4096, 32
    hidden = torch.randn(n, d, generator=gen, requires_grad=True)
    weight = torch.randn(v, d, generator=gen, requires_grad=True)
    y = torch.randint(0, v, (n,), generator=gen)
    up = torch.randn(n, generator=gen)

    def step() -> None:
        out = linear_log_probs(hidden, weight, y, chunk_size=chunk, entropy=entropy)
        total = (out[0] * up + out[1]).sum() if entropy else (out * up).sum()
        total.backward()

    step()
    hidden.grad = weight.grad = None
    peak = _peak_bytes(step)
    grads = 4 * (n * d + v * d)
    logits = 4 * n * v
    assert peak <= grads + (2 if entropy else 1) * 4 * chunk * v + 64 * 1024, (peak, grads)
    assert peak < logits / 4


# ----------------------------------------------------------------------------- linear_distillation
def _heads(gen, *, n=37, ds=16, dt=12, v=53, dtype=torch.float64, ignore=True, bias=False):
    s_h = (3 * torch.randn(n, ds, generator=gen) / ds**0.5).to(dtype).requires_grad_()
    s_w = torch.randn(v, ds, generator=gen).to(dtype).requires_grad_()
    t_h = (3 * torch.randn(n, dt, generator=gen) / dt**0.5).to(dtype)
    t_w = torch.randn(v, dt, generator=gen).to(dtype)
    y = torch.randint(0, v, (n,), generator=gen)
    if ignore:
        y[::4] = -100
    kw = {}
    if bias:
        kw["student_bias"] = torch.randn(v, generator=gen).to(dtype).requires_grad_()
        kw["teacher_bias"] = torch.randn(v, generator=gen).to(dtype)
    return (s_h, s_w, t_h, t_w, y), kw


def _distill_np(args, kw, **opts):
    np_args = [a.detach().double().numpy() if a.is_floating_point() else a.numpy() for a in args]
    np_kw = {k: _np(val) for k, val in kw.items()}
    return distill_reference(*np_args, **np_kw, **opts)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("chunk", [1, 5, None])  # 5 does not divide 37; None: materialised
def test_distillation_matches_float64_reference_and_peer_grads(gen, beta, chunk, reduction):
    args, kw = _heads(gen, bias=chunk == 5)
    opts = {"beta": beta, "temperature": 1.5, "reduction": reduction}
    got = linear_distillation(*args, **kw, chunk_size=chunk, **opts)
    want = _distill_np(args, kw, **opts)
    assert got.shape == np.shape(want) and got.dtype == torch.float64
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-11, atol=1e-13)
    assert (got.detach().numpy() >= -1e-15).all()
    # gradients against autograd through the materialised formula (TRL's form, float64)
    up = torch.rand(got.shape, generator=gen, dtype=torch.float64) + 0.5
    ins = [args[0], args[1], *kw.values()][: 3 if kw else 2]
    mine = torch.autograd.grad(got, ins, up)
    peer = torch.autograd.grad(distill_peer(*args, **kw, **opts), ins, up)
    for a, b in zip(mine, peer, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_distillation_gradcheck_and_gradgradcheck(gen) -> None:
    (s_h, s_w, t_h, t_w, y), _ = _heads(gen, n=9, ds=3, dt=2, v=6)
    for beta in (0.0, 0.6, 1.0):
        for reduction in ("mean", "none"):

            def fn(h, w, beta=beta, reduction=reduction):
                return linear_distillation(h, w, t_h, t_w, y, beta=beta, temperature=0.7,
                                           chunk_size=4, reduction=reduction)  # fmt: skip

            assert torch.autograd.gradcheck(fn, (s_h, s_w))
            assert torch.autograd.gradgradcheck(fn, (s_h, s_w))


def test_distillation_ends_and_symmetry(gen) -> None:
    """beta 0 is KL(T || S), beta 1 is KL(S || T) (computed here from log-softmax in float64);
    JSD(1/2) is symmetric (swap the heads) and JSD(beta) <= the entropy of (beta, 1 - beta)."""
    (s_h, s_w, t_h, t_w, _), _ = _heads(gen, ignore=False)
    ls = torch.log_softmax((s_h @ s_w.T).detach(), 1)
    lt = torch.log_softmax(t_h @ t_w.T, 1)
    fwd = (lt.exp() * (lt - ls)).sum(1)
    rev = (ls.exp() * (ls - lt)).sum(1)
    for beta, want in ((0.0, fwd), (1.0, rev)):
        got = linear_distillation(s_h, s_w, t_h, t_w, beta=beta, chunk_size=8, reduction="none")
        torch.testing.assert_close(got.detach(), want, rtol=1e-12, atol=1e-14)
    a = linear_distillation(s_h, s_w, t_h, t_w, chunk_size=8, reduction="none")
    b = linear_distillation(t_h, t_w, s_h, s_w, chunk_size=8, reduction="none")
    torch.testing.assert_close(a, b.to(a.dtype), rtol=1e-12, atol=1e-14)
    for beta in (0.1, 0.5, 0.8):
        got = linear_distillation(s_h, s_w, t_h, t_w, beta=beta, chunk_size=8, reduction="none")
        bound = -beta * np.log(beta) - (1 - beta) * np.log(1 - beta)
        assert float(got.detach().max()) <= bound + 1e-12
    same = linear_distillation(s_h, s_w, s_h.detach(), s_w.detach(), chunk_size=8)
    assert abs(float(same.detach())) < 1e-12  # a student equal to its teacher: 0


def test_distillation_teacher_gets_no_gradient_and_labels_only_mask(gen) -> None:
    (s_h, s_w, t_h, t_w, y), kw = _heads(gen, bias=True)
    t_h.requires_grad_()
    t_w.requires_grad_()
    kw["teacher_bias"].requires_grad_()
    loss = linear_distillation(s_h, s_w, t_h, t_w, y, **kw, chunk_size=6)
    loss.backward()
    assert t_h.grad is None and t_w.grad is None and kw["teacher_bias"].grad is None
    assert s_h.grad is not None and torch.count_nonzero(s_h.grad[y == -100]) == 0
    # the label values do not matter, only which are ignored
    other = torch.where(y == -100, y, (y + 1) % 53)
    torch.testing.assert_close(
        linear_distillation(s_h, s_w, t_h, t_w, other, **kw, chunk_size=6), loss
    )
    kept = y != -100
    torch.testing.assert_close(
        linear_distillation(s_h[kept], s_w, t_h[kept], t_w, None, **kw, chunk_size=6), loss
    )


@pytest.mark.parametrize("chunk", [None, 4])
def test_distillation_every_label_ignored_is_a_graph_connected_zero(gen, chunk) -> None:
    (s_h, s_w, t_h, t_w, y), kw = _heads(gen, n=9, bias=True)
    y[:] = -100
    for reduction in ("mean", "sum"):
        got = linear_distillation(s_h, s_w, t_h, t_w, y, **kw, chunk_size=chunk,
                                  reduction=reduction)  # fmt: skip
        assert got.grad_fn is not None and float(got.detach()) == 0.0
        grads = torch.autograd.grad(got, (s_h, s_w, kw["student_bias"]))
        assert all(torch.count_nonzero(g) == 0 for g in grads)


def test_distillation_bfloat16_batched_close_to_float64(gen) -> None:
    (s_h, s_w, t_h, t_w, y), _ = _heads(gen, n=24, dtype=torch.bfloat16)
    shaped = [s_h.detach().reshape(4, 6, -1).requires_grad_(), s_w, t_h.reshape(4, 6, -1), t_w]
    got = linear_distillation(*shaped, y.reshape(4, 6), beta=0.4, chunk_size=5,
                              reduction="none")  # fmt: skip
    assert got.dtype == torch.bfloat16 and got.shape == (4, 6)
    want = _distill_np((s_h, s_w, t_h, t_w, y), {}, beta=0.4, reduction="none")
    np.testing.assert_allclose(_np(got).ravel(), want, rtol=2e-2, atol=1e-2)
    (g,) = torch.autograd.grad(got.sum(), shaped[0])
    h64 = s_h.detach().double().requires_grad_()
    (g64,) = torch.autograd.grad(distill_peer(h64, s_w.double(), t_h.double(), t_w.double(), y,
                                              beta=0.4, reduction="sum"), h64)  # fmt: skip
    assert g.dtype == torch.bfloat16
    np.testing.assert_allclose(_np(g).reshape(24, -1), g64.numpy(), rtol=2e-2,
                               atol=1e-2 * float(g64.abs().max()))  # fmt: skip


def test_distillation_retain_graph_and_once_only_otherwise(gen) -> None:
    (s_h, s_w, t_h, t_w, y), _ = _heads(gen)
    loss = linear_distillation(s_h, s_w, t_h, t_w, y, chunk_size=8)
    two = torch.tensor(2.0, dtype=torch.float64)
    loss.backward(two, retain_graph=True)
    first = s_w.grad.clone()
    loss.backward(two)
    torch.testing.assert_close(s_w.grad, 2 * first)
    (want,) = torch.autograd.grad(2 * distill_peer(s_h, s_w, t_h, t_w, y), s_w)
    torch.testing.assert_close(first, want)
    with pytest.raises(RuntimeError, match="backward through the same call twice"):
        loss.backward()


def test_distillation_module_and_non_finite_teacher_named(gen) -> None:
    args, kw = _heads(gen, bias=True)
    module = LinearDistillationLoss(beta=0.2, temperature=2.0, chunk_size=7)
    got = module(*args, kw["student_bias"], kw["teacher_bias"])
    want = linear_distillation(*args, **kw, beta=0.2, temperature=2.0)
    torch.testing.assert_close(got, want)
    assert module.spec.family == "large_vocab" and module.spec.input_space == "hidden"
    bad = args[2].clone()
    bad[5, 1] = float("nan")
    with pytest.raises(losskit.LossInputError, match=r"teacher_hidden holds non-finite.*\(5, 1\)"):
        linear_distillation(args[0], args[1], bad, args[3], args[4], chunk_size=7)
    with losskit.checks("off"):
        assert torch.isnan(linear_distillation(args[0], args[1], bad, args[3], args[4]))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_distillation_peak_memory_is_gradients_plus_chunk_buffers(gen, reduction) -> None:
    """Allocator bytes: N=512, V=4096, chunks of 32 rows; each head's logits alone would be
    8 MiB. We may hold the student's gradients, five (32, V) buffers (the docstring's count)
    and small vectors."""
    n, d, v, chunk = 512, 32, 4096, 32
    s_h = torch.randn(n, d, generator=gen, requires_grad=True)
    s_w = torch.randn(v, d, generator=gen, requires_grad=True)
    t_h, t_w = torch.randn(n, d, generator=gen), torch.randn(v, d, generator=gen)
    y = torch.randint(0, v, (n,), generator=gen)

    def step() -> None:
        linear_distillation(s_h, s_w, t_h, t_w, y, beta=0.5, chunk_size=chunk,
                            reduction=reduction).sum().backward()  # fmt: skip

    step()
    s_h.grad = s_w.grad = None
    peak = _peak_bytes(step)
    grads = 4 * (n * d + v * d)
    assert peak <= grads + 5 * 4 * chunk * v + 64 * 1024, (peak, grads)
    assert peak < 4 * n * v / 2


# ----------------------------------------------------------------------------- top-k teacher
def _topk_call(gen, *, n=37, d=16, v=53, k=7, dtype=torch.float64, ignore=True, bias=False):
    h = (3 * torch.randn(n, d, generator=gen) / d**0.5).to(dtype).requires_grad_()
    w = torch.randn(v, d, generator=gen).to(dtype).requires_grad_()
    values, ids = (2 * torch.randn(n, v, generator=gen, dtype=torch.float64)).topk(k, dim=1)
    y = torch.randint(0, v, (n,), generator=gen)
    if ignore:
        y[::4] = -100
    kw = {}
    if bias:
        kw["student_bias"] = torch.randn(v, generator=gen).to(dtype).requires_grad_()
    return (h, w, values.to(dtype), ids, y), kw


def _topk_np(args, kw, **opts):
    np_args = [a.detach().double().numpy() if a.is_floating_point() else a.numpy() for a in args]
    np_kw = {k: _np(val) for k, val in kw.items()}
    return topk_reference(*np_args, **np_kw, **opts)


def _topk_grads_np(args, kw, up, **opts):
    """The gradient of sum(up * loss) by central differences of the float64 NumPy reference
    in every entry of hidden, weight (and bias): independent of autograd and of our backward."""
    np_args = [a.detach().double().numpy().copy() if a.is_floating_point() else a.numpy()
               for a in args]  # fmt: skip
    np_kw = {k: _np(val).copy() for k, val in kw.items()}
    u = up.numpy()
    targets = [np_args[0], np_args[1], *np_kw.values()]
    out = []
    for x in targets:
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            keep = x[i]
            x[i] = keep + 1e-6
            hi = (u * topk_reference(*np_args, **np_kw, **opts)).sum()
            x[i] = keep - 1e-6
            lo = (u * topk_reference(*np_args, **np_kw, **opts)).sum()
            x[i] = keep
            g[i] = (hi - lo) / 2e-6
        out.append(g)
    return out


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("beta", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("chunk", [1, 5, None])  # 5 does not divide 13; None: autograd
@pytest.mark.parametrize("v, k", [(11, 4), (70, 2)])  # chunks: full logits; gathered rows
def test_topk_distillation_matches_float64_reference_values_and_grads(
    gen, beta, chunk, reduction, v, k
):
    assert _topk_dense(v, k) == (v == 11)
    args, kw = _topk_call(gen, n=13, d=3, v=v, k=k, bias=chunk == 5)
    opts = {"beta": beta, "temperature": 1.5, "reduction": reduction}
    got = linear_topk_distillation(*args, **kw, chunk_size=chunk, **opts)
    want = _topk_np(args, kw, **opts)
    assert got.shape == np.shape(want) and got.dtype == torch.float64
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-11, atol=1e-13)
    assert (got.detach().numpy() >= -1e-15).all()
    up = torch.rand(got.shape, generator=gen, dtype=torch.float64) + 0.5
    ins = [args[0], args[1], *kw.values()]
    mine = torch.autograd.grad(got, ins, up)
    for a, b in zip(mine, _topk_grads_np(args, kw, up, **opts), strict=True):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-6, atol=1e-8)


def test_topk_distillation_is_the_full_distillation_when_k_is_v(gen) -> None:
    """With K = V the renormalisation is the identity: the loss is linear_distillation's with
    a teacher head whose logits are the given values (a one-hot teacher hidden state)."""
    n, d, v = 9, 4, 6
    h = torch.randn(n, d, generator=gen, dtype=torch.float64)
    w = torch.randn(v, d, generator=gen, dtype=torch.float64)
    teacher = torch.randn(n, v, generator=gen, dtype=torch.float64)
    values, ids = teacher.topk(v, dim=1)
    eye = torch.eye(n, dtype=torch.float64)  # teacher_hidden @ teacher_weight.T = teacher
    for beta in (0.0, 0.3, 1.0):
        got = linear_topk_distillation(h, w, values, ids, beta=beta, chunk_size=4)
        want = linear_distillation(h, w, eye, teacher.T.contiguous(), beta=beta)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_topk_distillation_gradcheck_gradgradcheck_and_module(gen) -> None:
    (h, w, values, ids, y), _ = _topk_call(gen, n=9, d=3, v=8, k=3)
    for beta in (0.0, 0.5, 1.0):
        for reduction in ("mean", "none"):

            def fn(h, w, beta=beta, reduction=reduction):
                return linear_topk_distillation(h, w, values, ids, y, beta=beta, temperature=0.7,
                                                chunk_size=4, reduction=reduction)  # fmt: skip

            assert torch.autograd.gradcheck(fn, (h, w))
            assert torch.autograd.gradgradcheck(fn, (h, w))
    module = LinearTopkDistillationLoss(beta=0.5, chunk_size=2)
    torch.testing.assert_close(
        module(h, w, values, ids, y), linear_topk_distillation(h, w, values, ids, y, beta=0.5)
    )


def test_topk_distillation_teacher_gets_no_gradient_and_nan_is_not_finite(gen) -> None:
    (h, w, values, ids, y), _ = _topk_call(gen, dtype=torch.float32)
    values = values.clone().requires_grad_()
    loss = linear_topk_distillation(h, w, values, ids, y, chunk_size=8)
    loss.backward()
    assert values.grad is None and h.grad is not None and w.grad is not None
    bad = values.detach().clone()
    bad[3, 0] = float("nan")  # a counted token (labels[3] is not ignored)
    with pytest.raises(losskit.LossInputError, match="teacher_logits holds non-finite"):
        linear_topk_distillation(h, w, bad, ids, y, chunk_size=8)
    with losskit.checks("shapes"):
        assert torch.isnan(linear_topk_distillation(h, w, bad, ids, y, chunk_size=8))
        assert torch.isnan(linear_topk_distillation(h, w, bad, ids, y))


def test_topk_distillation_peak_memory_is_gradients_plus_chunk_rows(gen) -> None:
    """Allocator bytes: N=1024, V=8192, D=32, K=16 in chunks of 64 rows: the full student
    logits alone would be 32 MiB. We may hold the gradients and a few (64, K, D) buffers."""
    n, d, v, k, chunk = 1024, 32, 8192, 16, 64
    h = torch.randn(n, d, generator=gen, requires_grad=True)
    w = torch.randn(v, d, generator=gen, requires_grad=True)
    values, ids = torch.randn(n, v, generator=gen).topk(k, dim=1)
    y = torch.randint(0, v, (n,), generator=gen)

    def step() -> None:
        linear_topk_distillation(h, w, values, ids, y, chunk_size=chunk).backward()

    step()
    h.grad = w.grad = None
    peak = _peak_bytes(step)
    grads = 4 * (n * d + v * d)
    assert peak <= grads + 4 * 4 * chunk * k * d + 256 * 1024, (peak, grads)
    assert peak < 4 * n * v / 8
