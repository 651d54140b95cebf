"""LossInfo entries of the multilabel losses. References are float64 NumPy, written here."""

from __future__ import annotations
