"""LossInfo entries of the preference losses (being written). References are float64 NumPy."""

from __future__ import annotations
