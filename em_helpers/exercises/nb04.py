"""Checks for the exercises of notebook 04 (two coins, Do & Batzoglou's primer).

- 04.1 a setting of the explorer where EM is slow although the data are plentiful and
  the fit tells the coins apart, and stays slow however many sets are added (its
  controls);
- 04.2 the E-step for K coins with mixing weights, in log space (a function);
- 04.3 one EM step for K coins with free weights and sets of different lengths (a function);
- 04.4 the symmetric start: the factor by which a small gap θ_A − θ_B grows per iteration
  near the fixed point (p̄, p̄) (a function of the data).

References are computed here, independently of the answer's formulas: responsibilities by
Bayes' rule on binomial probabilities (:mod:`scipy.stats`), the M-step by a bounded scalar
maximisation of Q for each coin, EM's rate as the largest fraction of missing information
(Louis' method, :mod:`em_helpers.core.louis`) at the fit EM reaches, and its large-sample
limit as the same fraction for the expected information of one set (a sum over its
possible head counts) at the true biases, the growth factor as
the largest eigenvalue of a central-difference Jacobian of the EM map at (p̄, p̄).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, stats
from scipy.special import logsumexp, xlog1py, xlogy

from ..core.loop import run_em
from ..core.louis import louis_information
from ..models.examples import TwoCoins
from .base import Wrong, as_array, call, compare, exercise, pair_of, settings_of

# The references below are private: a reader who imports them has not answered.
__all__ = ["CONTROLS", "RANGES", "SLOW_RATE"]

#: The explorer's controls (notebook 04, section Explore).
CONTROLS = ("theta_a0", "theta_b0", "data", "true_a", "true_b", "sets", "flips", "seed")
#: The values the explorer's controls can take (their sliders' ranges).
RANGES = {"theta_a0": (0.01, 0.99, 0.01), "theta_b0": (0.01, 0.99, 0.01),
          "data": {"paper", "simulate"}, "true_a": (0.01, 0.99, 0.01),
          "true_b": (0.01, 0.99, 0.01), "sets": (2, 500),
          "flips": (1, 100), "seed": (0, 99)}
#: 04.1: "slow" is a rate above this, on the sample and in the large-sample limit (the
#: primer's five sets give 0.41).
SLOW_RATE = 0.7
#: The paper's head counts, ten tosses per set.
HEADS = np.array([5.0, 9.0, 8.0, 4.0, 7.0])
FLIPS = np.full(5, 10.0)
#: 04.3: sets of different lengths (the M-step must weigh a set by its tosses).
LONG_HEADS = np.array([5.0, 9.0, 8.0, 4.0, 7.0, 31.0, 1.0, 15.0])
LONG_FLIPS = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 40.0, 4.0, 25.0])


# --- references ---------------------------------------------------------------------------


def _coin_data(values: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(heads, flips) as the explorer's ``update`` makes them from its control values."""
    if values["data"] != "simulate":
        return HEADS.copy(), FLIPS.copy()
    rng = np.random.default_rng(int(values["seed"]))
    sets, flips = int(values["sets"]), int(values["flips"])
    coin_a = rng.random(sets) < 0.5
    n = np.full(sets, float(flips))
    h = rng.binomial(flips, np.where(coin_a, values["true_a"], values["true_b"]))
    return h.astype(float), n


