"""Weights for multi-task losses that are learned or adapted during training, each a Module
that takes the tasks' losses and returns :class:`losskit.combine.Combined` ``(total, logs)``.

- :class:`UncertaintyWeighting` (Kendall, Gal and Cipolla, 2018): a learned log-variance per
  task; a task with noisier targets gets a smaller weight.
- :class:`DynamicWeightAverage` (Liu, Johns and Davison, 2019): weights from the ratio of each
  task's mean loss over the last two epochs; a task whose loss falls slowly gets more weight.
- :class:`GradNorm` (Chen et al., 2018): learned weights that keep the tasks' gradient norms at
  a shared layer balanced, scaled by how far each task still has to go.

``logs`` holds each task's unweighted loss under its name and its current weight under
``"weight/<name>"`` (GradNorm adds ``"grad_norm/<name>"``, the weighted gradient norm at the
shared layer), all detached, for ``self.log_dict``. Terms are given as in
:func:`losskit.combine.combine` (tensors, or callables whose errors name their term), and a
non-finite total names its term where data can be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor

from losskit._checks import LossInputError, all_finite, check_choice, check_option, reads
from losskit.combine import Combined, Term, TermError, evaluate_terms, explain_non_finite

__all__ = ["DynamicWeightAverage", "GradNorm", "UncertaintyWeighting"]

KINDS = ("regression", "classification")
# the factor k of exp(-s) L in UncertaintyWeighting: a Gaussian likelihood has 1/(2 sigma^2)
# and a softmax scaled by 1/sigma^2 has 1/sigma^2 (Kendall et al. eq. 7), both doubled here so
# that a regression task reads exp(-s) L + s
_FACTOR = {"regression": 1.0, "classification": 2.0}


def _check_tasks(tasks: object) -> tuple[str, ...]:
    if isinstance(tasks, str) or not isinstance(tasks, Sequence) or not tasks:
        raise LossInputError(
            f"tasks must be a non-empty list of task names, got {tasks!r}; e.g. ['depth', 'seg']"
        )
    names = tuple(tasks)
    for name in names:
        if not isinstance(name, str) or not name:
            raise LossInputError(f"task names must be non-empty strings, got {name!r}")
    if len(set(names)) != len(names):
        raise LossInputError(f"task names must be distinct, got {list(names)}")
    clash = [n for n in names if n == "total" or n.startswith(("weight/", "grad_norm/"))]
    if clash:
        raise LossInputError(
            f"task names {clash} would clash with the logged keys ('total', 'weight/<task>', "
            "'grad_norm/<task>'); rename them"
        )
    return names


class _Weighting(torch.nn.Module):
    """The tasks' names and the one path from terms to stacked values."""

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__()
        self.tasks = _check_tasks(tasks)

    def _values(self, terms: Mapping[str, Term]) -> dict[str, Tensor]:
        if not isinstance(terms, Mapping):
            raise LossInputError(
                f"{type(self).__name__}: terms must be a dict with one loss per task "
                f"{list(self.tasks)}, got {type(terms).__name__}"
            )
        unknown = [k for k in terms if k not in self.tasks]
        missing = [k for k in self.tasks if k not in terms]
        if unknown or missing:
            raise LossInputError(
                f"{type(self).__name__}: terms must give one loss per task {list(self.tasks)}; "
                f"unknown task(s) {unknown}, missing task(s) {missing}; name the tasks when "
                "the Module is built"
            )
        values = evaluate_terms(terms)
        return {name: values[name] for name in self.tasks}

    def _stack(self, values: dict[str, Tensor], like: Tensor) -> Tensor:
        """The losses as one vector, in the dtype of the losses and ``like`` promoted."""
        dtype = like.dtype
        for v in values.values():
            dtype = torch.promote_types(dtype, v.dtype)
        return torch.stack([v.to(dtype) for v in values.values()])

    def _logs(self, values: dict[str, Tensor], weights: Tensor) -> dict[str, Tensor]:
        logs = {name: v.detach() for name, v in values.items()}
        # a copy: the weights are a parameter or buffer that later steps change in place
        w = weights.detach().clone()
        logs.update({f"weight/{name}": w[i] for i, name in enumerate(self.tasks)})
        return logs

    def _check(self, total: Tensor, values: dict[str, Tensor], weights: Tensor) -> None:
        explain_non_finite(
            total, values, dict(zip(self.tasks, weights.detach().unbind(0), strict=True))
        )

    def extra_repr(self) -> str:
        return f"tasks={list(self.tasks)}"


