"""losskit.multitask: uncertainty weighting, dynamic weight average and GradNorm, each against a
float64 NumPy reference written here and on a small synthetic two-task problem whose right
weighting is derived here; the errors (an unknown task, a NaN task loss named), detached logs,
state_dict round trips, a real 2-epoch Lightning ``Trainer.fit``, the example script, and the
python blocks of docs/multitask.md run as written."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import losskit
from losskit.combine import TermError
from losskit.multitask import DynamicWeightAverage, GradNorm, UncertaintyWeighting

PAGE = Path(__file__).resolve().parent.parent / "docs" / "multitask.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
LIGHTNING_WARNINGS = ["ignore:.*_pytree.*:DeprecationWarning", "ignore::FutureWarning:lightning"]


# ----------------------------------------------------------------------------- references
def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def np_dwa_weights(epoch_means: np.ndarray, temperature: float) -> np.ndarray:
    """Liu et al. 2019, eq. 1: the weights of every epoch e (rows) from the mean losses of the
    epochs before it: 1 for the first two, then K softmax((L(e-1) / L(e-2)) / T)."""
    epochs, k = epoch_means.shape
    out = np.ones((epochs, k))
    for e in range(2, epochs):
        out[e] = k * np_softmax(epoch_means[e - 1] / epoch_means[e - 2] / temperature)
    return out


def np_shared_grad_norms(
    w: np.ndarray, b: np.ndarray, v: np.ndarray, c: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For h = tanh(x W^T + b), pred_i = h v_i + c_i, L_i = mean_n (pred_i - y_i)^2: the losses
    and ||dL_i/dW||_F, with dL_i/dW = (2/n) sum_n res_ni (v_i * (1 - h_n^2)) x_n^T."""
    h = np.tanh(x @ w.T + b)  # (n, m)
    res = h @ v.T + c - y  # (n, tasks)
    losses = (res**2).mean(axis=0)
    norms = []
    for i in range(v.shape[0]):
        dpre = (2.0 / len(x)) * res[:, i : i + 1] * v[i] * (1.0 - h**2)  # (n, m)
        norms.append(np.linalg.norm(dpre.T @ x))  # dL_i/dW, (m, d)
    return losses, np.array(norms)


# ----------------------------------------------------------------------------- the problems
def regression_data(
    n: int,
    sigmas: tuple[float, float],
    scale: tuple[float, float] = (1.0, 1.0),
    seed: int = 0,
    linear: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, I_4) and two targets scale_i (f(a_i . x) + sigma_i * noise), f = tanh unless
    ``linear``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    a = torch.randn(2, 4, generator=g, dtype=torch.float64)
    noise = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor(sigmas)
    mean = x @ a.T if linear else torch.tanh(x @ a.T)
    return x, (mean + noise) * torch.tensor(scale, dtype=torch.float64)


class Net(torch.nn.Module):
    """A shared layer and two linear heads; ``tanh`` between them unless ``linear``."""

    def __init__(self, hidden: int = 8, linear: bool = False) -> None:
        super().__init__()
        self.shared = torch.nn.Linear(4, hidden, dtype=torch.float64)
        self.heads = torch.nn.Linear(hidden, 2, dtype=torch.float64)
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.shared(x)
        return self.heads(h if self.linear else torch.tanh(h))

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        res = self(x) - y
        return {"a": res[:, 0].pow(2).mean(), "b": res[:, 1].pow(2).mean()}


