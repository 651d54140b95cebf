"""losskit.distributed and the contrastive losses under torch.distributed.

One spawn per world size (2 and 3: odd sizes catch pairing bugs), gloo on the CPU, float64. Each
rank runs every check and writes its relative errors to a JSON file; the test asserts them
(<= 1e-10) and prints them. Every reference is a single process on the concatenated batch,
written here with plain torch ops (never losskit). Every spawn joins with a timeout, so a hang
fails the test. Without a process group, ``losskit.distributed`` is the identity: the quick
tests at the end.
"""

from __future__ import annotations

import contextlib
import copy
import faulthandler
import json
import math
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP

import losskit
from losskit import distributed as D
from losskit.losses._contrastive import clip_loss, info_nce, siglip_loss, supcon

F64 = torch.float64
TOL = 1e-10
SPAWN_TIMEOUT_S = 240  # a loaded shared machine: a hang, not a slow run, should fail
# rows per rank: even, uneven, and one rank with none
SIZES = {
    2: {"even": [3, 3], "uneven": [1, 4], "empty": [4, 0]},
    3: {"even": [3, 3, 3], "uneven": [1, 3, 5], "empty": [2, 0, 3]},
}


# ----------------------------------------------------------------------------- references
def _unit(x: Tensor) -> Tensor:
    return x / x.norm(dim=1, keepdim=True)


def ref_info_nce(q: Tensor, k: Tensor, t: Tensor) -> Tensor:
    s = _unit(q) @ _unit(k).T / t
    return torch.logsumexp(s, 1) - s.diagonal()


def ref_clip(img: Tensor, txt: Tensor, log_scale: Tensor) -> Tensor:
    s = log_scale.clamp(max=math.log(100)).exp() * _unit(img) @ _unit(txt).T
    return (torch.logsumexp(s, 1) + torch.logsumexp(s, 0)) / 2 - s.diagonal()


SIGLIP_BIAS = -1.5


def ref_siglip(img: Tensor, txt: Tensor, log_scale: Tensor) -> Tensor:
    """Per image: the logistic terms of its pairs with every text, +1 on the diagonal."""
    x = log_scale.exp() * _unit(img) @ _unit(txt).T + SIGLIP_BIAS
    z = 2 * torch.eye(len(x), dtype=x.dtype) - 1
    return -F.logsigmoid(z * x).sum(1)


def ref_supcon(z: Tensor, labels: Tensor, t: Tensor) -> tuple[Tensor, int]:
    """Per-anchor losses (0 without a positive) and the number of anchors with a positive."""
    s = _unit(z) @ _unit(z).T / t
    rows, count = [], 0
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        pos = [p for p in others if labels[p] == labels[i]]
        if not pos:
            rows.append(s[i, i] * 0)
            continue
        count += 1
        rows.append(-(s[i, pos] - torch.logsumexp(s[i, others], 0)).mean())
    return torch.stack(rows) if rows else s.new_zeros(0), count


def _reduce(per_row: Tensor, count: int, reduction: str) -> Tensor:
    if reduction == "none":
        return per_row
    total = per_row.sum()
    return total if reduction == "sum" else total / max(count, 1)


def rel(got: Tensor, want: Tensor) -> float:
    """Largest absolute difference relative to the largest reference entry."""
    if got.shape != want.shape:
        raise AssertionError(f"shapes differ: {tuple(got.shape)} vs {tuple(want.shape)}")
    if want.numel() == 0:
        return 0.0
    scale = float(want.detach().abs().max())
    diff = float((got.detach() - want.detach()).abs().max())
    return diff / scale if scale > 0 else diff


# ----------------------------------------------------------------------------- models
class Towers(nn.Module):
    """Two linear encoders and a scalar hyper-parameter (temperature or log scale)."""

    def __init__(self, hyper: float) -> None:
        super().__init__()
        self.a = nn.Linear(5, 4)
        self.b = nn.Linear(5, 4)
        self.hyper = nn.Parameter(torch.tensor(hyper))

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.a(x1), self.b(x2), self.hyper