# ----------------------------------------------------------------------------- uncertainty
class UncertaintyWeighting(_Weighting):
    """Homoscedastic uncertainty weighting: a learned log-variance ``s_i`` per task.

    ``total = sum_i k_i exp(-s_i) L_i + s_i``, with ``k_i = 1`` for a regression task (a
    Gaussian likelihood of variance ``exp(s_i)``: twice its negative log-likelihood, up to a
    constant) and ``k_i = 2`` for a classification task (a softmax scaled by ``exp(-s_i)``).
    That is twice Kendall et al.'s eq. 7, ``L_1 / (2 sigma_1^2) + L_2 / sigma_2^2 + log sigma_1
    + log sigma_2`` with ``s = log sigma^2``. The minimum over ``s_i`` is at
    ``exp(s_i) = k_i L_i``: for a mean squared error the learned variance is the task's
    residual variance, and the task's weight ``k_i exp(-s_i)`` is ``1 / L_i``.

    Input: ``terms``, task name -> a scalar loss (or a callable returning one), one per task.
    ``s`` is the parameter ``log_vars``; give it to the optimiser with the model's parameters.

    When to use:
        Several tasks trained together whose losses have different scales or noise levels
        (depth and segmentation, a box and a class), instead of tuning the weights by hand.
        The regression form assumes a squared error; for another loss ``exp(s_i)`` tracks
        ``k_i L_i`` all the same.

    Args:
        tasks: the task names, in the order of ``log_vars``.
        kinds: task name -> ``"regression"`` (the default) or ``"classification"``.
        init_log_var: the initial ``s_i`` (0: every weight ``k_i`` at the start).

    Returns:
        :class:`~losskit.combine.Combined` from ``forward(terms)``: the total with gradients
        for the model and ``log_vars``; ``logs`` the tasks' losses and ``"weight/<task>"``,
        ``k_i exp(-s_i)``.

    Raises:
        LossInputError: no tasks, repeated names, an unknown kind, ``terms`` that do not name
            every task; TermError as :func:`losskit.combine.combine`, also when ``log_vars``
            diverged.

    Example:
        >>> import torch
        >>> from losskit.multitask import UncertaintyWeighting
        >>> weighting = UncertaintyWeighting(["a", "b"], kinds={"b": "classification"})
        >>> total, logs = weighting({"a": torch.tensor(2.0), "b": torch.tensor(0.5)})
        >>> total  # 1 * 2.0 + 2 * 0.5 at s = 0
        tensor(3., grad_fn=<SumBackward0>)
        >>> logs["weight/b"]
        tensor(2.)

    References:
        Kendall, Gal and Cipolla, Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
        Geometry and Semantics (CVPR 2018).
    """

    factors: Tensor

    def __init__(
        self,
        tasks: Sequence[str],
        *,
        kinds: Mapping[str, str] | None = None,
        init_log_var: float = 0.0,
    ) -> None:
        super().__init__(tasks)
        kinds = dict(kinds or {})
        unknown = [k for k in kinds if k not in self.tasks]
        if unknown:
            raise LossInputError(f"kinds name {unknown}, which are not tasks {list(self.tasks)}")
        for name, kind in kinds.items():
            check_choice(f"kinds[{name!r}]", kind, KINDS)
        self.kinds = {name: kinds.get(name, "regression") for name in self.tasks}
        init = check_option("init_log_var", init_log_var)
        self.log_vars = torch.nn.Parameter(torch.full((len(self.tasks),), init))
        factors = torch.tensor([_FACTOR[self.kinds[n]] for n in self.tasks])
        self.register_buffer("factors", factors, persistent=False)  # set by kinds: not state

    def forward(self, terms: Mapping[str, Term]) -> Combined:
        values = self._values(terms)
        losses = self._stack(values, self.log_vars)
        s = self.log_vars.to(losses.dtype)
        weights = self.factors.to(losses.dtype) * torch.exp(-s)
        total = (weights * losses + s).sum()
        if reads(total) and not all_finite(total):
            if not all_finite(self.log_vars):
                raise TermError(
                    f"UncertaintyWeighting: the learned log_vars are not finite "
                    f"({self.log_vars.detach().tolist()}); lower the learning rate, or clip "
                    "gradients",
                    (),
                )
            self._check(total, values, weights)
        return Combined(total, self._logs(values, weights))

    def extra_repr(self) -> str:
        return f"tasks={list(self.tasks)}, kinds={self.kinds}"


