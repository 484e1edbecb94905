"""Notebook 03's two normals, each with its own variance, in exponential-family form:
the chunk statistics and M-step that :mod:`em_helpers.streaming` runs chunked, on Dask and
online (notebook 08).

The statistics of a chunk are sums over its observations taken about the current means
:math:`c_k = \\mu_k^{(t)}` (the same for every chunk at one :math:`\\theta`, so the chunks'
statistics still add up exactly), held in a :class:`em_helpers.models.gmm.SuffStats`
(``covariance_type="diag"``, :math:`p = 1`): it also carries the chunk's log-likelihood,
and it moves statistics computed about other centres onto its own when online EM
combines them. Centring keeps the variance exact for data far from 0: the raw moments
:math:`S_2/S_0 - \\mu^2` lose :math:`2\\log_{10}(|\\mu|/\\sigma)` digits (all of them at
:math:`|\\mu|/\\sigma = 10^8`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .gmm import SuffStats

__all__ = ['mixture_loglik', 'mixture_m_step', 'mixture_sample', 'mixture_stats']

_HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))


def _theta(theta: Any) -> np.ndarray:
    th = np.asarray(theta, dtype=float)
    if th.shape != (5,):
        raise ValueError(
            f"theta must be (mu1, mu2, pi, sigma1, sigma2), got shape {th.shape}"
        )
    return th


def _log_joint(theta: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu1, mu2, pi, s1, s2 = _theta(theta)
    la = np.log(pi) - 0.5 * ((x - mu1) / s1) ** 2 - np.log(s1) - _HALF_LOG_2PI
    lb = np.log1p(-pi) - 0.5 * ((x - mu2) / s2) ** 2 - np.log(s2) - _HALF_LOG_2PI
    return la, lb


def mixture_stats(theta: Any, x: np.ndarray) -> SuffStats:
    """Expected sufficient statistics of a chunk for two normals with their own variances.

    With :math:`\\theta = (\\mu_1, \\mu_2, \\pi, \\sigma_1, \\sigma_2)`, the log joints
    :math:`a_i = \\log\\pi + \\log\\varphi(x_i; \\mu_1, \\sigma_1)` and
    :math:`b_i = \\log(1-\\pi) + \\log\\varphi(x_i; \\mu_2, \\sigma_2)`, the responsibility
    :math:`\\gamma_{i1} = 1/(1 + e^{b_i - a_i})` (log space, notebook 03) and
    :math:`\\gamma_{i2} = 1 - \\gamma_{i1}`, the sums about the centres
    :math:`c_k = \\mu_k`:

    .. math:: n_k = \\sum_i \\gamma_{ik},\\quad s_k = \\sum_i \\gamma_{ik}(x_i - c_k),\\quad
              S_k = \\sum_i \\gamma_{ik}(x_i - c_k)^2,

    additive over chunks, and the chunk's log-likelihood
    :math:`\\sum_i \\log(e^{a_i} + e^{b_i}) = \\sum_i \\big[a_i + \\log(1 + E_i)\\big]`
    with :math:`E_i = e^{b_i - a_i}`, from the same ``exp`` that gives
    :math:`\\gamma_{i1} = 1/(1 + E_i)` and :math:`\\gamma_{i2} = E_i\\gamma_{i1}` (each
    exact when tiny, unlike :math:`1 - \\gamma_{i1}`). The exponent is capped at 700 so
    that :math:`E_i` stays finite; where :math:`b_i - a_i > 700` the capped part is added
    back to the log-likelihood (and :math:`\\gamma_{i1} < 10^{-304}`).
    """
    x = np.asarray(x, dtype=float)
    mu1, mu2, pi, sd1, sd2 = _theta(theta)
    d1, d2 = x - mu1, x - mu2  # about the current means: no cancellation far from 0
    la = (np.log(pi) - np.log(sd1) - _HALF_LOG_2PI) - 0.5 * (d1 / sd1) ** 2
    lb = (np.log1p(-pi) - np.log(sd2) - _HALF_LOG_2PI) - 0.5 * (d2 / sd2) ** 2
    t = lb - la
    capped = np.minimum(t, 700.0)
    E = np.exp(capped)  # e^(b - a), finite
    g = 1.0 / (1.0 + E)  # gamma_i1
    h = E * g  # gamma_i2
    ll = float(la.sum() + np.log1p(E).sum() + (t - capped).sum())
    gd1, hd2 = g * d1, h * d2  # elementwise sums, not BLAS dots (no thread start-up per chunk)
    nk = np.array([g.sum(), h.sum()])
    s1 = np.array([[gd1.sum()], [hd2.sum()]])
    s2 = np.array([[(gd1 * d1).sum()], [(hd2 * d2).sum()]])
    return SuffStats(nk, s1, s2, ll, x.size, center=np.array([[mu1], [mu2]]),
                     covariance_type="diag")


def mixture_m_step(stats: SuffStats) -> np.ndarray:
    """The argmax of Q from the statistics about the centres :math:`c_k`:

    .. math:: \\pi = \\frac{n_1}{n_1 + n_2},\\qquad \\mu_k = c_k + \\frac{s_k}{n_k},\\qquad
              \\sigma_k^2 = \\frac{S_k}{n_k} - \\Big(\\frac{s_k}{n_k}\\Big)^2,

    (the weighted variance about :math:`c_k`, shifted to the new mean). Invariant to
    scaling ``stats``. With :math:`c_k` the previous mean, :math:`s_k/n_k` is one EM step,
    small next to :math:`\\sigma_k`, so the difference loses nothing."""
    _check_stats(stats)
    n = stats.nk
    d = stats.s1[:, 0] / n  # new mean - centre
    mu = stats.center[:, 0] + d
    var = stats.s2[:, 0] / n - d**2
    with np.errstate(invalid="ignore"):
        sd = np.sqrt(var)
    return np.array([mu[0], mu[1], n[0] / n.sum(), sd[0], sd[1]])


def _check_stats(stats: Any) -> None:
    if not isinstance(stats, SuffStats) or stats.s1.shape != (2, 1):
        raise TypeError(
            "stats must be the SuffStats of mixture_stats (two components, one feature), "
            f"got {type(stats).__name__}"
        )


def mixture_loglik(theta: Any, x: np.ndarray) -> float:
    """Observed-data log-likelihood of one chunk, :math:`\\sum_i \\log(e^{a_i} + e^{b_i})`
    (also in ``mixture_stats(theta, x).loglik``)."""
    return float(np.logaddexp(*_log_joint(theta, np.asarray(x, dtype=float))).sum())


def mixture_sample(rng: np.random.Generator, size: int, theta: Any) -> np.ndarray:
    """``size`` draws from the mixture ``theta`` (use with :class:`SeededBlocks` through
    ``functools.partial(mixture_sample, theta=...)``)."""
    mu1, mu2, pi, s1, s2 = _theta(theta)
    first = rng.random(size) < pi
    return np.where(first, rng.normal(mu1, s1, size), rng.normal(mu2, s2, size))