def _loss(kind: str, za: Tensor, zb: Tensor, y: Tensor, h: Tensor, **kw: Any) -> Tensor:
    if kind == "info_nce":
        return info_nce(za, zb, temperature=h, **kw)
    if kind == "clip_loss":
        return clip_loss(za, zb, logit_scale=h, **kw)
    if kind == "siglip_loss":
        return siglip_loss(za, zb, logit_scale=h, logit_bias=SIGLIP_BIAS, **kw)
    return supcon(torch.cat([za, zb]), torch.cat([y, y]), temperature=h, **kw)


def _ref(kind: str, za: Tensor, zb: Tensor, y: Tensor, h: Tensor, reduction: str) -> Tensor:
    if kind == "info_nce":
        per, n = ref_info_nce(za, zb, h), len(za)
    elif kind == "clip_loss":
        per, n = ref_clip(za, zb, h), len(za)
    elif kind == "siglip_loss":
        per, n = ref_siglip(za, zb, h), len(za)
    else:
        per, n = ref_supcon(torch.cat([za, zb]), torch.cat([y, y]), h)
    return _reduce(per, n, reduction)


# ----------------------------------------------------------------------------- the checks
class Recorder:
    def __init__(self) -> None:
        self.errors: dict[str, float] = {}
        self.flags: dict[str, bool] = {}

    def err(self, key: str, value: float) -> None:
        self.errors[key] = max(value, self.errors.get(key, 0.0))

    def flag(self, key: str, ok: bool) -> None:
        self.flags[key] = ok and self.flags.get(key, True)


def _rows(sizes: list[int], rank: int) -> slice:
    start = sum(sizes[:rank])
    return slice(start, start + sizes[rank])


def check_gathers(rank: int, world: int, rec: Recorder) -> None:
    """all_gather_with_grad on every implementation: values, gradients (the backward sums
    every rank's gradient w.r.t. this rank's rows), uneven and empty shards, bad shapes."""
    for impl in ("single", "tensor", "nn"):
        D._GATHER_IMPL = impl
        for sizes in SIZES[world].values():
            full = torch.randn(sum(sizes), 3, generator=torch.Generator().manual_seed(1), dtype=F64)
            x = full[_rows(sizes, rank)].clone().requires_grad_(True)
            with warnings.catch_warnings():  # the older autograd gathers are deprecated
                warnings.simplefilter("ignore", FutureWarning)
                g = D.all_gather_with_grad(x)
                weights = [torch.full_like(full, r + 1.0).cumsum(0) for r in range(world)]
                (g * weights[rank]).sum().backward()
            rec.err(f"gather values ({impl})", rel(g, full))
            want = sum(w[_rows(sizes, rank)] for w in weights)
            assert x.grad is not None
            rec.err(f"gather gradients ({impl})", rel(x.grad, want))
    D._GATHER_IMPL = None
    # nothing anywhere: an empty result, no collective on empty tensors
    assert D.all_gather_with_grad(torch.zeros(0, 3)).shape == (0, 3)
    # trailing shapes that differ: every rank raises the same error (none hangs)
    try:
        D.all_gather_with_grad(torch.zeros(2, 3 + rank))
        rec.flag("mismatched shapes refused on every rank", False)
    except losskit.LossInputError as e:
        rec.flag("mismatched shapes refused on every rank", "rank 1: (2, 4)" in str(e))


