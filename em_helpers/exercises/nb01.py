"""Checks for the exercises of notebook 01 (an exponential sample with a missing value).

- 01.1 predict EM's rate for k observed and m censored lifetimes (a number);
- 01.2 the E-step for an interval-censored lifetime, E[Y | a < Y < b, θ] (a function);
- 01.3 the EM map θ ↦ θ' for observed and interval-censored lifetimes (a function);
- 01.4 a setting of the censoring explorer with a slow EM and a small MLE (its controls);
- 01.5 EM's rate with one interval-censored lifetime as the interval shrinks and grows.

References are computed here: the rate from a run of EM (:func:`em_helpers.convergence_rate`),
the conditional mean by quadrature, the MLE by a bounded scalar maximisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import integrate, optimize

from ..core.loop import convergence_rate, run_em
from .base import Wrong, as_array, call, compare, exercise, settings_of

__all__ = [
    "censored_rate", "conditional_mean", "interval_mle", "interval_rate", "settings_of"
]

#: 01.1: four observed lifetimes, three censored (a case the notebook's table does not show).
RATE_DATA = (np.array([5.0, 1.0, 2.0, 3.5]), np.array([0.5, 4.0, 6.0]))
#: 01.3: observed lifetimes and the intervals (a_j, b_j) of the interval-censored ones.
INTERVAL_DATA = (np.array([5.0, 1.0, 2.0]), np.array([0.5, 2.0, 4.0]), np.array([1.5, 6.0, 9.0]))


def censored_rate(y_obs: np.ndarray, c: np.ndarray) -> float:
    """EM's rate for right-censored exponential lifetimes, from a run (not the formula)."""
    k, m, s, C = y_obs.size, c.size, y_obs.sum(), c.sum()
    res = run_em(
        lambda th: C + m / th,
        lambda e: (k + m) / (s + e),
        1.0,
        loglik=lambda th: k * np.log(th) - th * (s + C),
        tol=1e-12,
    )
    return float(convergence_rate(res))


def conditional_mean(theta: float, a: float, b: float) -> float:
    """E[Y | a < Y < b] for Y ~ Exp(θ), by quadrature of y f(y) / P(a < Y < b)."""
    num = integrate.quad(lambda y: y * theta * np.exp(-theta * y), a, b, epsabs=0, epsrel=1e-12)[0]
    den = integrate.quad(lambda y: theta * np.exp(-theta * y), a, b, epsabs=0, epsrel=1e-12)[0]
    return num / den


def _loglik_interval(theta: float, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """k log θ − θ s + Σ_j log(e^{−θ a_j} − e^{−θ b_j})."""
    return float(
        y.size * np.log(theta) - theta * y.sum()
        + np.sum(-theta * a + np.log1p(-np.exp(-theta * (b - a))))
    )


def interval_mle(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """The MLE with interval-censored lifetimes, by a bounded maximisation of ℓ."""
    res = optimize.minimize_scalar(
        lambda t: -_loglik_interval(t, y, a, b), bounds=(1e-6, 10.0), method="bounded",
        options={"xatol": 1e-12},
    )
    return float(res.x)


@exercise("01.1", wrong=[lambda: 0.5, lambda: 4 / 7, lambda: 0.4, lambda: 3 / 4])
def _rate(answer: Any) -> str:
    compare(answer, censored_rate(*RATE_DATA), rtol=0.01, what="your rate")
    return "right: the rate is the fraction of lifetimes that are censored, wherever c is."


def _e_interval_wrong_right_censored() -> Any:
    return lambda theta, a, b: a + 1 / theta  # ignores the upper end


def _e_interval_wrong_midpoint() -> Any:
    return lambda theta, a, b: (a + b) / 2 + 0 * theta


def _e_interval_wrong_sign() -> Any:
    def f(theta, a, b):
        d = b - a
        return a + 1 / theta + d * np.exp(-theta * d) / (1 - np.exp(-theta * d))
    return f


@exercise("01.2", wrong=[_e_interval_wrong_right_censored, _e_interval_wrong_midpoint,
                         _e_interval_wrong_sign])
def _e_interval(answer: Any) -> str:
    cases = [(0.2, 1.0, 4.0), (1.0, 0.0, 0.5), (0.05, 2.0, 30.0), (3.0, 1.0, 1.2)]
    for theta, a, b in cases:
        got = as_array(call(answer, theta, a, b, name="e_step_interval"), (),
                       "your E[Y | a < Y < b]")
        if not a < got < b:
            raise Wrong(f"e_step_interval({theta}, {a}, {b}) = {float(got):.4g} is not between "
                        f"a and b: a conditional mean given a < Y < b must be")
        compare(got, conditional_mean(theta, a, b), rtol=1e-6,
                what=f"e_step_interval({theta}, {a}, {b})")
    theta = 0.3
    a, b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 5.0, 2.5])
    got = as_array(call(answer, theta, a, b, name="e_step_interval"), (3,),
                   "e_step_interval with arrays a, b")
    compare(got, [conditional_mean(theta, x, y) for x, y in zip(a, b, strict=True)], rtol=1e-6,
            what="e_step_interval with arrays a, b")
    return "right, scalars and arrays alike: a + 1/θ minus the pull of the upper end b."


def _map_wrong_numerator() -> Any:
    def f(theta, y, a, b):  # k / (s + E[sum]): forgets that the censored units count in k + m
        e = sum(conditional_mean(theta, x, z) for x, z in zip(a, b, strict=True))
        return y.size / (y.sum() + e)
    return f