def _explorer_rate(values: dict[str, Any]) -> tuple[float, np.ndarray]:
    """EM's rate at the fit reached from the explorer's start: the largest fraction of
    missing information (Louis), and that fit. NaN when the fit is on the boundary; a
    :class:`Wrong` when a coin is given no set at all (the explorer keeps its start)."""
    h, n = _coin_data(values)
    model = TwoCoins(heads=h, flips=n)
    start = np.array([values["theta_a0"], values["theta_b0"]], dtype=float)
    emptied: list[int] = []

    def m_step(gamma: np.ndarray) -> np.ndarray:
        # as the notebook's m_step with previous=: an emptied coin keeps its bias
        w = np.array([gamma @ n, (1 - gamma) @ n])
        empty = w < np.finfo(float).tiny
        if empty.any():
            emptied.append(int(np.flatnonzero(empty)[0]))
            return start.copy()  # nothing moves: EM stops here
        return np.array([gamma @ h, (1 - gamma) @ h]) / w

    fit = run_em(model.e_step, m_step, start.copy(), tol=1e-11, max_iter=5000,
                 accelerate="squarem", scale=1, check_ascent=False,
                 valid=lambda t: bool(np.all((t >= 0) & (t <= 1))))
    theta = np.asarray(fit.theta, dtype=float)
    gamma = model.e_step(theta)
    if emptied or gamma.max() == 0.0 or gamma.min() == 1.0:
        coin = "AB"[emptied[0]] if emptied else ("A" if gamma.max() == 0.0 else "B")
        raise Wrong(f"coin {coin} is given no set at all from this start (the explorer "
                    f"says 'coin {coin} emptied'): EM never moves it, so there is no "
                    "rate to speak of; start both coins nearer the head fractions")
    if not np.all((theta > 1e-6) & (theta < 1 - 1e-6)):
        return float("nan"), theta
    cov = model.score_moments(theta)[1]
    return float(louis_information(model.complete_info(theta), cov).fractions[0]), theta


def _log_joint_k(thetas: np.ndarray, weights: np.ndarray, heads: np.ndarray,
                flips: np.ndarray) -> np.ndarray:
    """log P(set i, coin k), shape (sets, K), from scipy's binomial pmf (the binomial
    coefficient, the same for every coin, cancels in the responsibilities)."""
    h, n = np.asarray(heads)[:, None], np.asarray(flips)[:, None]
    return np.log(weights)[None, :] + stats.binom.logpmf(h, n, np.asarray(thetas)[None, :])


def _responsibilities(thetas: np.ndarray, weights: np.ndarray, heads: np.ndarray,
                     flips: np.ndarray) -> np.ndarray:
    """P(coin k | set i) by Bayes' rule, shape (sets, K)."""
    lj = _log_joint_k(thetas, weights, heads, flips)
    return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))


def _loglik_k(thetas: np.ndarray, weights: np.ndarray, heads: np.ndarray,
             flips: np.ndarray) -> float:
    """ℓ = Σ_i log Σ_k w_k θ_k^{h_i} (1 − θ_k)^{n_i − h_i} (tosses in order: no coefficient)."""
    h, n = np.asarray(heads)[:, None], np.asarray(flips)[:, None]
    t = np.asarray(thetas, dtype=float)[None, :]
    lj = np.log(weights)[None, :] + xlogy(h, t) + xlog1py(n - h, -t)
    return float(logsumexp(lj, axis=1).sum())


def _q(thetas: np.ndarray, weights: np.ndarray, gamma: np.ndarray, heads: np.ndarray,
       flips: np.ndarray) -> float:
    """Q(θ, w | θ_t, w_t) with gamma = the responsibilities at (θ_t, w_t)."""
    h, n = heads[:, None], flips[:, None]
    t = np.asarray(thetas, dtype=float)[None, :]
    lj = xlogy(1.0, np.asarray(weights, dtype=float))[None, :] + xlogy(h, t) \
        + xlog1py(n - h, -t)
    return float(np.sum(gamma * lj))


