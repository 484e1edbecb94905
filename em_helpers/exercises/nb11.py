"""Checks for the exercises of notebook 11 (the t distribution by EM, ECME and PX-EM).

- 11.1 the E-step of another scale mixture, the contaminated normal: E[w_i | x_i]
  (a function);
- 11.2 EM for a linear regression with t errors, ν known — IRLS as EM (a function);
- 11.3 a setting of the notebook's explorer where PX-EM is at least twice as fast as EM
  (its controls);
- 11.4 predict EM's and PX-EM's rates for (μ, σ²) with ν known, in large samples
  (a function of ν).

References are computed here: the weights from Bayes' rule with scipy's densities, the
regression MLE by a direct maximisation of the t log-likelihood (``scipy.optimize``) and
one EM step by weighted least squares (for an intercept alone, by
:class:`~em_helpers.models.student_t.StudentT`'s own map), the rates from the t's Fisher
information by quadrature and the complete information of each augmentation, the explorer
setting from Louis' fractions of the course's model on the explorer's data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import integrate, optimize, stats
from scipy.special import gammaln

from ..models import student_t as st
from .base import Wrong, as_array, call, compare, exercise, pair_of, settings_of

__all__ = ["CASES_111", "RANGES", "REG_DATA", "TAILS", "em_regression_step", "fisher_t",
           "posterior_weight", "predicted_rates", "px_speedup", "regression_mle"]


# --- 11.1 ----------------------------------------------------------------------------------


def posterior_weight(x: Any, mu: float, s2: float, eps: float, lam: float) -> np.ndarray:
    """E[w | x] for x | w ~ N(μ, σ²/w), w = 1 with probability 1 − ε and λ with probability
    ε, from Bayes' rule with scipy's normal densities."""
    x = np.asarray(x, dtype=float)
    p1 = (1 - eps) * stats.norm.pdf(x, mu, np.sqrt(s2))
    pl = eps * stats.norm.pdf(x, mu, np.sqrt(s2 / lam))
    return (p1 * 1.0 + pl * lam) / (p1 + pl)


CASES_111 = [  # (x, mu, s2, eps, lam)
    (np.array([27.0, 24.0, 16.0, -2.0, -44.0]), 27.4, 14.5, 0.05, 0.1),
    (np.array([0.0, 1.0, 2.0, 3.0, 5.0]), 0.0, 1.0, 0.2, 0.04),
    (np.array([-3.0, 0.5, 10.0]), 1.0, 4.0, 0.5, 0.5),
]


def _w_wrong_no_sqrt() -> Any:  # the contaminated density without its sqrt(lam) factor
    def f(x, mu, s2, eps, lam):
        d = (np.asarray(x) - mu) ** 2 / s2
        p1, pl = (1 - eps) * np.exp(-d / 2), eps * np.exp(-lam * d / 2)
        return (p1 + lam * pl) / (p1 + pl)
    return f


def _w_wrong_probability() -> Any:  # P(w = lam | x), not E[w | x]
    def f(x, mu, s2, eps, lam):
        p1 = (1 - eps) * stats.norm.pdf(x, mu, np.sqrt(s2))
        pl = eps * stats.norm.pdf(x, mu, np.sqrt(s2 / lam))
        return pl / (p1 + pl)
    return f


def _w_wrong_prior() -> Any:  # the prior mean: no conditioning on x
    return lambda x, mu, s2, eps, lam: 1 - eps + eps * lam + 0 * np.asarray(x, float)


@exercise("11.1", wrong=[_w_wrong_no_sqrt, _w_wrong_probability, _w_wrong_prior])
def _weights(answer: Any) -> str:
    for x, mu, s2, eps, lam in CASES_111:
        what = f"e_step_weights(x, mu={mu:g}, s2={s2:g}, eps={eps:g}, lam={lam:g})"
        got = as_array(call(answer, x.copy(), mu, s2, eps, lam, name="e_step_weights"),
                       x.shape, f"the weights from {what}")
        want = posterior_weight(x, mu, s2, eps, lam)
        if np.allclose(got, 1 - eps + eps * lam):
            raise Wrong(f"{what}: every weight is the prior mean E[w]; the E-step "
                        "conditions on x")
        if np.allclose(got, _w_wrong_probability()(x, mu, s2, eps, lam), rtol=1e-9):
            raise Wrong(f"{what}: that is P(w = λ | x), the posterior probability of "
                        "contamination; the E-step needs E[w | x]")
        if np.any(got < lam - 1e-12) or np.any(got > 1 + 1e-12):
            raise Wrong(f"{what}: a weight lies outside [λ, 1]; a mean of w ∈ {{λ, 1}} "
                        "cannot")
        compare(got, want, rtol=1e-9, atol=1e-12, what=f"the weights from {what}")
    got = float(as_array(call(answer, 3.0, 0.0, 1.0, 0.1, 0.2, name="e_step_weights"), (),
                         "e_step_weights(3.0, 0.0, 1.0, 0.1, 0.2) (a number x)"))
    compare(got, posterior_weight(3.0, 0.0, 1.0, 0.1, 0.2), rtol=1e-9,
            what="e_step_weights(3.0, 0.0, 1.0, 0.1, 0.2)")
    return ("right: the posterior mean of a two-point w. Unlike the t's (ν + 1)/(ν + δ), "
            "it never falls below λ: a far outlier still counts with weight λ.")


# --- 11.2 ----------------------------------------------------------------------------------


def _reg_data() -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(1998)
    n = 40
    z = np.linspace(0, 10, n)
    y = 1.0 + 0.5 * z + 0.8 * st.simulate_t(n, 2.0, seed=3)
    y[[5, 30]] += [9.0, -12.0]  # two gross errors
    Z = np.column_stack([np.ones(n), z, rng.standard_normal(n)])
    return Z, y, 3.0


#: 11.2: a design (intercept, a trend, a noise covariate), a response with two gross errors,
#: and the known ν.
REG_DATA = _reg_data()


def _t_loglik(beta: np.ndarray, s2: float, Z: np.ndarray, y: np.ndarray, nu: float) -> float:
    return float(np.sum(stats.t.logpdf(y, nu, Z @ beta, np.sqrt(s2))))


def em_regression_step(beta: np.ndarray, s2: float, Z: np.ndarray, y: np.ndarray,
                       nu: float) -> tuple[np.ndarray, float]:
    """One EM step: weights at (β, σ²), weighted least squares, σ² = Σ w r² / n."""
    w = (nu + 1) / (nu + (y - Z @ beta) ** 2 / s2)
    sw = np.sqrt(w)
    new, *_ = np.linalg.lstsq(Z * sw[:, None], y * sw, rcond=None)
    return new, float(w @ (y - Z @ new) ** 2 / y.size)


def regression_mle(Z: np.ndarray, y: np.ndarray, nu: float) -> tuple[np.ndarray, float]:
    """The MLE of (β, σ²) with ν known, by BFGS on (β, log σ²) from least squares."""
    k = Z.shape[1]
    b0, *_ = np.linalg.lstsq(Z, y, rcond=None)
    v0 = np.r_[b0, np.log(np.mean((y - Z @ b0) ** 2))]
    res = optimize.minimize(lambda v: -_t_loglik(v[:k], np.exp(v[k]), Z, y, nu), v0,
                            method="BFGS", options={"gtol": 1e-10})
    res = optimize.minimize(lambda v: -_t_loglik(v[:k], np.exp(v[k]), Z, y, nu), res.x,
                            method="Nelder-Mead",
                            options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20_000})
    return res.x[:k], float(np.exp(res.x[k]))


def _reg_wrong_px() -> Any:  # PX-EM's divisor: a valid, faster algorithm, but not EM
    def f(beta, s2, Z, y, nu):
        w = (nu + 1) / (nu + (y - Z @ beta) ** 2 / s2)
        sw = np.sqrt(w)
        new, *_ = np.linalg.lstsq(Z * sw[:, None], y * sw, rcond=None)
        return new, float(w @ (y - Z @ new) ** 2 / w.sum())
    return f


def _reg_wrong_ols() -> Any:  # ignores the weights: the normal model's MLE
    def f(beta, s2, Z, y, nu):
        new, *_ = np.linalg.lstsq(Z, y, rcond=None)
        return new, float(np.mean((y - Z @ new) ** 2))
    return f


def _reg_wrong_unscaled() -> Any:  # delta without sigma^2: residual^2 only
    def f(beta, s2, Z, y, nu):
        w = (nu + 1) / (nu + (y - Z @ beta) ** 2)
        sw = np.sqrt(w)
        new, *_ = np.linalg.lstsq(Z * sw[:, None], y * sw, rcond=None)
        return new, float(w @ (y - Z @ new) ** 2 / y.size)
    return f


def _pair_reg(out: Any, what: str, k: int) -> tuple[np.ndarray, float]:
    first, second = pair_of(out, what, "(beta, s2)")
    beta = as_array(first, (k,), f"beta from {what}")  # a (k, 1) column is accepted too
    s2 = float(as_array(second, (), f"s2 from {what}"))
    if not s2 > 0:
        raise Wrong(f"{what}: σ² = {s2:.4g} is not positive")
    return beta, s2


@exercise("11.2", wrong=[_reg_wrong_px, _reg_wrong_ols, _reg_wrong_unscaled])
def _irls(answer: Any) -> str:
    Z, y, nu = REG_DATA
    k = Z.shape[1]
    b_hat, s2_hat = regression_mle(Z, y, nu)
    starts = [(np.zeros(k), 10.0), (np.array([3.0, 0.0, 1.0]), 0.5), (b_hat + 0.3, s2_hat)]
    for beta, s2 in starts:
        what = f"em_step(beta={np.round(beta, 2).tolist()}, s2={s2:.3g}, Z, y, nu={nu:g})"
        new_b, new_s2 = _pair_reg(call(answer, beta.copy(), s2, Z.copy(), y.copy(), nu,
                                       name="em_step"), what, k)
        if _t_loglik(new_b, new_s2, Z, y, nu) < _t_loglik(beta, s2, Z, y, nu) - 1e-9:
            raise Wrong(f"{what} lowers the t log-likelihood: not an EM step")
    what = "em_step at the MLE"
    new_b, new_s2 = _pair_reg(call(answer, b_hat.copy(), s2_hat, Z.copy(), y.copy(), nu,
                                   name="em_step"), what, k)
    move = max(np.max(np.abs(new_b - b_hat)) / np.sqrt(s2_hat), abs(new_s2 / s2_hat - 1))
    if move > 1e-5:
        raise Wrong(f"the MLE (found here by maximising the t log-likelihood directly) is "
                    f"not a fixed point of your step: it moves by {move:.1g} (relative)")
    for beta, s2 in starts[:2]:
        what = f"em_step(beta={np.round(beta, 2).tolist()}, s2={s2:.3g}, Z, y, nu={nu:g})"
        new_b, new_s2 = _pair_reg(call(answer, beta.copy(), s2, Z.copy(), y.copy(), nu,
                                       name="em_step"), what, k)
        want_b, want_s2 = em_regression_step(beta, s2, Z, y, nu)
        px_s2 = _reg_wrong_px()(beta, s2, Z, y, nu)[1]
        if abs(new_s2 / px_s2 - 1) < 1e-9 and abs(px_s2 / want_s2 - 1) > 1e-6:
            raise Wrong(f"{what}: your σ² divides by Σ w̄_i — that is PX-EM's step (it "
                        "climbs and has the same fixed point, but it is not EM's M-step)")
        compare(new_b, want_b, rtol=1e-7, atol=1e-9, what=f"beta from {what}")
        compare(new_s2, want_s2, rtol=1e-7, what=f"s2 from {what}")
    # with an intercept alone it is the course's EM map for (mu, sigma2), nu known
    x = st.NEWCOMB
    model = st.StudentT(x, nu=2.0)
    theta = np.array([25.0, 40.0])
    new_b, new_s2 = _pair_reg(call(answer, theta[:1].copy(), theta[1],
                                   np.ones((x.size, 1)), x.copy(), 2.0, name="em_step"),
                              "em_step on Newcomb's data with an intercept alone", 1)
    compare([new_b[0], new_s2], model.em_map(theta), rtol=1e-8,
            what="(mu, s2) from em_step on Newcomb's data with an intercept alone")
    return ("right: IRLS with the t's weights is EM — it climbs, stops at the MLE, and with "
            "an intercept alone it is the notebook's map for (μ, σ²).")


# --- 11.4 ----------------------------------------------------------------------------------


def fisher_t(nu: float) -> np.ndarray:
    """The t's Fisher information per observation for (μ, σ²) at μ = 0, σ² = 1, by
    quadrature of the score's outer product against the t density."""
    c = np.exp(gammaln((nu + 1) / 2) - gammaln(nu / 2)) / np.sqrt(nu * np.pi)

    def pdf(x: float) -> float:
        return c * (1 + x * x / nu) ** (-(nu + 1) / 2)

    def s_mu(x: float) -> float:
        return (nu + 1) * x / (nu + x * x)

    def s_s2(x: float) -> float:
        return -0.5 + 0.5 * (nu + 1) * x * x / (nu + x * x)

    def moment(f: Any) -> float:
        return integrate.quad(lambda x: f(x) * pdf(x), -np.inf, np.inf, epsabs=1e-13,
                              epsrel=1e-10, limit=200)[0]

    cross = moment(lambda x: s_mu(x) * s_s2(x))  # zero by symmetry: computed, not assumed
    return np.array([[moment(lambda x: s_mu(x) ** 2), cross],
                     [cross, moment(lambda x: s_s2(x) ** 2)]])


