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

from .loop import EMResult
from .stopping import as_bool, as_vector, real_number

__all__ = [
    "InformationWarning",
    "SEMResult",
    "SEMWarning",
    "observed_information",
    "sem_covariance",
]


class SEMWarning(UserWarning):
    """SEM's covariance is suspect.

    The EM run did not converge, DM did not settle or could not be measured inside the
    parameter space, its eigenvalues are outside [0, 1) or so close to 1 that V amplifies
    DM's error beyond use, or V is asymmetric or not positive definite.
    """


class InformationWarning(UserWarning):
    """The numerical Hessian behind :func:`observed_information` is not accurate."""


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


#: Relative accuracy of the Hessian below which :func:`observed_information` warns.
INFO_RTOL = 1e-4


def observed_information(
    loglik: Callable[[Any], float],
    theta: float | np.ndarray,
    *,
    scale: float | np.ndarray | None = None,
) -> np.ndarray:
    """Observed information :math:`I_o(\\theta) = -\\nabla^2 \\ell(\\theta)`, adaptively.

    The Hessian is taken by :func:`scipy.differentiate.hessian` (adaptive central
    differences of order 4 with Richardson-type error estimates) in scaled coordinates
    :math:`\\theta = \\theta_0 + D u`, :math:`D = \\mathrm{diag}(h)`, so that every
    parameter is differentiated on its own scale:

    .. math:: \\nabla^2_\\theta \\ell
              = D^{-1} \\big(\\nabla^2_u \\ell(\\theta_0 + D u)\\big|_{u=0}\\big) D^{-1}.

    The scales are a multiple of a first estimate of the standard errors,
    :math:`h_i = c/\\sqrt{|H_{ii}|}` from plain second differences at
    :math:`h_i = 10^{-2}\\max(|\\theta_i|, 10^{-3})` (or ``scale``), with
    :math:`c = \\max(1, 2\\sqrt{2\\cdot 10^{10}\\,\\epsilon\\,(1+|\\ell|)})`:
    :math:`\\ell` then changes over the stencil by about :math:`c^2/8`, some
    :math:`10^{10}` times its round-off :math:`\\epsilon|\\ell|`, whatever the size of
    :math:`|\\ell|` (a fixed relative step is swamped by round-off when counts are large).
    Points where :math:`\\ell` is not finite (outside the parameter space) shrink the
    scales fourfold and the Hessian is taken again.

    Parameters
    ----------
    loglik : callable
        Observed-data log-likelihood; called with a float when ``theta`` is a float. A
        size-1 array result is accepted.
    theta : float or 1-D array
        Point, normally the MLE.
    scale : float or array of shape (d,), optional
        Initial step scale per parameter (default :math:`10^{-2}\\max(|\\theta_i|, 10^{-3})`);
        a float applies to every parameter.

    Returns
    -------
    ndarray, shape (d, d)
        Symmetric :math:`I_o(\\theta)`.

    Warns
    -----
    InformationWarning
        When the estimated error of an entry exceeds
        :math:`10^{-4}\\sqrt{|H_{ii} H_{jj}|}`, or the differentiator did not converge.
    """
    from scipy.differentiate import hessian  # imported on first use

    scalar = np.ndim(theta) == 0
    x = as_vector(theta, "theta")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"theta must be finite, got {x}")
    d = x.size
    if scale is None:
        h = _relative_steps(x, 1e-2, 1e-3)
    else:
        h = as_vector(scale, "scale")
        if h.size not in (1, d):
            raise ValueError(
                f"scale must be a float or one value per parameter ({d}), got {h.size} "
                f"values: {scale!r}"
            )
        h = h * np.ones(d)
    if not np.all(np.isfinite(h) & (h > 0)):
        raise ValueError(f"scale must be positive and finite, got {scale!r}")

    def value(v: np.ndarray) -> float:
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                # probing near a boundary may take a log of a negative: NaN is handled
                warnings.simplefilter("ignore", RuntimeWarning)
                out = loglik(float(v[0]) if scalar else v)
            arr = np.asarray(out, dtype=float)
        except (ArithmeticError, ValueError, TypeError):
            return np.nan
        if arr.size != 1:
            raise TypeError(f"loglik must return a scalar, got shape {arr.shape} at {v}")
        return float(arr.reshape(()))

    if not np.isfinite(value(x)):
        raise ValueError(f"loglik is not finite at theta = {x}")

    def scaled_hessian(h: np.ndarray):
        def f(u: np.ndarray) -> np.ndarray:
            flat = u.reshape(d, -1)
            out = np.array([value(x + h * flat[:, k]) for k in range(flat.shape[1])])
            return out.reshape(u.shape[1:])

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = hessian(f, np.zeros(d), initial_step=0.5, maxiter=6, order=4)
        return res, res.ddf / np.outer(h, h), res.error / np.outer(h, h)

    # scales: a rough diagonal by plain second differences (only its order of magnitude
    # matters), then about c standard errors so that l changes by ~c^2/8 over the stencil,
    # far above its round-off eps*|l| (c >= 1; c ~ 1e4 when |l| ~ 1e13)
    l0 = value(x)
    for j in range(d):
        for _shrink in range(40):
            e = np.zeros(d)
            e[j] = h[j]
            lp, lm = value(x + e), value(x - e)
            if np.isfinite(lp) and np.isfinite(lm):
                break
            h[j] /= 4
        curv = abs(lp - 2 * l0 + lm) / h[j] ** 2
        if np.isfinite(curv) and curv > 0:
            c = max(1.0, 2 * np.sqrt(2e10 * np.finfo(float).eps * (1 + abs(l0))))
            h[j] = c / np.sqrt(curv)
    for _shrink in range(12):
        res, hess, err = scaled_hessian(h)
        if not np.any(res.status == -3):  # -3: a non-finite value was met
            break
        h = h / 4
    else:
        raise ValueError(
            f"loglik is not finite near theta = {x} even with steps {h}: is theta on the "
            "boundary of the parameter space?"
        )
    hess = (hess + hess.T) / 2
    size = np.sqrt(np.outer(np.abs(np.diag(hess)), np.abs(np.diag(hess))))
    bad = ~np.isfinite(hess) | (err > INFO_RTOL * size)
    if np.any(bad):
        worst = float(np.nanmax(err / np.where(size > 0, size, np.nan)))
        warnings.warn(
            f"observed_information: the numerical Hessian is inaccurate (estimated relative "
            f"error {worst:.2g} > {INFO_RTOL:g}); loglik may be noisy, non-smooth, or theta "
            "near the boundary of the parameter space.",
            InformationWarning,
            stacklevel=2,
        )
    return -hess


