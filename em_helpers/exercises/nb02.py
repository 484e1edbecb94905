"""Checks for the exercises of notebook 02 (peppered moths: allele frequencies by EM).

- 02.1 predict the rate of the carbonaria coordinate with more carbonaria and the 578
  "insularia or typica" moths (a number);
- 02.2 the E-step with moths recorded only as "dark" (carbonaria or insularia, not typica)
  (a function of θ and the counts);
- 02.3 a setting of the explorer where EM is slow although every moth's phenotype is
  recorded, n_U = 0 (its controls);
- 02.4 EM's rate and slow direction with the "dark" moths: the fraction of missing
  information (a number and a direction).

References are computed here, independently of the answer's formulas: expected genotype
counts by Bayes' rule over a phenotype × genotype compatibility table, the MLE by a
numerical maximisation of the observed log-likelihood (BFGS in softmax coordinates, as the
notebook does), EM's rates as the eigenvalues of a central-difference Jacobian of the EM
map at that MLE.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize

from .base import Wrong, as_array, call, compare, exercise, pair_of, settings_of

__all__ = [
    "COMPATIBLE_DARK", "COMPATIBLE_U", "CONTROLS", "DARK_COUNTS", "RATE_COUNTS", "em_jacobian",
    "expected_genotypes", "genotype_probs", "moth_loglik", "moth_mle", "slow_direction",
]

#: Genotypes, in the order of the notebook's E-step.
GENOTYPES = ("CC", "CI", "CT", "II", "IT", "TT")
#: Which genotypes each phenotype allows: carbonaria, insularia, typica, and the fourth
#: group, "insularia or typica" (the notebook's n_U) or "dark" (exercise 02.2).
COMPATIBLE_U = np.array(
    [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 1, 1]], bool
)
COMPATIBLE_DARK = np.array(
    [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 0]], bool
)
#: (C, I, T) alleles of each genotype: allele counting is genotype counts @ ALLELES.
ALLELES = np.array([[2, 0, 0], [1, 1, 0], [1, 0, 1], [0, 2, 0], [0, 1, 1], [0, 0, 2]], float)
#: The explorer's controls (notebook 02, section Explore).
CONTROLS = ("p_c0", "p_i0", "n_c", "n_i", "n_t", "n_u")
#: The ranges of the explorer's count sliders (IntSliders: whole numbers).
COUNT_RANGES = {"n_c": (1, 1000), "n_i": (1, 1000), "n_t": (1, 1000), "n_u": (0, 2000)}
#: 02.1: 300 carbonaria instead of 85, with the extension's 578 "insularia or typica".
RATE_COUNTS = np.array([300.0, 196.0, 341.0, 578.0])
#: 02.2 and 02.4: the notebook's counts, the 578 extra moths recorded as "dark".
DARK_COUNTS = np.array([85.0, 196.0, 341.0, 578.0])


# --- references ---------------------------------------------------------------------------


def genotype_probs(theta: Any) -> np.ndarray:
    """Hardy–Weinberg probabilities of (CC, CI, CT, II, IT, TT) at θ = (p_C, p_I)."""
    p_c, p_i = (float(v) for v in np.asarray(theta, dtype=float).reshape(2))
    p_t = 1.0 - p_c - p_i
    return np.array([p_c**2, 2 * p_c * p_i, 2 * p_c * p_t, p_i**2, 2 * p_i * p_t, p_t**2])


def expected_genotypes(theta: Any, counts: np.ndarray, compatible: np.ndarray) -> np.ndarray:
    """E[N_g | phenotype counts] by Bayes' rule: each phenotype's moths split among its
    genotypes in proportion to their probabilities (the notebook's E-step, generalised)."""
    joint = compatible * genotype_probs(theta)[None, :]  # P(phenotype, genotype)
    return np.asarray(counts, dtype=float) @ (joint / joint.sum(axis=1, keepdims=True))


def moth_loglik(theta: Any, counts: np.ndarray, compatible: np.ndarray) -> float:
    """ℓ(θ) = Σ_phenotypes n log P(phenotype), up to the multinomial constant."""
    probs = compatible @ genotype_probs(theta)
    seen = np.asarray(counts) > 0
    return float(np.asarray(counts)[seen] @ np.log(probs[seen]))


def _em_map(theta: np.ndarray, counts: np.ndarray, compatible: np.ndarray) -> np.ndarray:
    """One EM step: the E-step above, then allele counting (the notebook's M-step)."""
    alleles = expected_genotypes(theta, counts, compatible) @ ALLELES
    return alleles[:2] / alleles.sum()


def moth_mle(counts: np.ndarray, compatible: np.ndarray) -> np.ndarray:
    """The MLE of (p_C, p_I): BFGS on ℓ in softmax coordinates (so that every trial point
    is a valid p), restarted once from its own end to polish it."""
    def to_theta(u: np.ndarray) -> np.ndarray:
        w = np.exp([u[0], u[1], 0.0] - np.max([u[0], u[1], 0.0]))
        return w[:2] / w.sum()

    def f(u: np.ndarray) -> float:
        return -moth_loglik(to_theta(u), counts, compatible)

    u = np.zeros(2)
    for _ in range(2):
        u = optimize.minimize(f, u, method="BFGS", options={"gtol": 1e-10}).x
    return to_theta(u)


def em_jacobian(theta: np.ndarray, counts: np.ndarray, compatible: np.ndarray,
                h: float = 1e-6) -> np.ndarray:
    """DM[i, j] = ∂ψ_i/∂θ_j at θ, by central differences of the EM map."""
    return np.column_stack([
        (_em_map(theta + h * e, counts, compatible) - _em_map(theta - h * e, counts, compatible))
        / (2 * h)
        for e in np.eye(2)
    ])


def slow_direction(counts: np.ndarray, compatible: np.ndarray) -> tuple[float, np.ndarray]:
    """EM's rate (the largest eigenvalue of DM at the MLE) and its eigenvector (unit)."""
    dm = em_jacobian(moth_mle(counts, compatible), counts, compatible)
    val, vec = np.linalg.eig(dm)
    k = int(np.argmax(val.real))
    v = vec[:, k].real
    return float(val[k].real), v / np.linalg.norm(v)


# --- 02.1 the carbonaria rate ---------------------------------------------------------------


def _carbonaria_rate() -> float:
    theta = moth_mle(RATE_COUNTS, COMPATIBLE_U)
    return float(em_jacobian(theta, RATE_COUNTS, COMPATIBLE_U)[0, 0])


def _rate_without_u() -> float:  # n counts the carbonaria, insularia, typica only
    frac = RATE_COUNTS[0] / RATE_COUNTS[:3].sum()
    p = 1 - np.sqrt(1 - frac)
    return p / (2 - p)


@exercise("02.1", wrong=[
    lambda: 0.0367,                                              # the notebook's data
    _rate_without_u,                                             # n without the n_U moths
    lambda: 1 - np.sqrt(1 - 300 / 1415),                         # p̂_C, not the rate
    lambda: 300 / 1415,                                          # the fraction of carbonaria
    lambda: slow_direction(RATE_COUNTS, COMPATIBLE_U)[0],        # EM's overall (p_I) rate
])
def _rate(answer: Any) -> str:
    want = _carbonaria_rate()
    got = float(as_array(answer, (), "your rate"))
    if not 0 <= got < 1:
        raise Wrong(f"a rate of EM at its MLE is a fraction of missing information, in "
                    f"[0, 1): {got:.4g} is not")
    if abs(got - slow_direction(RATE_COUNTS, COMPATIBLE_U)[0]) < 0.02 * want + 1e-3:
        raise Wrong("that is EM's overall rate, the one the I column settles at; the C "
                    "column has a rate of its own (the one-dimensional map for p_C)")
    compare(got, want, rtol=0.02, what="your rate of the C column")
    return ("right: p̂_C/(2 − p̂_C) with p̂_C = 1 − √(1 − n_C/n), and n counts every moth, "
            "the 578 that carry no C allele too.")


# --- 02.2 the E-step with "dark" moths --------------------------------------------------------


def _dark_wrong_square() -> Any:  # P(dark) = (p_C + p_I)^2, by analogy with (p_I + p_T)^2
    def f(theta, counts):
        p = genotype_probs(theta)
        n_c, n_i, n_t, n_d = counts
        base = expected_genotypes(theta, np.array([n_c, n_i, n_t, 0.0]), COMPATIBLE_DARK)
        return base + n_d * np.r_[p[:5], 0.0] / (theta[0] + theta[1]) ** 2
    return f


def _dark_wrong_no_t() -> Any:  # "dark" read as "no T allele": CC, CI, II only
    def f(theta, counts):
        p = genotype_probs(theta)
        n_c, n_i, n_t, n_d = counts
        base = expected_genotypes(theta, np.array([n_c, n_i, n_t, 0.0]), COMPATIBLE_DARK)
        keep = np.array([1, 1, 0, 1, 0, 0], float)
        return base + n_d * keep * p / (keep @ p)
    return f


def _dark_wrong_as_u() -> Any:  # the notebook's e_step with n_D in the n_U slot
    return lambda theta, counts: expected_genotypes(theta, counts, COMPATIBLE_U)


def _dark_wrong_ignored() -> Any:  # the dark moths left out
    def f(theta, counts):
        return expected_genotypes(theta, np.r_[np.asarray(counts)[:3], 0.0], COMPATIBLE_DARK)
    return f


DARK_CASES = (
    ((1 / 3, 1 / 3), DARK_COUNTS),
    ((0.1, 0.6), DARK_COUNTS),
    ((0.5, 0.05), np.array([10.0, 0.0, 3.0, 40.0])),
    ((0.02, 0.2), np.array([85.0, 196.0, 341.0, 0.0])),
    ((0.3, 0.3), np.array([0.0, 0.0, 0.0, 7.0])),
)


@exercise("02.2", wrong=[_dark_wrong_square, _dark_wrong_no_t, _dark_wrong_as_u,
                         _dark_wrong_ignored])
def _e_dark(answer: Any) -> str:
    for theta, counts in DARK_CASES:
        args = (np.array(theta), counts.copy())
        shown = f"e_step_dark(({theta[0]:g}, {theta[1]:g}), {[int(c) for c in counts]})"
        got = as_array(call(answer, *args, name="e_step_dark"), (6,), shown)
        # single precision (float32) is fine: ~1e-7 of the total, far below any mistake
        tol = 1e-6 * max(counts.sum(), 1)
        if np.any(got < -tol):
            raise Wrong(f"{shown} has a negative expected count")
        if abs(got.sum() - counts.sum()) > tol:
            side = "more" if got.sum() > counts.sum() else "fewer"
            raise Wrong(f"{shown}: the expected genotype counts add up to {side} moths than "
                        f"there are; every moth has exactly one genotype")
        if abs(got[5] - counts[2]) > tol:
            raise Wrong(f"{shown}: E[N_TT] should be the typica count exactly: a dark moth "
                        f"cannot be TT, a typica moth can only be")
        want = expected_genotypes(*args, COMPATIBLE_DARK)
        for k, g in enumerate(GENOTYPES):
            compare(got[k], want[k], rtol=1e-6, atol=tol, what=f"{shown}: E[N_{g}]")
    return ("right: the dark moths are split among CC, CI, CT, II and IT in proportion to "
            "their probabilities, over P(dark) = 1 − p_T².")


# --- 02.3 the explorer: slow EM with every phenotype recorded ---------------------------------


def _slow_no_u(answer: Any) -> str:
    s = settings_of(answer, CONTROLS[2:], COUNT_RANGES)  # whole counts, in the sliders
    counts = np.array([s["n_c"], s["n_i"], s["n_t"], s["n_u"]], dtype=float)
    if counts[3] != 0:
        raise Wrong(f"n_U = {int(counts[3])}: the exercise asks for a slow EM with every "
                    f"moth fully classified, n_U = 0")
    rate, vec = slow_direction(counts, COMPATIBLE_U)
    if rate <= 0.9:
        raise Wrong(f"EM's rate here is {rate:.3f}, not above 0.9: too little is missing; "
                    f"which genotype split is unseen, and how can it carry most of the "
                    f"information about one allele?")
    which = "p_C" if abs(vec[0]) > abs(vec[1]) else "p_I"
    return (f"right: rate {rate:.3f}; the slow direction is mostly {which} "
            f"(direction (p_C, p_I) ≈ ({vec[0]:+.2f}, {vec[1]:+.2f})).")


exercise("02.3", wrong=[
    lambda: {"p_c0": 1 / 3, "p_i0": 1 / 3, "n_c": 85, "n_i": 196, "n_t": 341, "n_u": 0},
    lambda: {"p_c0": 1 / 3, "p_i0": 1 / 3, "n_c": 1, "n_i": 1, "n_t": 1, "n_u": 2000},
    lambda: {"n_c": 1, "n_i": 1, "n_t": 1000, "n_u": 0},
    lambda: {"n_c": 500, "n_i": 500, "n_t": 500, "n_u": 0},
    lambda: {"n_c": 2000, "n_i": 1, "n_t": 1, "n_u": 0},          # beyond the n_C slider
    lambda: {"n_c": 999.5, "n_i": 1, "n_t": 1, "n_u": 0},         # not a whole count
    lambda: {"n_c": float("nan"), "n_i": 1, "n_t": 1, "n_u": 0},  # not a count
    lambda: {"n_c": None, "n_i": 1, "n_t": 1, "n_u": 0},
])(_slow_no_u)


# --- 02.4 the rate and slow direction with "dark" moths ---------------------------------------


def _left_eigenvector() -> np.ndarray:
    """The eigenvector of DM^T (Meng & Rubin's layout, ``sem.dm``) for the largest
    eigenvalue: the plausible slip of reading the slow direction off ``sem.dm``."""
    dm = em_jacobian(moth_mle(DARK_COUNTS, COMPATIBLE_DARK), DARK_COUNTS, COMPATIBLE_DARK)
    val, vec = np.linalg.eig(dm.T)
    return vec[:, int(np.argmax(val.real))].real


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """The angle between the lines spanned by a and b, in degrees."""
    cos = abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(min(cos, 1.0))))