def predicted_rates(nu: float) -> tuple[float, float]:
    """EM's and PX-EM's rates for (μ, σ²), ν known, n → ∞ with data from t_ν: the largest
    eigenvalue of I − I_oc⁻¹ I_o with each augmentation's complete information."""
    info = fisher_t(nu)
    em_c = np.diag([1.0, 0.5])  # E w = 1: n / sigma2 for mu, n / (2 sigma^4) for sigma2
    px_c = np.diag([1.0, 0.5 * nu / (nu + 1)])  # minus I_sa I_aa^-1 I_as (the notebook)
    return tuple(float(np.max(np.linalg.eigvals(np.eye(2) - np.linalg.solve(c, info)).real))
                 for c in (em_c, px_c))


@exercise("11.4", wrong=[lambda: (lambda nu: (3 / (nu + 3), 3 / (nu + 3))),
                         lambda: (lambda nu: (2 / (nu + 3), 3 / (nu + 3))),
                         lambda: (lambda nu: (2 / (nu + 3), 2 / (nu + 3))),
                         lambda: (lambda nu: (1 / (nu + 1), 1 / (nu + 2))),
                         lambda: (lambda nu: np.array([2, 3]) / (nu + 3))])
def _rates(answer: Any) -> str:
    nus = [1.0, 2.0, 4.0, 10.0, 30.0]
    for nu in nus:
        out = pair_of(call(answer, nu, name="rates"), f"rates({nu:g})",
                      "(EM's rate, PX-EM's rate)")
        em, px = (float(as_array(v, (), f"rates({nu:g})")) for v in out)
        if not (0 <= em < 1 and 0 <= px < 1):
            raise Wrong(f"rates({nu:g}) = ({em:.3g}, {px:.3g}): rates of EM lie in [0, 1)")
        if px > em + 1e-12:
            raise Wrong(f"rates({nu:g}): your PX-EM is slower than EM; its complete "
                        "information is the smaller, so less of it is missing")
        if abs(px - em) < 1e-12:
            raise Wrong(f"rates({nu:g}): the two rates are equal; the working parameter "
                        "lowers the scale's complete information, and the slowest "
                        "direction with ν known is the scale's")
        want = predicted_rates(nu)
        compare(em, want[0], rtol=1e-5, what=f"EM's rate at ν = {nu:g}")
        compare(px, want[1], rtol=1e-5, what=f"PX-EM's rate at ν = {nu:g}")
    return ("right: EM loses the most information on the scale, PX-EM gives some of it "
            "back, and both rates fall like 1/ν as the tails lighten.")


