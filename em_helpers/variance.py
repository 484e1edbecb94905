"""Uncertainty at the EM estimate: observed information and supplemented EM (SEM).

Missing-information principle (Orchard & Woodbury 1972; Louis 1982):
:math:`I_o = I_{oc} - I_{mis}`, and the EM map's Jacobian at the fixed point is
:math:`DM = I_{mis} I_{oc}^{-1}` (row :math:`i` = derivatives with respect to
:math:`\\theta_i`, Meng & Rubin's convention), so

.. math:: V = I_o^{-1} = I_{oc}^{-1} (I - DM)^{-1}
            = I_{oc}^{-1} + I_{oc}^{-1} DM (I - DM)^{-1}.

SEM (Meng & Rubin 1991, JASA 86, 899-909) obtains :math:`DM` from the E- and M-steps
alone and :math:`I_{oc}` from the complete-data model, and so :math:`V` without ever
differentiating the observed-data log-likelihood.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .loop import EMResult, _as_vector

__all__ = ["SEMResult", "SEMWarning", "observed_information", "sem_covariance"]


class SEMWarning(UserWarning):
    """SEM's covariance is suspect.

    DM did not settle, its eigenvalues are outside [0, 1), or V is asymmetric or not
    positive definite.
    """


@dataclass
class SEMResult:
    """What :func:`sem_covariance` returns.

    Attributes
    ----------
    cov : ndarray, shape (d, d)
        :math:`V`, symmetrised as :math:`(V + V^\\top)/2`.
    se : ndarray, shape (d,)
        :math:`\\sqrt{V_{jj}}` (NaN where :math:`V_{jj} \\le 0`, with a warning).
    dm : ndarray, shape (d, d)
        :math:`DM`, row :math:`i` = the response of :math:`M(\\theta)` to :math:`\\theta_i`.
    rates : ndarray, shape (d,)
        Eigenvalues of :math:`DM` (the fractions of missing information), largest first.
    converged : bool
        Every row of :math:`DM` settled to ``tol`` as the perturbation shrank.
    asymmetry : float
        :math:`\\max|V - V^\\top| / \\max|V|` before symmetrising (0 in exact arithmetic).
    complete_info : ndarray, shape (d, d)
        :math:`I_{oc}` used.
    message : str
    """

    cov: np.ndarray
    se: np.ndarray
    dm: np.ndarray
    rates: np.ndarray
    converged: bool
    asymmetry: float
    complete_info: np.ndarray
    message: str

    @property
    def corr(self) -> np.ndarray:
        """Correlation matrix :math:`V_{ij} / (se_i\\, se_j)`."""
        return self.cov / np.outer(self.se, self.se)


def _relative_steps(theta: np.ndarray, rel: float, floor: float) -> np.ndarray:
    """Perturbation sizes :math:`h_i = \\mathrm{rel} \\cdot \\max(|\\theta_i|, \\mathrm{floor})`."""
    return rel * np.maximum(np.abs(theta), floor)


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``x`` with steps ``h``."""
    d = x.size
    f0 = f(x)
    hess = np.empty((d, d))
    for i in range(d):
        ei = np.zeros(d)
        ei[i] = h[i]
        hess[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(d)
            ej[j] = h[j]
            hess[i, j] = hess[j, i] = (
                f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            ) / (4 * h[i] * h[j])
    return hess


def observed_information(
    loglik: Callable[[Any], float], theta: float | np.ndarray, *, rel_step: float = 1e-4
) -> np.ndarray:
    """Observed information :math:`I_o(\\theta) = -\\nabla^2 \\ell(\\theta)` by central differences.

    With steps :math:`h_i` and unit vectors :math:`e_i`,

    .. math::
        -\\partial_{ii}\\ell \\approx -\\frac{\\ell(\\theta + h_i e_i) - 2\\ell(\\theta)
            + \\ell(\\theta - h_i e_i)}{h_i^2},
        \\qquad
        -\\partial_{ij}\\ell \\approx -\\frac{\\ell(\\theta^{++}) - \\ell(\\theta^{+-})
            - \\ell(\\theta^{-+}) + \\ell(\\theta^{--})}{4 h_i h_j},

    where :math:`\\theta^{\\pm\\pm} = \\theta \\pm h_i e_i \\pm h_j e_j`. Truncation error is
    :math:`O(h^2)`, round-off :math:`O(\\epsilon |\\ell| / h^2)`. The steps are fitted to the
    curvature in two passes: a rough pass with
    :math:`h_i = \\text{rel\\_step}\\cdot\\max(|\\theta_i|, 10^{-3})` gives the diagonal
    :math:`H_{ii}`, then :math:`h_i = 10^{-2}/\\sqrt{H_{ii}}`, one hundredth of a standard
    error (capped at :math:`10^{-2}\\max(|\\theta_i|, 10^{-3})` to stay inside the
    parameter space); on that scale :math:`\\ell` changes by about :math:`10^{-4}`, far above
    round-off. The final value is Richardson-extrapolated from steps :math:`h` and
    :math:`h/2`, :math:`(4H(h/2) - H(h))/3`, which cancels the :math:`O(h^2)` error.

    Parameters
    ----------
    loglik : callable
        Observed-data log-likelihood; called with a float when ``theta`` is a float.
    theta : float or 1-D array
        Point, normally the MLE.
    rel_step : float
        Relative step of the rough first pass.

    Returns
    -------
    ndarray, shape (d, d)
        Symmetric :math:`I_o(\\theta)`.
    """
    scalar = np.ndim(theta) == 0
    x = _as_vector(theta, "theta")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"theta must be finite, got {x}")

    def f(v: np.ndarray) -> float:
        value = float(loglik(float(v[0]) if scalar else v))
        if not np.isfinite(value):
            raise ValueError(
                f"loglik is not finite at {v}; is theta near the boundary of the "
                "parameter space? Try a smaller rel_step."
            )
        return value

    rough = _hessian(f, x, _relative_steps(x, rel_step, 1e-3))
    curvature = -np.diag(rough)
    cap = _relative_steps(x, 1e-2, 1e-3)
    h = np.minimum(np.where(curvature > 0, 1e-2 / np.sqrt(np.abs(curvature)), cap), cap)
    # Richardson: H(h) = H + c h^2 + O(h^4), so (4 H(h/2) - H(h)) / 3 = H + O(h^4)
    return -(4 * _hessian(f, x, h / 2) - _hessian(f, x, h)) / 3


