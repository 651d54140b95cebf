"""losskit.combine: the weighted sum of named terms against a float64 NumPy reference written
here, its gradients, the schedules against their formulas, the errors (a failing term named),
a real Lightning ``Trainer.fit`` logging the terms, gradient accumulation with global
normalisers, ``torch.compile(fullgraph=True)``, ``vmap``, meta tensors, pickling, and the
python blocks of docs/combine.md run as written."""

from __future__ import annotations

import math
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import losskit
from losskit.combine import (
    Combine,
    Combined,
    TermError,
    combine,
    cosine_ramp,
    linear_warmup,
    piecewise,
)

PAGE = Path(__file__).resolve().parent.parent / "docs" / "combine.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
LIGHTNING_WARNINGS = ["ignore:.*_pytree.*:DeprecationWarning", "ignore::FutureWarning:lightning"]


# ----------------------------------------------------------------------------- references
def np_log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def np_cross_entropy(x: np.ndarray, y: np.ndarray) -> float:
    return float(-np_log_softmax(x)[np.arange(len(y)), y].mean())


def np_cross_entropy_grad(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # d/dx mean_n -log softmax(x_n)[y_n] = (softmax(x) - onehot(y)) / N
    p = np.exp(np_log_softmax(x))
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def np_mse(p: np.ndarray, t: np.ndarray) -> float:
    return float(((p - t) ** 2).mean())


def np_mae(p: np.ndarray, t: np.ndarray) -> float:
    return float(np.abs(p - t).mean())


def inputs(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(6, 4, generator=g, dtype=dtype).requires_grad_()
    labels = torch.randint(0, 4, (6,), generator=g)
    preds = torch.randn(6, 2, generator=g, dtype=dtype).requires_grad_()
    targets = torch.randn(6, 2, generator=g, dtype=dtype)
    return logits, labels, preds, targets


# ----------------------------------------------------------------------------- values, gradients
@pytest.mark.parametrize("w_ce, w_mse, w_mae", [(1.0, 1.0, 1.0), (0.7, 2.5, 0.1), (1.0, 0.0, 3.0)])
def test_values_and_gradients_match_the_weighted_sum(
    w_ce: float, w_mse: float, w_mae: float
) -> None:
    logits, labels, preds, targets = inputs()
    total, logs = combine(
        {
            "ce": losskit.cross_entropy(logits, labels),
            "mse": losskit.mse(preds, targets),
            "mae": lambda: losskit.mae(preds, targets),
        },
        {"ce": w_ce, "mse": w_mse, "mae": w_mae},
    )
    x, y = logits.detach().numpy(), labels.numpy()
    p, t = preds.detach().numpy(), targets.numpy()
    ref = {"ce": np_cross_entropy(x, y), "mse": np_mse(p, t), "mae": np_mae(p, t)}
    expected = w_ce * ref["ce"] + w_mse * ref["mse"] + w_mae * ref["mae"]
    assert total.shape == () and total.dtype == torch.float64
    assert math.isclose(total.item(), expected, rel_tol=1e-12)
    assert list(logs) == ["ce", "mse", "mae"]
    for name, value in logs.items():
        assert value.shape == () and not value.requires_grad
        assert math.isclose(value.item(), ref[name], rel_tol=1e-12), name  # unweighted

    total.backward()
    assert logits.grad is not None and preds.grad is not None
    # d total / d logits = w_ce * (softmax - onehot) / N; d/d preds of the regression terms:
    # mse 2 (p - t) / n, mae sign(p - t) / n (no residual is 0 with these inputs)
    np.testing.assert_allclose(logits.grad.numpy(), w_ce * np_cross_entropy_grad(x, y), rtol=1e-10)
    expected_preds = (w_mse * 2 * (p - t) + w_mae * np.sign(p - t)) / p.size
    np.testing.assert_allclose(preds.grad.numpy(), expected_preds, rtol=1e-10, atol=1e-15)


def test_gradient_equals_the_hand_written_sum_in_torch() -> None:
    # the same sum written out by hand, through autograd: combine adds nothing to the graph
    logits, labels, preds, targets = inputs()
    combine(
        {"ce": losskit.cross_entropy(logits, labels), "mse": losskit.mse(preds, targets)},
        {"mse": 0.3},
    ).total.backward()
    grads = logits.grad.clone(), preds.grad.clone()  # type: ignore[union-attr]
    logits.grad = preds.grad = None
    (losskit.cross_entropy(logits, labels) + 0.3 * losskit.mse(preds, targets)).backward()
    torch.testing.assert_close(grads[0], logits.grad, rtol=0, atol=0)
    torch.testing.assert_close(grads[1], preds.grad, rtol=0, atol=0)


def test_a_zero_weight_keeps_a_zero_gradient() -> None:
    # weight 0 still multiplies: the parameter is in the graph (DDP needs it) with a zero grad
    logits, labels, preds, targets = inputs()
    combine(
        {"ce": losskit.cross_entropy(logits, labels), "mse": losskit.mse(preds, targets)},
        {"mse": 0},
    ).total.backward()
    assert preds.grad is not None and torch.count_nonzero(preds.grad) == 0


def test_dtypes_promote_and_floats() -> None:
    a = torch.tensor(1.5, dtype=torch.float32)
    b = torch.tensor(0.25, dtype=torch.float64)
    out = combine({"a": a, "b": b}, {"b": 2.0})
    assert isinstance(out, Combined) and out.total.dtype == torch.float64
    assert out.floats() == {"a": 1.5, "b": 0.25, "total": 2.0}  # 1.5 + 2 * 0.25, exact in binary
    assert out.floats("train/") == {"train/a": 1.5, "train/b": 0.25, "train/total": 2.0}
    assert combine({"a": a}, {"a": torch.tensor(2.0)}).total.item() == 3.0  # a tensor weight


# ----------------------------------------------------------------------------- the Module
def test_module_equals_function_and_holds_its_terms() -> None:
    logits, labels, preds, targets = inputs()
    class_weight = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    loss = Combine(
        {
            "ce": losskit.nn.CrossEntropyLoss(weight=class_weight),
            "z": losskit.z_loss,
            "mse": losskit.nn.MSELoss(),
        },
        {"z": 1e-2, "mse": linear_warmup(2.0, steps=4)},
    )
    out = loss(logits, labels, step=1, inputs={"mse": (preds, targets)})
    expected = combine(
        {
            "ce": losskit.cross_entropy(logits, labels, weight=class_weight),
            "z": losskit.z_loss(logits, labels),
            "mse": losskit.mse(preds, targets),
        },
        {"z": 1e-2, "mse": 0.5},
    )
    torch.testing.assert_close(out.total, expected.total, rtol=1e-14, atol=0)
    assert out.logs.keys() == expected.logs.keys()
    assert "terms.ce.weight" in loss.state_dict()
    assert loss.weights_at(1) == {"ce": 1.0, "z": 1e-2, "mse": 0.5}
    assert "weights=" in repr(loss) and "z_loss" in repr(loss)
    # kwargs reach every term without its own inputs
    kw = Combine({"a": losskit.cross_entropy, "b": losskit.z_loss})(logits=logits, labels=labels)
    ref = losskit.cross_entropy(logits, labels) + losskit.z_loss(logits, labels)
    torch.testing.assert_close(kw.total, ref, rtol=1e-14, atol=0)


def schedule_of_step(step: int) -> float:  # a module-level function pickles
    return 0.1 * step


def test_module_pickles_with_its_schedules() -> None:
    loss = Combine(
        {"mse": losskit.mse, "mae": losskit.nn.MAELoss()},
        {"mse": cosine_ramp(1.0, 10), "mae": schedule_of_step},
    )
    clone = pickle.loads(pickle.dumps(loss))
    p, t = torch.randn(5), torch.randn(5)
    torch.testing.assert_close(clone(p, t, step=3).total, loss(p, t, step=3).total)
    error = pickle.loads(pickle.dumps(TermError("term 'x': bad", ("x",))))
    assert isinstance(error, TermError) and error.terms == ("x",)


# ----------------------------------------------------------------------------- schedules
def test_linear_warmup_follows_its_formula() -> None:
    w = linear_warmup(2.0, steps=8, start=0.5, delay=3)
    for t in range(20):
        # the docstring's formula: start + (final - start) * clip((t - delay) / steps, 0, 1)
        expected = 0.5 + 1.5 * float(np.clip((t - 3) / 8, 0.0, 1.0))
        assert math.isclose(w(t), expected, rel_tol=1e-15), t
    down = linear_warmup(0.0, steps=4, start=1.0)  # a ramp down
    assert [down(t) for t in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    jump = linear_warmup(1.0, steps=0, delay=5)  # 0 steps: a jump at delay, not at once
    assert [jump(t) for t in (0, 4, 5, 6)] == [0.0, 0.0, 1.0, 1.0]


def test_cosine_ramp_follows_its_formula() -> None:
    w = cosine_ramp(1.0, steps=10, start=0.2, delay=2)
    for t in range(16):
        p = float(np.clip((t - 2) / 10, 0.0, 1.0))
        expected = 0.2 + 0.8 * (1 - np.cos(np.pi * p)) / 2
        assert math.isclose(w(t), expected, rel_tol=1e-14, abs_tol=1e-15), t
    assert w(0) == w(2) == 0.2 and w(12) == w(99) == 1.0


def test_piecewise_holds_each_value_from_its_step() -> None:
    w = piecewise({100: 1.0, 0: 0.0, 10: 0.5})  # any key order
    assert [w(t) for t in (0, 9, 10, 99, 100, 10**6)] == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    with pytest.raises(losskit.LossInputError, match="step 0 among its keys"):
        piecewise({5: 1.0})
    with pytest.raises(losskit.LossInputError, match="weight at step 5 must lie in"):
        piecewise({0: 1.0, 5: -1.0})


def test_a_schedule_is_read_at_the_step() -> None:
    p, t = torch.randn(4), torch.randn(4)
    mse, mae = np_mse(p.numpy(), t.numpy()), np_mae(p.numpy(), t.numpy())
    w = linear_warmup(1.0, steps=10)
    for step in (0, 3, 10, 50):
        total = combine(
            {"mse": losskit.mse(p, t), "mae": losskit.mae(p, t)}, {"mae": w}, step=step
        ).total
        assert math.isclose(total.item(), mse + min(step / 10, 1.0) * mae, rel_tol=1e-6), step
    with pytest.raises(losskit.LossInputError, match=r"is a schedule .* pass step="):
        combine({"mse": losskit.mse(p, t)}, {"mse": w})
    with pytest.raises(
        losskit.LossInputError, match=r"'mse' at step 2 must lie in \[0, inf\), got -2.0"
    ):
        combine({"mse": losskit.mse(p, t)}, {"mse": lambda s: -float(s)}, step=2)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: linear_warmup(-1.0, 5), r"linear_warmup: final must lie in \[0, inf\)"),
        (lambda: linear_warmup(1.0, -1), r"linear_warmup: steps must lie in \[0, inf\)"),
        (lambda: linear_warmup(1.0, 2.5), "linear_warmup: steps must be an integer"),
        (lambda: cosine_ramp(1.0, 5, start=float("nan")), "cosine_ramp: start must lie in"),
        (lambda: cosine_ramp(1.0, 5, delay=-2), "cosine_ramp: delay must lie in"),
        (lambda: piecewise([0.0, 1.0]), "piecewise: values must be a dict"),
    ],
)
def test_schedule_options_are_checked(call: Any, match: str) -> None:
    with pytest.raises(losskit.LossInputError, match=match):
        call()


