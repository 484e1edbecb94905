"""Checks for the exercises of notebook 09 (hidden Markov models: Baum–Welch is EM).

- 09.1 the stationary distribution of a chain and its mean sojourn times (a function);
- 09.2 the M-step for Γ in a chain with one switching probability (a function);
- 09.3 the scaled forward recursion for log L, with missing counts (a function);
- 09.4 Viterbi decoding, the most probable path (a function).

References are computed here, by methods other than the ones the exercises ask for: the
stationary distribution by powers of Γ and sojourn times by summing the geometric law;
the constrained M-step by a bounded numerical maximisation of Q's Γ-part; the likelihood
and the most probable path by brute-force enumeration of all paths of short series, and
by the course's :mod:`em_helpers.models.hmm` (forward–backward, Viterbi) on long ones.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from scipy import optimize
from scipy.stats import poisson

from ..models import hmm
from .base import Wrong, as_array, call, compare, exercise, pair_of

__all__ = [
    "brute_force",
    "constrained_gamma",
    "geometric_mean_sojourn",
    "path_logprob",
    "stationary_by_powers",
]

#: Transition matrices of the checks: the notebook's two-state example, its three-state
#: start G3, the book's stationary three-state fit (a zero entry), a random four-state one.
GAMMAS = (
    np.array([[0.93, 0.07], [0.13, 0.87]]),
    np.full((3, 3), 0.1) + 0.7 * np.eye(3),
    np.array([[0.9546, 0.0244, 0.0210], [0.0498, 0.8994, 0.0508], [0.0, 0.1966, 0.8034]]),
    np.random.default_rng(94).dirichlet(np.ones(4) + 6 * np.eye(4)[0], size=4),
)


# --- 09.1 stationary distribution and sojourn times ----------------------------------------


def stationary_by_powers(gam: np.ndarray) -> np.ndarray:
    """The rows of Γ^(2^40) (an irreducible aperiodic chain: all rows equal δ)."""
    p = np.asarray(gam, dtype=float)
    for _ in range(40):
        p = p @ p
        p /= p.sum(axis=1, keepdims=True)
    return p.mean(axis=0)


def geometric_mean_sojourn(g_ii: float) -> float:
    """E[K] for P(K = k) = g^(k-1)(1 - g), k >= 1, by summing the series (to 1e-16)."""
    k = np.arange(1, 20_000, dtype=float)
    return float(np.sum(k * g_ii ** (k - 1) * (1 - g_ii)))


def _regimes_wrong_first_row() -> Any:
    return lambda gam: (np.asarray(gam)[0], 1 / (1 - np.diag(gam)))


def _regimes_wrong_column_means() -> Any:
    return lambda gam: (np.asarray(gam).mean(axis=0), 1 / (1 - np.diag(gam)))


def _regimes_wrong_right_eigenvector() -> Any:
    def f(gam):  # Γ v = v: the right eigenvector, normalised (always uniform)
        w, v = np.linalg.eig(np.asarray(gam))
        r = np.real(v[:, np.argmin(np.abs(w - 1))])
        return r / r.sum(), 1 / (1 - np.diag(gam))
    return f


def _regimes_wrong_sojourn_inverse() -> Any:
    return lambda gam: (hmm.stationary_distribution(gam), 1 / np.diag(gam))


def _regimes_wrong_sojourn_extra() -> Any:
    return lambda gam: (hmm.stationary_distribution(gam),
                        np.diag(gam) / (1 - np.diag(gam)))


@exercise("09.1", wrong=[_regimes_wrong_first_row, _regimes_wrong_column_means,
                         _regimes_wrong_right_eigenvector, _regimes_wrong_sojourn_inverse,
                         _regimes_wrong_sojourn_extra])
def _regimes(answer: Any) -> str:
    for gam in GAMMAS:
        m = gam.shape[0]
        out = pair_of(call(answer, gam.copy(), name="regimes"), "regimes(gam)",
                      "(delta, sojourn)")
        delta = as_array(out[0], (m,), f"delta for a {m}-state Γ")
        sojourn = as_array(out[1], (m,), f"the mean sojourns for a {m}-state Γ")
        if np.any(delta < -1e-12) or abs(delta.sum() - 1) > 1e-9:
            raise Wrong(f"delta for a {m}-state Γ is not a distribution (entries >= 0 "
                        "adding to 1)")
        if not np.allclose(delta @ gam, delta, rtol=1e-8, atol=1e-10):
            raise Wrong(f"delta for a {m}-state Γ is not stationary: delta Γ differs from "
                        "delta (one step of the chain must leave it unchanged)")
        compare(delta, stationary_by_powers(gam), rtol=1e-7, atol=1e-10,
                what=f"delta for a {m}-state Γ")
        if np.any(sojourn < 1 - 1e-12):
            raise Wrong(f"a mean sojourn for a {m}-state Γ is below 1: a stay in a state "
                        "lasts at least the step in which it is entered")
        want = [geometric_mean_sojourn(g) for g in np.diag(gam)]
        compare(sojourn, want, rtol=1e-7, what=f"the mean sojourns for a {m}-state Γ")
    return ("right: delta solves delta Γ = delta, and a stay in state i is geometric "
            "with mean 1 / (1 - γ_ii).")


# --- 09.2 the M-step for Γ with one switching probability ----------------------------------


def _q_gamma(n: np.ndarray, q: float) -> float:
    """Q's Γ-part for Γ(q): sum_i n_ii log(1 - q) + sum_{i != j} n_ij log(q / (m - 1))."""
    m = n.shape[0]
    diag = np.trace(n)
    return float(diag * np.log1p(-q) + (n.sum() - diag) * np.log(q / (m - 1)))