def _em_map(e_step: Callable, m_step: Callable, scalar: bool) -> Callable[[np.ndarray], np.ndarray]:
    def em_map(v: np.ndarray) -> np.ndarray:
        out = as_vector(m_step(e_step(float(v[0]) if scalar else v.copy())), "EM map")
        if out.shape != v.shape or not np.all(np.isfinite(out)):
            raise ValueError(f"SEM: the EM step at the perturbed point {v} returned {out}")
        return out

    return em_map


def _dm_row(
    em_map: Callable,
    theta: np.ndarray,
    i: int,
    steps: np.ndarray,
    tol: float,
    valid: Callable[[np.ndarray], bool] | None,
):
    """Row i of DM from Meng-Rubin ratios with shrinking symmetric perturbations.

    For :math:`h` in ``steps`` (decreasing),
    :math:`r_{i\\cdot}(h) = [M(\\hat\\theta + h e_i) - M(\\hat\\theta - h e_i)] / (2h)`,
    one EM step per perturbed point. An :math:`h` whose points are not ``valid`` or where
    the EM map fails or is not finite (outside the parameter space) is skipped. The row is
    frozen at the first :math:`h` whose ratios moved by at most ``tol`` from the previous
    usable :math:`h`'s. Returns ``(row, settled, change, skipped)``.
    """
    previous, best, best_change, skipped = None, None, np.inf, 0
    for h in steps:
        e = np.zeros_like(theta)
        e[i] = h
        plus, minus = theta + e, theta - e
        if valid is not None and not (valid(plus) and valid(minus)):
            skipped += 1
            continue
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                # outside the space a model may warn (log of a negative): detected below
                warnings.simplefilter("ignore", RuntimeWarning)
                row = (em_map(plus) - em_map(minus)) / (2 * h)
        except (ArithmeticError, ValueError):
            skipped += 1
            continue
        if previous is not None:
            change = np.max(np.abs(row - previous))
            if change < best_change:
                best, best_change = row, change
            if change <= tol:
                return row, True, change, skipped
        previous = row
    return (best if best is not None else previous), False, best_change, skipped


