"""Multilabel losses: logits and targets of shape (N, C), several labels per item."""

from __future__ import annotations

__all__: list[str] = []
