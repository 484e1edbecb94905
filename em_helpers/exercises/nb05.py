"""Checks for the exercises of notebook 05 (missing information, Louis' method, SEM).

- 05.1 a setting of the explorer where the largest fraction of missing information is
  above 1 and ℓ is convex along the slice (its controls);
- 05.2 the moths' p_C iteration: predict its rate ψ_C'(p̂_C) from the phenotype counts
  (a function of the counts);
- 05.3 Louis' missing information for the two coins with the weight λ free (a function
  returning a 3 × 3 matrix);
- 05.4 SEM's DM by hand: the Jacobian of an EM map at θ̂, in the course's orientation
  (a function of the map and the point).

References are computed here by methods independent of the answer: the information
decomposition at the explorer's θ^(t) by Louis' method on the course's models; the
derivative of the moths' EM map by central differences at the MLE of a run of EM; the
missing information
by the missing-information principle, I_mis = I_oc − I_o, with I_o a numerical Hessian
of ℓ (:func:`em_helpers.observed_information`); the Jacobian of an EM map by complex-step
differentiation (exact to round-off) or in closed form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp, xlog1py, xlogy

from ..core.loop import run_em
from ..core.louis import louis_information
from ..core.variance import observed_information
from ..models.examples import EXAMPLES, Moths
from .base import Wrong, as_array, call, compare, exercise, settings_of

# The references below are private: a reader who imports them has not answered.
__all__ = ["RANGE"]

# --- 05.1 the explorer: more than all of the information missing --------------------------

#: The explorer's θ^(t) range of the first parameter per example (notebook 05, Explore).
RANGE = {"exponential": (0.05, 0.8), "moths": (0.02, 0.3), "gaussians": (-3.0, 1.5),
         "coins": (0.3, 0.97)}


def _explorer_point(example: str, position: float) -> np.ndarray:
    """θ^(t) as the explorer sets it: the MLE (EM run to a tight tolerance) with its first
    parameter moved to ``position`` of the example's range."""
    m = EXAMPLES[example]
    theta = np.atleast_1d(np.asarray(run_em(m.e_step, m.m_step, m.theta0, tol=1e-12,
                                            max_iter=5000).theta, dtype=float)).copy()
    lo, hi = RANGE[example]
    theta[0] = lo + float(position) * (hi - lo)
    return theta


#: The explorer's dropdown labels, by example key.
_LABELS = {"exponential": "exponential (01)", "moths": "moths (02)",
           "gaussians": "two gaussians (03)", "coins": "two coins (04)"}


def _more_than_all(answer: Any) -> str:
    # the explorer's controls: a dropdown of the examples, a slider over [0, 1]
    values = answer.values() if hasattr(answer, "controls") and callable(
        getattr(answer, "values", None)) else answer
    if isinstance(values, dict) and isinstance(values.get("example"), str):
        # the dropdown shows labels ("two coins (04)"); its values are the keys ("coins")
        label = values["example"].strip().lower()
        key = next((k for k, t in _LABELS.items() if label in (k, t)), values["example"])
        answer = {**values, "example": key}
    s = settings_of(answer, ("example", "position"),
                    {"example": set(EXAMPLES), "position": (0.0, 1.0)})
    m = EXAMPLES[s["example"]]
    theta = _explorer_point(s["example"], s["position"])
    louis = louis_information(m.complete_info(theta), m.score_moments(theta)[1])
    largest = float(louis.fractions[0])
    share = float(louis.observed[0, 0] / louis.complete[0, 0])
    where = f"{s['example']} at θ^(t) = {np.round(theta, 3).tolist()}"
    if largest <= 1:
        raise Wrong(f"{where}: the largest fraction of missing information is "
                    f"{largest:.2f}, not above 1")
    if share >= 0:
        raise Wrong(f"{where}: the largest fraction is above 1, but the observed share of "
                    f"the first parameter is {share:.2f}, not negative: ℓ still curves "
                    "down along the slice")
    return (f"right: {where} the largest fraction is {largest:.2f} and the observed share "
            f"{share:.2f}: I_o has a negative eigenvalue, ℓ curves up along the slice.")


