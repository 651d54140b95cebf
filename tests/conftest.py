"""Shared fixtures: every test starts from a fixed seed and full checks."""

from __future__ import annotations

import pytest
import torch

import losskit

# Test inputs are tiny: one thread avoids thread start-up and contention on a 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_checks() -> None:
    torch.manual_seed(0)
    with losskit.checks("full"):
        yield


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
