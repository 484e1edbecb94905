"""The EM iteration loop, kept apart from any model.

A model supplies two functions, ``e_step(theta) -> stats`` and ``m_step(stats) -> theta``;
one EM iteration is the map

.. math:: M(\\theta) = \\text{m\\_step}(\\text{e\\_step}(\\theta)).

:func:`run_em` iterates :math:`\\theta^{(t+1)} = M(\\theta^{(t)})`, records the path, checks
that every iterate is finite and has the right shape, and (given the observed-data
log-likelihood) that no step lowers it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "AscentError",
    "ConvergenceWarning",
    "EMResult",
    "convergence_rate",
    "run_em",
]

#: Relative size of a log-likelihood decrease that is still taken as round-off.
ASCENT_RTOL = 1e-10


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before meeting its tolerance."""


class AscentError(RuntimeError):
    """A step lowered the observed-data log-likelihood, which EM never does.

    A decrease beyond round-off means the E-step or the M-step is wrong (or the
    log-likelihood function does not belong to the same model as the steps).
    """


@dataclass
class EMResult:
    """What :func:`run_em` returns (field names follow :class:`scipy.optimize.OptimizeResult`).

    Attributes
    ----------
    theta : float or ndarray, shape (d,)
        The last iterate :math:`\\theta^{(n)}`; a float when ``theta0`` was a float.
    n_iter : int
        Number of EM iterations done, :math:`n`.
    converged : bool
        Whether the stopping rule was met before ``max_iter``.
    message : str
        One line saying why the loop stopped.
    thetas : ndarray, shape (n + 1, d)
        The path :math:`\\theta^{(0)}, \\dots, \\theta^{(n)}`, one row per iterate.
    logliks : ndarray, shape (n + 1,) or None
        :math:`\\ell(\\theta^{(t)})` along the path, or None when no ``loglik`` was given.
    names : list of str
        A label per component of :math:`\\theta`.
    """

    theta: float | np.ndarray
    n_iter: int
    converged: bool
    message: str
    thetas: np.ndarray
    logliks: np.ndarray | None
    names: list[str] = field(default_factory=list)

    @property
    def loglik(self) -> float | None:
        """The observed-data log-likelihood at the last iterate (None without ``loglik``)."""
        return None if self.logliks is None else float(self.logliks[-1])

    @property
    def scalar(self) -> bool:
        """True when the parameter is a scalar (``theta0`` was a float)."""
        return np.ndim(self.theta) == 0