def _gamma_of(q: float, m: int) -> np.ndarray:
    return np.full((m, m), q / (m - 1)) + (1 - q - q / (m - 1)) * np.eye(m)


def constrained_gamma(n: np.ndarray) -> float:
    """The maximiser q of Q's Γ-part, by a bounded numerical maximisation."""
    with np.errstate(divide="ignore", invalid="ignore"):
        res = optimize.minimize_scalar(lambda q: -_q_gamma(n, q),
                                       bounds=(1e-12, 1 - 1e-12), method="bounded",
                                       options={"xatol": 1e-13})
    return float(res.x)


#: Expected transition counts: unequal row totals; a state never left (state 0 of the
#: third) and a state entered (n_12 = 1) but with no transition out (a row of zeros).
COUNTS = (
    np.array([[60.3, 4.2], [5.1, 35.4]]),
    np.array([[30.0, 2.5, 0.5], [3.0, 12.0, 1.5], [0.2, 2.8, 50.5]]),
    np.array([[10.0, 0.0, 0.0], [2.0, 5.0, 1.0], [0.0, 0.0, 0.0]]),
    np.random.default_rng(92).gamma(2.0, 3.0, size=(4, 4)) + 40 * np.eye(4),
)


def _gstep_wrong_baum_welch() -> Any:
    return lambda n: np.asarray(n) / np.asarray(n).sum(axis=1, keepdims=True)


def _gstep_wrong_row_mean() -> Any:
    def f(n):  # the mean of the rows' own switching fractions
        n = np.asarray(n, dtype=float)
        tot = n.sum(axis=1)
        q = np.mean(1 - np.diag(n)[tot > 0] / tot[tot > 0])
        return _gamma_of(q, n.shape[0])
    return f


def _gstep_wrong_no_split() -> Any:
    def f(n):  # every off-diagonal entry q: rows do not add to 1 when m > 2
        n = np.asarray(n, dtype=float)
        q = 1 - np.trace(n) / n.sum()
        m = n.shape[0]
        return np.full((m, m), q) + (1 - 2 * q) * np.eye(m)
    return f


def _gstep_wrong_swapped() -> Any:
    def f(n):  # q from the staying counts
        n = np.asarray(n, dtype=float)
        return _gamma_of(np.trace(n) / n.sum(), n.shape[0])
    return f


def _gstep_wrong_slightly_off() -> Any:
    def f(n):  # q off by 5e-5 relative: Q is within 1e-9 |Q| of its maximum there
        n = np.asarray(n, dtype=float)
        return _gamma_of((1 - np.trace(n) / n.sum()) * (1 + 5e-5), n.shape[0])
    return f