def check_contrastive(rank: int, world: int, rec: Recorder) -> None:
    """Loss values, feature gradients and DDP parameter gradients against one process on the
    concatenated batch, for every loss, gather mode, reduction and sizes."""
    hypers = {"info_nce": 0.3, "clip_loss": 1.2, "siglip_loss": 0.8, "supcon": 0.4}
    for kind, hyper in hypers.items():
        torch.manual_seed(3)
        reference = Towers(hyper).double()
        model = copy.deepcopy(reference)
        ddp = DDP(model)
        for sizes in SIZES[world].values():
            gen = torch.Generator().manual_seed(11)
            n = sum(sizes)
            x1 = torch.randn(n, 5, generator=gen, dtype=F64)
            x2 = x1 + 0.5 * torch.randn(n, 5, generator=gen, dtype=F64)
            y = torch.randint(0, 4, (n,), generator=gen)
            rows = _rows(sizes, rank)
            for reduction in ("mean", "sum"):
                # one process on everything
                reference.zero_grad()
                za, zb, h = reference(x1, x2)
                za.retain_grad()
                zb.retain_grad()
                want = _ref(kind, za, zb, y, h, reduction)
                want.backward()
                for gather in ("local", "global"):
                    key = f"{kind} {gather} {reduction}"
                    ddp.zero_grad()
                    qa, qb, hh = ddp(x1[rows], x2[rows])
                    qa.retain_grad()
                    qb.retain_grad()
                    loss = _loss(kind, qa, qb, y[rows], hh, gather=gather, reduction=reduction)
                    loss.backward()
                    rec.err(f"{key}: value (global_value)", rel(D.global_value(loss), want))
                    if gather == "global":
                        rec.err(f"{key}: value on each rank", rel(loss, want))
                    # feature gradients are those of the sum over ranks: W x the global loss
                    assert qa.grad is not None and qb.grad is not None
                    assert za.grad is not None and zb.grad is not None
                    rec.err(f"{key}: feature grads", rel(qa.grad, world * za.grad[rows]))
                    rec.err(f"{key}: feature grads", rel(qb.grad, world * zb.grad[rows]))
                    for (pname, p), q in zip(
                        model.named_parameters(), reference.parameters(), strict=True
                    ):
                        assert p.grad is not None and q.grad is not None, pname
                        rec.err(f"{key}: parameter grads (DDP)", rel(p.grad, q.grad))
            # reduction="none": this rank's rows ("local") or every row ("global")
            with torch.no_grad():
                za, zb, h = reference(x1, x2)
                per = _ref(kind, za, zb, y, h, "none")
                qa, qb, hh = model(x1[rows], x2[rows])
                local = _loss(kind, qa, qb, y[rows], hh, gather="local", reduction="none")
                glob = _loss(kind, qa, qb, y[rows], hh, gather="global", reduction="none")
                own = per[rows] if kind != "supcon" else per.view(2, n)[:, rows].reshape(-1)
                rec.err(f"{kind} local none: rows", rel(local, own))
                if kind == "supcon":  # gathered rows: rank by rank, both views of each
                    order = torch.cat(
                        [
                            torch.arange(n)[_rows(sizes, r)] + v * n
                            for r in range(world)
                            for v in (0, 1)
                        ]
                    )
                    per = per[order]
                rec.err(f"{kind} global none: rows", rel(glob, per))
                # gather=None: this rank's batch on its own
                alone = _ref(kind, qa, qb, y[rows], hh, "mean")
                got = _loss(kind, qa, qb, y[rows], hh, gather=None)
                rec.err(f"{kind} gather=None: the local loss", rel(got, alone))


def _standardised_mse(out: Tensor, target: Tensor) -> Tensor:
    """A user's own batch loss: squared error of batch-standardised outputs (batch statistics
    couple every row)."""
    z = (out - out.mean(0)) / out.std(0)
    return ((z - target) ** 2).mean()


def _batch_losses() -> dict[str, tuple[Callable[..., Tensor], Callable[[Tensor, Tensor], Tensor]]]:
    """name: (the wrapped loss, its single-process reference); the reference never gathers."""
    return {
        "contrastive": (
            D.global_batch(lambda e, y: losskit.contrastive(e, y, neg_margin=2.0)),
            lambda e, y: losskit.contrastive(e, y, neg_margin=2.0),
        ),
        # a loss with a gather option: global_batch passes gather=None itself
        "supcon": (
            lambda e, y: D.global_batch(losskit.supcon)(e, y, temperature=0.5),
            lambda e, y: losskit.supcon(e, y, temperature=0.5, gather=None),
        ),
        "ranking_softmax": (
            D.global_batch(lambda e, y: losskit.ranking_softmax(e, y.to(e.dtype))),
            lambda e, y: losskit.ranking_softmax(e, y.to(e.dtype)),
        ),
        "own (standardised mse)": (
            D.global_batch(lambda e, y: _standardised_mse(e, y.to(e.dtype))),
            lambda e, y: _standardised_mse(e, y.to(e.dtype)),
        ),
    }