def _em_map(e_step: Callable, m_step: Callable, scalar: bool) -> Callable[[np.ndarray], np.ndarray]:
    def em_map(v: np.ndarray) -> np.ndarray:
        out = _as_vector(m_step(e_step(float(v[0]) if scalar else v.copy())), "EM map")
        if out.shape != v.shape or not np.all(np.isfinite(out)):
            raise ValueError(f"SEM: the EM step at the perturbed point {v} returned {out}")
        return out

    return em_map


def _dm_row(em_map: Callable, theta: np.ndarray, i: int, steps: np.ndarray, tol: float):
    """Row i of DM from Meng-Rubin ratios with shrinking symmetric perturbations.

    For :math:`h` in ``steps`` (decreasing),
    :math:`r_{i\\cdot}(h) = [M(\\hat\\theta + h e_i) - M(\\hat\\theta - h e_i)] / (2h)`,
    one EM step per perturbed point. The row is frozen at the first :math:`h` whose
    ratios moved by at most ``tol`` from the previous :math:`h`'s.
    """
    previous, best, best_change = None, None, np.inf
    for h in steps:
        e = np.zeros_like(theta)
        e[i] = h
        row = (em_map(theta + e) - em_map(theta - e)) / (2 * h)
        if previous is not None:
            change = np.max(np.abs(row - previous))
            if change < best_change:
                best, best_change = row, change
            if change <= tol:
                return row, True, change
        previous = row
    return best, False, best_change