def _dark_rate_only() -> float:
    return slow_direction(DARK_COUNTS, COMPATIBLE_DARK)[0]


@exercise("02.4", wrong=[
    lambda: (0.5882, (0.0, 1.0)),                        # the n_U extension's answer
    lambda: (0.1759, (0.0, 1.0)),                        # no extra moths
    lambda: (1 - _dark_rate_only(), (1.0, -1.0)),         # I_o / I_oc, not I_mis / I_oc
    lambda: (_dark_rate_only(), (0.0, 1.0)),              # the right rate, pure p_I
    lambda: (_dark_rate_only(), _left_eigenvector()),     # read off sem.dm (DM transposed)
    lambda: (_dark_rate_only(), (1.0, -1.0)),             # guessed: "p_T fixed", not computed
])
def _dark_rate(answer: Any) -> str:
    try:
        first, second = pair_of(answer, "your answer", "(rate, direction)")
    except Wrong:
        raise Wrong("answer with a pair (rate, direction), the direction a pair "
                    "(p_C, p_I) of any length and sign") from None
    rate = float(as_array(first, (), "your rate"))
    direction = as_array(second, (2,), "your direction (p_C, p_I)")
    if not 0 <= rate < 1:
        raise Wrong(f"a rate of EM at its MLE is a fraction of missing information, in "
                    f"[0, 1): {rate:.4g} is not")
    want, vec = slow_direction(DARK_COUNTS, COMPATIBLE_DARK)
    compare(rate, want, rtol=0.02, what="your rate")
    if float(np.linalg.norm(direction)) == 0:
        raise Wrong("your direction is the zero vector")
    if _angle(direction, _left_eigenvector()) < 2:
        raise Wrong("the rate is right; the direction is an eigenvector of DM transposed "
                    "(sem.dm is Meng & Rubin's layout): the error obeys e' = DM e, so it "
                    "settles along an eigenvector of DM = sem.dm.T")
    if _angle(direction, vec) > 2:
        raise Wrong("the rate is right; the direction is not EM's slow direction (more than "
                    "2° off it). Compute it: the eigenvector of DM for its largest "
                    "eigenvalue")
    return (f"right: rate {want:.4f} along (p_C, p_I) ≈ ({vec[0]:+.2f}, {vec[1]:+.2f}): "
            "the dark moths pin p_T down, not how the rest splits between C and I.")