def _map_wrong_no_e() -> Any:
    return lambda theta, y, a, b: (y.size + a.size) / (y.sum() + ((a + b) / 2).sum())


def _map_wrong_gradient_ascent() -> Any:
    def f(theta, y, a, b):  # climbs and stops at the MLE, but is not EM
        h = 1e-6 * theta
        up, down = _loglik_interval(theta + h, y, a, b), _loglik_interval(theta - h, y, a, b)
        slope = (up - down) / (2 * h)
        return theta + 0.01 * theta**2 * slope
    return f


@exercise("01.3", wrong=[_map_wrong_numerator, _map_wrong_no_e, _map_wrong_gradient_ascent,
                         lambda: (lambda theta, y, a, b: interval_mle(y, a, b))])
def _em_map(answer: Any) -> str:
    y, a, b = INTERVAL_DATA
    theta_hat = interval_mle(y, a, b)
    thetas = [0.01, 0.1, 0.5, 2.0]
    for theta in thetas:
        new = float(as_array(call(answer, theta, y.copy(), a.copy(), b.copy(), name="em_map"),
                             (), "your θ'"))
        if not new > 0:
            raise Wrong(f"em_map({theta}, ...) = {new:.4g}: a rate must be positive")
        if _loglik_interval(new, y, a, b) < _loglik_interval(theta, y, a, b) - 1e-10:
            raise Wrong(f"em_map({theta}, ...) lowers the observed log-likelihood: not an "
                        f"EM step (EM never goes down)")
        # climbing is not enough (gradient ascent climbs too): the step must maximise Q
        e_sum = sum(conditional_mean(theta, lo, hi) for lo, hi in zip(a, b, strict=True))
        compare(new, (y.size + a.size) / (y.sum() + e_sum), rtol=1e-7,
                what=f"em_map({theta}, ...), EM's step from there,")
    new = float(as_array(call(answer, theta_hat, y.copy(), a.copy(), b.copy(), name="em_map"),
                         (), "your θ'"))
    if abs(new - theta_hat) > 1e-6 * theta_hat:
        raise Wrong("the MLE is not a fixed point of your map: at θ̂ it moves by "
                    f"{abs(new - theta_hat) / theta_hat:.2g} (relative); EM must stay there")
    theta = 1.0
    for _ in range(2000):
        theta, prev = float(as_array(call(answer, theta, y.copy(), a.copy(), b.copy(),
                                          name="em_map"), (), "your θ'")), theta
        if abs(theta - prev) < 1e-13:
            break
    compare(theta, theta_hat, rtol=1e-6, what="the limit of your EM iterations")
    return ("right: it climbs the observed log-likelihood from every start tried and stops at "
            "the MLE (found here by direct maximisation).")


def _slow_small(answer: Any) -> str:
    s = settings_of(answer, ("k", "m", "c"), {"k": (1, 10), "m": (0, 10), "c": (0.0, 20.0, 0.5)})
    k, m, c = s["k"], s["m"], s["c"]
    y = np.random.default_rng(5).exponential(scale=5.0, size=10)[:k]
    cens = np.full(m, c)
    rate = censored_rate(y, cens) if m else 0.0
    mle = k / (y.sum() + m * c)
    if rate <= 0.85:
        raise Wrong(f"EM's rate here is {rate:.3f}, not above 0.85 (more of the lifetimes "
                    f"must be censored)")
    if mle >= 0.05:
        raise Wrong(f"the MLE here is {mle:.3f}, not below 0.05 (the censored lifetimes "
                    f"must carry more total time)")
    return f"right: rate {rate:.3f} and MLE {mle:.4f}; the rate ignores c, the MLE does not."


exercise("01.4", wrong=[lambda: {"k": 1, "m": 10, "c": 2.3},
                        lambda: {"k": 1, "m": 1, "c": 3.0, "theta0": 1.0},
                        lambda: {"k": 1, "m": 10, "c": 0.5, "theta0": 1.0},
                        lambda: {"k": 5, "m": 10, "c": 20.0, "theta0": 1.0}])(_slow_small)


def interval_rate(y1: float, a: float, d: float) -> float:
    """EM's rate for y1 observed and one lifetime in (a, a + d), from a run of EM."""
    y, lo, hi = np.array([y1]), np.array([a]), np.array([a + d])

    def e_step(theta: np.ndarray) -> float:
        return conditional_mean(float(np.squeeze(theta)), a, a + d)

    res = run_em(
        e_step, lambda e: 2.0 / (y1 + e), 0.3,
        loglik=lambda th: _loglik_interval(float(np.squeeze(th)), y, lo, hi), tol=1e-11,
    )
    return float(convergence_rate(res))


@exercise("01.5", wrong=[lambda: (0.5, 0.5), lambda: (0.0, 1.0), lambda: (0.5, 0.0),
                         lambda: 0.5])
def _limits(answer: Any) -> str:
    got = as_array(answer, (2,), "your (rate as d -> 0, rate as d -> infinity)")
    want = [interval_rate(5.0, 2.0, 1e-3), interval_rate(5.0, 2.0, 200.0)]
    compare(got, want, rtol=0.02, atol=0.01,
            what="your (rate as d -> 0, rate as d -> infinity)")
    return ("right: a short interval is almost an observation (nothing missing), a long "
            "one is a right-censored value (one of two lifetimes missing).")