def _gstep_wrong_identity() -> Any:
    return lambda n: np.eye(np.asarray(n).shape[0])


@exercise("09.2", wrong=[_gstep_wrong_baum_welch, _gstep_wrong_row_mean,
                         _gstep_wrong_no_split, _gstep_wrong_swapped,
                         _gstep_wrong_slightly_off, _gstep_wrong_identity])
def _gamma_step(answer: Any) -> str:
    for n in COUNTS:
        m = n.shape[0]
        what = f"gamma_m_step for {m} states"
        with np.errstate(all="ignore"):
            got = as_array(call(answer, n.copy(), name="gamma_m_step"), (m, m), what)
        if np.any(got < -1e-12) or not np.allclose(got.sum(axis=1), 1, atol=1e-9):
            raise Wrong(f"{what}: the rows of Γ must be probabilities adding to 1")
        off = got[~np.eye(m, dtype=bool)]
        if np.ptp(np.diag(got)) > 1e-9 or np.ptp(off) > 1e-9:
            raise Wrong(f"{what}: Γ is not of the model's form (one switching probability "
                        "q: every γ_ii = 1 - q, every other entry the same). Maximise Q "
                        "over q, not over each row separately")
        # the form is right: compare q itself with the maximiser of Q (a value of Q
        # within 1e-9 |Q| of the maximum would let q be off by 1e-4: Q is flat there)
        compare(1 - got[0, 0], constrained_gamma(n), rtol=1e-6,
                what=f"{what}: q (the switching probability, which should maximise Q)")
    return ("right: q is the expected number of switches over the expected number of "
            "transitions, split evenly over the m - 1 other states.")


# --- 09.3 the scaled forward recursion, with missing years -----------------------------------


def log_emissions(x: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """log p_j(x_t), shape (T, m); 0 (p = 1) where x_t is missing (nan)."""
    x = np.asarray(x, dtype=float)
    miss = np.isnan(x)
    out = poisson.logpmf(np.where(miss, 0, x)[:, None], np.asarray(lam)[None, :])
    out[miss] = 0.0
    return out


def brute_force(x: np.ndarray, lam: np.ndarray, gam: np.ndarray,
                delta: np.ndarray) -> tuple[float, np.ndarray, float]:
    """log L by summing over all m^T paths, the most probable path, and the log gap from
    it to the second best (missing counts, nan, have p = 1)."""
    T, m = len(x), len(lam)
    logp = log_emissions(x, lam)
    with np.errstate(divide="ignore"):
        lg, ld = np.log(gam), np.log(delta)
    paths = np.array(list(itertools.product(range(m), repeat=T)))
    score = ld[paths[:, 0]] + logp[np.arange(T), paths].sum(axis=1)
    score += lg[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    top = np.argsort(score)[::-1]
    return (float(np.logaddexp.reduce(score)), paths[top[0]],
            float(score[top[0]] - score[top[1]]))


#: Short series: (x, lam, Gamma, delta).
SHORT = (
    (np.array([3, 9, 12, 4, 2]), np.array([3.0, 10.0]),
     np.array([[0.8, 0.2], [0.35, 0.65]]), np.array([0.3, 0.7])),
    (np.array([14, 22, 30, 27, 13, 19]), np.array([13.0, 20.0, 29.0]),
     np.array([[0.9, 0.07, 0.03], [0.1, 0.8, 0.1], [0.0, 0.25, 0.75]]),
     np.array([0.5, 0.3, 0.2])),
    (np.array([0, 1, 5, 6, 0, 2, 7]), np.array([0.8, 5.5]),
     np.array([[0.6, 0.4], [0.1, 0.9]]), np.array([0.9, 0.1])),
    # δ decides the first state (ignoring it gives [1 0 0 1 1 1 0]) and Γ's direction
    # the last (Γ transposed gives [0 0 0 1 1 1 1]); the best is [0 0 0 1 1 1 0]
    (np.array([10, 3, 5, 13, 7, 8, 5]), np.array([4.0, 10.0]),
     np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0.95, 0.05])),
)
#: The same with years missing (nan): inside, two in a row, the first, the last.
MISSING = (((1,), (2, 3), (0, 4)), ((3,), (4,), (0,)), ((2, 3), (6,), (0, 1)),
           ((3,), (6,), (0, 1, 2)))