def check_global_batch(rank: int, world: int, rec: Recorder) -> None:
    """D.global_batch: values on every rank and DDP parameter gradients against one process on
    the concatenated batch, for pair, anchor, list and batch-statistic losses, uneven and empty
    shards, every autograd gather; and the same losses on the local batch alone differ."""
    for impl in ("single", "tensor", "nn"):
        D._GATHER_IMPL = impl
        for name, (wrapped, fn) in _batch_losses().items():
            for shards, sizes in SIZES[world].items():
                _check_one_global_batch(rank, rec, f"{name}, {shards} shards ({impl})", wrapped,
                                        fn, sizes, classes=name in ("contrastive", "supcon"))  # fmt: skip
    D._GATHER_IMPL = None


def _check_one_global_batch(
    rank: int,
    rec: Recorder,
    key: str,
    wrapped: Callable[..., Tensor],
    fn: Callable[[Tensor, Tensor], Tensor],
    sizes: list[int],
    *,
    classes: bool,
) -> None:
    n = sum(sizes)
    gen = torch.Generator().manual_seed(21)
    x = torch.randn(n, 5, generator=gen, dtype=F64)
    if classes:
        y = torch.randint(0, 2, (n,), generator=gen)
    else:  # graded relevance per list, or the standardised targets
        y = torch.randint(0, 3, (n, 4), generator=gen)
    torch.manual_seed(22)
    reference = nn.Linear(5, 4).double()
    model = copy.deepcopy(reference)
    ddp = DDP(model)
    want = fn(reference(x), y)
    want.backward()
    rows = _rows(sizes, rank)
    with warnings.catch_warnings():  # the older autograd gathers are deprecated
        warnings.simplefilter("ignore", FutureWarning)
        loss = wrapped(ddp(x[rows]), y[rows])
        loss.backward()
    key = f"global_batch {key}"
    rec.err(f"{key}: value on each rank", rel(loss, want))
    # all parameters at once: a translation-invariant loss (pair distances, standardised
    # outputs) has a zero bias gradient, which a per-tensor relative error would divide by
    got = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
    ref = torch.cat([q.grad.reshape(-1) for q in reference.parameters() if q.grad is not None])
    rec.err(f"{key}: parameter grads (DDP)", rel(got, ref))
    if "uneven" in key and sizes[rank] > 1:  # the local batch alone is another loss
        with torch.no_grad():
            local = fn(reference(x[rows]), y[rows])
        rec.flag(f"{key}: the local loss differs", rel(local, want) > 1e-3)


def _token_data(world: int) -> list[list[tuple[Tensor, Tensor]]]:
    """K = 2 micro-batches per rank, ragged, a third of the labels ignored, the last rank
    with every label ignored and one empty micro-batch: data[k][r] = (x, labels)."""
    sizes = [[3, 5, 2][:world], [4, 1, 0][:world]]
    gen = torch.Generator().manual_seed(5)
    data = []
    for micro in sizes:
        shards = []
        for r, n in enumerate(micro):
            x = torch.randn(n, 5, generator=gen, dtype=F64)
            labels = torch.randint(0, 3, (n,), generator=gen)
            labels[torch.rand(n, generator=gen) < 1 / 3] = -100
            if r == world - 1:
                labels[:] = -100
            shards.append((x, labels))
        data.append(shards)
    return data