# ----------------------------------------------------------------------------- uncertainty
def test_uncertainty_total_and_gradients_match_the_formula() -> None:
    weighting = UncertaintyWeighting(["r", "c"], kinds={"c": "classification"}).double()
    s = np.array([0.3, -0.7])
    with torch.no_grad():
        weighting.log_vars.copy_(torch.from_numpy(s))
    losses = torch.tensor([2.5, 0.4], dtype=torch.float64, requires_grad=True)
    total, logs = weighting({"r": losses[0], "c": lambda: losses[1]})
    total.backward()
    # Kendall et al. eq. 7 doubled: exp(-s_1) L_1 + s_1 + 2 exp(-s_2) L_2 + s_2
    k, ell = np.array([1.0, 2.0]), np.array([2.5, 0.4])
    assert total.item() == pytest.approx(float((k * np.exp(-s) * ell + s).sum()), rel=1e-14)
    np.testing.assert_allclose(weighting.log_vars.grad.numpy(), 1 - k * np.exp(-s) * ell, 1e-14)
    np.testing.assert_allclose(losses.grad.numpy(), k * np.exp(-s), rtol=1e-14)
    assert logs["weight/r"].item() == pytest.approx(math.exp(-0.3), rel=1e-14)
    assert logs["weight/c"].item() == pytest.approx(2 * math.exp(0.7), rel=1e-14)
    assert logs["r"].item() == 2.5 and logs["c"].item() == pytest.approx(0.4)


@pytest.mark.parametrize("kind, factor", [("regression", 1.0), ("classification", 2.0)])
def test_uncertainty_optimum_is_factor_times_loss(kind: str, factor: float) -> None:
    # d/ds (k exp(-s) L + s) = 1 - k exp(-s) L = 0 at exp(s) = k L: the gradient vanishes there
    ell = 0.8
    for s, grad in ((math.log(factor * ell), 0.0), (math.log(ell), 1 - factor)):
        weighting = UncertaintyWeighting(["t"], kinds={"t": kind}).double()
        with torch.no_grad():
            weighting.log_vars.fill_(s)  # in float64 (init_log_var= makes a float32 parameter)
        weighting({"t": torch.tensor(ell, dtype=torch.float64)}).total.backward()
        assert weighting.log_vars.grad.item() == pytest.approx(grad, abs=1e-12)


def test_uncertainty_learns_each_tasks_noise_variance() -> None:
    # Two regression heads on shared linear features (rank 8 >= 2: both least-squares fits are
    # reachable at once), targets with noise sigma 1 and 3, MSE terms, full batch. At the joint
    # optimum the model minimises every MSE_i (whatever the weights) and s_i = log MSE_i, so
    # exp(s_i) is the least-squares residual MSE (numpy lstsq), which is close to sigma_i^2.
    x, y = regression_data(512, (1.0, 3.0), linear=True)  # a linear mean: no misfit left
    torch.manual_seed(0)
    net = Net(linear=True)
    weighting = UncertaintyWeighting(["a", "b"]).double()
    opt = torch.optim.Adam([*net.parameters(), *weighting.parameters()], lr=0.05)
    for _ in range(300):
        total, logs = weighting(net.losses(x, y))
        opt.zero_grad()
        total.backward()
        opt.step()
    design = np.c_[x.numpy(), np.ones(len(x))]
    residual_mse = []
    for i in range(2):
        beta = np.linalg.lstsq(design, y[:, i].numpy(), rcond=None)[0]
        residual_mse.append(float(((design @ beta - y[:, i].numpy()) ** 2).mean()))
    learned = weighting.log_vars.detach().exp().numpy()
    np.testing.assert_allclose(learned, residual_mse, rtol=1e-3)
    # the sample variance of 512 noise draws: relative standard error sqrt(2 / 512) = 6 %
    np.testing.assert_allclose(learned, [1.0, 9.0], rtol=0.15)
    # and the weights logged are 1 / exp(s_i): the noisier task gets a ninth of the weight
    assert logs["weight/b"].item() / logs["weight/a"].item() == pytest.approx(
        residual_mse[0] / residual_mse[1], rel=1e-2
    )