# ----------------------------------------------------------------------------- refused input
T = torch.tensor(1.0)


@pytest.mark.parametrize(
    "terms, weights, step, match",
    [
        ({}, None, None, "terms must be a non-empty dict"),
        ([T], None, None, "terms must be a non-empty dict"),
        ({3: T}, None, None, "term names must be non-empty strings, got 3"),
        ({"": T}, None, None, "term names must be non-empty strings"),
        ({"a": T}, {"b": 1.0}, None, r"weights name \['b'\], which are not terms"),
        ({"a": T}, [1.0], None, "weights must be a dict"),
        (
            {"a": T},
            {"a": -0.5},
            None,
            r"'a' must lie in \[0, inf\), got -0.5; to maximise term 'a', negate",
        ),
        (
            {"a": T},
            {"a": float("nan")},
            None,
            r"weight of term 'a' must lie in \[0, inf\), got nan$",
        ),
        ({"a": T}, {"a": float("inf")}, None, r"weight of term 'a' must lie in \[0, inf\)"),
        ({"a": T}, {"a": "0.1"}, None, "weight of term 'a' must be a number, got str"),
        ({"a": T}, {"a": True}, None, "weight of term 'a' must be a number, got bool"),
        ({"a": T}, {"a": torch.ones(2)}, None, "must be a number .* shape \\(2,\\)"),
        ({"a": T}, {"a": torch.ones((), requires_grad=True)}, None, "requires grad"),
        ({"a": 1.0}, None, None, "term 'a' must be a tensor or a callable returning one"),
        ({"a": lambda: 1.0}, None, None, "term 'a' must be a tensor .* got float"),
        ({"a": torch.tensor(1)}, None, None, "term 'a' must be a floating tensor, got torch.int64"),
        ({"a": torch.ones(3)}, None, None, r"term 'a' must be a scalar \(0-d\) .* shape \(3,\)"),
        ({"a": T}, None, -1, r"step must lie in \[0, inf\)"),
        ({"a": T}, None, 1.5, "step must be an integer"),
    ],
)
def test_combine_refuses(terms: Any, weights: Any, step: Any, match: str) -> None:
    with pytest.raises(losskit.LossInputError, match=match):
        combine(terms, weights, step=step)