exercise("05.1", wrong=[
    lambda: {"example": "moths", "position": 1.0},
    lambda: {"example": "coins", "position": 0.75},
    lambda: {"example": "gaussians", "position": 0.85},
    lambda: {"example": "coins"},
    # the review: values the explorer's controls cannot take
    lambda: {"example": "coins", "position": "abc"},
    lambda: {"example": "coins", "position": "0.2"},
    lambda: {"example": "coins", "position": None},
    lambda: {"example": ["coins"], "position": 0.2},
    lambda: {"example": "coins", "position": 1.5},
    lambda: {"example": "coins", "position": float("nan")},
    lambda: {"example": "dice", "position": 0.2},
])(_more_than_all)


# --- 05.2 the rate of the p_C iteration ---------------------------------------------------

#: 05.2: phenotype counts (n_C, n_I, n_T, n_U): the course's moths, with notebook 02's 578
#: "insularia or typica" moths, and two made-up samples (carbonaria common; rare).
RATE_COUNTS = (
    np.array([85.0, 196.0, 341.0, 0.0]),
    np.array([85.0, 196.0, 341.0, 578.0]),
    np.array([400.0, 150.0, 50.0, 100.0]),
    np.array([3.0, 40.0, 500.0, 0.0]),
)


def _moths_rate_pc(counts: np.ndarray) -> float:
    """∂ψ_C/∂p_C at the MLE of a run of EM, by central differences of the EM map."""
    m = Moths(counts=counts)
    fit = run_em(m.e_step, m.m_step, m.theta0, tol=1e-13, max_iter=10_000)
    hat, h = np.asarray(fit.theta, dtype=float), 1e-6 * fit.theta[0]
    e = np.array([h, 0.0])
    return float((m.m_step(m.e_step(hat + e))[0] - m.m_step(m.e_step(hat - e))[0]) / (2 * h))


def _p_hat(counts: np.ndarray) -> float:
    return 1 - np.sqrt(1 - counts[0] / counts.sum())


@exercise("05.2", wrong=[
    lambda: (lambda counts: counts[0] / np.sum(counts)),  # the carbonaria's share
    lambda: (lambda counts: _p_hat(np.asarray(counts))),  # the allele frequency
    lambda: (lambda counts: 2 * (1 - _p_hat(counts)) / (2 - _p_hat(counts))),
    lambda: (lambda counts: _p_hat(counts[:3]) / (2 - _p_hat(counts[:3]))),  # n without n_U
])
def _rate_pc(answer: Any) -> str:
    for counts in RATE_COUNTS:
        label = f"counts {counts.astype(int).tolist()}"
        got = as_array(call(answer, counts.copy(), name="rate_pc"), (), f"rate_pc({label})")
        if not 0 <= got < 1:
            raise Wrong(f"rate_pc({label}) = {float(got):.3g}: a rate of a converging "
                        "iteration lies in [0, 1)")
        compare(got, _moths_rate_pc(counts), rtol=1e-5, what=f"rate_pc({label})")
    return ("right on four samples, with and without 'insularia or typica' moths: the "
            "p_C error shrinks by exactly that factor per iteration near the MLE.")


# --- 05.3 Louis' missing information for the coins with λ free ----------------------------

#: 05.3: (heads, flips, theta = (θ_A, θ_B, λ)): the primer at the λ-free MLE and away
#: from it, and sets of different lengths.
HEADS = np.array([5.0, 9.0, 8.0, 4.0, 7.0])
FLIPS = np.full(5, 10.0)
LONG_HEADS = np.array([5.0, 9.0, 8.0, 4.0, 7.0, 31.0, 1.0, 15.0])
LONG_FLIPS = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 40.0, 4.0, 25.0])


def _coins_loglik(theta: np.ndarray, heads: np.ndarray, flips: np.ndarray) -> float:
    """ℓ(θ_A, θ_B, λ) = Σ_i log(λ θ_A^h (1−θ_A)^(n−h) + (1−λ) θ_B^h (1−θ_B)^(n−h))."""
    t_a, t_b, lam = theta
    t = flips - heads
    a = np.log(lam) + xlogy(heads, t_a) + xlog1py(t, -t_a)
    b = np.log1p(-lam) + xlogy(heads, t_b) + xlog1py(t, -t_b)
    return float(np.logaddexp(a, b).sum())


def _gamma(theta: np.ndarray, heads: np.ndarray, flips: np.ndarray) -> np.ndarray:
    t_a, t_b, lam = theta
    t = flips - heads
    a = np.log(lam) + xlogy(heads, t_a) + xlog1py(t, -t_a)
    b = np.log1p(-lam) + xlogy(heads, t_b) + xlog1py(t, -t_b)
    return np.exp(a - logsumexp(np.stack([a, b]), axis=0))