# ----------------------------------------------------------------------------- DWA
def test_dwa_weights_follow_the_formula_from_recorded_epoch_losses() -> None:
    x, y = regression_data(96, (0.2, 1.0), scale=(1.0, 3.0))
    torch.manual_seed(0)
    net = Net()
    dwa = DynamicWeightAverage(["a", "b"], temperature=2.0)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    batches = list(torch.arange(96).split(32))  # 3 batches an epoch
    recorded: list[list[tuple[np.ndarray, np.ndarray, float]]] = []
    returned = []
    for _ in range(6):
        epoch = []
        for rows in batches:
            total, logs = dwa(net.losses(x[rows], y[rows]))
            opt.zero_grad()
            total.backward()
            opt.step()
            losses = np.array([logs["a"].item(), logs["b"].item()])
            weights = np.array([logs["weight/a"].item(), logs["weight/b"].item()])
            epoch.append((losses, weights, total.item()))
        recorded.append(epoch)
        returned.append(dwa.end_epoch())
    means = np.array([np.mean([b[0] for b in epoch], axis=0) for epoch in recorded])
    expected = np_dwa_weights(means, 2.0)
    for e, epoch in enumerate(recorded):
        for losses, weights, total in epoch:
            np.testing.assert_allclose(weights, expected[e], rtol=1e-12)
            assert total == pytest.approx(float(weights @ losses), rel=1e-12)
    # end_epoch returns the next epoch's weights: epoch e + 1's
    # row e + 1 of the extended table reads epochs e and e - 1; the appended row is never read
    next_weights = np_dwa_weights(np.vstack([means, means[-1]]), 2.0)[1:]
    for e, got in enumerate(returned):
        np.testing.assert_allclose([got["a"], got["b"]], next_weights[e], rtol=1e-12)
    assert not np.allclose(expected[2:], 1.0)  # the weights did move
    np.testing.assert_allclose(expected.sum(axis=1), 2.0, rtol=1e-12)


def test_dwa_gives_the_slower_task_more_weight() -> None:
    # a's loss halves each epoch, b's stays: r = (0.5, 1), so w = 2 softmax(r / T) favours b;
    # T -> inf gives equal weights, T -> 0 all the weight to b
    def third_epoch_weights(t: float) -> dict[str, float]:
        dwa = DynamicWeightAverage(["a", "b"], temperature=t)
        for loss_a in (1.0, 0.5):
            dwa({"a": torch.tensor(loss_a), "b": torch.tensor(3.0)})
            dwa.end_epoch()
        return {
            k: v.item()
            for k, v in dwa({"a": torch.tensor(0.25), "b": torch.tensor(3.0)}).logs.items()
        }

    w = third_epoch_weights(2.0)
    assert w["weight/b"] == pytest.approx(2 / (1 + math.exp(-0.25)), rel=1e-6)
    assert w["weight/a"] + w["weight/b"] == pytest.approx(2.0, rel=1e-6)
    assert third_epoch_weights(1e6)["weight/a"] == pytest.approx(1.0, rel=1e-6)
    assert third_epoch_weights(1e-3)["weight/b"] == pytest.approx(2.0, rel=1e-6)


def test_dwa_counts_training_batches_only() -> None:
    dwa = DynamicWeightAverage(["a", "b"])
    dwa({"a": torch.tensor(1.0), "b": torch.tensor(1.0)})
    dwa.eval()
    dwa({"a": torch.tensor(100.0), "b": torch.tensor(100.0)})  # validation: not in the mean
    dwa.train()
    dwa.end_epoch()
    assert dwa.history[1].tolist() == [1.0, 1.0]
    with pytest.raises(losskit.LossInputError, match="no training batch since the last end_epoch"):
        dwa.end_epoch()
    dwa({"a": torch.tensor(0.0), "b": torch.tensor(1.0)})
    with pytest.raises(losskit.LossInputError, match=r"finite and > 0.*tasks \['a'\]"):
        dwa.end_epoch()


# ----------------------------------------------------------------------------- GradNorm
def net_arrays(net: Net) -> tuple[np.ndarray, ...]:
    return tuple(
        p.detach().numpy().copy()
        for p in (net.shared.weight, net.shared.bias, net.heads.weight, net.heads.bias)
    )