def test_module_refuses() -> None:
    with pytest.raises(losskit.LossInputError, match=r"term 'a' must be a callable .* got Tensor"):
        Combine({"a": T})  # type: ignore[dict-item]
    with pytest.raises(losskit.LossInputError, match="'a' must lie in"):
        Combine({"a": losskit.mse}, {"a": -1})
    loss = Combine({"a": losskit.mse})
    with pytest.raises(losskit.LossInputError, match=r"inputs name \['b'\], which are not terms"):
        loss(T, T, inputs={"b": (T, T)})
    with pytest.raises(losskit.LossInputError, match="term 'a' must be a scalar"):
        Combine({"a": lambda p: p})(torch.ones(2))


# ----------------------------------------------------------------------------- failing terms
def test_a_terms_refused_input_names_the_term() -> None:
    logits, labels, preds, targets = inputs()
    nan_preds = preds.detach().clone()
    nan_preds[2, 1] = float("nan")
    with pytest.raises(
        TermError, match=r"term 'mse': preds holds non-finite values \(1 NaN, 0 inf"
    ) as info:
        combine(
            {
                "ce": losskit.cross_entropy(logits, labels),
                "mse": lambda: losskit.mse(nan_preds, targets),
            }
        )
    assert info.value.terms == ("mse",) and isinstance(info.value, losskit.LossInputError)
    assert isinstance(info.value.__cause__, losskit.LossInputError)  # the term's own error
    loss = Combine({"ce": losskit.nn.CrossEntropyLoss(), "z": losskit.z_loss})
    with pytest.raises(TermError, match=r"term 'ce': labels must lie in \[0, 4\)") as info:
        loss(logits, labels + 4)
    assert info.value.terms == ("ce",)
    # a nested Combine keeps the inner term's name
    outer = Combine({"inner": Combine({"mse": losskit.mse})})
    with pytest.raises(TermError, match=r"^term 'mse': preds holds non-finite"):
        outer(nan_preds, targets)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are Python 3.11+")
