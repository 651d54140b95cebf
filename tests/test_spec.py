"""The registry and the Modules' fastai-style activation/decodes."""

from __future__ import annotations

import pickle

import pytest
import torch

import losskit
from losskit.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss


def test_aliases_resolve() -> None:
    assert losskit.get_spec("l1").name == "mae"
    assert losskit.get_spec("ce").name == "cross_entropy"


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(
        losskit.UnknownLossError, match=r"no loss named 'crossentropy'.*cross_entropy"
    ):
        losskit.get_spec("crossentropy")
    with pytest.raises(ValueError):  # an UnknownLossError is a LossInputError is a ValueError
        losskit.get_spec("zzz")


def test_metrics_are_not_losses() -> None:
    names = {s.name for s in losskit.list_specs()}
    assert not names & {"accuracy", "error_rate", "accuracy_as_loss"}


def test_list_by_family_and_bad_family() -> None:
    assert {s.family for s in losskit.list_specs("binary")} == {"binary"}
    with pytest.raises(losskit.LossInputError, match="family must be one of"):
        losskit.list_specs("vision")


def test_registering_a_name_twice_fails() -> None:
    def mse(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """A second mse.

        ``l_n = (preds_n - targets_n) ** 2``
        """
        return (preds - targets) ** 2

    decorate = losskit.register(family="regression", inputs="values", targets="real")
    with pytest.raises(ValueError, match="registered twice"):
        decorate(mse)
    assert losskit.get_spec("mse").function is losskit.mse


def test_activation_and_decodes() -> None:
    x = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    ce = CrossEntropyLoss()
    probs = ce.activation(x)
    torch.testing.assert_close(probs.sum(1), torch.ones(2))
    assert torch.equal(ce.decodes(probs), torch.tensor([0, 1]))
    bce = BCEWithLogitsLoss()
    assert torch.equal(
        bce.decodes(bce.activation(torch.tensor([-1.0, 0.2]))), torch.tensor([False, True])
    )
    mse = MSELoss()
    assert torch.equal(mse.decodes(mse.activation(x)), x)


def test_module_buffers_move_and_round_trip() -> None:
    module = CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0]), label_smoothing=0.1)
    assert "weight" in module.state_dict()
    clone = pickle.loads(pickle.dumps(module))
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(clone(x, y), module(x, y))
    assert module.double().weight.dtype == torch.float64
    assert "label_smoothing=0.1" in repr(module)


def test_module_reduction_can_be_changed_like_fastai_none_reduce() -> None:
    module = MSELoss()
    module.reduction = "none"
    assert module(torch.zeros(3), torch.ones(3)).shape == (3,)


def test_rmse_is_not_mse() -> None:
    preds, targets = torch.tensor([0.0, 0.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 3.0, 3.0])
    # squares 1, 1, 9, 9: MSE 5, RMSE sqrt(5)
    assert losskit.mse(preds, targets).item() == pytest.approx(5.0)
    assert losskit.rmse(preds, targets).item() == pytest.approx(5.0**0.5)
    assert "not the MSE" in losskit.get_spec("rmse").formula


def test_rmse_gradient_at_zero_error_is_zero_not_nan() -> None:
    preds = torch.tensor([1.0, 2.0], requires_grad=True)
    losskit.rmse(preds, torch.tensor([1.0, 2.0])).backward()
    assert torch.equal(preds.grad, torch.zeros(2))


# ----------------------------------------------------------------------------- the docstring as source
@pytest.mark.parametrize("name", [s.name for s in losskit.list_specs()])
def test_explain_shows_what_the_docstring_and_the_decorator_say(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from losskit.cli import main

    spec = losskit.get_spec(name)
    assert main(["explain", name]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps lines
    doc = spec.function.__doc__ or ""
    assert spec.summary == doc.strip().splitlines()[0].strip()
    assert spec.formula and spec.formula.split()[0] in doc
    for text in (spec.summary, spec.targets.description, spec.mean_over.description):
        assert " ".join(text.split()) in out
    assert spec.when_to_use and spec.when_to_use.split()[0] in out
    for p in spec.properties:
        assert f"{p}: {p.description}".split(",")[0] in out


def test_the_docstring_sections_are_parsed() -> None:
    def toy(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """A toy loss.

        ``l_n = |preds_n - targets_n|`` with a second line.

        Input: ``preds``, any shape.

        When to use:
            Never: it is a test.

        References:
            Gauss (1809); Laplace, Theorie analytique
            des probabilites (1812).

        Stability: nothing to say.
        """
        return (preds - targets).abs()

    spec = losskit.LossSpec(
        name="toy", function=toy, family="regression", input_space="values", targets="real"
    )
    assert spec.summary == "A toy loss."
    assert spec.formula == "``l_n = |preds_n - targets_n|`` with a second line."
    assert spec.shapes == "Input: ``preds``, any shape."
    assert spec.when_to_use == "Never: it is a test."
    assert spec.references == (
        "Gauss (1809)",
        "Laplace, Theorie analytique des probabilites (1812)",
    )


def test_module_options_typed_as_tensors_are_buffers_even_when_none() -> None:
    from losskit.nn import CrossEntropyLoss, DiceLoss

    dice = DiceLoss(normalize=None, ignore_index=None)
    dice.normalize = "sigmoid"  # a plain option, not a buffer: any value can be set later
    assert dice.normalize == "sigmoid" and not dict(dice.named_buffers())
    ce = CrossEntropyLoss()
    ce.weight = torch.ones(3)  # a tensor option: a buffer, carried by state_dict and .to()
    assert list(ce.state_dict()) == ["weight"] and ce.double().weight.dtype == torch.float64