def test_gradnorm_norms_and_gradients_match_numpy() -> None:
    x, y = regression_data(64, (0.1, 0.5), scale=(1.0, 5.0))
    torch.manual_seed(0)
    net = Net()
    alpha = 1.5
    gradnorm = GradNorm(["a", "b"], net.shared.weight, alpha=alpha).double()
    with torch.no_grad():
        gradnorm.task_weights.copy_(torch.tensor([0.5, 2.5]))  # renormalised to (1/3, 5/3)
    losses0, g0 = np_shared_grad_norms(*net_arrays(net), x.numpy(), y.numpy())
    total, logs = gradnorm(net.losses(x, y))
    total.backward()
    w = np.array([1 / 3, 5 / 3])
    big_g = w * g0
    np.testing.assert_allclose([logs["grad_norm/a"], logs["grad_norm/b"]], big_g, rtol=1e-10)
    np.testing.assert_allclose([logs["weight/a"], logs["weight/b"]], w, rtol=1e-12)
    np.testing.assert_allclose(gradnorm.initial.numpy(), losses0, rtol=1e-12)
    assert total.item() == pytest.approx(float(w @ losses0), rel=1e-12)  # L_grad adds zero
    # the weights' gradient: d/dw_i sum_j |w_j g_j - T_j| = g_i sign(w_i g_i - T_i), with the
    # target T = mean(G) r^alpha held constant (r = 1 at the first call: T = mean(G))
    target = big_g.mean() * np.ones(2) ** alpha
    np.testing.assert_allclose(
        gradnorm.task_weights.grad.numpy(), g0 * np.sign(big_g - target), rtol=1e-10
    )
    # the model's gradient is the weighted sum's, the weights held constant
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    again = net.losses(x, y)
    (w[0] * again["a"] + w[1] * again["b"]).backward()
    for got, p in zip(grads, net.parameters(), strict=True):
        torch.testing.assert_close(got, p.grad, rtol=1e-12, atol=1e-14)


def train_gradnorm(alpha: float, weights_lr: float, steps: int = 300) -> tuple[Net, GradNorm]:
    x, y = regression_data(128, (0.1, 0.5), scale=(1.0, 5.0))
    torch.manual_seed(0)
    net = Net()
    gradnorm = GradNorm(["a", "b"], net.shared.weight, alpha=alpha).double()
    opt = torch.optim.Adam(
        [
            {"params": list(net.parameters()), "lr": 0.01},
            {"params": list(gradnorm.parameters()), "lr": weights_lr},
        ]
    )
    for _ in range(steps):
        total, _ = gradnorm(net.losses(x, y))
        opt.zero_grad()
        total.backward()
        opt.step()
    gradnorm.renormalize()
    return net, gradnorm


def test_gradnorm_balances_the_weighted_gradient_norms() -> None:
    # Task b's targets are 5 times task a's scale and noisier (sigma 0.5 against 0.1): its
    # gradient at the shared layer starts ~7 times larger and its loss falls less. GradNorm
    # should bring the weighted norms G_i = w_i ||dL_i/dW|| to the target mean(G) r_i^alpha,
    # r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0)), with weights summing to 2. alpha = 1: the
    # targets then sum to sum_i G_i, so they can all be met (see GradNorm's docstring).
    # Everything below is recomputed in numpy from the trained network.
    x, y = regression_data(128, (0.1, 0.5), scale=(1.0, 5.0))

    def deviation(net: Net, w: np.ndarray, initial: np.ndarray) -> np.ndarray:
        losses, g = np_shared_grad_norms(*net_arrays(net), x.numpy(), y.numpy())
        big_g = w * g
        r = (losses / initial) / (losses / initial).mean()
        return big_g / (big_g.mean() * r) - 1.0

    torch.manual_seed(0)
    initial = np_shared_grad_norms(*net_arrays(Net()), x.numpy(), y.numpy())[0]
    net, gradnorm = train_gradnorm(alpha=1.0, weights_lr=0.1)
    w = gradnorm.task_weights.detach().numpy()
    assert w.sum() == pytest.approx(2.0, rel=1e-12) and (w > 0).all()
    np.testing.assert_allclose(gradnorm.initial.numpy(), initial, rtol=1e-12)
    assert np.abs(deviation(net, w, initial)).max() < 0.05
    assert w[1] < w[0]  # the task with the larger gradient is weighted down
    # the control: the same training without learning the weights stays far from the target
    control, fixed = train_gradnorm(alpha=1.0, weights_lr=0.0)
    assert fixed.task_weights.tolist() == [1.0, 1.0]
    assert np.abs(deviation(control, np.ones(2), initial)).max() > 0.15