def test_any_other_error_of_a_term_gets_a_note_naming_it() -> None:
    with pytest.raises(TypeError) as info:
        Combine({"mse": losskit.mse, "odd": lambda p: p.sum()})(T, T)
    assert "raised by term 'odd' of the combined loss" in info.value.__notes__


def test_a_non_finite_term_is_named_with_its_weight() -> None:
    finite = torch.tensor(0.5)
    with pytest.raises(TermError, match=r"term\(s\) 'log' = inf \(weight 2.0\)") as info:
        combine({"ok": finite, "log": lambda: -torch.log(torch.tensor(0.0))}, {"log": 2.0})
    assert info.value.terms == ("log",)
    # weight zero does not hide a NaN: 0 * NaN is NaN, and the term is named
    with pytest.raises(TermError, match=r"'a' = nan \(weight 0.0\), 'b' = inf") as info:
        combine(
            {"a": torch.tensor(float("nan")), "b": torch.tensor(float("inf")), "ok": finite},
            {"a": 0.0},
        )
    assert info.value.terms == ("a", "b")


def test_an_overflowing_sum_of_finite_terms_says_so() -> None:
    big = torch.tensor(6e4, dtype=torch.float16)  # float16's largest finite value is 65504
    with pytest.raises(TermError, match=r"overflows torch.float16: every term is finite") as info:
        combine({"a": big, "b": big})
    assert info.value.terms == ()


@pytest.mark.parametrize("mode", ["shapes", "off"])
def test_without_value_checks_no_read_and_never_finite(mode: str) -> None:
    with losskit.checks(mode):  # type: ignore[arg-type]
        out = combine({"a": torch.tensor(float("nan")), "b": torch.tensor(1.0)}, {"a": 0.0})
    assert math.isnan(out.total.item())