def _short_missing() -> list[tuple]:
    out = []
    for (x, lam, gam, delta), gaps in zip(SHORT, MISSING, strict=True):
        for gap in gaps:
            xm = x.astype(float)
            xm[list(gap)] = np.nan
            out.append((xm, lam, gam, delta))
    return out


def _long_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lam = np.array([13.0, 20.0, 29.0])
    gam = np.array([[0.95, 0.03, 0.02], [0.05, 0.9, 0.05], [0.0, 0.2, 0.8]])
    delta = np.array([0.4, 0.4, 0.2])
    _, x = hmm.simulate(lam, gam, delta, 3000, 93)
    return x, lam, gam, delta


def _long_missing() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, lam, gam, delta = _long_case()
    xm = x.astype(float)
    xm[::7] = np.nan
    xm[1000:1050] = np.nan
    return xm, lam, gam, delta


def _fwd_scaled(transpose: bool = False, use_delta: bool = True, missing: str = "one",
                scaled: bool = True) -> Any:
    """Forward recursions, right or with one of the plausible mistakes."""
    def f(x, lam, gam, delta):
        x = np.asarray(x, dtype=float)
        if missing == "drop":
            x = x[~np.isnan(x)]
        with np.errstate(invalid="ignore"):
            p = poisson.pmf(x[:, None], np.asarray(lam)[None, :])
        if missing == "one":
            p[np.isnan(x)] = 1.0
        elif missing == "zero":
            p[np.isnan(x)] = poisson.pmf(0, np.asarray(lam))
        g = np.asarray(gam).T if transpose else np.asarray(gam)
        a = (delta if use_delta else np.ones(len(lam))) * p[0]
        logs = [np.log(a.sum())] if scaled else []
        a = a / a.sum() if scaled else a
        for t in range(1, len(x)):
            a = (a @ g) * p[t]
            if scaled:
                logs.append(np.log(a.sum()))
                a = a / a.sum()
        if not scaled:
            with np.errstate(divide="ignore"):
                return float(np.log(a.sum()))
        return float(np.sum(logs))
    return f


def _fwd_reference(x, lam, gam, delta) -> float:
    return float(hmm.forward_backward(log_emissions(x, lam), gam, delta).loglik)


@exercise("09.3", wrong=[lambda: _fwd_scaled(scaled=False),
                         lambda: _fwd_scaled(transpose=True),
                         lambda: _fwd_scaled(use_delta=False),
                         lambda: _fwd_scaled(missing="drop"),
                         lambda: _fwd_scaled(missing="zero"),
                         lambda: _fwd_scaled(missing="nan")])
def _forward(answer: Any) -> str:
    def run(x, lam, gam, delta):
        with np.errstate(all="ignore"):
            got = call(answer, x.copy(), lam.copy(), gam.copy(), delta.copy(),
                       name="forward_loglik")
        try:
            return float(np.asarray(got, dtype=float).reshape(()))
        except (TypeError, ValueError):
            raise Wrong("forward_loglik should return one number, log L") from None

    for x, lam, gam, delta in [(c[0].astype(float), *c[1:]) for c in SHORT] + _short_missing():
        n_miss = int(np.isnan(x).sum())
        what = (f"forward_loglik on {len(x)} counts ({n_miss} missing), {len(lam)} states")
        got = run(x, lam, gam, delta)
        if np.isnan(got):
            raise Wrong(f"{what} is nan" + (": a missing year must have p_j = 1 in every "
                                            "state (it says nothing about the state)"
                                            if n_miss else ""))
        want = brute_force(x, lam, gam, delta)[0]
        tol = 1e-9 * abs(want)
        if abs(got - want) <= tol:
            continue
        for wrong, message in (
            (_fwd_scaled(transpose=True), "you move with Γ transposed; γ_ij = "
             "P(C_t+1 = j | C_t = i), so α_t(j) sums α_t-1(i) γ_ij over i (α_t-1 Γ)"),
            (_fwd_scaled(use_delta=False), "α_1 ignores δ: α_1(j) = δ_j p_j(x_1)"),
            (_fwd_scaled(missing="drop"), "you dropped the missing years; the chain "
             "still moves in them (a one-year gap takes Γ twice, not once)"),
            (_fwd_scaled(missing="zero"), "a missing year is not a count of 0: it must "
             "have p_j = 1 in every state"),
        ):
            with np.errstate(all="ignore"):
                other = wrong(x, lam, gam, delta)
            if abs(got - other) <= tol:
                raise Wrong(f"{what}: {message}")
        compare(got, want, rtol=1e-9,
                what=f"{what}, against a sum over all {len(lam)}^{len(x)} paths: log L")
    x, lam, gam, delta = _long_missing()
    value = run(x, lam, gam, delta)
    if not np.isfinite(value):
        raise Wrong(f"right on short series, but on a series of {len(x):,} counts log L is "
                    f"{value}: the forward probabilities underflowed. Normalise α_t at "
                    "every step and add up the logs of the normalisers")
    compare(value, _fwd_reference(x, lam, gam, delta), rtol=1e-9,
            what=f"log L on a series of {len(x):,} counts with gaps")
    return ("right: equal to the sum over all paths on short series with and without "
            "gaps, and exact on 3,000 counts, where the unscaled recursion underflows.")


