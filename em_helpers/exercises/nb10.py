"""Checks for the exercises of notebook 10 (the multivariate normal with missing values).

- 10.1 the E-step for a bivariate normal row with y2 missing: E[y2 | y1], E[y2² | y1]
  (a function);
- 10.2 predict EM's rate on a small monotone data set whose missing rows sit at one end
  (a number);
- 10.3 the factored-likelihood MLE for a three-variable monotone pattern (a function);
- 10.4 break EM with MNAR: the large-sample limit of EM's μ̂2 when y2 is deleted whenever
  it is positive (a function of ρ).

References are computed here: the conditional moments by quadrature of the joint density,
the rate from a run of EM (:func:`em_helpers.convergence_rate` on
:class:`~em_helpers.models.mvn_missing.MVNMissing`), the monotone MLE by EM run to
convergence, and the MNAR limit from the selected population's moments by quadrature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import integrate

from ..core.loop import convergence_rate, run_em
from ..models import mvn_missing as mm
from .base import Wrong, as_array, call, compare, exercise, pair_of

__all__ = ["RATE_DATA", "conditional_moments", "em_mle", "mnar_limit", "monotone_data",
           "rate_of"]

#: 10.2: y1 always observed; y2 observed on the first four rows, missing on the last two.
RATE_DATA = np.array([[-1.0, 0.4], [-1.0, -0.6], [1.0, 1.3], [1.0, 2.1],
                      [3.0, np.nan], [3.0, np.nan]])


# --- 10.1 ----------------------------------------------------------------------------------


def _joint_pdf(y1: float, y2: float, mu: np.ndarray, sigma: np.ndarray) -> float:
    d = np.array([y1, y2]) - mu
    return float(np.exp(-0.5 * d @ np.linalg.solve(sigma, d))
                 / (2 * np.pi * np.sqrt(np.linalg.det(sigma))))


def conditional_moments(y1: float, mu: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    """E[y2 | y1] and E[y2² | y1] by quadrature of y2^k f(y1, y2) over y2."""
    s = np.sqrt(sigma[1, 1])
    lo, hi = mu[1] - 40 * s - 40 * abs(y1 - mu[0]), mu[1] + 40 * s + 40 * abs(y1 - mu[0])
    mom = [integrate.quad(lambda y2, k=k: y2**k * _joint_pdf(y1, y2, mu, sigma), lo, hi,
                          points=[mu[1]], limit=200, epsabs=0, epsrel=1e-11)[0]
           for k in range(3)]
    return mom[1] / mom[0], mom[2] / mom[0]


CASES_101 = [
    (2.0, np.array([0.0, 0.0]), np.array([[1.0, 0.6], [0.6, 1.0]])),
    (-1.5, np.array([1.0, -2.0]), np.array([[4.0, -1.2], [-1.2, 2.0]])),
    (14.0, np.array([14.7, 49.3]), np.array([[89.5, -90.7], [-90.7, 114.7]])),
    (0.3, np.array([0.5, 3.0]), np.array([[0.5, 0.0], [0.0, 3.0]])),
]


def _e_wrong_no_correction() -> Any:  # regression imputation: E[y2²] = E[y2]²
    def f(y1, mu, sigma):
        m = mu[1] + sigma[1, 0] / sigma[0, 0] * (np.asarray(y1) - mu[0])
        return m, m**2
    return f


def _e_wrong_unconditional_var() -> Any:  # adds Var(y2), not Var(y2 | y1)
    def f(y1, mu, sigma):
        m = mu[1] + sigma[1, 0] / sigma[0, 0] * (np.asarray(y1) - mu[0])
        return m, m**2 + sigma[1, 1]
    return f


def _e_wrong_slope() -> Any:  # the regression of y1 on y2: sigma_12 / sigma_22
    def f(y1, mu, sigma):
        b = sigma[1, 0] / sigma[1, 1]
        m = mu[1] + b * (np.asarray(y1) - mu[0])
        return m, m**2 + sigma[1, 1] - b * sigma[0, 1]
    return f


def _e_wrong_variance_only() -> Any:  # Var(y2 | y1) where E[y2² | y1] is asked
    def f(y1, mu, sigma):
        m = mu[1] + sigma[1, 0] / sigma[0, 0] * (np.asarray(y1) - mu[0])
        return m, sigma[1, 1] - sigma[0, 1] ** 2 / sigma[0, 0] + 0 * m
    return f


def _pair(out: Any, what: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    first, second = pair_of(out, what, "(E[y2 | y1], E[y2² | y1])")
    return (as_array(first, shape, f"the conditional mean from {what}"),
            as_array(second, shape, f"the second moment from {what}"))


@exercise("10.1", wrong=[_e_wrong_no_correction, _e_wrong_unconditional_var, _e_wrong_slope,
                         _e_wrong_variance_only])
def _e_step_row(answer: Any) -> str:
    for y1, mu, sigma in CASES_101:
        what = f"e_step_row({y1}, mu, sigma)"
        m, s2 = _pair(call(answer, y1, mu.copy(), sigma.copy(), name="e_step_row"), what, ())
        want_m, want_s2 = conditional_moments(y1, mu, sigma)
        compare(m, want_m, rtol=1e-6, atol=1e-8, what=f"E[y2 | y1] from {what}")
        var = float(s2 - m**2)
        want_var = want_s2 - want_m**2
        if abs(s2 - want_var) < 1e-6 * want_var and abs(want_s2 - want_var) > 1e-3 * want_s2:
            raise Wrong(f"{what}: your second value is Var(y2 | y1); the exercise asks for "
                        "E[y2² | y1], the row's contribution to T̂2 (a mean of squares)")
        if abs(var) < 1e-9 * want_s2:
            raise Wrong(f"{what}: your E[y2² | y1] is E[y2 | y1]²: the conditional variance "
                        "is missing — that is regression imputation, not the E-step")
        if sigma[0, 1] != 0 and abs(var - sigma[1, 1]) < 1e-6 * sigma[1, 1]:
            raise Wrong(f"{what}: your E[y2² | y1] − E[y2 | y1]² is σ22, the unconditional "
                        "variance; given y1, y2 varies less")
        if var <= 0:
            raise Wrong(f"{what}: E[y2² | y1] − E[y2 | y1]² is not positive; a variance is")
        compare(var, want_var, rtol=1e-6, atol=1e-10,
                what=f"E[y2² | y1] − E[y2 | y1]² from {what}")
    y1 = np.array([-2.0, 0.0, 1.0, 3.5])
    mu, sigma = CASES_101[1][1], CASES_101[1][2]
    m, s2 = _pair(call(answer, y1, mu.copy(), sigma.copy(), name="e_step_row"),
                  "e_step_row with an array y1", (4,))
    want = np.array([conditional_moments(v, mu, sigma) for v in y1])
    compare(m, want[:, 0], rtol=1e-6, atol=1e-8, what="E[y2 | y1] with an array y1")
    compare(s2, want[:, 1], rtol=1e-6, atol=1e-8, what="E[y2² | y1] with an array y1")
    return ("right: the regression prediction and, in the second moment, the residual "
            "variance σ22 − σ12²/σ11 that regression imputation leaves out.")


# --- 10.2 ----------------------------------------------------------------------------------


def rate_of(X: np.ndarray) -> float:
    """EM's rate on ``X``, measured on a run of EM from the observed means and variances."""
    model = mm.MVNMissing(X)
    res = run_em(model.e_step, model.m_step, model.start(), loglik=model.loglik,
                 tol=1e-13, max_iter=5000)
    return float(convergence_rate(res))