def check_global_mean(rank: int, world: int, rec: Recorder) -> None:
    """Token-level cross-entropy: uneven valid counts, a rank with every item ignored, and
    gradient accumulation x DDP, against one process on every item of every micro-batch."""
    data = _token_data(world)
    torch.manual_seed(4)
    reference = nn.Linear(5, 3).double()
    xs = torch.cat([x for micro in data for x, _ in micro])
    ys = torch.cat([y for micro in data for _, y in micro])
    want = F.cross_entropy(reference(xs), ys, ignore_index=-100)  # mean over labelled items
    want.backward()
    ref_grads = [p.grad for p in reference.parameters()]
    model = copy.deepcopy(reference)
    ddp = DDP(model)

    def compare(key: str) -> None:
        for p, g in zip(model.parameters(), ref_grads, strict=True):
            assert p.grad is not None and g is not None
            rec.err(key, rel(p.grad, g))

    # one step, no accumulation: global_mean of this rank's sum
    x = torch.cat([micro[rank][0] for micro in data])
    y = torch.cat([micro[rank][1] for micro in data])
    ddp.zero_grad()
    loss = D.global_mean(F.cross_entropy(ddp(x), y, reduction="sum"), (y != -100).sum())
    loss.backward()
    compare("global_mean: parameter grads (DDP)")
    rec.err("global_mean: value (global_value)", rel(D.global_value(loss), want))
    rec.flag(
        "global_mean: the all-ignored rank gives a finite 0",
        rank != world - 1 or (float(loss.detach()) == 0.0),
    )

    # gradient accumulation: one normaliser for the step, DDP syncs on the last micro-batch
    ddp.zero_grad()
    norm = D.normalizer(sum(int((micro[rank][1] != -100).sum()) for micro in data))
    logged = 0.0
    for k, micro in enumerate(data):
        x, y = micro[rank]
        sync = contextlib.nullcontext() if k == len(data) - 1 else ddp.no_sync()
        with sync:
            loss = F.cross_entropy(ddp(x), y, reduction="sum") / norm
            loss.backward()
        logged += float(D.global_value(loss))
    compare("GA x DDP: parameter grads")
    rec.err("GA x DDP: logged value", abs(logged - float(want.detach())) / float(want.detach()))

    # the naive way (per-rank, per-micro-batch means) is measurably wrong: the test can fail
    ddp.zero_grad()
    for k, micro in enumerate(data):
        x, y = micro[rank]
        sync = contextlib.nullcontext() if k == len(data) - 1 else ddp.no_sync()
        with sync:
            naive = F.cross_entropy(ddp(x), y, reduction="sum") / max(int((y != -100).sum()), 1)
            (naive / len(data)).backward()
    worst = max(
        rel(p.grad, g)
        for p, g in zip(model.parameters(), ref_grads, strict=True)
        if p.grad is not None and g is not None
    )
    rec.flag("naive per-rank means differ from the reference by > 1e-2", worst > 1e-2)
    rec.errors["(naive per-rank means, for comparison)"] = worst


def _ref_mean(kind: str, out: Tensor, y: Tensor, target: Tensor) -> Tensor:
    """The single-process mean (plain torch ops): squared error over every element, or
    cross-entropy over the labelled rows."""
    if kind == "mse":
        return ((out - target) ** 2).mean()
    keep = y != -100
    nll = torch.logsumexp(out, 1) - out.gather(1, y.clamp(min=0)[:, None])[:, 0]
    return (nll * keep).sum() / keep.sum().clamp(min=1)


