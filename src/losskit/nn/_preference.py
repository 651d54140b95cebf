"""Module forms of the preference losses (being written)."""

from __future__ import annotations

__all__: list[str] = []