# ----------------------------------------------------------------------------- accumulation
def test_micro_batches_with_global_normalizers_equal_the_big_batch() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(11, 5, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 5, (11,), generator=g)
    labels[[2, 7, 8]] = -100  # ignored items, unevenly spread over the micro-batches
    preds = torch.randn(11, 3, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.randn(11, 3, generator=g, dtype=torch.float64)
    weights = {"mse": linear_warmup(0.5, steps=4)}
    step = 2  # the same optimiser step for every micro-batch

    whole = combine(
        {"ce": losskit.cross_entropy(logits, labels), "mse": losskit.mse(preds, targets)},
        weights,
        step=step,
    ).total
    # the reference: the big batch's weighted sum in float64 NumPy (ignored labels skipped)
    keep = labels.numpy() != -100
    x, y = logits.detach().numpy()[keep], labels.numpy()[keep]
    expected = np_cross_entropy(x, y) + 0.25 * np_mse(preds.detach().numpy(), targets.numpy())
    assert math.isclose(whole.item(), expected, rel_tol=1e-12)
    whole.backward()
    grads = logits.grad.clone(), preds.grad.clone()  # type: ignore[union-attr]
    logits.grad = preds.grad = None

    n_labels = int((labels != -100).sum())  # the step's counts, not each micro-batch's
    n_values = preds.numel()
    loss = Combine({"ce": losskit.cross_entropy, "mse": mse_over}, weights)
    parts = []
    for i in (slice(0, 2), slice(2, 9), slice(9, 11)):  # uneven micro-batches
        total = loss(
            step=step,
            inputs={
                "ce": {"logits": logits[i], "labels": labels[i], "normalizer": n_labels},
                "mse": {"preds": preds[i], "targets": targets[i], "normalizer": n_values},
            },
        ).total
        parts.append(total.item())
        total.backward()  # gradients accumulate over the micro-batches
    assert math.isclose(sum(parts), expected, rel_tol=1e-12)
    torch.testing.assert_close(logits.grad, grads[0], rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(preds.grad, grads[1], rtol=1e-12, atol=1e-15)
    # without the global normalizer each micro-batch averages over itself: not the big batch
    local = sum(
        combine(
            {
                "ce": losskit.cross_entropy(logits[i], labels[i]),
                "mse": losskit.mse(preds[i], targets[i]),
            },
            weights,
            step=step,
        ).total.item()
        for i in (slice(0, 2), slice(2, 9), slice(9, 11))
    )
    assert not math.isclose(local, expected, rel_tol=1e-3)


def mse_over(preds: torch.Tensor, targets: torch.Tensor, *, normalizer: int) -> torch.Tensor:
    """The squared error summed, over a count given for the whole step (as mse has no
    ``normalizer=``)."""
    return losskit.mse(preds, targets, reduction="sum") / normalizer


# ----------------------------------------------------------------------------- Lightning
@pytest.mark.filterwarnings(*LIGHTNING_WARNINGS)
def test_lightning_logs_every_term_in_a_real_fit() -> None:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    class TwoHeads(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Linear(6, 8)
            self.cls, self.reg = torch.nn.Linear(8, 3), torch.nn.Linear(8, 1)
            self.loss = Combine(
                {"ce": losskit.nn.CrossEntropyLoss(), "mse": losskit.nn.MSELoss()},
                {"mse": linear_warmup(0.5, steps=4)},
            )
            self.seen: list[tuple[int, int, dict[str, float]]] = []

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = torch.relu(self.body(x))
            return self.cls(h), self.reg(h).squeeze(-1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y, z = batch
            logits, value = self(x)
            out = self.loss(step=self.global_step, inputs={"ce": (logits, y), "mse": (value, z)})
            self.log_dict(
                {f"train/{k}": v for k, v in out.logs.items()}, on_step=False, on_epoch=True
            )
            self.log("train/loss", out.total, on_step=False, on_epoch=True)
            # what was logged, recorded independently: the hand-written weighted sum
            ce = torch.nn.functional.cross_entropy(logits, y).item()  # torch's kernel
            mse = ((value - z) ** 2).mean().item()
            w = 0.5 * min(self.global_step / 4, 1.0)
            assert math.isclose(out.total.item(), ce + w * mse, rel_tol=1e-5)
            self.seen.append((self.current_epoch, self.global_step, out.floats()))
            return out.total

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.2)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    z = x[:, 2] - x[:, 3]
    model = TwoHeads()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y, z), batch_size=16))

    assert [s for _, s, _ in model.seen] == list(range(8))  # 2 epochs of 4 batches
    last = [floats for epoch, _, floats in model.seen if epoch == 1]
    metrics = trainer.callback_metrics
    assert {"train/ce", "train/mse", "train/loss"} <= set(metrics)
    for key, name in (("train/ce", "ce"), ("train/mse", "mse"), ("train/loss", "total")):
        # on_epoch=True: Lightning's mean over the last epoch's equal-sized batches
        expected = float(np.mean([f[name] for f in last]))
        assert math.isclose(float(metrics[key]), expected, rel_tol=1e-5), key
    first_epoch = np.mean([f["ce"] for epoch, _, f in model.seen if epoch == 0])
    assert float(metrics["train/ce"]) < first_epoch  # it trained