# ----------------------------------------------------------------------------- DWA
class DynamicWeightAverage(_Weighting):
    """Dynamic weight average: weights from how fast each task's loss fell over the last epochs.

    ``w_k(t) = K exp(r_k / T) / sum_i exp(r_i / T)`` with ``r_k = L_k(t-1) / L_k(t-2)``, the
    ratio of task ``k``'s mean loss over the last two epochs, ``K`` tasks and temperature ``T``;
    ``w_k = 1`` for the first two epochs. The weights sum to ``K``; a task whose loss falls
    more slowly (a larger ratio) gets more weight, and a larger ``T`` makes them more even.
    ``total = sum_k w_k L_k``, the weights constants within an epoch.

    Input: ``terms``, task name -> a scalar loss (or a callable returning one), one per task.
    In training mode each call adds the detached losses to the epoch's running mean (no host
    read); call :meth:`end_epoch` at the end of every epoch to set the next epoch's weights.

    When to use:
        Several tasks trained together, when nothing else is known of them: it needs only the
        loss values (no gradients, no extra parameters), and the losses must be positive.

    Args:
        tasks: the task names.
        temperature: ``T > 0`` (2 in the paper).

    Returns:
        :class:`~losskit.combine.Combined` from ``forward(terms)``; ``logs`` the tasks' losses
        and ``"weight/<task>"``.

    Raises:
        LossInputError: no tasks, a temperature that is not > 0, ``terms`` that do not name every
            task; from :meth:`end_epoch`, an epoch without a training batch or a mean loss that
            is not finite and > 0; TermError as :func:`losskit.combine.combine`.

    Example:
        >>> import torch
        >>> from losskit.multitask import DynamicWeightAverage
        >>> dwa = DynamicWeightAverage(["a", "b"], temperature=1.0)
        >>> for loss_a in (1.0, 0.5):  # two epochs of one batch: a halves, b stays
        ...     _ = dwa({"a": torch.tensor(loss_a), "b": torch.tensor(1.0)})
        ...     weights = dwa.end_epoch()
        >>> {k: round(v, 4) for k, v in weights.items()}  # 2 softmax(0.5, 1.0)
        {'a': 0.7551, 'b': 1.2449}

    References:
        Liu, Johns and Davison, End-to-End Multi-Task Learning with Attention (CVPR 2019).
    """

    weights: Tensor
    history: Tensor
    running: Tensor
    batches: Tensor
    epochs: Tensor

    def __init__(self, tasks: Sequence[str], *, temperature: float = 2.0) -> None:
        super().__init__(tasks)
        self.temperature = check_option("temperature", temperature, low=0.0, low_open=True)
        k = len(self.tasks)
        # buffers, so a checkpoint resumes the weights and the epochs' means
        self.register_buffer("weights", torch.ones(k, dtype=torch.float64))
        self.register_buffer("history", torch.zeros(2, k, dtype=torch.float64))
        self.register_buffer("running", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("batches", torch.zeros((), dtype=torch.int64))
        self.register_buffer("epochs", torch.zeros((), dtype=torch.int64))

    def forward(self, terms: Mapping[str, Term]) -> Combined:
        values = self._values(terms)
        losses = self._stack(values, self.weights.float())
        # a copy: end_epoch changes the buffer in place, which a pending backward must not see
        weights = self.weights.to(losses.dtype, copy=True)
        total = (weights * losses).sum()
        self._check(total, values, weights)
        if self.training:
            with torch.no_grad():
                self.running += losses.detach().to(torch.float64)
                self.batches += 1
        return Combined(total, self._logs(values, weights))

    def end_epoch(self) -> dict[str, float]:
        """Close the epoch: its mean losses become the newest of the two remembered, and the
        weights for the next epoch are set from their ratio (from the third epoch on).
        Returns the new weights (one host read)."""
        if int(self.batches) == 0:
            raise LossInputError(
                "DynamicWeightAverage.end_epoch: no training batch since the last end_epoch; "
                "call the Module in training mode on every batch, end_epoch once per epoch"
            )
        mean = self.running / self.batches
        means = dict(zip(self.tasks, mean.tolist(), strict=True))
        bad = [n for n, v in means.items() if not 0 < v < float("inf")]
        if bad:
            raise LossInputError(
                f"DynamicWeightAverage needs mean epoch losses that are finite and > 0, got "
                f"{means} (tasks {bad}); the loss ratio is meaningless for a loss that can be "
                "zero or negative"
            )
        with torch.no_grad():
            self.history[0] = self.history[1]
            self.history[1] = mean
            self.epochs += 1
            self.running.zero_()
            self.batches.zero_()
            if int(self.epochs) >= 2:
                ratio = self.history[1] / self.history[0]
                self.weights.copy_(len(self.tasks) * torch.softmax(ratio / self.temperature, 0))
        return dict(zip(self.tasks, self.weights.tolist(), strict=True))

    def extra_repr(self) -> str:
        return f"tasks={list(self.tasks)}, temperature={self.temperature}"


# ----------------------------------------------------------------------------- GradNorm
class GradNorm(_Weighting):
    """GradNorm: learned task weights that balance the tasks' gradient norms at a shared layer.

    ``total = sum_i w_i L_i`` for the model, the weights held constant there. The weights learn
    from ``L_grad = sum_i | G_i - mean_j(G_j) r_i^alpha |`` with ``G_i = w_i ||grad_W L_i||``,
    the norm of task ``i``'s weighted gradient at the shared parameters ``W``, and
    ``r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0))``, task ``i``'s relative inverse training
    rate (``L_i(0)`` its loss at the first training call); the target ``mean_j(G_j) r_i^alpha``
    is a constant. At the start of every call the weights are clipped to stay positive and
    renormalised to sum to the number of tasks ``K``.

    The targets sum to ``sum_i G_i`` only for ``alpha`` 0 or 1 (as ``mean_i r_i = 1``); for
    another ``alpha`` they do not (by Jensen, more for ``alpha > 1``, less below 1), so they
    cannot all be met at once: the weights settle where some tasks meet their targets and the
    others do not, and the norms' ratios fall short of ``(r_i / r_j)^alpha``.

    The weights' gradient travels with ``total``: ``total`` adds ``L_grad - L_grad.detach()``,
    zero in value, so one ``total.backward()`` gives the model the gradient of the weighted sum
    and the weights that of ``L_grad``; put ``parameters()`` of this Module in the optimiser.
    Each training call takes one ``torch.autograd.grad`` per task, through the task heads down
    to ``W`` (so not under ``torch.compile``).

    Input: ``terms``, task name -> a scalar loss (or a callable returning one), one per task.

    When to use:
        Tasks of different scales that share a backbone, when gradient norms at the last shared
        layer are cheap to get; with ``alpha > 0`` a task that lags behind (its loss fell less,
        relative to its start) is pushed harder.

    Args:
        tasks: the task names.
        shared: the shared parameters ``W`` (the last shared layer's weight, or several).
        alpha: the restoring force ``alpha >= 0`` (0: equal gradient norms; 1.5 in the paper's
            NYUv2 runs).

    Returns:
        :class:`~losskit.combine.Combined` from ``forward(terms)``; ``logs`` the tasks' losses,
        ``"weight/<task>"`` and ``"grad_norm/<task>"`` (``G_i``).

    Raises:
        LossInputError: no tasks, ``alpha < 0``, ``shared`` without a parameter, a task loss
            that does not depend on ``shared``, ``terms`` that do not name every task, an initial
            loss that is not > 0; TermError as :func:`losskit.combine.combine`.

    Example:
        >>> import torch
        >>> from losskit.multitask import GradNorm
        >>> shared = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        >>> gradnorm = GradNorm(["a", "b"], shared, alpha=0.0)
        >>> total, logs = gradnorm({"a": (shared**2).sum(), "b": 3 * shared.sum()})
        >>> total  # both weights 1 at the start: 5 + 9
        tensor(14., grad_fn=<AddBackward0>)
        >>> logs["grad_norm/a"], logs["grad_norm/b"]  # ||2 W|| = sqrt(20), ||(3, 3)|| = sqrt(18)
        (tensor(4.4721), tensor(4.2426))

    References:
        Chen, Badrinarayanan, Lee and Rabinovich, GradNorm: Gradient Normalization for Adaptive
        Loss Balancing in Deep Multitask Networks (ICML 2018).
    """

    initial: Tensor
    started: Tensor

    def __init__(
        self,
        tasks: Sequence[str],
        shared: Tensor | Iterable[Tensor],
        *,
        alpha: float = 1.5,
    ) -> None:
        super().__init__(tasks)
        self.alpha = check_option("alpha", alpha, low=0.0)
        params = [shared] if isinstance(shared, Tensor) else list(shared)
        if not params or not all(isinstance(p, Tensor) and p.requires_grad for p in params):
            raise LossInputError(
                "GradNorm: shared must be the shared layer's parameters (tensors that require "
                f"grad), e.g. model.backbone[-1].weight; got {shared!r}"
            )
        # a plain list, not submodules: the parameters belong to the model and its optimiser
        self._shared = params
        k = len(self.tasks)
        self.task_weights = torch.nn.Parameter(torch.ones(k))
        self.register_buffer("initial", torch.ones(k))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def renormalize(self) -> None:
        """Keep the weights positive and summing to the number of tasks (done at the start of
        every call; call it after the optimiser step to log the weights the next call uses)."""
        w = self.task_weights
        w.clamp_(min=1e-6 * len(self.tasks))
        w.mul_(len(self.tasks) / w.sum())

    def _grad_norms(self, values: dict[str, Tensor]) -> Tensor:
        norms = []
        for name, loss in values.items():
            grads: Sequence[Tensor | None] = (None,)
            if loss.requires_grad:
                grads = torch.autograd.grad(
                    loss, self._shared, retain_graph=True, allow_unused=True
                )
            if all(g is None for g in grads):
                raise LossInputError(
                    f"GradNorm: the loss of task {name!r} does not depend on the shared "
                    "parameters; pass the last layer every task shares"
                )
            squares = [g.detach().pow(2).sum() for g in grads if g is not None]
            norms.append(torch.stack(squares).sum().sqrt())
        return torch.stack(norms)

    def forward(self, terms: Mapping[str, Term]) -> Combined:
        self.renormalize()
        values = self._values(terms)
        losses = self._stack(values, self.task_weights)
        w = self.task_weights.to(losses.dtype)
        # a copy: renormalize and the optimiser change the weights in place
        total = (w.detach().clone() * losses).sum()
        self._check(total, values, w)
        logs = self._logs(values, w)
        learn = self.training and torch.is_grad_enabled() and losses.requires_grad
        if learn:
            first = not bool(self.started)
            if first and not bool((losses.detach() > 0).all()):
                got = dict(zip(self.tasks, losses.detach().tolist(), strict=True))
                raise LossInputError(
                    "GradNorm: the first losses must be > 0 (they scale the training rates "
                    f"L_i / L_i(0)), got {got}"
                )
            g = self._grad_norms(values).to(losses.dtype)  # ||grad_W L_i||, constants
            if first:  # only once every check has passed: a refused call starts nothing
                with torch.no_grad():
                    self.initial.copy_(losses.detach())
                    self.started.fill_(True)
            weighted = w * g  # G_i: its gradient in w_i is ||grad_W L_i||
            rate = losses.detach() / self.initial.to(losses.dtype)
            target = (weighted.mean() * (rate / rate.mean()) ** self.alpha).detach()
            l_grad = (weighted - target).abs().sum()
            total = total + (l_grad - l_grad.detach())  # zero in value, L_grad's gradient in w
            logs.update({f"grad_norm/{n}": weighted[i].detach() for i, n in enumerate(self.tasks)})
        return Combined(total, logs)

    def extra_repr(self) -> str:
        return f"tasks={list(self.tasks)}, alpha={self.alpha}, shared={len(self._shared)} tensors"
