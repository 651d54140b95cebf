"""Lovasz extensions of the Jaccard loss (Berman et al. 2018): lovasz_hinge and lovasz_softmax."""

from __future__ import annotations

__all__: list[str] = []