#: Relative error of V (DM's error amplified by (I - DM)^{-1}) above which SEM warns.
SEM_AMPLIFICATION_TOL = 1e-2


def sem_covariance(
    e_step: Callable[[Any], Any],
    m_step: Callable[[Any], Any],
    res: EMResult,
    complete_info: np.ndarray | Callable[[Any], np.ndarray],
    *,
    tol: float = 1e-6,
    asym_tol: float = 1e-3,
    valid: Callable[[Any], bool] | None = None,
) -> SEMResult:
    """Supplemented EM: the asymptotic covariance of the EM estimate from EM steps alone.

    **DM.** Meng & Rubin's ratio for perturbed component :math:`i` is
    :math:`r_{ij} = (M_j(\\hat\\theta + \\delta e_i) - \\hat\\theta_j)/\\delta`. Here the
    perturbation is taken on both sides and the unperturbed :math:`\\hat\\theta_j` is
    replaced by the other side's image,

    .. math:: r_{ij}(h) = \\frac{M_j(\\hat\\theta + h e_i) - M_j(\\hat\\theta - h e_i)}{2h},

    for a decreasing sequence :math:`h = 10^{-2}\\,s_i, 10^{-2.5}\\,s_i, \\dots, 10^{-8}\\,s_i`
    (:math:`s_i = \\max(|\\hat\\theta_i|, 10^{-3})`), freezing row :math:`i` once it moves by
    at most ``tol``. Perturbed points must stay in the parameter space: a size :math:`h`
    whose points fail ``valid`` (or where the EM map raises or returns non-finite values)
    is skipped, so near a boundary the sequence starts at a smaller :math:`h`. Why not
    the textbook ratios along the EM path: when EM converges slowly (an eigenvalue
    :math:`\\lambda` of DM near 1), :math:`\\hat\\theta` is only
    :math:`\\approx \\lambda\\,\\mathrm{tol}_{EM}/(1-\\lambda)` from the true fixed point, the
    one-sided ratio carries an error :math:`(M(\\hat\\theta)-\\hat\\theta)/\\delta`, and
    :math:`V` amplifies DM's error by :math:`1/(1-\\lambda)`. The symmetric difference does
    not use :math:`M(\\hat\\theta) = \\hat\\theta` at all and its truncation error is
    :math:`O(h^2)`.

    **V.** :math:`V = I_{oc}^{-1} (I - DM)^{-1} = I_{oc}^{-1} + I_{oc}^{-1} DM (I - DM)^{-1}`,
    with :math:`I_{oc}` the expected complete-data information at :math:`\\hat\\theta`.
    Its relative error is about :math:`\\lVert (I - DM)^{-1} \\rVert\\,\\delta_{DM}`, with
    :math:`\\delta_{DM}` the last change of DM's rows; when that exceeds
    :math:`10^{-2}` (a fraction of missing information within DM's accuracy of 1) SEM
    warns: use :func:`observed_information` there.

    Parameters
    ----------
    e_step, m_step : callable
        The same steps given to :func:`~em_helpers.run_em`. Perturbed points are built in
        the parametrisation the steps take: a constrained quantity (e.g. :math:`p_T =
        1 - p_C - p_I`) must be derived inside the steps, never stored in :math:`\\theta`.
    res : EMResult
        A converged EM run; ``res.theta`` is :math:`\\hat\\theta`.
    complete_info : (d, d) array or callable
        :math:`I_{oc}(\\hat\\theta)`, or a function :math:`\\theta \\mapsto I_{oc}(\\theta)`;
        finite and non-singular.
    tol : float > 0
        How far a row of DM may move between successive perturbation sizes to count as
        settled.
    asym_tol : float >= 0
        Relative asymmetry of :math:`V` above which a :class:`SEMWarning` is emitted.
    valid : callable, optional
        ``valid(theta) -> bool``: whether a point is inside the parameter space (e.g.
        every probability, including derived ones such as :math:`p_T`, in (0, 1)). Without
        it only points where the EM map fails or is not finite are recognised as outside.

    Returns
    -------
    SEMResult
        ``converged`` is False when ``res`` did not converge, a row of DM did not settle,
        or any of the checks below failed.

    Warns
    -----
    SEMWarning
        When ``res`` did not converge, a row of DM did not settle, an eigenvalue of DM is
        not in [0, 1) or V's estimated relative error exceeds :math:`10^{-2}`, or V is
        asymmetric or not positive definite.
    """
    if not isinstance(res, EMResult):
        raise TypeError(f"res must be the EMResult of run_em, got {type(res).__name__}")
    tol = real_number(tol, "tol")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    asym_tol = real_number(asym_tol, "asym_tol")
    if not (np.isfinite(asym_tol) and asym_tol >= 0):
        raise ValueError(f"asym_tol must be a finite number >= 0, got {asym_tol!r}")
    if valid is not None and not callable(valid):
        raise TypeError(f"valid must be a callable theta -> bool, got {valid!r}")
    theta = as_vector(res.theta, "res.theta")
    d = theta.size
    problems = []
    if not res.converged:
        problems.append("the EM run did not converge, so theta is not the MLE")
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
    if np.linalg.cond(ioc) > 1 / np.finfo(float).eps:
        raise ValueError(
            f"complete_info is singular (condition number {np.linalg.cond(ioc):.3g}): "
            f"{ioc!r}; every parameter must be informed by the complete data"
        )

    scalar = res.scalar
    em_map = _em_map(e_step, m_step, scalar)
    valid_vec = None
    if valid is not None:
        def valid_vec(v: np.ndarray) -> bool:
            return as_bool(valid(float(v[0]) if scalar else v.copy()), "valid(theta)")

    steps = 10.0 ** np.arange(-2.0, -8.01, -0.5)
    dm = np.empty((d, d))
    settled, changes = [], []
    for i in range(d):
        h = _relative_steps(theta[i : i + 1], 1.0, 1e-3)[0] * steps
        row, ok, change, skipped = _dm_row(em_map, theta, i, h, tol, valid_vec)
        if row is None:
            raise ValueError(
                f"SEM: no perturbation of {res.names[i]} down to {h[-1]:.2g} stays inside "
                "the parameter space (every EM step there failed or was invalid)"
            )
        dm[i] = row
        settled.append(ok)
        changes.append(change)
        if not ok:
            warnings.warn(
                f"SEM: row {i} ({res.names[i]}) of DM did not settle to tol={tol:g} "
                f"(smallest change {change:.2g}"
                + (f"; {skipped} perturbation sizes left the parameter space" if skipped else "")
                + "); V may be inaccurate.",
                SEMWarning,
                stacklevel=2,
            )

    rates = np.linalg.eigvals(dm)
    rates = rates[np.argsort(-rates.real)]
    if np.max(np.abs(rates.imag)) < 1e-9:
        rates = rates.real
    eye = np.eye(d)
    ioc_inv = np.linalg.inv(ioc)
    try:
        amplifier = np.linalg.inv(eye - dm)
    except np.linalg.LinAlgError:
        amplifier = np.full((d, d), np.inf)
    v = ioc_inv + ioc_inv @ dm @ amplifier
    scale = np.max(np.abs(v))
    asymmetry = float(np.max(np.abs(v - v.T)) / scale) if scale > 0 else 0.0
    cov = (v + v.T) / 2
    # eigenvalues are fractions of missing information: in [0, 1) up to DM's accuracy
    if np.any(np.abs(rates) >= 1) or np.any(np.real(rates) < -10 * tol):
        problems.append(f"DM's eigenvalues {rates} are not all in [0, 1)")
    v_error = np.linalg.norm(amplifier, 2) * max(
        (c for c in changes if np.isfinite(c)), default=np.inf
    )
    if not v_error <= SEM_AMPLIFICATION_TOL:
        problems.append(
            f"V's relative error may reach {v_error:.2g}: (I - DM)^-1 (norm "
            f"{np.linalg.norm(amplifier, 2):.3g}, largest rate {np.max(np.real(rates)):.10g}) "
            "amplifies DM's differencing error; the fraction of missing information is too "
            "close to 1 for SEM, use observed_information"
        )
    if asymmetry > asym_tol:
        problems.append(f"V is asymmetric (relative asymmetry {asymmetry:.2g} > {asym_tol:g})")
    eig_v = np.linalg.eigvalsh(cov) if np.all(np.isfinite(cov)) else np.array([np.nan])
    if not np.all(eig_v > 0):
        problems.append(f"V is not positive definite (eigenvalues {eig_v})")
    for p in problems[1 if not res.converged else 0 :]:
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