def _m_step_reference(gamma: np.ndarray, heads: np.ndarray,
                     flips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The maximiser of Q: each θ_k by a bounded scalar maximisation of its own term,
    the weights by the Lagrange condition (proportional to the responsibilities)."""
    thetas = []
    for g in gamma.T:
        res = optimize.minimize_scalar(
            lambda t, g=g: -float(g @ (xlogy(heads, t) + xlog1py(flips - heads, -t))),
            bounds=(1e-12, 1 - 1e-12), method="bounded", options={"xatol": 1e-12})
        thetas.append(res.x)
    return np.array(thetas), gamma.sum(axis=0) / gamma.sum()


def _em_map_2(theta: np.ndarray, heads: np.ndarray, flips: np.ndarray,
              weight: float) -> np.ndarray:
    """The notebook's two-coin EM map with λ fixed at ``weight``."""
    model = TwoCoins(heads=heads, flips=flips, weight=weight)
    return model.m_step(model.e_step(theta))


def _growth_reference(heads: np.ndarray, flips: np.ndarray, weight: float = 0.5) -> float:
    """The largest eigenvalue of the EM map's Jacobian at the symmetric fixed point
    (p̄, p̄), p̄ = Σh/Σn, by central differences."""
    p = heads.sum() / flips.sum()
    point, d = np.array([p, p]), 1e-6
    jac = np.column_stack([
        (_em_map_2(point + d * e, heads, flips, weight)
         - _em_map_2(point - d * e, heads, flips, weight)) / (2 * d)
        for e in np.eye(2)
    ])
    return float(np.max(np.linalg.eigvals(jac).real))


# --- 04.1 the explorer: slow EM with plenty of data ---------------------------------------


def _limit_rate(true_a: float, true_b: float, flips: int) -> float:
    """The rate EM tends to as the number of sets grows: the largest fraction of missing
    information for the expected information of one set at the true biases (λ = 1/2),
    a sum over the set's possible head counts 0..flips."""
    n = float(flips)
    h = np.arange(int(flips) + 1, dtype=float)
    t = n - h
    pa, pb = stats.binom.pmf(h, n, true_a), stats.binom.pmf(h, n, true_b)
    w = (pa + pb) / 2
    g = pa / (pa + pb)
    i_c = np.diag([w @ (g * (h / true_a**2 + t / (1 - true_a) ** 2)),
                   w @ ((1 - g) * (h / true_b**2 + t / (1 - true_b) ** 2))])
    s = np.column_stack([g * (h / true_a - t / (1 - true_a)),
                         (1 - g) * (h / true_b - t / (1 - true_b))])
    i_o = (w[:, None] * s).T @ s
    return float(np.max(np.linalg.eigvals(np.eye(2) - np.linalg.solve(i_c, i_o)).real))


def _slow_with_data(answer: Any) -> str:
    s = settings_of(answer, CONTROLS, RANGES)
    if s["data"] != "simulate":
        raise Wrong("the setting uses the paper's five sets: switch data to 'simulate'")
    if s["sets"] < 200 or s["flips"] < 20:
        raise Wrong(f"{s['sets']} sets of {s['flips']} tosses: the exercise asks for at "
                    "least 200 sets of at least 20 tosses")
    if s["theta_a0"] == s["theta_b0"]:
        raise Wrong("the start is symmetric (θ_A(0) = θ_B(0)): EM stops at once there, "
                    "so it has no rate; move one start")
    if abs(s["true_a"] - s["true_b"]) < 0.02 - 1e-9:
        raise Wrong("the true biases are less than 0.02 apart: that is one coin (or as "
                    "good as one), and a fit that tells two coins apart would be the "
                    "luck of the sample; choose two different coins")
    limit = _limit_rate(s["true_a"], s["true_b"], s["flips"])
    if limit <= SLOW_RATE:
        raise Wrong(f"with these coins and {s['flips']} tosses per set, EM's rate tends to "
                    f"{limit:.3f} as the sets grow, not above {SLOW_RATE}: whatever one "
                    "sample gives, more sets of these coins make EM fast enough; the "
                    "coins are still easy to tell apart")
    rate, theta = _explorer_rate(s)
    if not np.isfinite(rate):
        raise Wrong("EM ends on the boundary here (a bias of 0 or 1): choose true biases "
                    "further inside (0, 1)")
    if abs(theta[0] - theta[1]) <= 0.02:
        raise Wrong(f"EM's fit does not tell the coins apart (|θ̂_A − θ̂_B| = "
                    f"{abs(theta[0] - theta[1]):.3f}, not above 0.02): this sample looks "
                    "like one coin, and the symmetric point is where EM ends (exercise "
                    "04.4); coins further apart, more tosses or another seed")
    if rate <= SLOW_RATE:
        raise Wrong(f"EM's rate at its fit on this sample is {rate:.3f}, not above "
                    f"{SLOW_RATE}, although with more sets it tends to {limit:.3f}: one "
                    f"sample of {s['sets']} sets scatters around that limit (by about "
                    "±0.1); try another seed")
    closer = abs(theta[0] - theta[1]) < abs(s["true_a"] - s["true_b"])
    luck = ("" if rate <= limit + 0.05 else " (this sample is slower than the limit"
            + (": its fit puts the coins closer together than the truth" if closer
               else "") + ", luck that more sets take away)")
    return (f"right: rate {rate:.3f} on your {s['sets']} sets of {s['flips']} tosses, and "
            f"{limit:.3f} in the limit of many sets{luck}. What is missing is which coin made "
            "each set; every new set brings its own missing label, so the fraction of "
            "the information that is missing tends to a limit fixed by how much the two "
            "coins' head counts overlap, not by how many sets there are.")


_BASE_41 = {"theta_a0": 0.6, "theta_b0": 0.4, "data": "simulate", "true_a": 0.55,
            "true_b": 0.45, "sets": 300, "flips": 20, "seed": 0}

exercise("04.1", wrong=[
    lambda: {"theta_a0": 0.6, "theta_b0": 0.5, "data": "paper", "true_a": 0.8,
             "true_b": 0.45, "sets": 5, "flips": 10, "seed": 0},
    lambda: {"theta_a0": 0.6, "theta_b0": 0.5, "data": "simulate", "true_a": 0.8,
             "true_b": 0.2, "sets": 300, "flips": 30, "seed": 0},
    lambda: {"theta_a0": 0.6, "theta_b0": 0.5, "data": "simulate", "true_a": 0.55,
             "true_b": 0.5, "sets": 20, "flips": 10, "seed": 0},
    # the sample collapses to the symmetric point
    lambda: {"theta_a0": 0.6, "theta_b0": 0.5, "data": "simulate", "true_a": 0.54,
             "true_b": 0.46, "sets": 300, "flips": 20, "seed": 0},
    lambda: {"theta_a0": 0.5, "theta_b0": 0.5, "data": "simulate", "true_a": 0.55,
             "true_b": 0.45, "sets": 300, "flips": 20, "seed": 0},
    # slow on this sample by luck (rate 0.83), 0.63 in the limit of many sets
    lambda: {**_BASE_41, "true_a": 0.56, "true_b": 0.44},
    # the review: beyond the explorer's sliders, and values of the wrong kind
    lambda: {**_BASE_41, "sets": 2000},
    lambda: {**_BASE_41, "sets": 100000},
    lambda: {**_BASE_41, "sets": "many"},
    lambda: {**_BASE_41, "true_a": 1.5},
    lambda: {**_BASE_41, "seed": -1},
    lambda: {**_BASE_41, "theta_a0": 2.0},
    lambda: {**_BASE_41, "seed": 2.5},
    lambda: {**_BASE_41, "data": ["simulate"]},
    lambda: {**_BASE_41, "theta_a0": "0.6"},
    lambda: {**_BASE_41, "sets": "500"},
    # one coin: a separated fit would be luck
    lambda: {**_BASE_41, "true_a": 0.5, "true_b": 0.5},
    # slow in the limit (0.80), but this sample is fast
    lambda: {**_BASE_41, "true_a": 0.54, "true_b": 0.46, "sets": 500, "seed": 5},
])(_slow_with_data)


# --- 04.2 the E-step for K coins ----------------------------------------------------------


def _e_wrong_no_weights() -> Any:
    def f(thetas, weights, heads, flips):
        t = np.asarray(thetas)[None, :]
        lj = xlogy(heads[:, None], t) + xlog1py((flips - heads)[:, None], -t)
        return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
    return f


def _e_wrong_axis() -> Any:
    def f(thetas, weights, heads, flips):  # normalised over the sets, not the coins
        t = np.asarray(thetas)[None, :]
        lj = np.log(weights)[None, :] + xlogy(heads[:, None], t) \
            + xlog1py((flips - heads)[:, None], -t)
        return np.exp(lj - logsumexp(lj, axis=0, keepdims=True))
    return f


def _e_wrong_products() -> Any:
    def f(thetas, weights, heads, flips):  # right formula, but products underflow
        t = np.asarray(thetas)[None, :]
        joint = np.asarray(weights)[None, :] * t ** heads[:, None] \
            * (1 - t) ** (flips - heads)[:, None]
        with np.errstate(invalid="ignore"):
            return joint / joint.sum(axis=1, keepdims=True)
    return f


def _e_wrong_transposed() -> Any:
    return lambda thetas, weights, heads, flips: _responsibilities(
        np.asarray(thetas), np.asarray(weights), heads, flips).T


def _e_wrong_pmf() -> Any:
    from scipy import stats  # noqa: PLC0415

    def f(thetas, weights, heads, flips):  # probabilities, not logs: 0/0 on atypical sets
        p = np.asarray(weights, float)[None] * stats.binom.pmf(
            np.asarray(heads)[:, None], np.asarray(flips)[:, None],
            np.asarray(thetas, float)[None])
        return p / p.sum(axis=1, keepdims=True)
    return f


@exercise("04.2", wrong=[_e_wrong_no_weights, _e_wrong_axis, _e_wrong_products,
                         _e_wrong_transposed, _e_wrong_pmf])
def _e_step_k(answer: Any) -> str:
    cases = [
        ("two coins, the paper's sets", [0.6, 0.5], [0.5, 0.5], HEADS, FLIPS),
        ("three coins, unequal weights", [0.8, 0.5, 0.3], [0.2, 0.3, 0.5], HEADS, FLIPS),
        ("three coins, sets of different lengths", [0.9, 0.6, 0.2], [0.5, 0.1, 0.4],
         LONG_HEADS, LONG_FLIPS),
        ("two coins, sets of 2000 tosses", [0.52, 0.48], [0.7, 0.3],
         np.array([1050.0, 950.0, 1000.0, 1100.0]), np.full(4, 2000.0)),
        # atypical long sets: a pmf (with its binomial coefficient) underflows to 0 here
        ("two coins, sets of 2000 tosses far from both biases", [0.52, 0.48], [0.7, 0.3],
         np.array([60.0, 1900.0]), np.full(2, 2000.0)),
    ]
    for label, thetas, weights, heads, flips in cases:
        thetas, weights = np.array(thetas), np.array(weights)
        got = call(answer, thetas, weights, heads.copy(), flips.copy(), name="e_step_k")
        shape = (heads.size, thetas.size)
        try:
            got = as_array(got, shape, f"e_step_k ({label})")
        except Wrong as exc:
            if "not finite" in str(exc) and "2000" in label:
                raise Wrong(f"e_step_k ({label}) is not finite: θ^h (1−θ)^(n−h) underflows "
                            "to 0 for long sets; work in log space, as the notebook's "
                            "e_step does") from None
            raise
        if np.any(got < -1e-12) or np.any(got > 1 + 1e-12):
            raise Wrong(f"e_step_k ({label}): a responsibility outside [0, 1]")
        if not np.allclose(got.sum(axis=1), 1.0, atol=1e-9):
            raise Wrong(f"e_step_k ({label}): a set's responsibilities do not sum to 1 over "
                        "the coins (normalise each row, over k)")
        compare(got, _responsibilities(thetas, weights, heads, flips), rtol=1e-7, atol=1e-12,
                what=f"e_step_k ({label})")
    return ("right, for 2 and 3 coins, unequal weights, sets of different lengths and sets "
            "long enough to underflow a product.")


# --- 04.3 one EM step for K coins with free weights ---------------------------------------


def _m_wrong_fractions() -> Any:
    def f(thetas, weights, heads, flips):  # averages the sets' head fractions
        g = _responsibilities(np.asarray(thetas), np.asarray(weights), heads, flips)
        return (g.T @ (heads / flips)) / g.sum(axis=0), g.mean(axis=0)
    return f


def _m_wrong_toss_weights() -> Any:
    def f(thetas, weights, heads, flips):  # weights from tosses, not sets
        g = _responsibilities(np.asarray(thetas), np.asarray(weights), heads, flips)
        return (g.T @ heads) / (g.T @ flips), (g.T @ flips) / flips.sum()
    return f


def _m_wrong_unnormalised() -> Any:
    def f(thetas, weights, heads, flips):
        g = _responsibilities(np.asarray(thetas), np.asarray(weights), heads, flips)
        return (g.T @ heads) / (g.T @ flips), g.sum(axis=0)
    return f


def _m_wrong_fixed_weights() -> Any:
    def f(thetas, weights, heads, flips):  # the fixed-λ M-step: weights never move
        g = _responsibilities(np.asarray(thetas), np.asarray(weights), heads, flips)
        return (g.T @ heads) / (g.T @ flips), np.asarray(weights, dtype=float)
    return f


def _m_wrong_e_without_weights() -> Any:
    def f(thetas, weights, heads, flips):  # the E-step forgets the current weights
        g = _responsibilities(np.asarray(thetas), np.ones(len(weights)) / len(weights),
                              heads, flips)
        return (g.T @ heads) / (g.T @ flips), g.mean(axis=0)
    return f


@exercise("04.3", wrong=[_m_wrong_fractions, _m_wrong_toss_weights, _m_wrong_unnormalised,
                         _m_wrong_fixed_weights, _m_wrong_e_without_weights])
def _em_step_k(answer: Any) -> str:
    heads, flips = LONG_HEADS, LONG_FLIPS
    starts = [([0.6, 0.5], [0.5, 0.5]), ([0.8, 0.5, 0.3], [0.2, 0.3, 0.5]),
              ([0.3, 0.9, 0.6], [0.6, 0.3, 0.1]), ([0.7, 0.2], [0.9, 0.1])]
    for thetas, weights in starts:
        thetas, weights = np.array(thetas), np.array(weights)
        k = thetas.size
        where = f"em_step_k from θ = {thetas.tolist()}, w = {weights.tolist()}"
        out = call(answer, thetas.copy(), weights.copy(), heads.copy(), flips.copy(),
                   name="em_step_k")
        out_t, out_w = pair_of(out, where, "(new_thetas, new_weights)")
        new_t = as_array(out_t, (k,), f"the new biases ({where})")
        new_w = as_array(out_w, (k,), f"the new weights ({where})")
        if np.any(new_t < 0) or np.any(new_t > 1):
            raise Wrong(f"{where}: a bias outside [0, 1]")
        if np.any(new_w < 0) or abs(new_w.sum() - 1) > 1e-9:
            raise Wrong(f"{where}: the new weights are not probabilities summing to 1")
        if _loglik_k(new_t, new_w, heads, flips) < _loglik_k(thetas, weights, heads, flips) \
                - 1e-9:
            raise Wrong(f"{where}: the step lowers the observed log-likelihood; not an EM "
                        "step (EM never goes down)")
        gamma = _responsibilities(thetas, weights, heads, flips)
        ref_t, ref_w = _m_step_reference(gamma, heads, flips)
        flat = _responsibilities(thetas, np.full(k, 1 / k), heads, flips)
        if not np.allclose(weights, 1 / k) and np.allclose(
                new_t, (flat.T @ heads) / (flat.T @ flips), rtol=1e-9) \
                and np.allclose(new_w, flat.mean(axis=0), rtol=1e-9):
            raise Wrong(f"{where}: your step is the M-step of responsibilities computed "
                        "without the current weights: the E-step's prior for coin k is "
                        "λ_k, not 1/K")
        gain = _q(ref_t, ref_w, gamma, heads, flips) - _q(new_t, new_w, gamma, heads, flips)
        if gain > 1e-8:
            part = ("the weights" if _q(new_t, ref_w, gamma, heads, flips)
                    >= _q(ref_t, ref_w, gamma, heads, flips) - 1e-8 else "the biases")
            raise Wrong(f"{where}: the step climbs but does not maximise Q(·|θ_t): moving "
                        f"{part} raises Q further")
        compare(new_t, ref_t, rtol=1e-6, what=f"the new biases ({where})")
        compare(new_w, ref_w, rtol=1e-6, what=f"the new weights ({where})")
    return ("right: each step maximises Q (checked against a numerical maximisation) and "
            "climbs ℓ, for 2 and 3 coins and sets of different lengths.")


# --- 04.4 the symmetric start: how fast a small gap grows ---------------------------------

#: 04.4: (heads, flips): the paper; sets of different lengths; sets less spread than one
#: binomial (the symmetric point attracts); a wider spread.
GROWTH_DATA = (
    (HEADS, FLIPS),
    (LONG_HEADS, LONG_FLIPS),
    (np.array([5.0, 5.0, 6.0, 4.0, 5.0, 10.0]), np.array([10.0, 10.0, 10.0, 10.0, 10.0, 20.0])),
    (np.array([2.0, 9.0, 17.0, 3.0, 1.0]), np.array([10.0, 12.0, 20.0, 5.0, 6.0])),
)


def _g_wrong_per_set() -> Any:
    def f(heads, flips):  # the dispersion index: right only when every set is as long
        p = heads.sum() / flips.sum()
        return float(np.mean((heads - flips * p) ** 2 / (flips * p * (1 - p))))
    return f


def _g_wrong_sample() -> Any:
    def f(heads, flips):  # a sample variance of the fractions, over the binomial variance
        p = heads.sum() / flips.sum()
        return float(np.var(heads / flips, ddof=1) / (p * (1 - p) / flips.mean()))
    return f


def _g_wrong_reciprocal() -> Any:
    def f(heads, flips):
        p = heads.sum() / flips.sum()
        return float(p * (1 - p) * flips.sum() / np.sum((heads - flips * p) ** 2))
    return f


@exercise("04.4", wrong=[_g_wrong_per_set, _g_wrong_sample, _g_wrong_reciprocal,
                         lambda: (lambda heads, flips: 1.0)])
def _growth(answer: Any) -> str:
    for heads, flips in GROWTH_DATA:
        got = as_array(call(answer, heads.copy(), flips.copy(), name="growth_factor"), (),
                       "your growth factor")
        want = _growth_reference(heads, flips)
        if (got > 1) != (want > 1):
            kind = "repels" if want > 1 else "attracts"
            raise Wrong(f"for heads {heads.astype(int).tolist()} in "
                        f"{flips.astype(int).tolist()} tosses the symmetric point "
                        f"{kind} (EM's map says so), but your factor says the opposite")
        compare(got, want, rtol=1e-4,
                what=f"your factor for heads {heads.astype(int).tolist()} in "
                     f"{flips.astype(int).tolist()} tosses")
    heads, flips = GROWTH_DATA[0]
    again = as_array(call(answer, heads.copy(), flips.copy(), name="growth_factor"), (),
                     "your growth factor")
    if abs(_growth_reference(heads, flips, weight=0.3) - float(again)) > 1e-4:
        raise Wrong("your factor disagrees with EM when λ = 0.3 (it must not depend on λ)")
    return ("right, against the Jacobian of the EM map at (p̄, p̄) on four data sets (and "
            "with λ = 0.3 too): the symmetric point is a saddle exactly when the sets "
            "spread more than one binomial would.")
