"""LossInfo entries of the embedding losses. References are float64 NumPy, written here."""

from __future__ import annotations