# --- 11.3 ----------------------------------------------------------------------------------

#: the explorer's data ν₀ (its "tails" control), as in the notebook
TAILS = {"1 (Cauchy)": 1.0, "1.5": 1.5, "2": 2.0, "3": 3.0, "5": 5.0, "10": 10.0,
         "30": 30.0, "∞ (normal)": np.inf}
#: the values the explorer's controls can take (its ``controls`` dict in the notebook)
RANGES = {"tails": set(TAILS), "nu_mode": {"known", "estimated"},
          "nu0": {1, 2, 5, 10, 30, 100}, "shift": (-5.0, 5.0), "seed": (0, 9)}


def px_speedup(tails: str, nu_mode: str, seed: int) -> tuple[float, float, float]:
    """(EM's rate, PX-EM's rate, predicted speed-up log ρ_PX / log ρ_EM) on the explorer's
    data (200 draws of t_ν₀, seeded), by Louis' fractions of the course's model at the MLE,
    found as the explorer finds it (the same fit, tolerance and iteration cap)."""
    nu_true = TAILS[tails]
    data = st.simulate_t(200, nu_true, seed=seed)
    known = nu_mode == "known"
    m = st.StudentT(data, nu=min(nu_true, st.NU_BOUNDS[1]) if known else None)
    hat = m.fit("px-em" if known else "px-ecme", tol=1e-12, max_iter=500,
                accelerate="squarem").theta
    em, px = (m.louis(hat, expanded=e).fractions[0] for e in (False, True))
    if em <= 0 or px <= 0:
        return em, px, 1.0
    return em, px, float(np.log(px) / np.log(em))