def check_means(rank: int, world: int, rec: Recorder) -> None:
    """Which per-rank means DDP averages to the single-process mean, values and parameter
    gradients against one process on the concatenated batch: ``reduction="mean"`` on equal
    shards (exact), ``cross_entropy(..., normalizer=normalizer(count))`` on uneven shards with
    ignored labels (exact), and plain ``reduction="mean"`` on uneven shards, which is NOT the
    single-process loss but the mean over ranks of each rank's own mean (asserted both ways)."""
    torch.manual_seed(7)
    reference = nn.Linear(5, 3).double()
    uneven = [1, 4, 7][:world]
    for shards, sizes in (("equal", [4] * world), ("uneven", uneven)):
        gen = torch.Generator().manual_seed(8)
        n = sum(sizes)
        x = torch.randn(n, 5, generator=gen, dtype=F64)
        target = torch.randn(n, 3, generator=gen, dtype=F64)
        labels = torch.randint(0, 3, (n,), generator=gen)
        ignored = labels.clone()
        ignored[torch.rand(n, generator=gen) < 0.4] = -100
        ignored[0] = 0  # at least one labelled row
        rows = _rows(sizes, rank)
        variants: list[tuple[str, str, Tensor]] = [("mse", "plain mean", target)]
        variants += [("cross_entropy", "plain mean", labels)]
        if shards == "uneven":
            variants += [("cross_entropy", "normalizer=normalizer(count)", ignored)]
        for kind, how, tgt in variants:
            ref = copy.deepcopy(reference)
            want = _ref_mean(kind, ref(x), tgt, target)
            want.backward()
            model = copy.deepcopy(reference)
            ddp = DDP(model)  # kept alive until the backward: its hooks average the gradients
            out = ddp(x[rows])
            if kind == "mse":
                loss = losskit.mse(out, tgt[rows])
            elif how == "plain mean":
                loss = losskit.cross_entropy(out, tgt[rows])
            else:
                count = (tgt[rows] != -100).sum()
                loss = losskit.cross_entropy(out, tgt[rows], normalizer=D.normalizer(count))
            loss.backward()
            value = D.global_value(loss)
            pairs = zip(model.parameters(), ref.parameters(), strict=True)
            grads = max(
                rel(p.grad, q.grad) for p, q in pairs if p.grad is not None and q.grad is not None
            )
            key = f"{how}, {shards} shards ({kind})"
            if shards == "equal" or how != "plain mean":
                rec.err(f"{key}: value (global_value)", rel(value, want))
                rec.err(f"{key}: parameter grads (DDP)", grads)
                continue
            # the documented inexactness: what DDP computes is the mean of the ranks' means
            with torch.no_grad():
                out_all = reference(x)
                means = [
                    _ref_mean(
                        kind,
                        out_all[_rows(sizes, r)],
                        tgt[_rows(sizes, r)],
                        target[_rows(sizes, r)],
                    )
                    for r in range(world)
                ]
            rec.err(
                f"{key}: value = the mean over ranks of each rank's mean",
                rel(value, torch.stack(means).mean()),
            )
            rec.errors[f"({key}: relative error of the value, for comparison)"] = rel(value, want)
            rec.errors[f"({key}: relative error of the grads, for comparison)"] = grads


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 4))
        self.head = nn.Linear(4, 3)
        self.log_t = nn.Parameter(torch.tensor(math.log(0.3)))

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        q, k = self.body(x1), self.body(x2)
        return q, k, self.head(q), self.log_t.exp()


def check_sgd(rank: int, world: int, rec: Recorder) -> None:
    """Four SGD steps of a small model with DDP (info_nce + a token-level cross-entropy, uneven
    and changing sizes) end with the parameters of the single-process run."""
    torch.manual_seed(6)
    reference = Encoder().double()
    model = copy.deepcopy(reference)
    ddp = DDP(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.2)
    for step in range(4):
        sizes = [(step + 2 * r) % 4 + 1 for r in range(world)]
        gen = torch.Generator().manual_seed(100 + step)
        n = sum(sizes)
        x1 = torch.randn(n, 5, generator=gen, dtype=F64)
        x2 = x1 + 0.3 * torch.randn(n, 5, generator=gen, dtype=F64)
        y = torch.randint(0, 3, (n,), generator=gen)
        y[torch.rand(n, generator=gen) < 0.3] = -100
        if not bool((y != -100).any()):
            y[0] = 0
        # one process
        q, k, logits, t = reference(x1, x2)
        ref_loss = ref_info_nce(q, k, t).mean() + F.cross_entropy(logits, y, ignore_index=-100)
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
        # DDP
        rows = _rows(sizes, rank)
        q, k, logits, t = ddp(x1[rows], x2[rows])
        ce = D.global_mean(
            F.cross_entropy(logits, y[rows], reduction="sum"), (y[rows] != -100).sum()
        )
        loss = info_nce(q, k, temperature=t) + ce
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.err("SGD: logged loss per step", rel(D.global_value(loss), ref_loss))
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        rec.err("SGD: parameters after 4 steps", rel(p.detach(), q.detach()))