def test_gradnorm_outside_training_does_not_learn() -> None:
    x, y = regression_data(16, (0.1, 0.5))
    net = Net()
    gradnorm = GradNorm(["a", "b"], net.shared.weight).double()
    gradnorm.eval()
    total, logs = gradnorm(net.losses(x, y))
    assert "grad_norm/a" not in logs and not bool(gradnorm.started)
    total.backward()
    assert gradnorm.task_weights.grad is None
    with torch.no_grad():
        assert "grad_norm/a" not in gradnorm.train()(net.losses(x, y)).logs


# ----------------------------------------------------------------------------- errors
def test_bad_arguments_are_refused() -> None:
    shared = torch.nn.Parameter(torch.ones(2))
    cases: list[tuple[Any, str]] = [
        (lambda: UncertaintyWeighting([]), "tasks must be a non-empty list"),
        (lambda: DynamicWeightAverage("ab"), "tasks must be a non-empty list"),
        (lambda: GradNorm(["a", "a"], shared), "task names must be distinct"),
        (lambda: UncertaintyWeighting(["a", ""]), "non-empty strings"),
        (lambda: UncertaintyWeighting(["weight/a"]), "would clash with the logged keys"),
        (lambda: UncertaintyWeighting(["a"], kinds={"b": "regression"}), r"kinds name \['b'\]"),
        (lambda: UncertaintyWeighting(["a"], kinds={"a": "ranking"}), r"kinds\['a'\] must be one"),
        (lambda: UncertaintyWeighting(["a"], init_log_var=float("nan")), "init_log_var"),
        (lambda: DynamicWeightAverage(["a"], temperature=0.0), r"temperature must lie in \(0"),
        (lambda: DynamicWeightAverage(["a"], temperature=-1.0), r"temperature must lie in \(0"),
        (lambda: GradNorm(["a"], shared, alpha=-0.5), r"alpha must lie in \[0"),
        (lambda: GradNorm(["a"], []), "shared must be the shared layer's parameters"),
        (lambda: GradNorm(["a"], torch.ones(2)), "tensors that require grad"),
    ]
    for make, message in cases:
        with pytest.raises(losskit.LossInputError, match=message):
            make()


@pytest.mark.parametrize("kind", ["uncertainty", "dwa", "gradnorm"])
def test_terms_must_name_every_task(kind: str) -> None:
    shared = torch.nn.Parameter(torch.ones(2))
    weighting = make(kind, shared)
    one = (shared**2).sum()
    with pytest.raises(losskit.LossInputError, match=r"unknown task\(s\) \['c'\], missing"):
        weighting({"a": one, "b": one, "c": one})
    with pytest.raises(losskit.LossInputError, match=r"missing task\(s\) \['b'\]"):
        weighting({"a": one})
    with pytest.raises(losskit.LossInputError, match="terms must be a dict"):
        weighting([one, one])
    with pytest.raises(losskit.LossInputError, match="term 'b' must be a scalar"):
        weighting({"a": one, "b": shared * 2})


def make(kind: str, shared: torch.Tensor) -> UncertaintyWeighting | DynamicWeightAverage | GradNorm:
    if kind == "uncertainty":
        return UncertaintyWeighting(["a", "b"])
    if kind == "dwa":
        return DynamicWeightAverage(["a", "b"])
    return GradNorm(["a", "b"], shared)


