"""Checks for the exercises of notebook 03 (a mixture of two Gaussians).

- 03.1 where EM stops from a symmetric start on Old Faithful, shared σ unknown (a
  parameter vector);
- 03.2 responsibilities for K components with separate variances, in log space, that
  never underflow (a function);
- 03.3 EM's rate when only π is estimated, from the fraction of missing information (a
  function of the data);
- 03.4 a setting of the explorer where EM is slow although the means are well apart (its
  controls);
- 03.5 the factor by which a small gap μ₁ − μ₂ grows per iteration near the symmetric
  fixed point (a function of the data).

References are computed here, independently of the answer's formulas: EM runs of the
notebook's steps written out again, responsibilities from :func:`scipy.stats.norm.logpdf`
and :func:`scipy.special.softmax`, the MLE of π by a root of the score
(:func:`scipy.optimize.brentq`), rates and the growth factor by central differences of the
EM map, the explorer's fit by SQUAREM-accelerated EM from its own start.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, stats
from scipy.special import expit, logit, softmax

from ..core.loop import run_em
from ..models.examples import simulate_gaussians
from .base import Wrong, as_array, call, compare, exercise, settings_of

__all__ = [
    "CONTROLS", "RANGES", "SYMMETRIC_START", "em_map_known", "explorer_rate", "gap_growth",
    "pi_rate", "population_rate", "reference_responsibilities", "symmetric_limit", "waiting_times",
]

_DATA = Path(__file__).resolve().parents[2] / "data"
#: The explorer's controls (notebook 03, section Explore).
CONTROLS = ("mu1", "mu2", "sigma", "pi", "n", "seed", "mu1_0", "mu2_0")
#: Their sliders' ranges (the seed an IntSlider; N a FloatLogSlider from 20 to 10^5).
RANGES = {"mu1": (-4.0, 4.0, 0.1), "mu2": (-4.0, 4.0, 0.1), "sigma": (0.5, 3.0, 0.1),
          "pi": (0.05, 0.95, 0.05), "n": (20.0, 100_000.0), "seed": (0, 99),
          "mu1_0": (-6.0, 6.0, 0.1), "mu2_0": (-6.0, 6.0, 0.1)}  # N: a log slider
#: 03.1: the symmetric start (μ₁, μ₂, π, σ) on Old Faithful.
SYMMETRIC_START = (70.0, 70.0, 0.3, 10.0)


@lru_cache(maxsize=1)
def waiting_times() -> np.ndarray:
    """Old Faithful's 272 waiting times (minutes), as the notebook reads them."""
    wait = np.loadtxt(_DATA / "faithful.csv", delimiter=",", skiprows=1)[:, 1]
    wait.flags.writeable = False
    return wait


# --- 03.1 the symmetric start, shared σ ----------------------------------------------------