def _as_vector(value: Any, what: str) -> np.ndarray:
    """Return ``value`` as a 1-D float array or raise ``ValueError`` saying ``what`` it was."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not numeric: {value!r}") from exc
    if arr.ndim > 1:
        raise ValueError(f"{what} must be a float or a 1-D sequence, got shape {arr.shape}")
    return np.atleast_1d(arr)


def _check_step(theta_new: np.ndarray, d: int, t: int, theta_old: np.ndarray) -> None:
    if theta_new.shape != (d,):
        raise ValueError(
            f"EM iteration {t}: m_step(e_step(theta)) returned shape {theta_new.shape}, "
            f"expected ({d},); theta^({t - 1}) = {theta_old}, returned {theta_new}"
        )
    if not np.all(np.isfinite(theta_new)):
        raise ValueError(
            f"EM iteration {t}: the step returned non-finite values {theta_new} "
            f"from theta^({t - 1}) = {theta_old}"
        )


def _loglik_at(loglik: Callable[[Any], float], theta: Any, t: int) -> float:
    value = float(loglik(theta))
    if np.isnan(value) or value == np.inf:
        raise ValueError(f"loglik(theta^({t})) = {value} at theta^({t}) = {theta}")
    return value


def run_em(
    e_step: Callable[[Any], Any],
    m_step: Callable[[Any], Any],
    theta0: float | Sequence[float] | np.ndarray,
    *,
    loglik: Callable[[Any], float] | None = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    names: Sequence[str] | None = None,
    check_ascent: bool = True,
) -> EMResult:
    """Iterate :math:`\\theta^{(t+1)} = M(\\theta^{(t)})` with ``M = m_step ∘ e_step``.

    Parameters
    ----------
    e_step : callable
        ``e_step(theta) -> stats``: whatever the M-step needs, computed at the current
        :math:`\\theta^{(t)}` (expected counts, responsibilities, expected sufficient
        statistics). It receives a float when ``theta0`` is a float, else a 1-D array.
    m_step : callable
        ``m_step(stats) -> theta``: the maximiser of :math:`Q(\\theta \\mid \\theta^{(t)})`.
    theta0 : float or 1-D sequence of float
        Starting value :math:`\\theta^{(0)}`; finite and non-empty.
    loglik : callable, optional
        The **observed-data** log-likelihood :math:`\\ell(\\theta)`. When given, it is
        recorded along the path and used for the ascent check.
    tol : float
        Stopping rule: stop after iteration :math:`t+1` when every component satisfies
        :math:`|\\theta_j^{(t+1)} - \\theta_j^{(t)}| \\le \\mathrm{tol}\\,(1 + |\\theta_j^{(t+1)}|)`
        (an absolute test near zero, a relative one for large components).
    max_iter : int
        Most iterations. Reaching it emits :class:`ConvergenceWarning` and returns
        ``converged=False`` with the path so far.
    names : sequence of str, optional
        Labels of the components, used by the plots and tables.
    check_ascent : bool
        With ``loglik``, raise :class:`AscentError` when a step lowers :math:`\\ell` by more
        than round-off, :math:`\\ell^{(t+1)} < \\ell^{(t)} - 10^{-10}(1 + |\\ell^{(t)}|)`.
        EM's defining property is :math:`\\ell(\\theta^{(t+1)}) \\ge \\ell(\\theta^{(t)})`.

    Returns
    -------
    EMResult

    Raises
    ------
    ValueError
        Empty or non-finite ``theta0``; a step that returns non-finite values or a
        different shape (the message names the iteration and the values); bad ``tol``,
        ``max_iter`` or ``names``.
    AscentError
        A step lowered the observed-data log-likelihood.
    """
    scalar = np.ndim(theta0) == 0
    theta = _as_vector(theta0, "theta0")
    d = theta.size
    if d == 0:
        raise ValueError("theta0 is empty: give at least one parameter")
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"theta0 must be finite, got {theta}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if names is None:
        names = ["theta"] if d == 1 else [f"theta[{j}]" for j in range(d)]
    names = [str(n) for n in names]
    if len(names) != d:
        raise ValueError(f"names has {len(names)} labels for {d} parameters: {names}")

    def public(vec: np.ndarray) -> float | np.ndarray:
        return float(vec[0]) if scalar else vec.copy()

    path = [theta]
    lls = None if loglik is None else [_loglik_at(loglik, public(theta), 0)]
    converged = False
    t = 0
    while t < max_iter:
        t += 1
        new = _as_vector(m_step(e_step(public(theta))), f"EM iteration {t}: the step's result")
        _check_step(new, d, t, theta)
        path.append(new)
        if lls is not None:
            ll_new = _loglik_at(loglik, public(new), t)
            ll_old = lls[-1]
            if check_ascent and ll_new < ll_old - ASCENT_RTOL * (1.0 + abs(ll_old)):
                raise AscentError(
                    f"EM iteration {t} lowered the observed log-likelihood from "
                    f"{ll_old!r} to {ll_new!r} (theta {theta} -> {new}); EM never does "
                    "this, so the E-step, the M-step or loglik is wrong"
                )
            lls.append(ll_new)
        step_ok = np.abs(new - theta) <= tol * (1.0 + np.abs(new))
        theta = new
        if np.all(step_ok):
            converged = True
            break

    thetas = np.vstack(path)
    if converged:
        message = f"converged after {t} iterations (every |step| <= tol*(1+|theta|), tol={tol:g})"
    else:
        last = np.max(np.abs(thetas[-1] - thetas[-2]))
        message = (
            f"did not converge in max_iter={max_iter} iterations: the last step was "
            f"{last:.3g}, above tol={tol:g}"
        )
        rate = convergence_rate(thetas)
        hint = (
            f" EM's linear rate here is about {rate:.4f}: shrinking a unit error to tol "
            f"takes about {np.log(tol) / np.log(rate):.0f} iterations;"
            if np.isfinite(rate) and 0 < rate < 1
            else ""
        )
        warnings.warn(
            f"EM {message}.{hint} increase max_iter, loosen tol, or start closer to the "
            "optimum. The result keeps the path (converged=False).",
            ConvergenceWarning,
            stacklevel=2,
        )
    return EMResult(
        theta=public(theta),
        n_iter=t,
        converged=converged,
        message=message,
        thetas=thetas,
        logliks=None if lls is None else np.asarray(lls),
        names=names,
    )


def convergence_rate(path: EMResult | np.ndarray) -> float:
    """Estimate EM's linear rate from successive step lengths along a path.

    For a linearly convergent iteration the step lengths
    :math:`s_t = \\lVert\\theta^{(t+1)} - \\theta^{(t)}\\rVert` satisfy
    :math:`s_{t+1}/s_t \\to \\lambda_{\\max}(DM)`, the largest fraction of missing
    information. The estimate is the median of those ratios over the second half of the
    steps that are still well above round-off (:math:`s_t > 10^{-13}(1+\\lVert\\theta\\rVert)`).

    Parameters
    ----------
    path : EMResult or ndarray, shape (n + 1, d)

    Returns
    -------
    float
        The rate in [0, 1) for a converging run; NaN when there are fewer than two usable
        steps (e.g. EM converged in one step).
    """
    thetas = path.thetas if isinstance(path, EMResult) else np.asarray(path, dtype=float)
    thetas = thetas.reshape(len(thetas), -1)
    steps = np.linalg.norm(np.diff(thetas, axis=0), axis=1)
    floor = 1e-13 * (1.0 + np.linalg.norm(thetas[-1]))
    usable = np.flatnonzero(steps > floor)
    # keep the initial run of usable steps (round-off noise at the end is dropped)
    if usable.size == 0:
        return float("nan")
    stop = usable[0]
    while stop + 1 < steps.size and steps[stop + 1] > floor:
        stop += 1
    ratios = steps[usable[0] + 1 : stop + 1] / steps[usable[0] : stop]
    if ratios.size == 0:
        return float("nan")
    return float(np.median(ratios[ratios.size // 2 :]))
