"""Modules of the multilabel losses."""

from __future__ import annotations

__all__: list[str] = []
