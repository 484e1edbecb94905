"""The t distribution as a scale mixture of normals: EM, ECM, ECME and PX-EM.

**Model.** :math:`x_i \\mid w_i \\sim N_p(\\mu, \\Sigma / w_i)` with
:math:`w_i \\sim \\mathrm{Gamma}(\\nu/2, \\text{rate } \\nu/2)`, so that marginally
:math:`x_i \\sim t_\\nu(\\mu, \\Sigma)` (for :math:`p = 1`, :math:`\\Sigma = \\sigma^2`):

.. math:: \\ell(\\theta) = \\sum_i \\Big[\\log\\Gamma\\big(\\tfrac{\\nu+p}{2}\\big)
          - \\log\\Gamma\\big(\\tfrac{\\nu}{2}\\big) - \\tfrac p2 \\log(\\nu\\pi)
          - \\tfrac12\\log|\\Sigma| - \\tfrac{\\nu+p}{2}\\log\\big(1 + \\delta_i/\\nu\\big)\\Big],
          \\qquad \\delta_i = (x_i-\\mu)^\\top\\Sigma^{-1}(x_i-\\mu).

The weights :math:`w_i` are the missing data. Given :math:`x_i` they are
:math:`\\mathrm{Gamma}\\big(\\tfrac{\\nu+p}{2}, \\text{rate } \\tfrac{\\nu+\\delta_i}{2}\\big)`, so
the E-step computes

.. math:: \\bar w_i = \\mathrm{E}[w_i \\mid x_i] = \\frac{\\nu+p}{\\nu+\\delta_i}, \\qquad
          \\bar l_i = \\mathrm{E}[\\log w_i \\mid x_i]
          = \\psi\\big(\\tfrac{\\nu+p}{2}\\big) - \\log\\tfrac{\\nu+\\delta_i}{2}.

**M-steps** (with :math:`W = \\sum_i \\bar w_i`, :math:`\\mu' = \\sum_i \\bar w_i x_i / W`,
:math:`S = \\sum_i \\bar w_i (x_i-\\mu')(x_i-\\mu')^\\top`, :math:`h(\\nu) = \\log(\\nu/2)
- \\psi(\\nu/2)`, a decreasing function from :math:`\\infty` to 0):

- ``"em"`` (the weights as missing data): :math:`\\Sigma' = S/n`, and :math:`\\nu'` solves
  :math:`h(\\nu) = \\overline{\\bar w - \\bar l} - 1` (bars over :math:`i`: means).
- ``"ecm"`` (Meng & Rubin 1993; CM-step 1: :math:`(\\mu, \\Sigma)` given :math:`\\nu^{(t)}`,
  CM-step 2: :math:`\\nu` given the new :math:`(\\mu, \\Sigma)`, both maximising Q): Q is a
  sum of a :math:`(\\mu, \\Sigma)` part and a :math:`\\nu` part, so ECM's map *is* EM's.
- ``"mcecm"`` (multicycle ECM, Meng & Rubin 1993): an E-step before each CM-step; the
  :math:`\\nu` step uses weights recomputed at the new :math:`(\\mu, \\Sigma)`.
- ``"ecme"`` (Liu & Rubin 1994): CM-step 2 maximises the *observed* :math:`\\ell` over
  :math:`\\nu`, whose score is
  :math:`\\partial\\ell/\\partial\\nu = \\tfrac12\\sum_i\\big[h(\\nu) + 1 + \\bar l_i(\\nu)
  - \\bar w_i(\\nu)\\big]` with the weights at the current :math:`\\nu`.
- ``"px-em"`` (Liu, Rubin & Wu 1998): the weights get a free scale,
  :math:`w_i/\\alpha \\sim \\mathrm{Gamma}(\\nu/2, \\nu/2)` and
  :math:`x_i \\mid w_i \\sim N(\\mu, \\Sigma_*/w_i)`, so :math:`\\Sigma = \\Sigma_*/\\alpha`. The
  expanded M-step gives :math:`\\Sigma_* = S/n`, :math:`\\alpha = W/n`, and :math:`\\nu`
  solving :math:`h(\\nu) = \\log(W/n) - \\bar{\\bar l}`; reduced:
  :math:`\\Sigma' = S/W`.
- ``"px-ecme"``: PX-EM's :math:`(\\mu, \\Sigma)` step, then ECME's :math:`\\nu` step.

:math:`\\nu` is kept in :data:`NU_BOUNDS`: at the upper end the t is a normal to four
digits, and a :math:`\\nu` step that would go beyond it stops there. The parameter vector
is :math:`\\theta = (\\mu, \\mathrm{vech}\\,\\Sigma, \\nu)` (the lower triangle of
:math:`\\Sigma` row by row; for :math:`p = 1`, :math:`(\\mu, \\sigma^2, \\nu)`), without
:math:`\\nu` when it is known. Used by notebook 11 and ``tests/test_student_t.py``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import brentq
from scipy.special import digamma, gammaln, zeta

from ..core.loop import EMResult, run_em
from ..core.louis import LouisResult, louis_information

__all__ = [
    "ALGORITHMS",
    "NEWCOMB",
    "NU_BOUNDS",
    "StudentT",
    "TStats",
    "h_nu",
    "map_jacobian",
    "simulate_t",
]

#: Newcomb's third series (1882) of passage times of light, in Stigler's (1977, Table 5)
#: order: the time is 24.8 microseconds plus the value in nanoseconds (R's ``MASS::newcomb``).
NEWCOMB = np.array(
    [28, 26, 33, 24, 34, -44, 27, 16, 40, -2, 29, 22, 24, 21, 25, 30, 23, 29, 31, 19,
     24, 20, 36, 32, 36, 28, 25, 21, 28, 29, 37, 25, 28, 26, 30, 32, 36, 26, 30, 22,
     36, 23, 27, 27, 28, 27, 31, 27, 26, 33, 26, 32, 32, 24, 39, 28, 24, 25, 32, 25,
     29, 27, 28, 29, 16, 23],
    dtype=float,
)  # fmt: skip

#: The range of the degrees of freedom. Above 1e4 the t is a normal to about four digits;
#: below :math:`p/(n-1)` the likelihood is unbounded (a scale shrinking onto one data point
#: wins), and with :math:`n \ge 2p + 2` rows the lower end 0.5 stays clear of that.
NU_BOUNDS = (0.5, 1e4)

#: The algorithms of :meth:`StudentT.steps` (see the module docstring).
ALGORITHMS = ("em", "ecm", "mcecm", "ecme", "px-em", "px-ecme")

_RTOL = 4 * np.finfo(float).eps
_LOG2 = math.log(2.0)
_LOG_NU = (math.log(NU_BOUNDS[0]), math.log(NU_BOUNDS[1]))


def h_nu(nu: float | np.ndarray) -> float | np.ndarray:
    """:math:`h(\\nu) = \\log(\\nu/2) - \\psi(\\nu/2)`, positive and decreasing to 0."""
    return np.log(nu / 2) - digamma(nu / 2)


_H_ENDS = (float(h_nu(NU_BOUNDS[0])), float(h_nu(NU_BOUNDS[1])))


def _trigamma(x: float | np.ndarray) -> float | np.ndarray:
    """:math:`\\psi'(x) = \\zeta(2, x)` (the Hurwitz zeta ufunc: ``polygamma(1, x)``
    without its Python overhead)."""
    return zeta(2, x)


def _nu_of(u: float) -> float:
    """:math:`\\nu = e^u`, inside :data:`NU_BOUNDS` exactly (``exp(log(1e4))`` is not 1e4)."""
    return min(max(math.exp(u), NU_BOUNDS[0]), NU_BOUNDS[1])


def _newton_bracketed(f, lo: float, hi: float, x: float) -> float:
    """The root of a function decreasing through 0 on ``[lo, hi]`` (``f(lo) > 0 > f(hi)``),
    by Newton's method kept inside a shrinking bracket (a step that would leave it is a
    bisection: "rtsafe"). ``f(x)`` returns the value and the derivative. Converges to a few
    ulps, as :func:`scipy.optimize.brentq` with ``rtol=4*eps`` does, in 4-6 calls instead
    of 10-15 (SEM differentiates the M-step numerically, so the root must be that sharp).
    """
    for _ in range(100):
        value, slope = f(x)
        if value == 0:
            return x
        if value > 0:
            lo = x
        else:
            hi = x
        step = value / slope if slope < 0 else np.inf
        new = x - step
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - x) <= _RTOL * max(abs(new), 1.0) or hi - lo <= _RTOL * max(abs(lo), 1.0):
            return new
        x = new
    raise RuntimeError(f"no convergence in [{lo}, {hi}]")  # pragma: no cover


def _solve_h(c: float, near: float | None = None) -> float:
    """The :math:`\\nu` in :data:`NU_BOUNDS` with :math:`h(\\nu) = c` (clamped at the ends),
    solved in :math:`u = \\log\\nu` with :math:`dh/du = 1 - \\tfrac\\nu2\\psi'(\\nu/2)`,
    from ``near`` (the previous :math:`\\nu`, close to the root once EM settles) or else
    :math:`\\nu_0 = (1 + \\sqrt{1 + 4c/3})/2c` (the root of
    :math:`h \\approx 1/\\nu + 1/3\\nu^2`)."""
    lo, hi = _LOG_NU
    if c >= _H_ENDS[0]:
        return NU_BOUNDS[0]
    if c <= _H_ENDS[1]:
        return NU_BOUNDS[1]

    def f(u: float) -> tuple[float, float]:
        half = math.exp(u) / 2
        return u - _LOG2 - float(digamma(half)) - c, 1.0 - half * float(_trigamma(half))

    if near is not None and NU_BOUNDS[0] < near < NU_BOUNDS[1]:
        start = math.log(near)
    else:
        start = math.log((1 + math.sqrt(1 + 4 * c / 3)) / (2 * c))
    return _nu_of(_newton_bracketed(f, lo, hi, min(max(start, lo), hi)))


@dataclass(frozen=True)
class TStats:
    """What the E-step returns: the expected weights and log-weights at ``theta``.

    Attributes
    ----------
    w : ndarray, shape (n,)
        :math:`\\bar w_i = (\\nu+p)/(\\nu+\\delta_i)`.
    log_w : ndarray, shape (n,)
        :math:`\\bar l_i = \\psi((\\nu+p)/2) - \\log((\\nu+\\delta_i)/2)`.
    theta : ndarray
        The :math:`\\theta^{(t)}` they were computed at (the multicycle ECM and ECME steps
        need its :math:`\\nu`).
    """

    w: np.ndarray
    log_w: np.ndarray
    theta: np.ndarray


def _check_nu(nu: Any, what: str) -> float:
    if isinstance(nu, bool) or not isinstance(nu, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {nu!r} ({type(nu).__name__})")
    nu = float(nu)
    if not (NU_BOUNDS[0] <= nu <= NU_BOUNDS[1]):
        raise ValueError(f"{what} must be in [{NU_BOUNDS[0]:g}, {NU_BOUNDS[1]:g}], got {nu!r}")
    return nu


def _as_data(x: Any) -> np.ndarray:
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"x must be an array of numbers, got {x!r}")
    try:
        arr = np.asarray(x)
    except ValueError as exc:
        raise ValueError(f"x is ragged or not numeric: {exc}") from exc
    if arr.dtype == bool or np.iscomplexobj(arr):
        raise TypeError(f"x must be real numbers, got dtype {arr.dtype}")
    try:
        arr = np.array(arr, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"x must be an array of numbers: {exc}") from exc
    if arr.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D (n,) or 2-D (n, p), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("x has non-finite values (NaN or inf); drop or impute them first")
    return arr


@dataclass(frozen=True, eq=False)
class StudentT:
    """EM and its relatives for the (multivariate) t distribution on the data ``x``.

    Parameters
    ----------
    x : array, shape (n,) or (n, p)
        The observations; finite, with :math:`n \\ge 2p + 2` and a non-singular sample covariance.
    nu : float, optional
        Known degrees of freedom (then :math:`\\theta = (\\mu, \\mathrm{vech}\\,\\Sigma)`);
        by default :math:`\\nu` is estimated.

    Raises
    ------
    TypeError, ValueError
        Naming ``x`` or ``nu``: non-numeric or non-finite data, too few rows, data with no
        spread (a singular covariance), ``nu`` outside :data:`NU_BOUNDS`.
    """

    x: np.ndarray
    nu: float | None = None

    def __post_init__(self) -> None:
        arr = _as_data(self.x)
        data = arr[:, None] if arr.ndim == 1 else arr
        n, p = data.shape
        if p < 1 or n < 2 * p + 2:
            raise ValueError(
                f"x has {n} rows of dimension {p}: the t needs at least 2p + 2 = {2 * p + 2} "
                "rows (with fewer, its likelihood is unbounded for small nu)"
            )
        cov = np.atleast_2d(np.cov(data, rowvar=False, bias=True))
        if np.linalg.eigvalsh(cov)[0] <= 1e-12 * max(np.trace(cov), np.finfo(float).tiny):
            raise ValueError(
                "x has no spread in some direction (singular sample covariance): "
                "the scale matrix would be singular"
            )
        if self.nu is not None:
            object.__setattr__(self, "nu", _check_nu(self.nu, "nu"))
        object.__setattr__(self, "x", arr)
        object.__setattr__(self, "_data", data)
        rows, cols = np.tril_indices(p)
        basis = np.zeros((rows.size, p, p))
        basis[np.arange(rows.size), rows, cols] = 1.0
        basis[np.arange(rows.size), cols, rows] = 1.0
        object.__setattr__(self, "_tril", (rows, cols))
        object.__setattr__(self, "_basis", basis)  # E_m: dSigma / d vech_m
        k = rows.size
        object.__setattr__(self, "_shape", (n, p, k, p + k + int(self.nu is None)))

    # ---- shape of theta -------------------------------------------------------------

    @property
    def n(self) -> int:
        """Number of observations."""
        return self._shape[0]

    @property
    def p(self) -> int:
        """Dimension of an observation."""
        return self._shape[1]

    @property
    def estimate_nu(self) -> bool:
        """True when :math:`\\nu` is a parameter (not given)."""
        return self.nu is None

    @property
    def d(self) -> int:
        """Length of :math:`\\theta`: :math:`p + p(p+1)/2` (+1 with :math:`\\nu`)."""
        return self._shape[3]

    @property
    def names(self) -> list[str]:
        """Labels of the components of :math:`\\theta`."""
        if self.p == 1:
            names = ["mu", "sigma2"]
        else:
            rows, cols = self._tril
            names = [f"mu[{j}]" for j in range(self.p)]
            names += [f"Sigma[{r},{c}]" for r, c in zip(rows, cols, strict=True)]
        return names + (["nu"] if self.estimate_nu else [])

    def pack(self, mu: Any, scatter: Any, nu: float | None = None) -> np.ndarray:
        """:math:`\\theta` from :math:`\\mu` (p,), :math:`\\Sigma` (p, p) or
        :math:`\\sigma^2`, and :math:`\\nu` (required exactly when it is estimated)."""
        mu = np.atleast_1d(np.asarray(mu, dtype=float))
        scatter = np.atleast_2d(np.asarray(scatter, dtype=float))
        if mu.shape != (self.p,) or scatter.shape != (self.p, self.p):
            raise ValueError(
                f"mu must have shape ({self.p},) and the scale matrix ({self.p}, {self.p}); "
                f"got {mu.shape} and {scatter.shape}"
            )
        parts = [mu, scatter[self._tril]]
        if self.estimate_nu:
            if nu is None:
                raise ValueError("nu is estimated here, so pack needs a value of nu")
            parts.append([float(nu)])
        elif nu is not None:
            raise ValueError(f"nu is known here ({self.nu}); pack takes no nu")
        return np.concatenate(parts)

    def unpack(self, theta: Any) -> tuple[np.ndarray, np.ndarray, float]:
        """:math:`(\\mu, \\Sigma, \\nu)` from :math:`\\theta`; ``ValueError`` naming
        ``theta`` when it has the wrong length or is not finite."""
        theta = np.asarray(theta, dtype=float)
        n, p, k, d = self._shape
        if theta.shape != (d,):
            raise ValueError(
                f"theta must have length {d} ({', '.join(self.names)}), got shape "
                f"{theta.shape}"
            )
        if not np.isfinite(theta).all():
            raise ValueError(f"theta must be finite, got {theta}")
        mu = theta[:p]
        if p == 1:
            scatter = theta[1:2].reshape(1, 1)
        else:
            rows, cols = self._tril
            scatter = np.empty((p, p))
            scatter[rows, cols] = theta[p : p + k]
            scatter[cols, rows] = theta[p : p + k]
        nu = float(theta[-1]) if self.nu is None else self.nu
        return mu, scatter, nu

    def valid(self, theta: Any) -> bool:
        """Inside the parameter space: :math:`\\Sigma` positive definite, :math:`\\nu` in
        :data:`NU_BOUNDS`."""
        try:
            _, scatter, nu = self.unpack(theta)
        except ValueError:
            return False
        if not NU_BOUNDS[0] <= nu <= NU_BOUNDS[1]:
            return False
        if self.p == 1:
            return bool(scatter[0, 0] > 0)
        try:
            cholesky(scatter, lower=True)
        except np.linalg.LinAlgError:
            return False
        return True

    def start(self, nu0: float = 10.0) -> np.ndarray:
        """A start: the sample mean and covariance (divisor n), and ``nu0`` when estimated."""
        mu = self._data.mean(axis=0)
        cov = np.atleast_2d(np.cov(self._data, rowvar=False, bias=True))
        return self.pack(mu, cov, _check_nu(nu0, "nu0") if self.estimate_nu else None)

    # ---- the pieces -----------------------------------------------------------------

    def _chol(self, scatter: np.ndarray, theta: Any) -> np.ndarray:
        try:
            return cholesky(scatter, lower=True)
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                f"theta = {np.asarray(theta)} is outside the parameter space: its scale "
                "matrix is not positive definite"
            ) from exc

    def _delta(self, mu: np.ndarray, scatter: np.ndarray, theta: Any) -> np.ndarray:
        """Squared Mahalanobis distances :math:`\\delta_i` (Cholesky, no inverse)."""
        centred = self._data - mu
        if self.p == 1:
            if not scatter[0, 0] > 0:
                raise ValueError(
                    f"theta = {np.asarray(theta)} is outside the parameter space: "
                    "sigma2 must be positive"
                )
            return centred[:, 0] ** 2 / scatter[0, 0]
        z = solve_triangular(self._chol(scatter, theta), centred.T, lower=True)
        return np.einsum("ji,ji->i", z, z)

    def _nu_ok(self, nu: float, theta: Any) -> None:
        if not nu > 0:
            raise ValueError(f"theta = {np.asarray(theta)}: nu must be positive")

    def weights(self, theta: Any) -> tuple[np.ndarray, np.ndarray]:
        """:math:`(\\bar w_i, \\bar l_i)` at ``theta``."""
        mu, scatter, nu = self.unpack(theta)
        self._nu_ok(nu, theta)
        delta = self._delta(mu, scatter, theta)
        w = (nu + self.p) / (nu + delta)
        log_w = digamma((nu + self.p) / 2) - np.log((nu + delta) / 2)
        return w, log_w

    def e_step(self, theta: Any) -> TStats:
        """E-step: the expected weights and log-weights at :math:`\\theta^{(t)}`."""
        w, log_w = self.weights(theta)
        return TStats(w=w, log_w=log_w, theta=np.array(theta, dtype=float))

    def _weighted(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """:math:`\\mu' = \\sum w x / W`, :math:`S = \\sum w (x-\\mu')(x-\\mu')^\\top`, W."""
        total = float(w.sum())
        mu = w @ self._data / total
        centred = self._data - mu
        return mu, (centred * w[:, None]).T @ centred, total

    def _check_stats(self, stats: Any) -> TStats:
        if not isinstance(stats, TStats):
            raise TypeError(f"stats must be the TStats of e_step, got {type(stats).__name__}")
        if stats.w.shape != (self.n,):
            raise ValueError(f"stats.w has shape {stats.w.shape}, expected ({self.n},)")
        return stats

    def m_step(self, stats: TStats) -> np.ndarray:
        """EM's M-step (the argmax of Q): :math:`\\Sigma' = S/n`, :math:`\\nu'` from
        :math:`h(\\nu) = \\overline{\\bar w - \\bar l} - 1`."""
        return self._cm_steps(self._check_stats(stats), "em")

    def _cm_steps(self, stats: TStats, algorithm: str) -> np.ndarray:
        px = algorithm.startswith("px")
        n = self.n
        mu, s, total = self._weighted(stats.w)
        scatter = s / (total if px else n)
        if not self.estimate_nu:
            return self._theta(mu, scatter, None)
        nu_t = float(stats.theta[-1])
        if algorithm in ("em", "ecm"):
            nu = _solve_h(float((stats.w - stats.log_w).sum()) / n - 1.0, nu_t)
        elif algorithm == "px-em":
            nu = _solve_h(math.log(total / n) - float(stats.log_w.sum()) / n, nu_t)
        elif algorithm == "mcecm":  # a second E-step at (mu', Sigma', nu^(t))
            w, log_w = self.weights(self._theta(mu, scatter, nu_t))
            nu = _solve_h(float((w - log_w).sum()) / n - 1.0, nu_t)
        else:  # ecme, px-ecme: maximise the observed loglik over nu
            nu = self._nu_ecme(mu, scatter, nu_t)
        return self._theta(mu, scatter, nu)

    def _theta(self, mu: np.ndarray, scatter: np.ndarray, nu: float | None) -> np.ndarray:
        """:meth:`pack` without its checks, for the M-steps."""
        n, p, k, d = self._shape
        out = np.empty(d)
        out[:p] = mu
        if p == 1:
            out[1] = scatter[0, 0]
        else:
            out[p : p + k] = scatter[self._tril]
        if self.nu is None:
            out[-1] = nu
        return out

    def steps(self, algorithm: str = "em"):
        """``(e_step, m_step)`` of ``algorithm``, one of :data:`ALGORITHMS`, for
        :func:`em_helpers.run_em` (the E-step is the same for all)."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        if not self.estimate_nu and algorithm in ("ecm", "mcecm", "ecme", "px-ecme"):
            raise ValueError(
                f"algorithm={algorithm!r} differs from 'em'/'px-em' only in the nu step, and "
                f"nu is known here ({self.nu}); use 'em' or 'px-em'"
            )

        def m_step(stats: TStats) -> np.ndarray:
            return self._cm_steps(self._check_stats(stats), algorithm)

        return self.e_step, m_step

    def em_map(self, theta: Any, algorithm: str = "em") -> np.ndarray:
        """One iteration of ``algorithm``: the EM map (or ECM's, ECME's, PX-EM's) at ``theta``."""
        e_step, m_step = self.steps(algorithm)
        return m_step(e_step(theta))

    # ---- likelihoods ----------------------------------------------------------------

    def _loglik_terms(self, delta: np.ndarray, logdet: float, nu: float) -> np.ndarray:
        p = self.p
        return (
            gammaln((nu + p) / 2) - gammaln(nu / 2) - p / 2 * np.log(nu * np.pi) - logdet / 2
            - (nu + p) / 2 * np.log1p(delta / nu)
        )

    def _logdet(self, scatter: np.ndarray, theta: Any) -> float:
        if self.p == 1:
            return float(np.log(scatter[0, 0]))
        return 2 * float(np.log(np.diag(self._chol(scatter, theta))).sum())

    def loglik(self, theta: Any) -> float:
        """Observed-data log-likelihood :math:`\\ell(\\theta)` (the formula above)."""
        mu, scatter, nu = self.unpack(theta)
        self._nu_ok(nu, theta)
        delta = self._delta(mu, scatter, theta)
        return float(self._loglik_terms(delta, self._logdet(scatter, theta), nu).sum())

    def nu_score(self, theta: Any) -> float:
        """:math:`\\partial\\ell/\\partial\\nu = \\tfrac12\\sum_i[h(\\nu) + 1 + \\bar l_i
        - \\bar w_i]` at ``theta`` (Fisher's identity: the :math:`\\nu`-derivative of Q)."""
        _, _, nu = self.unpack(theta)
        w, log_w = self.weights(theta)
        return float(0.5 * np.sum(h_nu(nu) + 1 + log_w - w))

    def _nu_ecme(self, mu: np.ndarray, scatter: np.ndarray, nu_t: float) -> float:
        """ECME's CM-step: the local maximiser of :math:`\\ell(\\mu, \\Sigma, \\cdot)` uphill
        from :math:`\\nu^{(t)}` (so :math:`\\ell` never drops). In :math:`u = \\log\\nu`
        the score is :math:`s(u) = \\sum_i[h(\\nu) + 1 + \\bar l_i(\\nu) - \\bar w_i(\\nu)]`
        (twice :math:`\\partial\\ell/\\partial\\nu`), with
        :math:`ds/du = \\nu\\sum_i[h'(\\nu) + \\tfrac12\\psi'(\\tfrac{\\nu+p}2)
        - \\frac1{\\nu+\\delta_i} - \\frac{\\delta_i-p}{(\\nu+\\delta_i)^2}]`,
        :math:`h'(\\nu) = 1/\\nu - \\tfrac12\\psi'(\\nu/2)`. Steps of growing length go
        uphill until the score changes sign, then bracketed Newton finds the root;
        clamped to :data:`NU_BOUNDS`."""
        delta = self._delta(mu, scatter, mu)
        p, n = self.p, self.n

        def score(u: float) -> tuple[float, float]:
            nu = math.exp(u)
            half, plus = nu / 2, (nu + p) / 2
            inv = 1 / (nu + delta)
            value = n * (u - _LOG2 - float(digamma(half)) + 1 + float(digamma(plus)))
            value -= float((-np.log(inv * 2) + (nu + p) * inv).sum())
            slope = n * (1 / nu - float(_trigamma(half)) / 2 + float(_trigamma(plus)) / 2)
            slope -= float((inv + (delta - p) * inv * inv).sum())
            return value, nu * slope

        lo, hi = _LOG_NU
        u0 = min(max(math.log(nu_t), lo), hi)
        s0, d0 = score(u0)
        if s0 == 0:
            return _nu_of(u0)
        direction = 1.0 if s0 > 0 else -1.0
        newton = -s0 / d0 if d0 < 0 else direction * _LOG2  # uphill: the sign of s0
        # first trial: 1.5 Newton steps (at least 1e-12, at most log 2), doubled until the
        # score changes sign
        step = min(max(1.5 * abs(newton), 1e-12), _LOG2)
        a = u0
        while True:
            b = min(max(a + direction * step, lo), hi)
            sb, _ = score(b)
            if sb == 0:
                return _nu_of(b)
            if (sb > 0) != (s0 > 0):
                break
            if b in (lo, hi):
                return _nu_of(b)  # uphill all the way to the bound
            a, step = b, 2 * step
        left, right = (a, b) if direction > 0 else (b, a)  # score > 0 at left, < 0 at right
        start = u0 + newton
        if not left < start < right:
            start = 0.5 * (left + right)
        return _nu_of(_newton_bracketed(score, left, right, start))

    def Q(self, theta: Any, stats: TStats) -> float:
        """:math:`Q(\\theta\\mid\\theta^{(t)})` up to a constant, with ``stats`` the
        E-step at :math:`\\theta^{(t)}`:

        .. math:: Q = -\\tfrac n2\\log|\\Sigma| - \\tfrac12\\sum_i \\bar w_i \\delta_i
                  + n\\big[\\tfrac\\nu2\\log\\tfrac\\nu2 - \\log\\Gamma(\\tfrac\\nu2)\\big]
                  + \\tfrac\\nu2\\sum_i(\\bar l_i - \\bar w_i).
        """
        stats = self._check_stats(stats)
        mu, scatter, nu = self.unpack(theta)
        delta = self._delta(mu, scatter, theta)
        out = -self.n / 2 * self._logdet(scatter, theta) - 0.5 * stats.w @ delta
        if self.estimate_nu:
            self._nu_ok(nu, theta)
            out += self.n * (nu / 2 * np.log(nu / 2) - gammaln(nu / 2))
            out += nu / 2 * np.sum(stats.log_w - stats.w)
        return float(out)

    def Q_expanded(self, mu: Any, scatter_star: Any, alpha: float, nu: float,
                   stats: TStats) -> float:
        """PX-EM's :math:`Q_X` up to a constant: the expected complete-data log-likelihood
        of the expanded model (:math:`w_i/\\alpha \\sim \\mathrm{Gamma}(\\nu/2,\\nu/2)`,
        :math:`x_i\\mid w_i \\sim N(\\mu, \\Sigma_*/w_i)`) with the weights of ``stats``
        (computed at :math:`\\alpha = 1`):

        .. math:: Q_X = -\\tfrac n2\\log|\\Sigma_*| - \\tfrac12\\sum_i\\bar w_i\\delta_{*i}
                  + n\\big[\\tfrac\\nu2\\log\\tfrac{\\nu}{2\\alpha} - \\log\\Gamma(\\tfrac\\nu2)
                  \\big] + \\tfrac\\nu2\\sum_i \\bar l_i - \\frac{\\nu}{2\\alpha}\\sum_i\\bar w_i.
        """
        stats = self._check_stats(stats)
        mu = np.atleast_1d(np.asarray(mu, dtype=float))
        scatter_star = np.atleast_2d(np.asarray(scatter_star, dtype=float))
        p = self.p
        if mu.shape != (p,) or scatter_star.shape != (p, p):
            raise ValueError(
                f"mu must have shape ({p},) and scatter_star ({p}, {p}); got {mu.shape} "
                f"and {scatter_star.shape}"
            )
        if not (alpha > 0 and nu > 0):
            raise ValueError(f"alpha and nu must be positive, got alpha={alpha}, nu={nu}")
        delta = self._delta(mu, scatter_star, mu)
        out = -self.n / 2 * self._logdet(scatter_star, mu) - 0.5 * stats.w @ delta
        out += self.n * (nu / 2 * np.log(nu / (2 * alpha)) - gammaln(nu / 2))
        out += nu / 2 * np.sum(stats.log_w) - nu / (2 * alpha) * np.sum(stats.w)
        return float(out)

    # ---- information ----------------------------------------------------------------

    def _pieces(self, theta: Any):
        mu, scatter, nu = self.unpack(theta)
        w, log_w = self.weights(theta)
        inv = cho_solve((self._chol(scatter, theta), True), np.eye(self.p))
        centred = self._data - mu
        r = w @ centred
        s = (centred * w[:, None]).T @ centred
        return mu, scatter, nu, w, log_w, inv, centred, r, s

    def complete_info(self, theta: Any, expanded: bool = False) -> np.ndarray:
        """:math:`I_{oc}(\\theta) = -\\nabla^2_\\theta Q(\\theta\\mid\\theta^{(t)})` at
        :math:`\\theta^{(t)} = \\theta`, in closed form (:math:`A = \\Sigma^{-1}`,
        :math:`r = \\sum_i\\bar w_i(x_i-\\mu)`, :math:`E_m = \\partial\\Sigma/\\partial
        \\mathrm{vech}_m`):

        .. math:: I_{\\mu\\mu} = W A,\\quad I_{\\mu m} = A E_m A r,\\quad
                  I_{mm'} = -\\tfrac n2\\mathrm{tr}(AE_mAE_{m'})
                  + \\mathrm{tr}(AE_mAE_{m'}AS)_{\\mathrm{sym}},\\quad
                  I_{\\nu\\nu} = n\\big[\\tfrac14\\psi'(\\tfrac\\nu2) - \\tfrac1{2\\nu}\\big].

        With ``expanded=True``, PX-EM's complete information: the expanded model's, in the
        coordinates :math:`(\\theta, \\alpha)` at :math:`\\alpha = 1`, with the working
        parameter :math:`\\alpha` profiled out (the Schur complement
        :math:`I_{\\theta\\theta} - I_{\\theta\\alpha} I_{\\alpha\\alpha}^{-1} I_{\\alpha\\theta}`;
        Liu, Rubin & Wu 1998), where :math:`I_{\\alpha\\alpha} = \\mathrm{tr}(AS) + \\nu W
        - n(p+\\nu)/2`, :math:`I_{\\mu\\alpha} = Ar`,
        :math:`I_{m\\alpha} = \\tfrac12\\mathrm{tr}(AE_mAS)`, :math:`I_{\\nu\\alpha} = (n-W)/2`.
        """
        mu, scatter, nu, w, log_w, a, centred, r, s = self._pieces(theta)
        p, n, basis = self.p, self.n, self._basis
        total = w.sum()
        k = basis.shape[0]
        ae = np.einsum("ij,mjk->mik", a, basis)  # A E_m
        aea = np.einsum("mij,jk->mik", ae, a)  # A E_m A
        info = np.zeros((self.d, self.d))
        info[:p, :p] = total * a
        info[:p, p : p + k] = (aea @ r).T
        info[p : p + k, :p] = aea @ r
        cross = np.einsum("aij,bjk,kl,li->ab", ae, ae, a, s)
        info[p : p + k, p : p + k] = (
            -n / 2 * np.einsum("aij,bji->ab", ae, ae) + (cross + cross.T) / 2
        )
        if self.estimate_nu:
            info[-1, -1] = n * (_trigamma(nu / 2) / 4 - 1 / (2 * nu))
        if not expanded:
            return info
        i_aa = np.trace(a @ s) + nu * total - n * (p + nu) / 2
        i_ta = np.concatenate(
            [a @ r, 0.5 * np.einsum("mij,ji->m", aea, s)]
            + ([[(n - total) / 2]] if self.estimate_nu else [])
        )
        return info - np.outer(i_ta, i_ta) / i_aa

    def score_moments(self, theta: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the complete-data score given the data (for Louis).

        Observation :math:`i`'s complete-data score is
        :math:`c_i + w_i u_i + \\log w_i\\, v` with
        :math:`u_i = \\big(A(x_i-\\mu),\\ \\tfrac12 (x_i-\\mu)^\\top AE_mA(x_i-\\mu),\\
        -\\tfrac12\\big)`, :math:`v = (0, 0, \\tfrac12)` and
        :math:`c_i = \\big(0, -\\tfrac12\\mathrm{tr}(AE_m), \\tfrac12[\\log\\tfrac\\nu2 + 1
        - \\psi(\\tfrac\\nu2)]\\big)`. Given :math:`x_i`,
        :math:`w_i \\sim \\mathrm{Gamma}(a_i, b_i)` with :math:`a_i = (\\nu+p)/2`,
        :math:`b_i = (\\nu+\\delta_i)/2`: :math:`\\mathrm{Var}\\,w_i = a_i/b_i^2`,
        :math:`\\mathrm{Var}\\log w_i = \\psi'(a_i)`, :math:`\\mathrm{Cov}(w_i, \\log w_i)
        = 1/b_i`; the observations are independent, so the moments add.

        Returns
        -------
        score : ndarray, shape (d,)
            :math:`S(\\theta) = \\nabla\\ell(\\theta)` (Fisher's identity).
        cov : ndarray, shape (d, d)
            :math:`I_{mis}(\\theta) = \\mathrm{Var}(S_c\\mid x, \\theta)`, the missing information.
        """
        mu, scatter, nu, w, log_w, a, centred, r, s = self._pieces(theta)
        p = self.p
        z = centred @ a  # rows A (x_i - mu)
        rows, cols = self._tril
        quad = z[:, rows] * z[:, cols] * np.where(rows == cols, 1.0, 2.0)  # x'AE_mAx
        u = np.hstack([z, quad / 2] + ([-0.5 * np.ones((self.n, 1))] if self.estimate_nu else []))
        v = np.zeros(self.d)
        c = np.zeros(self.d)
        c[p : p + rows.size] = -0.5 * np.einsum("mij,ji->m", self._basis, a)
        if self.estimate_nu:
            v[-1] = 0.5
            c[-1] = 0.5 * (np.log(nu / 2) + 1 - digamma(nu / 2))
        shape = (nu + p) / 2
        rate = shape / w  # (nu + delta) / 2
        var_w, var_l, cov_wl = shape / rate**2, _trigamma(shape), 1 / rate
        score = self.n * c + w @ u + log_w.sum() * v
        uv = np.einsum("i,id->d", cov_wl, u)
        cov = np.einsum("i,id,ie->de", var_w, u, u) + self.n * var_l * np.outer(v, v)
        cov += np.outer(uv, v) + np.outer(v, uv)
        return score, (cov + cov.T) / 2

    def louis(self, theta: Any, expanded: bool = False) -> LouisResult:
        """:math:`I_o = I_{oc} - I_{mis}` by Louis' formula. ``expanded=True`` uses PX-EM's
        complete information (:meth:`complete_info`) with the same :math:`I_o`, so its
        ``fractions`` and ``dm`` are PX-EM's fractions of missing information and rate
        matrix."""
        complete = self.complete_info(theta)
        observed = complete - self.score_moments(theta)[1]
        if not expanded:
            return louis_information(complete, complete - observed)
        px = self.complete_info(theta, expanded=True)
        return louis_information(px, px - observed)

    # ---- fitting --------------------------------------------------------------------

    def fit(self, algorithm: str = "px-ecme", theta0: Any = None, *, tol: float = 1e-10,
            max_iter: int = 5000, accelerate: str | None = None) -> EMResult:
        """:func:`em_helpers.run_em` with ``algorithm``'s steps, :math:`\\ell`, the names
        and ``valid``; ``theta0`` defaults to :meth:`start`."""
        e_step, m_step = self.steps(algorithm)
        theta0 = self.start() if theta0 is None else theta0
        if not self.valid(theta0):
            raise ValueError(
                f"theta0 = {np.asarray(theta0)} is not a valid start: it needs length "
                f"{self.d}, a positive definite scale and nu in {NU_BOUNDS}"
            )
        return run_em(e_step, m_step, theta0, loglik=self.loglik, tol=tol, max_iter=max_iter,
                      names=self.names, accelerate=accelerate, valid=self.valid)

    def profile_loglik(self, nu: float, theta0: Any = None, tol: float = 1e-11) -> float:
        """:math:`\\ell_p(\\nu) = \\max_{\\mu,\\Sigma}\\ell(\\mu, \\Sigma, \\nu)` (by PX-EM
        with :math:`\\nu` fixed, from ``theta0``'s :math:`(\\mu, \\Sigma)` or the sample's)."""
        fixed = StudentT(self.x, nu=_check_nu(nu, "nu"))
        start = None
        if theta0 is not None:
            mu, scatter, _ = self.unpack(theta0)
            start = fixed.pack(mu, scatter)
        return float(fixed.fit("px-em", start, tol=tol).loglik)

    def nu_interval(self, theta_hat: Any, level: float = 0.95) -> tuple[float, float]:
        """The profile-likelihood interval
        :math:`\\{\\nu: 2[\\ell(\\hat\\theta) - \\ell_p(\\nu)] \\le \\chi^2_{1,\\mathrm{level}}\\}`,
        ends by :func:`~scipy.optimize.brentq` in :math:`\\log\\nu`; an end at a bound of
        :data:`NU_BOUNDS` is returned as 0 or ``inf`` (the interval is open there)."""
        from scipy.stats import chi2

        if not self.estimate_nu:
            raise ValueError("nu_interval needs nu estimated (StudentT(x) without nu)")
        if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        theta_hat = np.asarray(theta_hat, dtype=float)
        ll_hat = self.loglik(theta_hat)
        cut = chi2.ppf(level, 1) / 2

        def drop(u: float) -> float:
            return ll_hat - self.profile_loglik(_nu_of(u), theta_hat) - cut

        u_hat = np.log(theta_hat[-1])
        ends = []
        for bound in _LOG_NU:
            if drop(bound) <= 0:
                ends.append(0.0 if bound < u_hat else np.inf)
            else:
                lo, hi = sorted((u_hat, bound))
                ends.append(_nu_of(brentq(drop, lo, hi, xtol=1e-10)))
        return ends[0], ends[1]


def map_jacobian(em_map, theta: Any, rel: float = 1e-5) -> np.ndarray:
    """The Jacobian of an iteration map ``em_map`` (:math:`\\psi`) at ``theta``, transposed
    into the layout of :func:`em_helpers.sem_covariance`'s ``dm`` (row :math:`i` = the
    response to :math:`\\theta_i`), by symmetric differences
    :math:`[\\psi(\\theta + h e_i) - \\psi(\\theta - h e_i)]/2h` with
    :math:`h = \\mathrm{rel}\\cdot\\max(|\\theta_i|, 10^{-3})`. For maps that are not EM for
    an augmentation (ECM, ECME), where SEM's covariance formula does not apply but the
    eigenvalues still give the rate."""
    if not callable(em_map):
        raise TypeError(f"em_map must be a callable theta -> theta, got {em_map!r}")
    theta = np.asarray(theta, dtype=float)
    if theta.ndim != 1 or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta must be a finite 1-D array, got {theta!r}")
    if not (isinstance(rel, numbers.Real) and 0 < rel < 1):
        raise ValueError(f"rel must be in (0, 1), got {rel!r}")
    rows = []
    for i in range(theta.size):
        h = rel * max(abs(theta[i]), 1e-3)
        e = np.zeros_like(theta)
        e[i] = h
        rows.append((np.asarray(em_map(theta + e)) - np.asarray(em_map(theta - e))) / (2 * h))
    return np.array(rows)


def simulate_t(n: int, nu: float, loc: float = 0.0, scale: float = 1.0, *,
               seed: int = 0) -> np.ndarray:
    """``n`` draws of :math:`\\mu + \\sigma Z/\\sqrt{w}`, :math:`Z \\sim N(0, 1)`,
    :math:`w \\sim \\mathrm{Gamma}(\\nu/2, \\text{rate } \\nu/2)` (``nu=inf``: normal),
    seeded."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(nu, bool) or not isinstance(nu, numbers.Real) or not nu > 0:
        raise ValueError(f"nu must be a positive number (inf for the normal), got {nu!r}")
    if not (isinstance(scale, numbers.Real) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    if not (isinstance(loc, numbers.Real) and np.isfinite(loc)):
        raise ValueError(f"loc must be a finite number, got {loc!r}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    w = np.ones(n) if np.isinf(nu) else rng.gamma(nu / 2, 2 / nu, size=n)
    return loc + scale * z / np.sqrt(w)