def check_example(rank: int, world: int, rec: Recorder, reference: Any) -> None:
    """losskit.examples.ddp's training loop under this process group equals its own
    single-process run (``reference``, trained on rank 0 before the group existed)."""
    from losskit.examples import ddp as example

    losses, model = example.train(example_sizes(world), rank)
    if rank == 0:
        ref_losses, ref_model = reference
        for a, b in zip(losses, ref_losses, strict=True):
            rec.err("example: logged losses", abs(a - b) / abs(b))
        for p, q in zip(model.parameters(), ref_model.parameters(), strict=True):
            rec.err("example: parameters", rel(p.detach(), q.detach()))


def example_sizes(world: int) -> list[int]:
    return [3 + 2 * r for r in range(world)]


def _worker(rank: int, world: int, tmp: str) -> None:
    # a crash in a rank (a signal, not an exception) leaves its Python and C stacks here
    fault = Path(tmp, f"rank{rank}.fault").open("w")
    faulthandler.enable(file=fault, all_threads=True)
    warnings.simplefilter("error")  # as pytest's filterwarnings = error
    torch.set_num_threads(1)  # the ranks share two cores
    reference = None
    if rank == 0:  # the example's single-process run, before any process group exists
        from losskit.examples import ddp as example

        reference = example.train([sum(example_sizes(world))], 0)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world
    )
    rec = Recorder()
    timings = {}
    checks: list[Callable[[int, int, Recorder], None]] = [
        check_gathers,
        check_contrastive,
        check_global_mean,
        check_means,
        check_global_batch,
        check_sgd,
        lambda r, w, rec: check_example(r, w, rec, reference),
    ]
    try:
        for check in checks:
            start = time.perf_counter()
            check(rank, world, rec)
            name = getattr(check, "__name__", "")
            timings[name if name != "<lambda>" else "check_example"] = round(
                time.perf_counter() - start, 2
            )
        _leave_together(rank, world, tmp)
    finally:
        dist.destroy_process_group()
    Path(tmp, f"rank{rank}.json").write_text(
        json.dumps({"errors": rec.errors, "flags": rec.flags, "timings": timings})
    )


def _leave_together(rank: int, world: int, tmp: str) -> None:
    """Return only when every rank has finished every gloo operation, so that no rank closes
    its sockets (``destroy_process_group``, process exit) while a slower peer is still reading
    from them. ``dist.barrier()`` alone does not promise that: it returns on a rank once that
    rank has its messages, while the last message it sent may still be unread by a peer the
    scheduler has paused, and a peer that then finds the connection closed under an operation
    aborts the process (the SIGABRT of a loaded machine). The second meeting point is a file,
    outside gloo: there is nothing left in flight on any socket when anyone leaves it."""
    dist.barrier()
    store = dist.FileStore(str(Path(tmp, "teardown")), world)
    store.set(f"left {rank}", "1")
    store.wait([f"left {r}" for r in range(world)], timedelta(seconds=SPAWN_TIMEOUT_S))


