"""Online EM (Cappé & Moulines 2009): one pass over a stream of mini-batches, with a
stochastic-approximation step :math:`\\gamma_t = t^{-\\alpha}` on the statistics and Polyak
averaging of the iterates."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.loop import ConvergenceWarning
from .blocks import tree_copy, tree_map

__all__ = ['OnlineEMResult', 'online_em']


@dataclass
class OnlineEMResult:
    """What :func:`online_em` returns.

    Attributes
    ----------
    theta : ndarray, shape (d,)
        The last iterate :math:`\\hat\\theta_T`.
    theta_avg : ndarray, shape (d,)
        The Polyak–Ruppert average :math:`\\tilde\\theta_T` of the iterates from batch
        ``average_from`` on.
    thetas, thetas_avg : ndarray, shape (T + 1, d)
        Both paths, row ``t`` after ``t`` batches (``thetas_avg`` is NaN before averaging
        starts and ``thetas[0]`` is ``theta0``).
    n_seen : ndarray of int, shape (T + 1,)
        Observations seen after ``t`` batches.
    stats : pytree
        The final stochastic-approximation statistics :math:`\\hat s_T` (per observation).
    alpha : float
        The step-size exponent.
    """

    theta: np.ndarray
    theta_avg: np.ndarray
    thetas: np.ndarray
    thetas_avg: np.ndarray
    n_seen: np.ndarray
    stats: Any
    alpha: float


def online_em(suff_stats: Callable[[Any, np.ndarray], Any], m_step: Callable[[Any], Any],
              batches: Iterable[np.ndarray], theta0: Any, *, alpha: float = 0.6,
              burn_in: int = 1, average_from: int = 1) -> OnlineEMResult:
    """Online EM (Cappé & Moulines 2009): one pass over a stream of mini-batches.

    With :math:`\\bar s(\\theta; B) = \\texttt{suff\\_stats}(\\theta, B)/|B|` the batch's
    expected sufficient statistics per observation and step sizes
    :math:`\\gamma_t = t^{-\\alpha}`, :math:`\\alpha \\in (1/2, 1]`, batch :math:`t` does

    .. math:: \\hat s_t = \\hat s_{t-1} + \\gamma_t\\big(\\bar s(\\hat\\theta_{t-1}; B_t)
              - \\hat s_{t-1}\\big), \\qquad \\hat\\theta_t = \\bar\\theta(\\hat s_t)
              = \\texttt{m\\_step}(\\hat s_t)

    (:math:`\\gamma_1 = 1`, so :math:`\\hat s_1` is the first batch's statistic). A stochastic
    approximation of the solution of :math:`E[\\bar s(\\theta(s); Y)] = s`, whose solutions
    are the EM fixed points of the population likelihood. For the first ``burn_in`` batches
    the statistics are updated but :math:`\\hat\\theta` stays at ``theta0`` (the paper's
    :math:`n_{\\min}`: an M-step on one tiny batch can leave the parameter space). The
    Polyak–Ruppert average :math:`\\tilde\\theta_t = \\frac{1}{t - t_0 + 1}\\sum_{k=t_0}^t
    \\hat\\theta_k` with :math:`t_0` = ``average_from`` attains the :math:`1/\\sqrt{n}` rate
    with a slowly decreasing step (:math:`\\alpha < 1`).

    ``m_step`` receives per-observation statistics, so it must be invariant to scaling
    them, :math:`\\bar\\theta(cS) = \\bar\\theta(S)` — true when the statistics carry their
    own counts (:math:`\\pi_k = S_{0k}/\\sum_j S_{0j}`); this is checked at the first update.
    It always receives a copy, so it may change its argument in place.

    The statistics are the protocol's pytrees (:mod:`em_helpers.streaming`): arrays are
    updated as written above; an object leaf (:class:`em_helpers.models.gmm.SuffStats`)
    needs ``+`` and multiplication by a number, and the update is computed as
    :math:`\\gamma_t \\bar s + (1 - \\gamma_t)\\hat s_{t-1}`, the new batch's statistics
    first: statistics stored about centres (the current means) are then kept about the
    newest ones. So online EM runs :mod:`em_helpers.models.gmm` mixtures in p dimensions.

    Raises
    ------
    ValueError
        ``alpha`` outside (1/2, 1], bad ``burn_in``/``average_from``, an empty stream or
        batch, an ``m_step`` that is not scale-invariant, a non-finite iterate.
    TypeError
        Statistics with a leaf that cannot be scaled by a number.

    Warns
    -----
    ConvergenceWarning
        When ``burn_in`` is at least the number of batches: no M-step was made, and
        ``theta`` is ``theta0``.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.5 < alpha <= 1:
        raise ValueError(f"alpha must be a number in (0.5, 1] (steps t**-alpha), got {alpha!r}")
    for name, value in (("burn_in", burn_in), ("average_from", average_from)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    theta = np.array(theta0, dtype=float, ndmin=1)
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"theta0 must be finite, got {theta0!r}")
    thetas, avgs, seen = [theta.copy()], [np.full_like(theta, np.nan)], [0]
    s_hat, avg, n_avg = None, np.zeros_like(theta), 0
    for t, batch in enumerate(batches, start=1):
        size = len(batch)
        if size == 0:
            raise ValueError(f"batch {t} is empty")
        s_bar = tree_map(lambda a, m=size: _scaled(a, 1.0 / m), suff_stats(theta, batch))
        gamma = t ** -float(alpha)
        s_hat = s_bar if s_hat is None else tree_map(
            lambda s, b, g=gamma: _towards(s, b, g), s_hat, s_bar)
        if t > burn_in:
            new = np.array(m_step(tree_copy(s_hat)), dtype=float, ndmin=1)
            if t == burn_in + 1:  # the first M-step: check the scale invariance once
                twice = np.array(m_step(tree_map(lambda s: _scaled(s, 2.0), s_hat)),
                                 dtype=float, ndmin=1)
                if not np.allclose(twice, new, rtol=1e-9, atol=1e-12):
                    raise ValueError(
                        "m_step is not invariant to scaling the statistics (m_step(2 s) != "
                        "m_step(s)); online EM feeds it per-observation averages: include "
                        "the counts in the statistics"
                    )
            if new.shape != theta.shape or not np.all(np.isfinite(new)):
                raise ValueError(
                    f"online EM batch {t}: m_step returned {new} from theta = {theta} "
                    "(left the parameter space? raise burn_in or the batch size)"
                )
            theta = new
        if t >= average_from:
            n_avg += 1
            avg = avg + (theta - avg) / n_avg
        thetas.append(theta.copy())
        avgs.append(avg.copy() if n_avg else np.full_like(theta, np.nan))
        seen.append(seen[-1] + size)
    if s_hat is None:
        raise ValueError("batches is empty: online EM needs at least one mini-batch")
    T = len(thetas) - 1
    if T <= burn_in:
        warnings.warn(
            f"online EM: burn_in={burn_in} >= the {T} batches, so no M-step was made and "
            "theta is theta0; lower burn_in or give more batches",
            ConvergenceWarning,
            stacklevel=2,
        )
    return OnlineEMResult(
        theta=theta, theta_avg=avg if n_avg else np.full_like(theta, np.nan),
        thetas=np.array(thetas), thetas_avg=np.array(avgs), n_seen=np.array(seen),
        stats=s_hat, alpha=float(alpha),
    )


def _scaled(leaf: Any, a: float) -> Any:
    """``a`` times a leaf of the statistics: a float array for numbers and arrays, ``leaf *
    a`` for an object that scales (such as gmm's SuffStats)."""
    if isinstance(leaf, (numbers.Number, np.ndarray, np.generic)):
        return np.asarray(leaf, dtype=float) * a
    try:
        out = leaf * a
    except TypeError:
        out = NotImplemented
    if out is NotImplemented or out is None:
        raise TypeError(
            f"suff_stats returned a {type(leaf).__name__} that online EM cannot scale: its "
            "statistics must be numbers, arrays, or objects with + and * by a number"
        )
    return out


def _towards(s: Any, b: Any, g: float) -> Any:
    """:math:`s + g(b - s)` for arrays; :math:`g b + (1 - g) s` for objects (the newest
    statistics on the left, whose centres an object keeps)."""
    if isinstance(s, np.ndarray):
        return s + g * (b - s)
    return _scaled(b, g) + _scaled(s, 1.0 - g)
