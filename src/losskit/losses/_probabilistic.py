"""Probabilistic regression losses: negative log-likelihoods and proper scores of predicted distributions (Gaussian, Student-t, Poisson, Tweedie, CRPS)."""

from __future__ import annotations

__all__: list[str] = []