# ----------------------------------------------------------------------------- traced
def objective(
    logits: torch.Tensor, labels: torch.Tensor, preds: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    total, logs = combine(
        {"ce": losskit.cross_entropy(logits, labels), "mse": lambda: losskit.mse(preds, targets)},
        {"mse": 0.25},
    )
    return total, logs


def test_compile_fullgraph_values_and_gradients() -> None:
    torch._dynamo.reset()
    logits, labels, preds, targets = inputs(torch.float32)
    compiled = torch.compile(objective, fullgraph=True, backend="aot_eager")
    total, logs = compiled(logits, labels, preds, targets)
    total.backward()
    got = logits.grad.clone(), preds.grad.clone()  # type: ignore[union-attr]
    logits.grad = preds.grad = None
    eager_total, eager_logs = objective(logits, labels, preds, targets)
    eager_total.backward()
    torch.testing.assert_close(total, eager_total)
    torch.testing.assert_close(logs, eager_logs)
    torch.testing.assert_close(got, (logits.grad, preds.grad))

    # the Module, a Module term with a buffer, under fullgraph too
    loss = Combine(
        {
            "ce": losskit.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 1.0, 0.5])),
            "z": losskit.z_loss,
        },
        {"z": 1e-3},
    )
    compiled_loss = torch.compile(loss, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled_loss(logits, labels).total, loss(logits, labels).total)


def test_compile_skips_the_finite_read() -> None:
    # under compile the total is not read, so a NaN term passes through as NaN (never finite)
    torch._dynamo.reset()

    def f(x: torch.Tensor) -> torch.Tensor:
        return combine({"log": torch.log(x).sum(), "x": x.sum()}).total

    assert math.isnan(
        torch.compile(f, fullgraph=True, backend="aot_eager")(torch.tensor([-1.0, 2.0])).item()
    )
    with pytest.raises(TermError, match="'log' = nan"):
        f(torch.tensor([-1.0, 2.0]))  # eagerly, in "full" mode, it is named


def test_vmap_gives_per_sample_combined_losses() -> None:
    _, _, preds, targets = inputs()

    def per_sample(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return combine(
            {"mse": losskit.mse(p, t), "mae": lambda: losskit.mae(p, t)}, {"mae": 2.0}
        ).total

    got = torch.func.vmap(per_sample)(preds, targets)
    p, t = preds.detach().numpy(), targets.numpy()
    expected = ((p - t) ** 2).mean(axis=1) + 2.0 * np.abs(p - t).mean(axis=1)
    assert got.shape == (6,)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-12)
    grads = torch.func.vmap(torch.func.grad(per_sample))(preds.detach(), targets)
    np.testing.assert_allclose(grads.numpy(), (2 * (p - t) + 2.0 * np.sign(p - t)) / 2, rtol=1e-12)


def test_meta_tensors_give_the_shape() -> None:
    x = torch.empty(4, 3, device="meta")
    out = Combine({"mse": losskit.mse, "mae": losskit.mae})(x, x)
    assert out.total.is_meta and out.total.shape == () and out.logs["mae"].is_meta


# ----------------------------------------------------------------------------- the docs page
@pytest.mark.filterwarnings(*LIGHTNING_WARNINGS)
def test_docs_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "docs_combine"}
    for code in blocks:
        exec(compile(code, str(PAGE), "exec"), namespace)
    assert losskit.get_check_mode() == "full"
