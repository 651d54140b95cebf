"""Module forms of the policy losses (being written)."""

from __future__ import annotations

__all__: list[str] = []