def _coins_complete_info(theta: np.ndarray, heads: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """I_oc(θ_A, θ_B, λ): diagonal, one binomial per coin and one for the labels."""
    t_a, t_b, lam = theta
    g, t = _gamma(theta, heads, flips), flips - heads
    return np.diag([g @ (heads / t_a**2 + t / (1 - t_a) ** 2),
                    (1 - g) @ (heads / t_b**2 + t / (1 - t_b) ** 2),
                    g.sum() / lam**2 + (1 - g).sum() / (1 - lam) ** 2])


def _reference_missing_info(theta: np.ndarray, heads: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """I_mis = I_oc − I_o (the missing-information principle), I_o a numerical Hessian."""
    i_o = observed_information(lambda th: _coins_loglik(th, heads, flips), np.asarray(theta))
    return _coins_complete_info(theta, heads, flips) - i_o


def _score(theta: np.ndarray, heads: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """The observed score ∇ℓ by central differences."""
    out = []
    for e in 1e-6 * np.eye(3):
        out.append((_coins_loglik(theta + e, heads, flips)
                    - _coins_loglik(theta - e, heads, flips)) / 2e-6)
    return np.array(out)


def _lambda_free_mle(heads: np.ndarray, flips: np.ndarray) -> np.ndarray:
    def em_map(theta: np.ndarray) -> np.ndarray:
        g = _gamma(theta, heads, flips)
        return np.array([g @ heads / (g @ flips), (1 - g) @ heads / ((1 - g) @ flips),
                         g.mean()])
    return np.asarray(run_em(em_map, lambda x: x, [0.6, 0.5, 0.5], tol=1e-12,
                             max_iter=20_000, accelerate="squarem").theta)


def _v(theta: np.ndarray, heads: np.ndarray, flips: np.ndarray, sign_b: float = -1.0,
       with_lambda: bool = True) -> np.ndarray:
    t_a, t_b, lam = theta
    t = flips - heads
    return np.column_stack([heads / t_a - t / (1 - t_a),
                            sign_b * (heads / t_b - t / (1 - t_b)),
                            np.full(heads.size, (1 / lam + 1 / (1 - lam)) * with_lambda)])


def _mis_wrong_no_ss() -> Any:
    def f(theta, heads, flips):  # E[S_c S_c^T | x]: forgets - S S^T
        theta = np.asarray(theta, dtype=float)
        g = _gamma(theta, heads, flips)
        t_a, t_b, lam = theta
        t = flips - heads
        s_a = np.column_stack([heads / t_a - t / (1 - t_a), np.zeros(heads.size),
                               np.full(heads.size, 1 / lam)])
        s_b = np.column_stack([np.zeros(heads.size), heads / t_b - t / (1 - t_b),
                               np.full(heads.size, -1 / (1 - lam))])
        second = np.einsum("i,id,ie->de", g, s_a, s_a) + np.einsum("i,id,ie->de", 1 - g,
                                                                   s_b, s_b)
        mean = g[:, None] * s_a + (1 - g)[:, None] * s_b
        return second - np.einsum("id,ie->de", mean, mean) + np.outer(mean.sum(0),
                                                                       mean.sum(0))
    return f


def _mis_wrong_sign() -> Any:
    def f(theta, heads, flips):  # coin B's score enters with [z = A]'s sign
        theta = np.asarray(theta, dtype=float)
        g, v = _gamma(theta, heads, flips), _v(theta, heads, flips, sign_b=1.0)
        return np.einsum("i,id,ie->de", g * (1 - g), v, v)
    return f


def _mis_wrong_no_lambda() -> Any:
    def f(theta, heads, flips):  # the fixed-λ formula padded with zeros
        theta = np.asarray(theta, dtype=float)
        g, v = _gamma(theta, heads, flips), _v(theta, heads, flips, with_lambda=False)
        return np.einsum("i,id,ie->de", g * (1 - g), v, v)
    return f


def _mis_wrong_gamma() -> Any:
    def f(theta, heads, flips):  # γ where the Bernoulli variance γ(1 − γ) belongs
        theta = np.asarray(theta, dtype=float)
        g, v = _gamma(theta, heads, flips), _v(theta, heads, flips)
        return np.einsum("i,id,ie->de", g, v, v)
    return f


@exercise("05.3", wrong=[_mis_wrong_no_ss, _mis_wrong_sign, _mis_wrong_no_lambda,
                         _mis_wrong_gamma])
def _missing_info(answer: Any) -> str:
    hat = _lambda_free_mle(HEADS, FLIPS)
    cases = [("at the λ-free MLE", hat, HEADS, FLIPS),
             ("at (0.6, 0.45, 0.3), away from the MLE", np.array([0.6, 0.45, 0.3]), HEADS,
              FLIPS),
             ("sets of different lengths, at (0.7, 0.4, 0.6)", np.array([0.7, 0.4, 0.6]),
              LONG_HEADS, LONG_FLIPS)]
    for label, theta, heads, flips in cases:
        got = as_array(call(answer, theta.copy(), heads.copy(), flips.copy(),
                            name="missing_info"), (3, 3), f"missing_info ({label})")
        if not np.allclose(got, got.T, rtol=1e-10, atol=1e-12 * np.abs(got).max()):
            raise Wrong(f"missing_info ({label}) is not symmetric: a variance matrix is")
        if np.linalg.eigvalsh((got + got.T) / 2).min() < -1e-8 * np.abs(got).max():
            raise Wrong(f"missing_info ({label}) has a negative eigenvalue: a variance "
                        "matrix, Var(S_c | x), cannot")
        want = _reference_missing_info(theta, heads, flips)
        score = _score(theta, heads, flips)
        plus_ss = want + np.outer(score, score)
        tol = dict(rtol=1e-4, atol=1e-5 * np.abs(plus_ss).max())
        if not np.allclose(got, want, **tol) and np.allclose(got, plus_ss, **tol):
            raise Wrong(f"missing_info ({label}) is E[S_c S_c^T | x], not Var(S_c | x): "
                        "away from the MLE the score S is not 0 and S S^T must be "
                        "subtracted")
        if np.allclose(got[2], 0, atol=1e-9 * np.abs(want).max()):
            raise Wrong(f"missing_info ({label}) has no missing information about λ, but "
                        "the label also enters λ's term of the complete-data score")
        if abs(got[0, 1] + want[0, 1]) <= 1e-4 * abs(want[0, 1]):
            raise Wrong(f"missing_info ({label}): the (θ_A, θ_B) entry has the wrong sign: "
                        "coin B's score enters with [z_i = B] = 1 − [z_i = A]")
        compare(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max(),
                what=f"missing_info ({label})")
    return ("right: I_oc − your I_mis is the curvature of ℓ (a numerical Hessian) at the "
            "MLE and away from it, with sets of equal and of different lengths.")


# --- 05.4 SEM's DM by hand ----------------------------------------------------------------


def _complex_step_jacobian(fn: Any, theta: np.ndarray) -> np.ndarray:
    """J[j, k] = ∂fn_j/∂θ_k by the complex step, Im f(θ + i h e_k)/h, h = 1e-30 |θ_k|:
    no subtraction, so exact to round-off (``fn`` must accept complex input)."""
    theta = np.asarray(theta, dtype=float)
    cols = []
    for k in range(theta.size):
        h = 1e-30 * max(abs(theta[k]), 1e-300)
        point = theta.astype(complex)
        point[k] += 1j * h
        cols.append(np.imag(fn(point)) / h)
    return np.column_stack(cols)


#: 05.4: an affine map with a non-symmetric matrix, fixed point THETA_STAR.
AFFINE = np.array([[0.5, 0.3], [0.05, 0.2]])
THETA_STAR = np.array([1.0, 2.0])
#: 05.4: a smooth map on parameters of very different sizes (scales S): ψ = S φ(S⁻¹ θ).
SCALES = np.array([200.0, 0.005])
PHI_A = np.array([[0.6, -0.25], [0.3, 0.4]])
PHI_STAR = np.array([0.4, -0.7])


def _scaled_map(theta: np.ndarray) -> np.ndarray:
    u = theta / SCALES
    return SCALES * (PHI_STAR + PHI_A @ np.tanh(2 * (u - PHI_STAR)) / 2)


def _dm_cases() -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
    moths = Moths()
    fit = run_em(moths.e_step, moths.m_step, moths.theta0, tol=1e-13)
    crowd = Moths(counts=np.array([85.0, 196.0, 341.0, 20_000.0]))
    rough = run_em(crowd.e_step, crowd.m_step, crowd.theta0, tol=1e-6, max_iter=20_000)

    def affine(theta: np.ndarray) -> np.ndarray:
        return THETA_STAR + AFFINE @ (np.asarray(theta) - THETA_STAR)

    def moths_map(theta: np.ndarray) -> np.ndarray:
        return moths.m_step(moths.e_step(theta))

    def crowd_map(theta: np.ndarray) -> np.ndarray:
        return crowd.m_step(crowd.e_step(theta))

    point = SCALES * np.array([0.55, -0.6])
    u = point / SCALES
    jac_scaled = (SCALES[:, None] * PHI_A * (1 - np.tanh(2 * (u - PHI_STAR)) ** 2)[None, :]
                  / SCALES[None, :])
    return [
        ("an affine map at its fixed point", affine, THETA_STAR.copy(), AFFINE.copy()),
        ("the moths' EM map at the MLE", moths_map, np.asarray(fit.theta),
         _complex_step_jacobian(moths_map, fit.theta)),
        ("the crowded moths' EM map at a θ̂ from a loose stopping rule", crowd_map,
         np.asarray(rough.theta), _complex_step_jacobian(crowd_map, rough.theta)),
        ("a map on parameters of sizes 200 and 0.005", _scaled_map, point, jac_scaled),
    ]


def _dm_by_differences(step: Any, one_sided: bool = False, transposed: bool = False) -> Any:
    """A DM by finite differences with one choice changed: the step ``step(theta_k)``,
    one-sided differences that take ψ(θ̂) = θ̂, or the transposed layout."""
    def f(em_map, theta_hat):
        theta_hat = np.asarray(theta_hat, dtype=float)
        cols = []
        for k in range(theta_hat.size):
            h = step(theta_hat[k])
            e = np.zeros(theta_hat.size)
            e[k] = h
            if one_sided:
                cols.append((em_map(theta_hat + e) - theta_hat) / h)
            else:
                cols.append((em_map(theta_hat + e) - em_map(theta_hat - e)) / (2 * h))
        dm = np.column_stack(cols)
        return dm.T if transposed else dm
    return f


def _dm_wrong_transposed() -> Any:  # Meng & Rubin's layout: row i = response to theta_i
    return _dm_by_differences(lambda t: 1e-6 * max(abs(t), 1e-8), transposed=True)


def _dm_wrong_one_sided() -> Any:  # Meng & Rubin's ratio: uses psi(theta_hat) = theta_hat
    return _dm_by_differences(lambda t: 1e-5 * max(abs(t), 1e-8), one_sided=True)


def _dm_wrong_absolute_step() -> Any:  # one absolute step for every parameter
    return _dm_by_differences(lambda t: 1e-3)


@exercise("05.4", wrong=[_dm_wrong_transposed, _dm_wrong_one_sided,
                         _dm_wrong_absolute_step])
def _dm(answer: Any) -> str:
    for label, em_map, theta, want in _dm_cases():
        d = theta.size
        got = as_array(call(answer, em_map, theta.copy(), name="dm_matrix"), (d, d),
                       f"dm_matrix ({label})")
        tol = dict(rtol=1e-5, atol=1e-7 * np.abs(want).max())
        if not np.allclose(got, want, **tol) and np.allclose(got, want.T, **tol):
            raise Wrong(f"dm_matrix ({label}) is the transpose of DM (Meng & Rubin's "
                        "layout): row j must be the new iterate's component j, column k "
                        "the old iterate's component k")
        if label.startswith("the crowded") and not np.allclose(got, want, **tol):
            raise Wrong(f"dm_matrix ({label}) is off, although it was right at the "
                        "moths' exact MLE. This θ̂ is only as exact as a loose stopping "
                        "rule: does your difference use ψ(θ̂) = θ̂? Here ψ(θ̂) − θ̂ is not "
                        "negligible against your step")
        try:
            compare(got, want, **tol, what=f"dm_matrix ({label})")
        except Wrong as exc:
            if label.startswith("an affine"):
                raise
            raise Wrong(f"{exc}: look at your steps h_k (a large step leaves a truncation "
                        "error, O(h) one-sided and O(h²) symmetric; a step fixed in size "
                        "ignores how large θ_k is)") from None
    return ("right on four maps: the orientation (rows: new iterate), a θ̂ that is not "
            "exactly a fixed point, and parameters of very different sizes (a step in "
            "proportion to each θ_k is the safe choice in general).")