def _shared_sigma_step(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The notebook's E- and M-step with one shared unknown σ, written out again."""
    mu1, mu2, pi, s = theta
    d = logit(pi) + (mu1 - mu2) / s**2 * (x - (mu1 + mu2) / 2)
    g = expit(d)
    w1, w2 = g.sum(), (1 - g).sum()
    m1, m2 = g @ x / w1, (1 - g) @ x / w2
    var = (g @ (x - m1) ** 2 + (1 - g) @ (x - m2) ** 2) / x.size
    return np.array([m1, m2, w1 / x.size, np.sqrt(var)])


def symmetric_limit() -> np.ndarray:
    """Where EM goes from :data:`SYMMETRIC_START`: iterate until nothing moves."""
    x, theta = waiting_times(), np.array(SYMMETRIC_START)
    for _ in range(100):
        theta, prev = _shared_sigma_step(theta, x), theta
        if np.allclose(theta, prev, rtol=1e-14, atol=0):
            break
    return theta


def _wrong_sample_sd() -> Any:  # np.std(ddof=1): not the M-step's 1/N
    x = waiting_times()
    return (x.mean(), x.mean(), 0.3, x.std(ddof=1))


@exercise("03.1", wrong=[
    lambda: (70.0, 70.0, 0.3, 10.0),                                    # nothing moves
    lambda: (waiting_times().mean(), waiting_times().mean(), 0.5, waiting_times().std()),
    _wrong_sample_sd,
    lambda: (waiting_times().mean(), waiting_times().mean(), 0.3, 10.0),  # σ kept
    lambda: (54.61, 80.09, 0.361, 5.869),                               # the MLE
])
def _symmetric(answer: Any) -> str:
    got = as_array(answer, (4,), "your (μ₁, μ₂, π, σ)")
    want = symmetric_limit()
    if abs(got[0] - got[1]) > 1e-6 * abs(want[0]):
        raise Wrong("your two means differ: from a symmetric start both components have "
                    "the same density at every point, so what could tell them apart?")
    names = ("μ₁", "μ₂", "π", "σ")
    for k in (0, 2, 3):
        compare(got[k], want[k], rtol=1e-4, what=f"your {names[k]}")
    return ("right: every γᵢ = π(0), both means become x̄, π stays, σ becomes the sample "
            "standard deviation (divided by N): a fixed point, not the MLE.")


# --- 03.2 responsibilities for K components, in log space -----------------------------------


def reference_responsibilities(x: Any, weights: Any, means: Any, sds: Any) -> np.ndarray:
    """P(z_i = k | x_i): a softmax over k of log w_k + log φ(x_i; μ_k, σ_k), shape (N, K)."""
    x = np.asarray(x, dtype=float).reshape(-1, 1)
    lj = np.log(np.asarray(weights, dtype=float)) + stats.norm.logpdf(
        x, np.asarray(means, dtype=float), np.asarray(sds, dtype=float))
    return softmax(lj, axis=1)


RESP_CASES = (
    # the notebook's Part 1 parameters, as K = 2 with equal σ, and far-out points
    (np.array([-40.0, -1.0, 0.5, 2.0, 60.0]), (0.35, 0.65), (-1.0, 2.0), (1.0, 1.0)),
    # three components, separate σ: far out, the widest one wins on both sides
    (np.array([-1e3, -30.0, -1.0, 0.0, 1.0, 4.0, 25.0, 1e4]), (0.2, 0.5, 0.3),
     (-1.0, 0.0, 3.0), (0.5, 1.0, 3.0)),
    # both densities underflow at x = 60, yet the point is not clear-cut
    (np.array([60.0, 59.0, 61.0]), (0.3, 0.7), (50.0, 70.0), (0.25, 0.25)),
    # a lone point, K = 4
    (np.array([2.5]), (0.1, 0.2, 0.3, 0.4), (0.0, 1.0, 2.0, 3.0), (1.0, 0.5, 2.0, 1.0)),
    # the means in decreasing order: the columns follow the parameters' order, not the means'
    (np.array([-2.0, 0.0, 1.0, 3.5]), (0.6, 0.1, 0.3), (3.0, 1.0, -1.0), (1.0, 0.7, 1.5)),
)


def _resp_wrong_naive() -> Any:  # densities, then a ratio: 0/0 far out
    def f(x, weights, means, sds):
        x = np.asarray(x, dtype=float)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.asarray(weights) * stats.norm.pdf(x, means, sds)
            return a / a.sum(axis=1, keepdims=True)
    return f


def _resp_wrong_no_log_sigma() -> Any:  # the shared-σ formula: log σ_k dropped
    def f(x, weights, means, sds):
        x = np.asarray(x, dtype=float)[:, None]
        lj = np.log(weights) - 0.5 * ((x - np.asarray(means)) / np.asarray(sds)) ** 2
        return softmax(lj, axis=1)
    return f


def _resp_wrong_axis() -> Any:  # normalised over the points instead of the components
    def f(x, weights, means, sds):
        x = np.asarray(x, dtype=float)[:, None]
        lj = np.log(weights) + stats.norm.logpdf(x, means, sds)
        return softmax(lj, axis=0)
    return f


def _resp_wrong_transposed() -> Any:  # (K, N), the notebook's log_joint layout
    return lambda x, weights, means, sds: reference_responsibilities(x, weights, means, sds).T


def _resp_wrong_no_weights() -> Any:
    def f(x, weights, means, sds):
        return reference_responsibilities(x, np.ones(len(weights)), means, sds)
    return f


def _resp_wrong_sorted() -> Any:  # columns reordered by increasing mean ("no label switch")
    def f(x, weights, means, sds):
        return reference_responsibilities(x, weights, means, sds)[:, np.argsort(means)]
    return f


@exercise("03.2", wrong=[_resp_wrong_naive, _resp_wrong_no_log_sigma, _resp_wrong_axis,
                         _resp_wrong_transposed, _resp_wrong_no_weights, _resp_wrong_sorted])
def _responsibilities(answer: Any) -> str:
    for x, w, m, s in RESP_CASES:
        args = (x.copy(), np.array(w), np.array(m), np.array(s))
        shown = f"responsibilities(x of {x.size}, K = {len(w)})"
        got = call(answer, *args, name="responsibilities")
        got = as_array(got, (x.size, len(w)), shown)
        if np.any(got < -1e-12) or np.any(got > 1 + 1e-12):
            raise Wrong(f"{shown}: a responsibility outside [0, 1]")
        if not np.allclose(got.sum(axis=1), 1, atol=1e-9):
            raise Wrong(f"{shown}: a row does not sum to 1; each point's responsibilities "
                        f"are its posterior probabilities over the K components")
        want = reference_responsibilities(*args)
        bad = np.abs(got - want) > 1e-8 + 1e-6 * want
        if np.any(bad):
            i, k = np.argwhere(bad)[0]
            raise Wrong(f"{shown}: the responsibility of component {k + 1} for "
                        f"x = {x[i]:g} is too {'large' if got[i, k] > want[i, k] else 'small'}")
    return ("right, far-out points included: log w_k + log φ_k (with its −log σ_k), minus "
            "their log-sum-exp, then exp.")


# --- 03.3 the rate of EM for π alone ----------------------------------------------------------


PI_CASES = (
    (-1.0, 2.0, 0.35, 1.0, 400, 1),   # the notebook's Part 1 data, at the true means
    (0.0, 1.5, 0.5, 1.0, 600, 2),     # overlapping
    (0.0, 5.0, 0.2, 1.0, 300, 3),     # far apart
    (10.0, 12.0, 0.7, 0.8, 500, 4),
    (0.0, 1.5, 0.05, 1.0, 2000, 9),   # small, overlapping π: EM from 1/2 takes long to get there
)


def _pi_map(pi: float, x: np.ndarray, mu1: float, mu2: float, sigma: float) -> float:
    d = logit(pi) + (mu1 - mu2) / sigma**2 * (x - (mu1 + mu2) / 2)
    return float(expit(d).mean())


def pi_rate(x: np.ndarray, mu1: float, mu2: float, sigma: float) -> float:
    """ψ'(π̂) for EM on π alone: π̂ a root of the score, ψ' by central differences."""
    f1, f2 = stats.norm.pdf(x, mu1, sigma), stats.norm.pdf(x, mu2, sigma)
    pi_hat = optimize.brentq(lambda p: float(np.sum((f1 - f2) / (p * f1 + (1 - p) * f2))),
                             1e-9, 1 - 1e-9, xtol=1e-15)
    h = 1e-6
    return (_pi_map(pi_hat + h, x, mu1, mu2, sigma)
            - _pi_map(pi_hat - h, x, mu1, mu2, sigma)) / (2 * h)


def _rate_wrong_complement() -> Any:  # I_o / I_oc: the fraction observed
    return lambda x, mu1, mu2, sigma: 1 - pi_rate(x, mu1, mu2, sigma)


def _rate_wrong_at_half() -> Any:  # the formula at π = 1/2, not at π̂
    def f(x, mu1, mu2, sigma):
        g = expit((mu1 - mu2) / sigma**2 * (x - (mu1 + mu2) / 2))
        return float(np.mean(g * (1 - g)) / 0.25)
    return f


def _rate_wrong_unscaled() -> Any:  # mean γ(1 − γ) without the prior variance π(1 − π)
    def f(x, mu1, mu2, sigma):
        r = pi_rate(x, mu1, mu2, sigma)
        x = np.asarray(x)
        f1, f2 = stats.norm.pdf(x, mu1, sigma), stats.norm.pdf(x, mu2, sigma)
        p = optimize.brentq(lambda p: float(np.sum((f1 - f2) / (p * f1 + (1 - p) * f2))),
                            1e-9, 1 - 1e-9)
        return r * p * (1 - p)
    return f


def _rate_wrong_five_steps() -> Any:  # the formula at π after 5 EM steps from 1/2, not π̂
    def f(x, mu1, mu2, sigma):
        pi = 0.5
        for _ in range(5):
            pi = _pi_map(pi, x, mu1, mu2, sigma)
        g = expit(logit(pi) + (mu1 - mu2) / sigma**2 * (x - (mu1 + mu2) / 2))
        return float(np.mean(g * (1 - g)) / (pi * (1 - pi)))
    return f


@exercise("03.3", wrong=[_rate_wrong_complement, _rate_wrong_at_half, _rate_wrong_unscaled,
                         lambda: lambda x, mu1, mu2, sigma: 0.6771, _rate_wrong_five_steps])
def _pi_rate(answer: Any) -> str:
    for mu1, mu2, pi, sigma, n, seed in PI_CASES:
        x = simulate_gaussians(mu1, mu2, pi, sigma, n, seed)
        shown = f"rate_pi(x, {mu1:g}, {mu2:g}, {sigma:g}) (N = {n}, true π = {pi:g})"
        got = float(as_array(call(answer, x.copy(), mu1, mu2, sigma, name="rate_pi"), (),
                             shown))
        if not 0 <= got < 1:
            raise Wrong(f"{shown} = {got:.4g}: EM's rate at an interior MLE is a fraction "
                        f"of missing information, in [0, 1)")
        compare(got, pi_rate(x, mu1, mu2, sigma), rtol=1e-3, atol=1e-6, what=shown)
    return ("right on all five data sets: the rate is mean γᵢ(1 − γᵢ) / (π̂(1 − π̂)), the "
            "label's variance left after seeing x over its variance before.")


# --- 03.4 the explorer: slow although well apart -----------------------------------------------


def em_map_known(theta: np.ndarray, x: np.ndarray, sigma: float) -> np.ndarray:
    """The notebook's EM map for (μ₁, μ₂, π) with σ known (no empty component)."""
    mu1, mu2, pi = theta
    g = expit(logit(pi) + (mu1 - mu2) / sigma**2 * (x - (mu1 + mu2) / 2))
    w = g.sum()
    return np.array([g @ x / w, (x.sum() - g @ x) / (x.size - w), w / x.size])


def _loglik_known(theta: np.ndarray, x: np.ndarray, sigma: float) -> float:
    mu1, mu2, pi = theta
    with np.errstate(divide="ignore"):
        return float(np.logaddexp(np.log(pi) - 0.5 * ((x - mu1) / sigma) ** 2,
                                  np.log1p(-pi) - 0.5 * ((x - mu2) / sigma) ** 2).sum())


def explorer_rate(values: dict[str, Any]) -> tuple[float, np.ndarray]:
    """EM's rate at the fit the explorer reaches (its data, its start, π(0) = 1/2): the
    largest eigenvalue of a central-difference DM there. NaN if a component empties."""
    x = simulate_gaussians(float(values["mu1"]), float(values["mu2"]), float(values["pi"]),
                           float(values["sigma"]), int(round(float(values["n"]))),
                           int(values["seed"]))
    sigma = float(values["sigma"])
    start = np.array([float(values["mu1_0"]), float(values["mu2_0"]), 0.5])
    with np.errstate(divide="ignore", invalid="ignore"):  # an emptied component: 0/0
        first = em_map_known(start, x, sigma)
    if not (np.all(np.isfinite(first)) and 0 < first[2] < 1):
        return float("nan"), start
    fit = run_em(lambda th: em_map_known(th, x, sigma), lambda t: t, start,
                 loglik=lambda th: _loglik_known(th, x, sigma), tol=1e-12, max_iter=5000,
                 accelerate="squarem", check_ascent=False,
                 valid=lambda t: bool(0 < t[2] < 1))
    theta = np.asarray(fit.theta, dtype=float)
    if not 1e-6 < theta[2] < 1 - 1e-6:
        return float("nan"), theta
    h = 1e-6 * max(1.0, float(np.abs(theta[:2]).max()))
    jac = np.column_stack([
        (em_map_known(theta + h * e, x, sigma) - em_map_known(theta - h * e, x, sigma))
        / (2 * h) for e in np.eye(3)
    ])
    return float(np.max(np.abs(np.linalg.eigvals(jac)))), theta


#: Gauss–Hermite nodes and weights for E[h(X)], X ~ N(0, 1) (probabilists' weights).
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(120)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()


def population_rate(mu1: float, mu2: float, pi: float, sigma: float) -> float:
    """EM's rate for (μ₁, μ₂, π), σ known, at the TRUE parameters and N → ∞: the largest
    eigenvalue of I_c⁻¹ I_mis per observation, by Gauss–Hermite quadrature over each
    component. I_c = diag(π/σ², (1−π)/σ², 1/(π(1−π))); I_mis = E[γ(1−γ) a aᵀ], the
    variance of the complete-data score given x, a = ((x−μ₁)/σ², −(x−μ₂)/σ², 1/(π(1−π))).
    No simulation: it depends on neither N nor the seed."""
    i_mis = np.zeros((3, 3))
    for weight, mu in ((pi, mu1), (1 - pi, mu2)):
        x = mu + sigma * _GH_NODES
        g = expit(logit(pi) + (mu1 - mu2) / sigma**2 * (x - (mu1 + mu2) / 2))
        a = np.stack([(x - mu1) / sigma**2, -(x - mu2) / sigma**2,
                      np.full_like(x, 1 / (pi * (1 - pi)))])
        i_mis += weight * (a * (_GH_WEIGHTS * g * (1 - g))) @ a.T
    i_c = np.diag([pi / sigma**2, (1 - pi) / sigma**2, 1 / (pi * (1 - pi))])
    return float(np.max(np.linalg.eigvals(np.linalg.solve(i_c, i_mis)).real))


def _slow_apart(answer: Any) -> str:
    s = settings_of(answer, CONTROLS, RANGES)  # within the sliders, the seed whole
    mu1, mu2, sigma, pi = (float(s[k]) for k in ("mu1", "mu2", "sigma", "pi"))
    sep = abs(mu1 - mu2) / sigma
    if sep < 2.5 - 1e-9:  # slider values exactly 2.5 σ apart count
        raise Wrong(f"the true means are {sep:.2f} σ apart: the exercise asks for at least "
                    f"2.5 σ (close means make EM slow, as the notebook showed)")
    n = int(round(float(s["n"])))
    if n > 20_000:
        raise Wrong("N is above 20,000: the check simulates your data and refits them, "
                    "keep N at most 20,000 (the rate hardly depends on N)")
    if float(s["mu1_0"]) == float(s["mu2_0"]):
        raise Wrong("the start is symmetric (μ₁(0) = μ₂(0)): EM stops there at once "
                    "(exercise 03.1), it has no rate; move one start")
    # the mechanism: the rate at the true parameters, for any sample (quadrature)
    rate_true = population_rate(mu1, mu2, pi, sigma)
    if rate_true <= 0.85:
        raise Wrong(f"at the true parameters (N → ∞, any seed) EM's rate is "
                    f"{rate_true:.3f}, not above 0.85: what else, besides the distance of "
                    f"the means, decides how uncertain the labels are for the points that "
                    f"matter? (A small sample can look slow by chance; that is not it.)")
    # the explorer's run on this sample must show it: a two-component fit near the truth
    rate, theta = explorer_rate(s)
    if not np.isfinite(rate):
        raise Wrong("a component empties from this start (no data near it): move the "
                    "starting means towards the data")
    if abs(theta[0] - theta[1]) < 0.1 * sigma:
        raise Wrong(f"EM's fit merges the two components (μ̂₁ ≈ μ̂₂ ≈ {theta[0]:.2f}): it "
                    f"ends at a symmetric fixed point (exercise 03.5), not at two "
                    f"components: these few points look like one normal; take more points")
    truth = np.array([mu1, mu2])
    off = min(np.abs(theta[:2] - truth).max(), np.abs(theta[1::-1] - truth).max()) / sigma
    if off > 0.5:
        raise Wrong(f"EM's fit on this sample, μ̂ ≈ ({theta[0]:.2f}, {theta[1]:.2f}), is "
                    f"more than σ/2 from the true means: with {n} points the sample does "
                    f"not show the model's behaviour; take more points")
    n_small = min(theta[2], 1 - theta[2]) * n
    if n_small < 2:
        raise Wrong(f"the fit gives one component a weight of {n_small:.2g} points: EM is "
                    f"emptying it (a fit on the boundary), not converging slowly to two "
                    f"components; take more points")
    if rate <= 0.85 and n < 5000:
        raise Wrong(f"the setting is right in principle (rate {rate_true:.3f} at the true "
                    f"parameters), but on this sample of {n} points EM's rate is "
                    f"{rate:.3f}: take more points")
    luck = ("" if rate > 0.85 else
            f" (on your sample {rate:.3f}: a sample of {n} points scatters around it)")
    return (f"right: EM's rate is {rate_true:.3f} at the true parameters{luck}, with the "
            f"means {sep:.1f} σ apart; the fit (μ₁, μ₂, π) ≈ ({theta[0]:.2f}, "
            f"{theta[1]:.2f}, {theta[2]:.3f}), rate {rate:.3f} there.")


def _setting(**changes: Any) -> dict[str, Any]:
    """The solution's setting with some controls changed."""
    return {"mu1": 0.0, "mu2": 2.5, "sigma": 1.0, "pi": 0.05, "n": 10_000, "seed": 0,
            "mu1_0": -3.0, "mu2_0": 3.0, **changes}


exercise("03.4", wrong=[
    lambda: _setting(mu1=-1.0, mu2=2.0, pi=0.35),           # the default: fast
    lambda: _setting(mu2=1.0, pi=0.35),                      # slow, but means close
    lambda: _setting(pi=0.5),                                # apart, balanced: 0.79
    lambda: _setting(pi=0.5, n=20, seed=1),                  # balanced, a lucky small sample
    lambda: _setting(mu1=-4.0, mu2=-2.75, sigma=0.5, mu1_0=-3.0, mu2_0=6.0),  # empties
    lambda: _setting(n=1000),                                # fit far from the truth
    lambda: _setting(pi=0.95, n=20),                         # merged: rate 1, no fit
    lambda: _setting(pi=0.0),                                # one Gaussian: no slider for it
    lambda: _setting(pi=0.0003),
    lambda: _setting(sigma=0.0),
    lambda: _setting(n=-5),
    lambda: _setting(n="abc"),
    lambda: _setting(seed=None),
    lambda: _setting(seed=1.5),
    lambda: _setting(mu2=1e300),
    lambda: {k: v for k, v in _setting().items() if k != "seed"},  # a control missing
])(_slow_apart)


# --- 03.5 leaving the symmetric start ------------------------------------------------------------


def gap_growth(x: np.ndarray, sigma: float, pi0: float = 0.3) -> float:
    """(μ₁' − μ₂') / (μ₁ − μ₂) for one EM step (σ known) from (x̄ + δ/2, x̄ − δ/2, π0),
    δ → 0: a central difference of the map along the gap."""
    xbar, d = float(np.mean(x)), 1e-5 * float(np.std(x))

    def gap(delta: float) -> float:
        new = em_map_known(np.array([xbar + delta / 2, xbar - delta / 2, pi0]), x, sigma)
        return new[0] - new[1]

    return (gap(d) - gap(-d)) / (2 * d)


GROWTH_CASES = (
    (-1.0, 2.0, 0.35, 1.0, 400, 1, 1.0),    # the notebook's X, σ = 1
    (0.0, 0.5, 0.5, 1.0, 12, 5, 1.0),       # a dozen points
    (0.0, 4.0, 0.3, 1.0, 200, 6, 2.5),      # σ larger than the spread: the gap shrinks
    (3.0, 3.0, 0.5, 2.0, 30, 7, 1.5),
)


@exercise("03.5", wrong=[
    lambda: lambda x, sigma: float(np.var(x, ddof=1) / sigma**2),   # sample variance
    lambda: lambda x, sigma: float(np.std(x) / sigma),              # not squared
    lambda: lambda x, sigma: float(sigma**2 / np.var(x)),           # upside down
    lambda: lambda x, sigma: 1.0,                                   # "a fixed point: 1"
    lambda: lambda x, sigma: float(max(np.var(x) / sigma**2, 1.0)),  # the π direction's 1
])
def _growth(answer: Any) -> str:
    for mu1, mu2, pi, s_true, n, seed, sigma in GROWTH_CASES:
        x = simulate_gaussians(mu1, mu2, pi, s_true, n, seed)
        shown = f"growth_factor(x, {sigma:g}) (N = {n})"
        got = float(as_array(call(answer, x.copy(), sigma, name="growth_factor"), (), shown))
        if got < 0:
            raise Wrong(f"{shown} is negative: the gap μ₁ − μ₂ keeps its sign near the "
                        f"symmetric point")
        compare(got, gap_growth(x, sigma), rtol=1e-4, what=shown)
    return ("right: the gap is multiplied by s²/σ², the data's variance (divided by N) over "
            "the component's; the symmetric point repels exactly when the data are more "
            "spread than one component.")
