"""The base of every losskit Module: it stores hyper-parameters and calls its function.

A Module names its function object (``function = bce_with_logits``), never a registry key; the
spec comes from the function. No maths lives here. Tensor hyper-parameters (class weights, ``pos_weight``) are buffers, so
``.to(device)``, ``state_dict`` and pickling carry them. ``activation`` and ``decodes`` come from
the loss's spec, in fastai's sense: what turns model outputs into probabilities, and those into
predictions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from losskit._spec import LossSpec, get_spec, spec_of

__all__ = ["MODULES", "LossModule", "module_for"]

MODULES: dict[str, type[LossModule]] = {}


class LossModule(torch.nn.Module):
    """Stores a loss's hyper-parameters; ``forward(*inputs)`` calls the functional loss."""

    function: ClassVar[Callable[..., Tensor]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "function" in cls.__dict__:
            MODULES[spec_of(cls.function).name] = cls

    def __init__(self, **options: Any) -> None:
        super().__init__()
        names = []
        # options the function types as tensors are buffers (moved by .to(), in state_dict),
        # also while None; any other option is a plain attribute
        tensor_options = {
            p.name
            for p in inspect.signature(type(self).function).parameters.values()
            if "Tensor" in str(p.annotation)
        }
        for key, value in options.items():
            if hasattr(type(self), key):
                raise TypeError(
                    f"{type(self).__name__}: option {key!r} would hide the Module's own attribute; "
                    "store it under another name and override forward"
                )
            if isinstance(value, Tensor) or (value is None and key in tensor_options):
                self.register_buffer(key, value)
            else:
                setattr(self, key, value)
            names.append(key)
        self._option_names = tuple(names)

    @property
    def spec(self) -> LossSpec:
        return spec_of(type(self).function)

    def forward(self, *inputs: Tensor) -> Tensor:
        options = {key: getattr(self, key) for key in self._option_names}
        return type(self).function(*inputs, **options)

    def activation(self, outputs: Tensor) -> Tensor:
        """Model outputs to probabilities or values (sigmoid, softmax over dim 1, identity)."""
        return self.spec.activate(outputs)

    def decodes(self, activated: Tensor) -> Tensor:
        """Activated outputs to predictions (threshold at 0.5, argmax over dim 1, identity)."""
        return self.spec.decodes(activated)

    def extra_repr(self) -> str:
        shown = []
        for key in self._option_names:
            value = getattr(self, key)
            shown.append(f"{key}={tuple(value.shape) if isinstance(value, Tensor) else value!r}")
        return ", ".join(shown)


def module_for(name: str) -> type[LossModule]:
    """The Module class of the loss registered as ``name`` (or an alias)."""
    return MODULES[get_spec(name).name]