@pytest.mark.parametrize("kind", ["uncertainty", "dwa", "gradnorm"])
def test_a_nan_task_loss_is_named(kind: str) -> None:
    shared = torch.nn.Parameter(torch.ones(2))
    weighting = make(kind, shared)
    nan = shared.sum() * float("nan")
    with pytest.raises(TermError, match=r"term\(s\) 'b' = nan \(weight 1.0\)") as info:
        weighting({"a": (shared**2).sum(), "b": nan})
    assert info.value.terms == ("b",)
    # a losskit loss refusing its input inside a callable term: named by the term and the input
    bad = torch.tensor([0.5, float("nan")])
    with pytest.raises(TermError, match="term 'a': preds holds non-finite values"):
        weighting({"a": lambda: losskit.mse(bad, bad), "b": (shared**2).sum()})


def test_diverged_log_vars_are_named() -> None:
    weighting = UncertaintyWeighting(["a", "b"])
    with torch.no_grad():
        weighting.log_vars[0] = float("nan")
    with pytest.raises(TermError, match="learned log_vars are not finite"):
        weighting({"a": torch.tensor(1.0), "b": torch.tensor(1.0)})


def test_gradnorm_refuses_a_task_off_the_shared_layer() -> None:
    shared = torch.nn.Parameter(torch.ones(2))
    other = torch.nn.Parameter(torch.ones(2))
    gradnorm = GradNorm(["a", "b"], shared)
    with pytest.raises(losskit.LossInputError, match="task 'b' does not depend on the shared"):
        gradnorm({"a": (shared**2).sum(), "b": (other**2).sum()})
    with pytest.raises(losskit.LossInputError, match="first losses must be > 0"):
        gradnorm({"a": (shared**2).sum() * 0, "b": (shared**2).sum()})


# ----------------------------------------------------------------------------- logs, state
@pytest.mark.parametrize("kind", ["uncertainty", "dwa", "gradnorm"])
def test_logs_are_detached_copies(kind: str) -> None:
    shared = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    weighting = make(kind, shared)
    opt = torch.optim.SGD([shared, *weighting.parameters()], lr=0.5)
    seen = []
    for step in range(3):
        total, logs = weighting({"a": (shared**2).sum(), "b": 3 * shared.sum() + 10})
        assert all(not v.requires_grad and v.grad_fn is None for v in logs.values())
        assert {"a", "b", "weight/a", "weight/b"} <= set(logs)
        seen.append({k: v.item() for k, v in logs.items()})
        snapshot = {k: v.clone() for k, v in logs.items()}
        opt.zero_grad()
        total.backward()
        opt.step()
        if isinstance(weighting, DynamicWeightAverage):
            weighting.end_epoch()
        # a step that changes the weights in place leaves the logs already taken alone
        assert all(torch.equal(v, snapshot[k]) for k, v in logs.items()), step
    if kind != "dwa":  # learned weights moved (DWA's move from the third epoch)
        assert seen[0]["weight/a"] != seen[-1]["weight/a"]


@pytest.mark.parametrize("kind", ["uncertainty", "dwa", "gradnorm"])
def test_state_dict_round_trip(kind: str) -> None:
    shared = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    weighting = make(kind, shared)
    opt = torch.optim.SGD([shared, *weighting.parameters()], lr=0.1)
    for scale in (1.0, 0.7, 0.6, 0.5):
        total, _ = weighting({"a": scale * (shared**2).sum(), "b": 3 * shared.sum() + 10})
        opt.zero_grad()
        total.backward()
        opt.step()
        if isinstance(weighting, DynamicWeightAverage):
            weighting.end_epoch()
    state = weighting.state_dict()
    fresh = make(kind, shared)
    assert set(fresh.state_dict()) == set(state)
    fresh.load_state_dict(state)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, state[key]), key
    terms = {"a": (shared**2).sum(), "b": 3 * shared.sum() + 10}
    a, b = weighting(dict(terms)), fresh(dict(terms))
    torch.testing.assert_close(a.total, b.total, rtol=0, atol=0)
    torch.testing.assert_close(a.logs, b.logs, rtol=0, atol=0)