# --- 09.4 Viterbi -----------------------------------------------------------------------------


def path_logprob(path: np.ndarray, x: np.ndarray, lam: np.ndarray, gam: np.ndarray,
                 delta: np.ndarray) -> float:
    """log P(c, x) of the path c (states 0..m-1)."""
    logp = poisson.logpmf(np.asarray(x), np.asarray(lam)[path])
    with np.errstate(divide="ignore"):
        return float(np.log(delta[path[0]]) + logp.sum()
                     + np.log(gam[path[:-1], path[1:]]).sum())


def _local(x, lam, gam, delta) -> np.ndarray:
    logb = poisson.logpmf(np.asarray(x)[:, None], np.asarray(lam)[None, :])
    return hmm.forward_backward(logb, gam, delta).posteriors.argmax(axis=1)


def _vit_wrong_local() -> Any:
    return _local


def _vit_wrong_plus_one() -> Any:
    def f(x, lam, gam, delta):
        logb = poisson.logpmf(np.asarray(x)[:, None], np.asarray(lam)[None, :])
        return hmm.viterbi(logb, gam, delta) + 1
    return f


def _vit_wrong_filtered() -> Any:
    def f(x, lam, gam, delta):  # argmax of the filtered probabilities, no trace back
        p = poisson.pmf(np.asarray(x)[:, None], np.asarray(lam)[None, :])
        a = delta * p[0]
        out = [np.argmax(a)]
        for t in range(1, len(x)):
            a = (a / a.sum() @ gam) * p[t]
            out.append(np.argmax(a))
        return np.array(out)
    return f


def _vit_wrong_products() -> Any:
    def f(x, lam, gam, delta):  # probabilities, not logs: underflow on long series
        p = poisson.pmf(np.asarray(x)[:, None], np.asarray(lam)[None, :])
        nu = delta * p[0]
        back = []
        for t in range(1, len(x)):
            s = nu[:, None] * gam
            back.append(s.argmax(axis=0))
            nu = s.max(axis=0) * p[t]
        path = [int(np.argmax(nu))]
        for b in reversed(back):
            path.append(int(b[path[-1]]))
        return np.array(path[::-1])
    return f


def _vit_log(x: np.ndarray, lam: np.ndarray, gam: np.ndarray, delta: np.ndarray,
             transpose: bool = False, use_delta: bool = True) -> np.ndarray:
    """Viterbi in logs, right or with one of two plausible mistakes (Γ transposed: the
    scores add log γ_ji for a move i -> j; δ ignored: ν_1 = log p(x_1))."""
    logp = poisson.logpmf(np.asarray(x)[:, None], np.asarray(lam)[None, :])
    with np.errstate(divide="ignore"):
        lg = np.log(np.asarray(gam, dtype=float))
        ld = np.log(np.asarray(delta, dtype=float))
    lg = lg.T if transpose else lg
    nu = (ld if use_delta else 0.0) + logp[0]
    T, m = logp.shape
    back = np.zeros((T, m), dtype=int)
    for t in range(1, T):
        scores = nu[:, None] + lg
        back[t] = scores.argmax(axis=0)
        nu = scores.max(axis=0) + logp[t]
    path = np.empty(T, dtype=int)
    path[-1] = int(np.argmax(nu))
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _vit_wrong_no_delta() -> Any:
    return lambda x, lam, gam, delta: _vit_log(x, lam, gam, delta, use_delta=False)


