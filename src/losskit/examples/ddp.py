"""Train with DistributedDataParallel on the CPU and get the losses of a single process.

    torchrun --nproc-per-node 2 -m losskit.examples.ddp     # 2 ranks (gloo), or 3, 4, ...
    python -m losskit.examples.ddp                          # one process, for comparison

A small two-view encoder learns with two losses at once:

* ``info_nce`` (``gather="local"``, the default): each rank's queries against the keys of
  *every* rank, gathered with gradients, so every rank's rows are negatives for all the others;
* a classification head's cross-entropy where a third of the labels are ignored, normalised by
  the *global* number of labelled items with ``losskit.distributed.global_mean``.

The ranks hold different numbers of rows (3, 5, 7, ...) on purpose: with per-rank means, DDP's
gradient averaging would then be wrong. Rank 0 first trains the same model in one process on
the concatenated batches, then prints both loss curves and the largest difference of the final
parameters. Everything is float64, so they agree to rounding (about 1e-16).
"""

from __future__ import annotations

import math
import os

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

import losskit
from losskit.distributed import global_mean, global_value, is_distributed

STEPS = 8
LEARNING_RATE = 0.3
IGNORE = -100  # cross_entropy's default ignore_index


class TwoViewModel(nn.Module):
    """An encoder shared by both views, a classifier on the first view, a learned temperature."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
        self.classifier = nn.Linear(4, 3)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(0.2)))

    def forward(self, view1: Tensor, view2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        queries, keys = self.encoder(view1), self.encoder(view2)  # (B, 4) each
        return queries, keys, self.classifier(queries), self.log_temperature.exp()


def make_batch(step: int, sizes: list[int], rank: int) -> tuple[Tensor, Tensor, Tensor]:
    """This rank's rows of the global batch of ``step`` (the same global batch everywhere; two
    batches in turn, so the loss curve shows learning)."""
    gen = torch.Generator().manual_seed(step % 2)
    n = sum(sizes)
    view1 = torch.randn(n, 8, generator=gen, dtype=torch.float64)
    view2 = view1 + 0.3 * torch.randn(n, 8, generator=gen, dtype=torch.float64)
    labels = (view1[:, 0] > 0).long() + (view1[:, 1] > 0).long()  # 3 classes
    labels[torch.rand(n, generator=gen) < 1 / 3] = IGNORE  # unlabelled rows
    start = sum(sizes[:rank])
    rows = slice(start, start + sizes[rank])
    return view1[rows], view2[rows], labels[rows]


def train(sizes: list[int], rank: int) -> tuple[list[float], nn.Module]:
    """Train from a fixed initialisation; under DDP when a process group is initialised."""
    torch.manual_seed(0)
    model = TwoViewModel().double()
    ddp = DistributedDataParallel(model) if is_distributed() else model
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    losses = []
    for step in range(STEPS):
        view1, view2, labels = make_batch(step, sizes, rank)

        # forward: this rank's rows; info_nce gathers every rank's keys with gradients, and the
        # cross-entropy sum is divided by the labelled rows of all ranks
        queries, keys, logits, temperature = ddp(view1, view2)
        contrastive = losskit.info_nce(queries, keys, temperature=temperature)
        ce_sum = losskit.cross_entropy(logits, labels, reduction="sum")
        loss = contrastive + global_mean(ce_sum, (labels != IGNORE).sum())

        # backward: DDP averages the ranks' gradients; each loss above is this rank's share,
        # so the average is the gradient of the single-process loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]

        # update
        optimizer.step()
        losses.append(float(global_value(loss)))  # the single-process value, for logging
    return losses, model


def _max_rel_diff(a: list[Tensor], b: list[Tensor]) -> float:
    return max(float((x - y).abs().max() / y.abs().max()) for x, y in zip(a, b, strict=True))


def main() -> int:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    torch.set_num_threads(1)  # the ranks share the CPU
    sizes = [3 + 2 * r for r in range(world)]  # uneven on purpose
    reference: list[float] = []
    reference_model: nn.Module | None = None
    if rank == 0:  # the single-process run on the concatenated batches
        reference, reference_model = train([sum(sizes)], 0)
    if world == 1:
        print(
            f"one process, batch {sizes[0]}, float64; try: torchrun --nproc-per-node 2 -m losskit.examples.ddp"
        )
        for step, value in enumerate(reference):
            print(f"step {step}  loss {value:.15f}")
        return 0

    dist.init_process_group("gloo")
    try:
        losses, model = train(sizes, rank)
        if reference_model is not None:
            print(f"DDP on {world} ranks (gloo, CPU), rows per rank {sizes}, float64")
            print(f"{'step':>4}  {'DDP':>18}  {'single process':>18}  rel. diff")
            for step, (ddp_loss, ref_loss) in enumerate(zip(losses, reference, strict=True)):
                diff = abs(ddp_loss - ref_loss) / abs(ref_loss)
                print(f"{step:>4}  {ddp_loss:18.15f}  {ref_loss:18.15f}  {diff:.1e}")
            params = _max_rel_diff(
                [p.detach() for p in model.parameters()],
                [p.detach() for p in reference_model.parameters()],
            )
            worst = max(abs(a - b) / abs(b) for a, b in zip(losses, reference, strict=True))
            print(f"max relative difference: losses {worst:.1e}, parameters {params:.1e}")
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