def test_uncertainty_and_dwa_compile_with_fullgraph() -> None:
    # plain tensor operations: one graph each, the same values and gradients as eager (the
    # finite check reads nothing under tracing); DWA's running sums update inside the graph
    torch._dynamo.reset()
    a = torch.randn(5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64)
    for eager, traced in (
        (UncertaintyWeighting(["a", "b"]).double(), UncertaintyWeighting(["a", "b"]).double()),
        (DynamicWeightAverage(["a", "b"]), DynamicWeightAverage(["a", "b"])),
    ):

        def objective(m: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            total: torch.Tensor = m({"a": (a**2).mean(), "b": (a * b).abs().mean()}).total
            return total

        compiled = torch.compile(objective, fullgraph=True, backend="aot_eager")
        got = compiled(traced, a, b)
        (grad,) = torch.autograd.grad(got, a)
        want = objective(eager, a, b)
        (want_grad,) = torch.autograd.grad(want, a)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
        torch.testing.assert_close(grad, want_grad, rtol=1e-12, atol=0)
        for key, value in eager.state_dict().items():
            torch.testing.assert_close(traced.state_dict()[key], value, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- Lightning
@pytest.mark.filterwarnings(*LIGHTNING_WARNINGS)
@pytest.mark.parametrize("kind", ["uncertainty", "dwa", "gradnorm"])
def test_lightning_fit_trains_the_weights(kind: str) -> None:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    class TwoTasks(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = Net()
            self.weighting = make(kind, self.net.shared.weight).double()
            self.epoch_losses: list[list[np.ndarray]] = [[], []]

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            total, logs = self.weighting(self.net.losses(x, y))
            self.log_dict({f"train/{k}": v for k, v in logs.items()}, on_epoch=True)
            self.epoch_losses[self.current_epoch].append(
                np.array([logs["a"].item(), logs["b"].item()])
            )
            return total

        def on_train_epoch_end(self) -> None:
            if isinstance(self.weighting, DynamicWeightAverage):
                self.weighting.end_epoch()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=0.05)

    x, y = regression_data(64, (0.1, 0.5), scale=(1.0, 5.0))
    model = TwoTasks()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=16))
    metrics = trainer.callback_metrics
    assert {"train/a", "train/b", "train/weight/a", "train/weight/b"} <= set(metrics)
    w = model.weighting
    if isinstance(w, UncertaintyWeighting):  # the log-variances were in the optimiser
        assert not torch.equal(w.log_vars.detach(), torch.zeros(2, dtype=torch.float64))
    elif isinstance(w, DynamicWeightAverage):  # two epochs' means kept, in order
        means = np.array([np.mean(e, axis=0) for e in model.epoch_losses])
        np.testing.assert_allclose(w.history.numpy(), means, rtol=1e-12)
        assert int(w.epochs) == 2
    else:
        assert "train/grad_norm/a" in metrics
        w.renormalize()
        assert w.task_weights.sum().item() == pytest.approx(2.0, rel=1e-12)
        assert w.task_weights[1] < w.task_weights[0]


# ----------------------------------------------------------------------------- example, docs
def test_example_script_runs_and_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    from losskit.examples import multitask as example

    out = tmp_path / "weights.png"
    assert example.main(["--epochs", "2", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "uncertainty weighting's learned variances" in printed
    history = example.train("uncertainty", epochs=2)
    assert len(history.weights["a"]) == history.epoch_ends[-1] == 16  # 512 rows, batches of 64


@pytest.mark.filterwarnings(*LIGHTNING_WARNINGS)
def test_docs_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "docs_multitask"}
    for code in blocks:
        exec(compile(code, str(PAGE), "exec"), namespace)
    assert (PAGE.parent / "multitask_weights.png").exists()