@exercise("10.2", wrong=[lambda: 1 / 3, lambda: 1 / 6, lambda: 0.5, lambda: 2 / 3])
def _rate(answer: Any) -> str:
    want = rate_of(RATE_DATA)
    got = float(as_array(answer, (), "your rate"))
    if not 0 <= got < 1:
        raise Wrong(f"a rate of EM is in [0, 1), got {got:.4g}")
    if abs(got - 1 / 3) < 0.01:
        raise Wrong("that is the share of y2 that is missing (and the rate of σ22·1 "
                    "alone); the regression line loses more — where are the missing "
                    "rows, and what must the complete rows extrapolate?")
    compare(got, want, rtol=0.01, what="your rate")
    return ("right: a third of y2 is missing, but EM's rate is set by the line's height at "
            "y1 = 3, which the complete rows must extrapolate.")


# --- 10.3 ----------------------------------------------------------------------------------


def monotone_data(seed: int, n: int, n2: int, n3: int) -> np.ndarray:
    """n rows of a 3-variate normal; y2 missing after row n2, y3 after row n3 (n3 <= n2)."""
    rng = np.random.default_rng(seed)
    A = np.array([[1.0, 0.0, 0.0], [0.7, 0.8, 0.0], [-0.4, 0.9, 0.6]])
    X = np.array([2.0, -1.0, 5.0]) + rng.standard_normal((n, 3)) @ A.T
    X[n2:, 1] = np.nan
    X[n3:, 2] = np.nan
    return X