def _spawn(fn: Callable[..., None], world: int, tmp: Path) -> list[dict[str, Any]]:
    """Run ``fn(rank, world, tmp)`` in ``world`` spawned processes; fail on a hang."""
    ctx = mp.start_processes(fn, args=(world, str(tmp)), nprocs=world, join=False)
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    try:
        while not ctx.join(timeout=5):
            if time.monotonic() > deadline:
                pytest.fail(f"{world} spawned ranks did not finish in {SPAWN_TIMEOUT_S} s: a hang?")
    except mp.ProcessExitedException as crash:  # a signal: show where each rank was
        stacks = "\n".join(
            f"--- {p.name}:\n{p.read_text()[-4000:]}" for p in sorted(tmp.glob("rank*.fault"))
        )
        raise AssertionError(f"{crash}\n{stacks}") from crash
    finally:
        for process in ctx.processes:  # a failed or hung run leaves no rank behind
            if process.is_alive():
                process.kill()
            process.join(timeout=10)
    return [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(world)]


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_ddp_equals_single_process(world: int, tmp_path: Path) -> None:
    results = _spawn(_worker, world, tmp_path)
    errors: dict[str, float] = {}
    for res in results:
        for key, value in res["errors"].items():
            errors[key] = max(value, errors.get(key, 0.0))
        for key, ok in res["flags"].items():
            assert ok, f"rank check failed: {key}"
    print(f"\nW={world}: max relative error over ranks (timings: {results[0]['timings']})")
    for key in sorted(errors):
        print(f"  {errors[key]:.1e}  {key}")
    # the patterns documented as inexact really are: far from the single-process reference
    compared = {k: errors.pop(k) for k in [k for k in errors if k.startswith("(")]}
    assert len(compared) == 5, sorted(compared)
    assert all(v > 1e-2 for v in compared.values()), compared
    bad = {k: v for k, v in errors.items() if not v <= TOL}
    assert not bad, bad


@pytest.mark.slow
def test_example_runs_with_torchrun() -> None:
    """``torchrun --nproc-per-node 2 -m losskit.examples.ddp`` (``--standalone``: a free port)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "losskit.examples.ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=150, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("torchrun did not finish in 150 s: a hang?")
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)
    found = re.search(r"max relative difference: losses (\S+), parameters (\S+)", done.stdout)
    assert found, done.stdout
    assert float(found[1]) <= TOL and float(found[2]) <= TOL


# ----------------------------------------------------------------------------- one process
def test_without_a_process_group_everything_is_the_identity() -> None:
    assert not D.is_distributed()
    x = torch.randn(3, 2, requires_grad=True)
    assert D.all_gather_with_grad(x) is x
    gathered, offset, sizes = D.gather_rows(x)
    assert gathered is x and offset == 0 and sizes == [3]
    assert int(D.global_count(torch.tensor(4))) == 4
    assert float(D.normalizer(5)) == 5.0 and float(D.normalizer(5, grad_average=False)) == 5.0
    total = (x * 2).sum()
    mean = D.global_mean(total, 6)
    torch.testing.assert_close(mean, total / 6)
    value = D.global_value(mean)
    assert not value.requires_grad and float(value) == float(mean.detach())


def test_global_mean_over_nothing_is_a_connected_zero() -> None:
    x = torch.zeros(0, 3, requires_grad=True)
    out = D.global_mean(x.sum(), (x[:, 0] > 0).sum())
    assert out.shape == () and float(out.detach()) == 0.0 and out.requires_grad
    out.backward()
    assert x.grad is not None and x.grad.shape == (0, 3)


def test_bad_input_is_refused() -> None:
    with pytest.raises(losskit.LossInputError, match=r"x is a scalar.*reshape\(1\)"):
        D.all_gather_with_grad(torch.tensor(1.0))
    with pytest.raises(losskit.LossInputError, match=r"must be a torch\.Tensor"):
        D.all_gather_with_grad([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(losskit.LossInputError, match="loss_sum must be a one-element tensor"):
        D.global_mean(torch.ones(3), 3)
    with pytest.raises(losskit.LossInputError, match="count must be a single number"):
        D.global_count(torch.ones(2))


def test_example_runs_in_one_process(capsys: pytest.CaptureFixture[str]) -> None:
    from losskit.examples import ddp as example

    assert example.main() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("one process") and len(lines) == 1 + example.STEPS
    losses = [float(line.split()[-1]) for line in lines[1:]]
    assert losses[-1] < losses[0]  # it learns
