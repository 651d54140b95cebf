"""LossInfo entries of the preference losses. References are float64 NumPy, written here from
the papers' formulas and TRL's documented loss types (DPOTrainer, CPOTrainer, ORPOTrainer,
KTOTrainer), never by calling losskit or a torch loss."""

from __future__ import annotations

import math

import numpy as np
import torch

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, np_reduce, rand, randn

DPO_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "robust",
    "exo_pair",
    "nca_pair",
    "bco_pair",
    "sppo_hard",
    "aot_pair",
    "apo_zero",
    "apo_down",
    "discopop",
    "aot",  # last: the traced suites take the last sample (sorting under vmap and compile)
)


def log_sigmoid(x):
    """log(1 / (1 + e^-x)) = -log(1 + e^-x), as logaddexp (no overflow at any x)."""
    return -np.logaddexp(0.0, -x)


def sigmoid(x):
    return np.exp(log_sigmoid(x))


def _sums(gen: torch.Generator, n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A reference's and a policy's summed log-probabilities of n sequences, all < 0."""
    base = rand(gen, n) * 20 + 1
    policy = -base * torch.exp(0.1 * randn(gen, n))
    return (-base).to(dtype), policy.to(dtype)


def _averages(gen: torch.Generator, n: int, dtype: torch.dtype) -> torch.Tensor:
    """Length-averaged log-probabilities of n sequences, in (-2.05, -0.05)."""
    return (-(rand(gen, n) * 2 + 0.05)).to(dtype)


# ----------------------------------------------------------------------------- dpo
def dpo_reference(
    pc,
    pr,
    rc,
    rr,
    *,
    reduction,
    beta=0.1,
    loss_type="sigmoid",
    label_smoothing=0.0,
    bco_delta=0.0,
    discopop_tau=0.05,
):
    """Each loss type from its paper's equation, as TRL's DPOTrainer documents it."""
    a, b = pc - rc, pr - rr
    h = a - b
    z = beta * h
    e = label_smoothing

    def cdpo(m):  # the logistic loss with a label flipped with probability e (cDPO)
        return -(1 - e) * log_sigmoid(m) - e * log_sigmoid(-m)

    if loss_type == "sigmoid":
        loss = cdpo(z)
    elif loss_type == "hinge":
        loss = np.maximum(0.0, 1 - z)
    elif loss_type == "ipo":
        loss = (h - 1 / (2 * beta)) ** 2
    elif loss_type == "robust":
        loss = (-(1 - e) * log_sigmoid(z) + e * log_sigmoid(-z)) / (1 - 2 * e)
    elif loss_type == "exo_pair":
        e = e or 1e-3
        p = sigmoid(z)  # KL(Bernoulli(p) || Bernoulli(1 - e))
        loss = p * (np.log(p) - np.log(1 - e)) + (1 - p) * (np.log(1 - p) - np.log(e))
    elif loss_type == "nca_pair":
        loss = -log_sigmoid(beta * a) - 0.5 * log_sigmoid(-beta * a) - 0.5 * log_sigmoid(-beta * b)
    elif loss_type == "bco_pair":
        loss = -log_sigmoid(beta * a - bco_delta) - log_sigmoid(-(beta * b - bco_delta))
    elif loss_type == "sppo_hard":
        loss = (a - 0.5 / beta) ** 2 + (b + 0.5 / beta) ** 2
    elif loss_type == "aot":
        loss = cdpo(beta * (np.sort(pc - pr) - np.sort(rc - rr)))
    elif loss_type == "aot_pair":
        loss = cdpo(beta * (np.sort(a) - np.sort(b)))
    elif loss_type == "apo_zero":
        loss = (1 - sigmoid(beta * a)) + sigmoid(beta * b)
    elif loss_type == "apo_down":
        loss = sigmoid(beta * a) + (1 - sigmoid(beta * (a - b)))
    elif loss_type == "discopop":
        m = sigmoid(z / discopop_tau)
        loss = -log_sigmoid(z) * (1 - m) + np.exp(-z) * m
    else:
        raise AssertionError(loss_type)
    return np_reduce(loss, reduction)


def _dpo_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    sizes = (1, 7, 5, 9, 6, 8, 4, 7, 5, 6, 8, 7, 12)
    for k, (loss_type, n) in enumerate(zip(DPO_TYPES, sizes, strict=True)):
        rc, pc = _sums(gen, n, dtype)
        rr, pr = _sums(gen, n, dtype)
        kwargs: dict[str, object] = {"loss_type": loss_type}
        if k % 3 == 1:
            kwargs["beta"] = 0.5
        if loss_type in ("sigmoid", "robust", "aot", "aot_pair") and k % 2 == 0:
            kwargs["label_smoothing"] = 0.2
        if loss_type == "exo_pair":
            kwargs["label_smoothing"] = 0.1
        if loss_type == "bco_pair":
            kwargs["bco_delta"] = 0.15
        if loss_type == "discopop":
            kwargs["discopop_tau"] = 0.5
        grads = (0, 1, 2, 3) if k % 4 == 0 else (0, 1)
        out.append(Sample((pc, pr, rc, rr), kwargs, desc=f"({n},) {kwargs}", grad_args=grads))
    # exo_pair with label_smoothing 0 (its epsilon 1e-3) and the default type and options
    for kwargs in ({"loss_type": "exo_pair"}, {}):
        rc, pc = _sums(gen, 6, dtype)
        rr, pr = _sums(gen, 6, dtype)
        out.insert(0, Sample((pc, pr, rc, rr), kwargs, desc=f"(6,) {kwargs}", grad_args=(0, 1)))
    return out


def _four(n: int = 3) -> list[torch.Tensor]:
    return [-torch.arange(1.0, n + 1) - k for k in range(4)]


def _dpo_errors() -> list[ErrorCase]:
    pc, pr, rc, rr = _four()
    return [
        ErrorCase(
            (pc, pr[:2], rc, rr),
            {},
            r"policy_chosen_logps \(3,\) vs policy_rejected_logps \(2,\)",
            "chosen and rejected of different lengths",
        ),
        ErrorCase(
            (pc, pr, rc.reshape(3, 1), rr),
            {},
            r"reference_chosen_logps must have shape \(N,\)",
            "a reference of another shape",
        ),
        ErrorCase(
            (pc, pr, rc, -torch.arange(1.0, 5.0)),
            {},
            r"policy_chosen_logps \(3,\) vs reference_rejected_logps \(4,\)",
            "a reference of another length",
        ),
        ErrorCase(
            (pc.unsqueeze(1).expand(3, 5), pr, rc, rr),
            {},
            r"policy_chosen_logps must have shape \(N,\).*sum them over the tokens",
            "per-token log-probabilities",
        ),
        ErrorCase(
            (pc, -pr, rc, rr),
            {},
            r"policy_rejected_logps must be log-probabilities \(<= 0\), got a maximum of 4; rewards or logits\?",
            "positive log-probabilities",
        ),
        ErrorCase((pc, pr, rc, rr), {"beta": 0.0}, r"beta must lie in \(0, inf\), got 0", "beta 0"),
        ErrorCase((pc, pr, rc, rr), {"beta": -0.1}, r"beta must lie in \(0, inf\)", "beta < 0"),
        ErrorCase(
            (pc, pr, rc, rr),
            {"loss_type": "sigmod"},
            r"loss_type must be one of .*got 'sigmod'; did you mean 'sigmoid'",
            "unknown loss type, close to one",
        ),
        ErrorCase(
            (pc, pr, rc, rr),
            {"loss_type": "kto"},
            r"loss_type must be one of \('sigmoid', 'hinge'",
            "unknown loss type",
        ),
        ErrorCase(
            (pc, pr, rc, rr),
            {"loss_type": "hinge", "label_smoothing": 0.1},
            r"label_smoothing applies to loss_type in .*loss_type='hinge', which would ignore it",
            "label smoothing silently dropped",
        ),
        ErrorCase(
            (pc, pr, rc, rr),
            {"loss_type": "robust", "label_smoothing": 0.5},
            r"label_smoothing must lie in \[0, 0.5\), got 0.5",
            "robust at 1/2 divides by 0",
        ),
        ErrorCase(
            (pc, pr, rc, rr),
            {"label_smoothing": 0.7},
            r"label_smoothing must lie in \[0, 0.5\]",
            "label smoothing above 1/2",
        ),
        ErrorCase(
            (pc.long(), pr, rc, rr),
            {},
            "policy_chosen_logps must be a floating tensor",
            "integer log-probabilities",
        ),
        ErrorCase(
            (pc, pr, rc, rr),
            {"discopop_tau": 0.0},
            r"discopop_tau must lie in \(0, inf\)",
            "tau 0",
        ),
    ]


add(
    LossInfo(
        "dpo",
        _dpo_samples,
        dpo_reference,
        errors=_dpo_errors,
        # aot and aot_pair sort over the batch: a row's loss depends on the others (sums and
        # means are still invariant to a permutation of the pairs)
        rows_independent=False,
    )
)


# ----------------------------------------------------------------------------- reference-free
def _pair_samples(options: list[dict[str, object]]):
    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        out = []
        for n, kwargs in zip((1, 7, 5, 9), options, strict=True):
            pc, pr = _averages(gen, n, dtype), _averages(gen, n, dtype)
            out.append(Sample((pc, pr), kwargs, desc=f"({n},) {kwargs}", grad_args=(0, 1)))
        return out

    return make


def _two_errors(**bad: object) -> list[ErrorCase]:
    """The checks every reference-free pair loss shares, and its own bad options."""
    pc, pr = -torch.tensor([0.5, 1.0, 2.0]), -torch.tensor([1.5, 0.2, 0.7])
    out = [
        ErrorCase(
            (pc, pr[:2]),
            {},
            r"policy_chosen_logps \(3,\) vs policy_rejected_logps \(2,\)",
            "different lengths",
        ),
        ErrorCase(
            (-pc, pr),
            {},
            r"policy_chosen_logps must be log-probabilities \(<= 0\)",
            "positive log-probabilities",
        ),
        ErrorCase(
            (pc.reshape(1, 3), pr.reshape(1, 3)),
            {},
            r"policy_chosen_logps must have shape \(N,\)",
            "2-D",
        ),
        ErrorCase((pc, pr), {"beta": 0.0}, r"beta must lie in \(0, inf\), got 0", "beta 0"),
    ]
    out += [ErrorCase((pc, pr), {k: v}, f"{k} must lie in", f"bad {k}") for k, v in bad.items()]
    return out


def simpo_reference(pc, pr, *, reduction, beta=2.0, gamma=0.5, label_smoothing=0.0):
    """SimPO eq. (6): -log sigmoid(beta (avg logp_w - avg logp_l) - gamma), smoothed as cDPO."""
    z = beta * (pc - pr) - gamma
    e = label_smoothing
    return np_reduce(-(1 - e) * log_sigmoid(z) - e * log_sigmoid(-z), reduction)


add(
    LossInfo(
        "simpo",
        _pair_samples(
            [{}, {"beta": 2.5, "gamma": 1.2}, {"label_smoothing": 0.1}, {"beta": 10.0, "gamma": 0}]
        ),
        simpo_reference,
        errors=lambda: _two_errors(gamma=-0.1, label_smoothing=0.6),
    )
)


def cpo_reference(pc, pr, *, reduction, beta=0.1, label_smoothing=0.0, alpha=1.0):
    """CPO eq. (3)-(4): the reference-free DPO loss plus alpha times the NLL of the chosen."""
    z = beta * (pc - pr)
    e = label_smoothing
    return np_reduce(-(1 - e) * log_sigmoid(z) - e * log_sigmoid(-z) - alpha * pc, reduction)


add(
    LossInfo(
        "cpo",
        _pair_samples([{}, {"beta": 2.0, "alpha": 0.0}, {"label_smoothing": 0.2}, {"alpha": 0.3}]),
        cpo_reference,
        errors=lambda: _two_errors(alpha=-1.0, label_smoothing=0.6),
    )
)


def orpo_reference(pc, pr, *, reduction, beta=0.1):
    """ORPO eq. (6)-(7): NLL - lambda log sigmoid(log(odds_w / odds_l)), odds = p / (1 - p)."""
    p_w, p_l = np.exp(pc), np.exp(pr)
    log_odds_ratio = np.log(p_w / (1 - p_w)) - np.log(p_l / (1 - p_l))
    return np_reduce(-pc - beta * log_sigmoid(log_odds_ratio), reduction)


add(
    LossInfo(
        "orpo",
        _pair_samples([{}, {"beta": 1.0}, {"beta": 0.25}, {}]),
        orpo_reference,
        errors=lambda: _two_errors(),
    )
)


# ----------------------------------------------------------------------------- kto
def kto_reference(
    p, ref, desirable, *, reduction, kl=0.0, beta=0.1, desirable_weight=1.0, undesirable_weight=1.0
):
    """KTO eq. (8) as TRL's KTOTrainer: 1 - sigmoid(beta (r - z)) for a desirable response,
    1 - sigmoid(beta (z - r)) for an undesirable one, weighted, z = max(kl, 0)."""
    r = p - ref
    z = max(float(kl), 0.0)
    loss = np.where(
        desirable,
        desirable_weight * (1 - sigmoid(beta * (r - z))),
        undesirable_weight * (1 - sigmoid(beta * (z - r))),
    )
    return np_reduce(loss, reduction)


def _kto_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    options = [
        {},
        {"kl": 0.3, "beta": 0.5},
        {"kl": -0.2, "desirable_weight": 1.33, "undesirable_weight": 0.5},  # z clamped to 0
        {"kl": 1.5, "beta": 1.0, "undesirable_weight": 2.0},
        {"kl": 0.4, "beta": 0.3, "desirable_weight": 0.8},
    ]
    for k, (n, kwargs) in enumerate(zip((1, 7, 5, 6, 10), options, strict=True)):
        ref, policy = _sums(gen, n, dtype)
        desirable = torch.rand(n, generator=gen) < 0.5
        if k == 3:
            desirable[:] = True  # only desirable responses in the batch
        out.append(Sample((policy, ref, desirable), kwargs, desc=f"({n},) {kwargs}"))
    return out


def _kto_errors() -> list[ErrorCase]:
    p, ref = -torch.tensor([3.0, 4.0, 5.0]), -torch.tensor([3.5, 4.0, 4.0])
    yes = torch.tensor([True, False, True])
    return [
        ErrorCase(
            (p, ref[:2], yes), {}, r"policy_logps \(3,\) vs reference_logps \(2,\)", "reference"
        ),
        ErrorCase((p, ref, yes[:2]), {}, r"policy_logps \(3,\) vs desirable \(2,\)", "labels"),
        ErrorCase((p, ref, yes.float()), {}, "desirable must be a bool tensor", "float labels"),
        ErrorCase(
            (p, -ref, yes), {}, r"reference_logps must be log-probabilities \(<= 0\)", "positive"
        ),
        ErrorCase((p, ref, yes), {"beta": 0.0}, r"beta must lie in \(0, inf\)", "beta 0"),
        ErrorCase(
            (p, ref, yes), {"undesirable_weight": -1.0}, "undesirable_weight must lie in", "weight"
        ),
        ErrorCase((p, ref, yes), {"kl": math.nan}, "kl must lie in", "NaN kl"),
        ErrorCase((p, ref, yes), {"kl": torch.tensor(math.inf)}, "kl must be finite", "inf kl"),
    ]


add(LossInfo("kto", _kto_samples, kto_reference, errors=_kto_errors))
