"""Divergences and distillation between distributions."""

from __future__ import annotations

__all__: list[str] = []