def _explorer(answer: Any) -> str:
    names = ("tails", "nu_mode", "seed")
    s = settings_of(answer, names, RANGES)
    values = answer if isinstance(answer, dict) else answer.values()
    # the start controls do not change the rates; if given, they must still be settable
    settings_of(answer, [n for n in ("nu0", "shift") if n in values], RANGES)
    em, px, speedup = px_speedup(s["tails"], s["nu_mode"], s["seed"])
    if speedup < 2:
        raise Wrong(f"here EM's rate is {em:.3f} and PX-EM's {px:.3f}: PX-EM needs "
                    f"{speedup:.2f} times fewer iterations, not 2 (which part of θ does "
                    "the working parameter relieve, and when is that the slow part?)")
    return (f"right: rates {em:.3f} (EM) and {px:.3f} (PX-EM), a predicted speed-up of "
            f"{speedup:.2f}: heavy tails and ν known, where the scale is the slow part.")


exercise("11.3", wrong=[
    lambda: {"tails": "1 (Cauchy)", "nu_mode": "known", "seed": 12345},  # no such seed
    lambda: {"tails": "1 (Cauchy)", "nu_mode": "known", "seed": 0.9},
    lambda: {"tails": "1 (Cauchy)", "nu_mode": "known", "seed": "abc"},
    lambda: {"tails": ["2"], "nu_mode": "known", "seed": 0},
    lambda: {"tails": "1 (Cauchy)", "nu_mode": "known", "seed": 0, "nu0": 3},
    lambda: lambda x: 1,
    lambda: {"tails": "2", "nu_mode": "estimated", "nu0": 10, "shift": 0.0, "seed": 0},
    lambda: {"tails": "1 (Cauchy)", "nu_mode": "estimated", "nu0": 10, "shift": 0.0,
             "seed": 0},
    lambda: {"tails": "∞ (normal)", "nu_mode": "known", "nu0": 10, "shift": 0.0,
             "seed": 0},
    lambda: {"tails": "5", "nu_mode": "known", "nu0": 10, "shift": 0.0, "seed": 0},
])(_explorer)