def _vit_wrong_transposed() -> Any:
    return lambda x, lam, gam, delta: _vit_log(x, lam, gam, delta, transpose=True)


def _vit_hint(path: np.ndarray, x: np.ndarray, lam: np.ndarray, gam: np.ndarray,
              delta: np.ndarray, long: bool) -> str:
    """Why a path that is not the most probable one may be so: the mistake it matches."""
    candidates = [
        (_local, "it is local decoding, each step's most probable state: a sequence "
                 "of individually probable states is not the most probable sequence"),
        (_vit_wrong_transposed(), "it is what Viterbi gives with Γ transposed: "
                                  "γ_ij = P(C_t+1 = j | C_t = i), so a move i -> j adds "
                                  "log γ_ij"),
        (_vit_wrong_no_delta(), "it is what Viterbi gives when δ is ignored: "
                                "ν_1(j) = log δ_j + log p_j(x_1)"),
    ]
    if long:
        candidates.append((_vit_wrong_products(), "it is what the recursion gives when "
                           "it multiplies probabilities: the products underflow on a long "
                           "series; work with log probabilities"))
    for fn, hint in candidates:
        with np.errstate(all="ignore"):
            other = np.asarray(fn(x, lam, gam, delta))
        if np.array_equal(path, other):
            return f" ({hint})"
    return ""


@exercise("09.4", wrong=[_vit_wrong_local, _vit_wrong_plus_one, _vit_wrong_filtered,
                         _vit_wrong_products, _vit_wrong_no_delta, _vit_wrong_transposed])
def _viterbi(answer: Any) -> str:
    x, lam, gam, delta = _long_case()
    cases = [(*c, "short") for c in SHORT] + [(x, lam, gam, delta, "long")]
    for x, lam, gam, delta, kind in cases:
        T, m = len(x), len(lam)
        what = f"viterbi_path on a series of {T:,} counts, {m} states"
        got = as_array(call(answer, x.copy(), lam.copy(), gam.copy(), delta.copy(),
                            name="viterbi_path"), (T,), what)
        if np.any(got != np.round(got)):
            raise Wrong(f"{what}: the states must be whole numbers 0 .. {m - 1}")
        path = got.astype(int)
        if path.min() >= 1 and path.max() == m:
            raise Wrong(f"{what}: number the states 0 .. {m - 1}, as hmm.viterbi does "
                        "(yours run from 1 to m)")
        if path.min() < 0 or path.max() >= m:
            raise Wrong(f"{what}: a state outside 0 .. {m - 1}")
        mine = path_logprob(path, x, lam, gam, delta)
        if mine == -np.inf:
            if delta[path[0]] == 0:
                raise Wrong(f"{what}: your path starts in a state of probability 0 under "
                            "δ")
            raise Wrong(f"{what}: your path uses a transition of probability 0 (is Γ "
                        "transposed?)")
        if kind == "short":
            _, best, gap = brute_force(x, lam, gam, delta)
            assert gap > 1e-6  # the cases have a unique best path
            if not np.array_equal(path, best):
                raise Wrong(f"{what}: not the most probable path; a search over all "
                            f"{m}^{T} paths finds a more probable one"
                            + _vit_hint(path, x, lam, gam, delta, long=False))
            continue
        logb = poisson.logpmf(np.asarray(x)[:, None], lam[None, :])
        best = path_logprob(hmm.viterbi(logb, gam, delta), x, lam, gam, delta)
        if mine < best - 1e-8 * abs(best):
            raise Wrong(f"right on short series, but on {T:,} counts your path is less "
                        f"probable than another path (log P(c, x) lower by "
                        f"{best - mine:.3g})"
                        + _vit_hint(path, x, lam, gam, delta, long=True))
    return ("right: the most probable path, checked against all paths of short series "
            "and on 3,000 counts, where only log-space products survive.")
