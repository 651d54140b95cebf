"""LossInfo entries of the large_vocab losses. References are float64 NumPy, written here."""

from __future__ import annotations