def em_mle(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The MLE by EM, run to a relative tolerance of 1e-13."""
    model = mm.MVNMissing(X)
    res = run_em(model.e_step, model.m_step, model.start(), tol=1e-14, max_iter=20_000)
    return mm.unpack(res.theta, X.shape[1])


def _mono_wrong_complete_cases() -> Any:
    def f(X):
        cc = X[~np.isnan(X).any(axis=1)]
        return cc.mean(axis=0), np.cov(cc.T, bias=True)
    return f


def _mono_wrong_y3_on_y1() -> Any:  # y3 regressed on y1 only: forgets y2
    def f(X):
        Xr = X[:, [0, 2, 1]]
        Xr[np.isnan(X[:, 2]), 1] = np.nan
        mu, sigma = mm.monotone_mle(Xr[:, :2])
        mu12, s12 = mm.monotone_mle(X[:, :2])
        out_mu = np.array([mu12[0], mu12[1], mu[1]])
        out = np.zeros((3, 3))
        out[:2, :2] = s12
        out[2, 2], out[0, 2] = sigma[1, 1], sigma[0, 1]
        out[2, 0] = out[0, 2]
        out[1, 2] = out[2, 1] = s12[1, 0] / s12[0, 0] * sigma[0, 1]
        return out_mu, out
    return f


def _mono_wrong_divisor() -> Any:  # residual variances divided by the rows of y1 (n)
    def f(X):
        mu, sigma = mm.monotone_mle(X)
        n = X.shape[0]
        r2, r3 = (~np.isnan(X[:, 1])).sum(), (~np.isnan(X[:, 2])).sum()
        b1 = sigma[1, 0] / sigma[0, 0]
        s = sigma.copy()
        s[1, 1] = (sigma[1, 1] - b1 * sigma[1, 0]) * r2 / n + b1 * sigma[1, 0]
        beta = np.linalg.solve(sigma[:2, :2], sigma[:2, 2])
        s[2, 2] = (sigma[2, 2] - beta @ sigma[:2, 2]) * r3 / n + beta @ sigma[:2, 2]
        return mu, s
    return f


@exercise("10.3", wrong=[_mono_wrong_complete_cases, _mono_wrong_y3_on_y1,
                         _mono_wrong_divisor, lambda: mm.monotone_mle])
def _monotone(answer: Any) -> str:
    if answer is mm.monotone_mle:
        raise Wrong("that is the course's mm.monotone_mle itself; the exercise asks you to "
                    "write the factored MLE for three variables yourself")
    for seed, n, n2, n3 in [(1, 40, 30, 18), (2, 25, 25, 12), (3, 60, 20, 20)]:
        X = monotone_data(seed, n, n2, n3)
        what = f"factored_mle3 on a data set with n = {n}, r2 = {n2}, r3 = {n3}"
        out = pair_of(call(answer, X.copy(), name="factored_mle3"), what, "(mu, sigma)")
        mu = as_array(out[0], (3,), f"mu from {what}")
        sigma = as_array(out[1], (3, 3), f"sigma from {what}")
        if not np.allclose(sigma, sigma.T, rtol=1e-10, atol=1e-12):
            raise Wrong(f"{what}: sigma is not symmetric")
        want_mu, want_sigma = em_mle(X)
        sd = np.sqrt(np.diag(want_sigma))
        # compare in standard units, so that every entry counts alike
        compare(mu / sd, want_mu / sd, rtol=0, atol=1e-7, what=f"mu from {what}")
        if n2 < n and abs(mu[1] - X[:n2, 1].mean()) < 1e-9 * sd[1]:
            raise Wrong(f"{what}: your mu_2 is the mean of the rows where y2 is observed; "
                        "the MLE adjusts it through the regression on y1")
        compare(sigma / np.outer(sd, sd), want_sigma / np.outer(sd, sd), rtol=0, atol=1e-7,
                what=f"sigma (in units of the standard deviations) from {what}")
    return ("right: it is EM's fixed point, reached here without iterating — one regression "
            "per block, each on all the variables before it.")


# --- 10.4 ----------------------------------------------------------------------------------


def mnar_limit(rho: float) -> float:
    """The large-sample limit of EM's μ̂2 when y2 is deleted whenever y2 > 0.

    (y1, y2) standard bivariate normal with correlation rho. EM's fixed point is the
    factored MLE; its limit is the factored MLE of the population: μ1 from all rows (0),
    the regression of y2 on y1 from the selected rows (y2 <= 0), whose moments are
    computed here by quadrature over y2 (y1 | y2 ~ N(ρ y2, 1 − ρ²)).
    """
    phi = lambda y: np.exp(-0.5 * y * y) / np.sqrt(2 * np.pi)  # noqa: E731
    m = [integrate.quad(lambda y, k=k: y**k * phi(y), -np.inf, 0.0, epsabs=0,
                        epsrel=1e-12)[0] for k in range(3)]
    e2, e22 = m[1] / m[0], m[2] / m[0]
    e1, e12, e11 = rho * e2, rho * e22, rho**2 * e22 + 1 - rho**2
    slope = (e12 - e1 * e2) / (e11 - e1**2)
    return float(e2 + slope * (0.0 - e1))


def _mnar_wrong_unbiased() -> Any:
    return lambda rho: 0.0 * np.asarray(rho)


def _mnar_wrong_complete_case() -> Any:
    return lambda rho: -np.sqrt(2 / np.pi) + 0.0 * np.asarray(rho)


def _mnar_wrong_slope_rho() -> Any:  # the population slope rho, as if selection kept it
    return lambda rho: -np.sqrt(2 / np.pi) * (1 - np.asarray(rho) ** 2)


def _mnar_wrong_var_y1() -> Any:  # Var_s(y1) taken as 1, as if selection left y1 alone
    return lambda rho: -np.sqrt(2 / np.pi) * (1 - np.asarray(rho) ** 2 * (1 - 2 / np.pi))


@exercise("10.4", wrong=[_mnar_wrong_unbiased, _mnar_wrong_complete_case,
                         _mnar_wrong_slope_rho, _mnar_wrong_var_y1])
def _mnar(answer: Any) -> str:
    rhos = [0.0, 0.3, 0.6, 0.9, -0.6]
    got = [float(as_array(call(answer, r, name="em_limit"), (), f"em_limit({r})"))
           for r in rhos]
    if all(abs(g) < 1e-6 for g in got):
        raise Wrong("your limit is 0 for every ρ: EM's likelihood ignores the mechanism, "
                    "which is valid under MAR, not here — it converges, but not to μ2")
    cc = -np.sqrt(2 / np.pi)
    if all(abs(g - cc) < 1e-6 for g in got[1:]):
        raise Wrong("your limit does not depend on ρ: that of the complete-case mean. EM "
                    "also uses y1 on the incomplete rows, through the regression")
    for r, g in zip(rhos, got, strict=True):
        # rtol 1e-4: a formula with 4-digit constants passes; the nearest plausible
        # wrong formula (Var_s(y1) = 1) is 0.2% off at ρ = 0.3 and far off at 0.9
        compare(g, mnar_limit(r), rtol=1e-4, atol=1e-8, what=f"em_limit({r})")
    arr = np.array([0.2, 0.8])
    vals = as_array(call(answer, arr, name="em_limit"), (2,), "em_limit with an array ρ")
    compare(vals, [mnar_limit(r) for r in arr], rtol=1e-4, what="em_limit with an array ρ")
    return ("right: EM recovers the part of the shift that y1 carries (all of it as "
            "|ρ| → 1, none at ρ = 0); the rest no model fitted to the observed data "
            "can recover.")