def sem_covariance(
    e_step: Callable[[Any], Any],
    m_step: Callable[[Any], Any],
    res: EMResult,
    complete_info: np.ndarray | Callable[[Any], np.ndarray],
    *,
    tol: float = 1e-6,
    asym_tol: float = 1e-3,
) -> SEMResult:
    """Supplemented EM: the asymptotic covariance of the EM estimate from EM steps alone.

    **DM.** Meng & Rubin's ratio for perturbed component :math:`i` is
    :math:`r_{ij} = (M_j(\\hat\\theta + \\delta e_i) - \\hat\\theta_j)/\\delta`. Here the
    perturbation is taken on both sides and the unperturbed :math:`\\hat\\theta_j` is
    replaced by the other side's image,

    .. math:: r_{ij}(h) = \\frac{M_j(\\hat\\theta + h e_i) - M_j(\\hat\\theta - h e_i)}{2h},

    for a decreasing sequence :math:`h = 10^{-2}\\,s_i, 10^{-2.5}\\,s_i, \\dots, 10^{-7}\\,s_i`
    (:math:`s_i = \\max(|\\hat\\theta_i|, 10^{-3})`), freezing row :math:`i` once it moves by
    at most ``tol``. Why not the textbook ratios along the EM path: when EM converges
    slowly (an eigenvalue :math:`\\lambda` of DM near 1), :math:`\\hat\\theta` is only
    :math:`\\approx \\lambda\\,\\mathrm{tol}_{EM}/(1-\\lambda)` from the true fixed point, the
    one-sided ratio carries an error :math:`(M(\\hat\\theta)-\\hat\\theta)/\\delta`, and
    :math:`V` amplifies DM's error by :math:`1/(1-\\lambda)`. The symmetric difference does
    not use :math:`M(\\hat\\theta) = \\hat\\theta` at all and its truncation error is
    :math:`O(h^2)`.

    **V.** :math:`V = I_{oc}^{-1} + I_{oc}^{-1} DM (I - DM)^{-1}`, with :math:`I_{oc}` the
    expected complete-data information at :math:`\\hat\\theta`.

    Parameters
    ----------
    e_step, m_step : callable
        The same steps given to :func:`~em_helpers.run_em`. Perturbed points are built in
        the parametrisation the steps take: a constrained quantity (e.g. :math:`p_T =
        1 - p_C - p_I`) must be derived inside the steps, never stored in :math:`\\theta`.
    res : EMResult
        A converged EM run; ``res.theta`` is :math:`\\hat\\theta`.
    complete_info : (d, d) array or callable
        :math:`I_{oc}(\\hat\\theta)`, or a function :math:`\\theta \\mapsto I_{oc}(\\theta)`.
    tol : float
        How far a row of DM may move between successive perturbation sizes to count as
        settled.
    asym_tol : float
        Relative asymmetry of :math:`V` above which a :class:`SEMWarning` is emitted.

    Returns
    -------
    SEMResult

    Warns
    -----
    SEMWarning
        When ``res`` did not converge, a row of DM did not settle, an eigenvalue of DM is
        not in [0, 1), or V is asymmetric or not positive definite.
    """
    if not isinstance(res, EMResult):
        raise TypeError(f"res must be the EMResult of run_em, got {type(res).__name__}")
    theta = _as_vector(res.theta, "res.theta")
    d = theta.size
    if not res.converged:
        warnings.warn(
            "SEM at an EM run that did not converge: DM and V are taken at a point that is "
            "not the MLE; rerun run_em with a larger max_iter.",
            SEMWarning,
            stacklevel=2,
        )
    ioc = complete_info(res.theta) if callable(complete_info) else complete_info
    ioc = np.atleast_2d(np.asarray(ioc, dtype=float))
    if ioc.shape != (d, d) or not np.all(np.isfinite(ioc)):
        raise ValueError(f"complete_info must be a finite ({d}, {d}) array, got {ioc!r}")

    em_map = _em_map(e_step, m_step, res.scalar)
    steps = 10.0 ** np.arange(-2.0, -7.01, -0.5)
    dm = np.empty((d, d))
    settled = []
    for i in range(d):
        h = _relative_steps(theta[i : i + 1], 1.0, 1e-3)[0] * steps
        dm[i], ok, change = _dm_row(em_map, theta, i, h, tol)
        settled.append(ok)
        if not ok:
            warnings.warn(
                f"SEM: row {i} ({res.names[i]}) of DM did not settle to tol={tol:g} "
                f"(smallest change {change:.2g}); V may be inaccurate.",
                SEMWarning,
                stacklevel=2,
            )

    rates = np.linalg.eigvals(dm)
    rates = rates[np.argsort(-rates.real)]
    if np.max(np.abs(rates.imag)) < 1e-9:
        rates = rates.real
    eye = np.eye(d)
    ioc_inv = np.linalg.inv(ioc)
    v = ioc_inv + ioc_inv @ dm @ np.linalg.inv(eye - dm)
    scale = np.max(np.abs(v))
    asymmetry = float(np.max(np.abs(v - v.T)) / scale) if scale > 0 else 0.0
    cov = (v + v.T) / 2
    problems = []
    # eigenvalues are fractions of missing information: in [0, 1) up to DM's accuracy
    if np.any(np.abs(rates) >= 1) or np.any(np.real(rates) < -10 * tol):
        problems.append(f"DM's eigenvalues {rates} are not all in [0, 1)")
    if asymmetry > asym_tol:
        problems.append(f"V is asymmetric (relative asymmetry {asymmetry:.2g} > {asym_tol:g})")
    eig_v = np.linalg.eigvalsh(cov)
    if np.any(eig_v <= 0):
        problems.append(f"V is not positive definite (eigenvalues {eig_v})")
    for p in problems:
        warnings.warn(
            f"SEM: {p}; check the steps, complete_info and that res is the MLE.",
            SEMWarning,
            stacklevel=2,
        )
    diag = np.diag(cov)
    se = np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)
    converged = all(settled) and not problems
    message = (
        "DM settled; V is symmetric and positive definite"
        if converged
        else "; ".join(problems or ["DM did not settle"])
    )
    return SEMResult(
        cov=cov,
        se=se,
        dm=dm,
        rates=rates,
        converged=converged,
        asymmetry=asymmetry,
        complete_info=ioc,
        message=message,
    )
