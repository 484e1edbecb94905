"""Notebook 03's two normals, each with its own variance, in exponential-family form:
the chunk statistics and M-step that :mod:`em_helpers.streaming` runs chunked, on Dask and
online (notebook 08)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ['mixture_loglik', 'mixture_m_step', 'mixture_sample', 'mixture_stats']


def _log_joint(theta: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu1, mu2, pi, s1, s2 = np.asarray(theta, dtype=float)
    c = 0.5 * np.log(2 * np.pi)
    la = np.log(pi) - 0.5 * ((x - mu1) / s1) ** 2 - np.log(s1) - c
    lb = np.log1p(-pi) - 0.5 * ((x - mu2) / s2) ** 2 - np.log(s2) - c
    return la, lb


def mixture_stats(theta: Any, x: np.ndarray) -> np.ndarray:
    """Expected sufficient statistics of a chunk for two normals with their own variances.

    With :math:`\\theta = (\\mu_1, \\mu_2, \\pi, \\sigma_1, \\sigma_2)`, the responsibility
    :math:`\\gamma_i = \\operatorname{expit}(\\log a_i - \\log b_i)` (log space, notebook 03),
    :math:`\\gamma_{i1} = \\gamma_i`, :math:`\\gamma_{i2} = 1 - \\gamma_i`: the (2, 3) array
    :math:`S_{k\\cdot} = \\big(\\sum_i \\gamma_{ik},\\ \\sum_i \\gamma_{ik} x_i,\\
    \\sum_i \\gamma_{ik} x_i^2\\big)`, additive over chunks.
    """
    x = np.asarray(x, dtype=float)
    la, lb = _log_joint(theta, x)
    g = 0.5 * (1.0 + np.tanh(0.5 * (la - lb)))  # expit without scipy: never overflows
    h = 1.0 - g
    gx, hx = g * x, h * x  # elementwise sums, not BLAS dots (no thread start-up per chunk)
    return np.array([[g.sum(), gx.sum(), (gx * x).sum()], [h.sum(), hx.sum(), (hx * x).sum()]])


def mixture_m_step(stats: Any) -> np.ndarray:
    """:math:`\\pi = S_{10}/(S_{10}+S_{20})`, :math:`\\mu_k = S_{k1}/S_{k0}`,
    :math:`\\sigma_k^2 = S_{k2}/S_{k0} - \\mu_k^2`: the argmax of Q; invariant to scaling
    ``stats``. (The variance as a difference loses about :math:`\\log_{10}(\\mu_k^2/
    \\sigma_k^2)` digits: fine for data centred near 0, as here.)"""
    s = np.asarray(stats, dtype=float)
    n = s[:, 0]
    mu = s[:, 1] / n
    var = s[:, 2] / n - mu**2
    with np.errstate(invalid="ignore"):
        sd = np.sqrt(var)
    return np.array([mu[0], mu[1], n[0] / n.sum(), sd[0], sd[1]])


def mixture_loglik(theta: Any, x: np.ndarray) -> float:
    """Observed-data log-likelihood of one chunk, :math:`\\sum_i \\log(a_i + b_i)`."""
    return float(np.logaddexp(*_log_joint(theta, np.asarray(x, dtype=float))).sum())


def mixture_sample(rng: np.random.Generator, size: int, theta: Any) -> np.ndarray:
    """``size`` draws from the mixture ``theta`` (use with :class:`SeededBlocks` through
    ``functools.partial(mixture_sample, theta=...)``)."""
    mu1, mu2, pi, s1, s2 = np.asarray(theta, dtype=float)
    first = rng.random(size) < pi
    return np.where(first, rng.normal(mu1, s1, size), rng.normal(mu2, s2, size))
