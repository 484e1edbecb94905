"""The four course examples as importable models (notebooks 01-04, used again in 05).

Each model has the data, a starting value ``theta0``, parameter ``names``, and

- ``e_step(theta)`` / ``m_step(stats)`` exactly as its notebook writes them (same
  parametrisation, same statistics), so that ``run_em(m.e_step, m.m_step, m.theta0)``
  reproduces the notebook's path;
- ``loglik(theta)``: the observed-data log-likelihood :math:`\\ell(\\theta)` with every
  constant, so that :math:`\\ell = Q - H` holds exactly;
- ``Q(theta, theta_t)`` :math:`= \\mathrm{E}[\\log f_Y(x, Z\\mid\\theta) \\mid x, \\theta_t]` and
  ``H(theta, theta_t)`` :math:`= \\mathrm{E}[\\log f_{Z\\mid X}(Z \\mid x, \\theta) \\mid x,
  \\theta_t]`;
- ``complete_info(theta)``: :math:`I_{oc}(\\theta) = \\mathrm{E}[-\\nabla^2 \\log f_Y \\mid x,
  \\theta]` in closed form;
- ``score_moments(theta)``: mean and covariance of the complete-data score given the data
  (for Louis' method, :mod:`em_helpers.louis`);
- ``valid(theta)``: inside the parameter space.

The three models with a discrete latent variable share :class:`FiniteLatentModel`: they
give ``log_joint(theta)`` :math:`= \\log f(x_i, z_i = k \\mid \\theta)` (shape (n, K)) and the
complete-data scores, and inherit ``loglik``, ``posterior``, ``Q``, ``H`` and
``score_moments``.

Module-level instances with the course data: :data:`exponential`, :data:`moths`,
:data:`gaussians`, :data:`coins`; :data:`EXAMPLES` maps a short name to each.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, logsumexp, xlog1py, xlogy

from ..core.louis import score_moments as _score_moments

#: A parameter vector (1-D array or sequence of floats).
Theta = np.ndarray | Sequence[float]
#: The exponential model's parameter: a float or a size-1 array.
Scalar = float | np.ndarray

__all__ = [
    "EXAMPLES",
    "Exponential",
    "FiniteLatentModel",
    "Moths",
    "TwoCoins",
    "TwoGaussians",
    "coins",
    "exponential",
    "gaussians",
    "moths",
    "simulate_gaussians",
]


# ---- 1. exponential sample with a missing value -----------------------------------------


@dataclass(frozen=True)
class Exponential:
    """:math:`Y_1, Y_2 \\sim \\mathrm{Exp}(\\theta)` (rate), :math:`y_1` observed, :math:`Y_2`
    missing (notebook 01; Givens & Hoeting ch. 4). :math:`\\hat\\theta = 1/y_1`.

    Complete data: :math:`\\log f_Y = 2\\log\\theta - \\theta(y_1 + y_2)`; the missing
    :math:`Y_2 \\mid y_1 \\sim \\mathrm{Exp}(\\theta)` independently of :math:`y_1`.
    ``theta`` may be a float or a size-1 array; ``e_step``/``m_step`` keep its shape.
    """

    y1: float = 5.0
    theta0: float = 1.0
    names: tuple[str, ...] = ("theta",)
    published: float = 0.2  # Givens & Hoeting ch. 4

    def __post_init__(self) -> None:
        if isinstance(self.y1, bool) or not isinstance(self.y1, numbers.Real):
            raise TypeError(
                f"y1 must be a positive number (a lifetime), got {self.y1!r} "
                f"({type(self.y1).__name__})"
            )
        if not (np.isfinite(self.y1) and self.y1 > 0):
            raise ValueError(f"y1 must be a positive lifetime, got {self.y1!r}")

    def e_step(self, theta: Scalar) -> Scalar:
        """:math:`\\mathrm{E}[Y_2 \\mid y_1, \\theta] = 1/\\theta`."""
        return 1.0 / theta

    def m_step(self, expected_y2: Scalar) -> Scalar:
        """:math:`\\arg\\max_\\theta Q = 2/(y_1 + \\mathrm{E}[Y_2])`."""
        return 2.0 / (self.y1 + expected_y2)

    @staticmethod
    def _scalar(theta: Scalar) -> float:
        arr = np.asarray(theta, dtype=float)
        if arr.size != 1:
            raise ValueError(f"theta must be a float or a size-1 array, got shape {arr.shape}")
        return float(arr.reshape(()))

    def loglik(self, theta: Theta) -> float:
        """:math:`\\ell(\\theta) = \\log\\theta - \\theta y_1`."""
        t = self._scalar(theta)
        return float(np.log(t) - t * self.y1)

    def Q(self, theta: Theta, theta_t: Theta) -> float:
        """:math:`Q = 2\\log\\theta - \\theta(y_1 + 1/\\theta_t)`."""
        t, tt = self._scalar(theta), self._scalar(theta_t)
        return float(2 * np.log(t) - t * (self.y1 + 1 / tt))

    def H(self, theta: Theta, theta_t: Theta) -> float:
        """:math:`H = \\mathrm{E}[\\log(\\theta e^{-\\theta Y_2}) \\mid \\theta_t]
        = \\log\\theta - \\theta/\\theta_t`."""
        t, tt = self._scalar(theta), self._scalar(theta_t)
        return float(np.log(t) - t / tt)

    def curves(self, thetas: np.ndarray, theta_t: Theta) -> tuple[np.ndarray, ...]:
        """:math:`(\\ell, Q(\\cdot\\mid\\theta_t), H(\\cdot\\mid\\theta_t))` at every row of
        ``thetas`` (shape (m, 1)) at once; the same formulas as :meth:`loglik`, :meth:`Q`,
        :meth:`H`."""
        t = np.asarray(thetas, dtype=float).reshape(-1)
        tt = self._scalar(theta_t)
        return np.log(t) - t * self.y1, 2 * np.log(t) - t * (self.y1 + 1 / tt), np.log(t) - t / tt

    def complete_info(self, theta: Theta) -> np.ndarray:
        """:math:`I_{oc} = 2/\\theta^2` (two exponential observations), shape (1, 1)."""
        return np.array([[2 / self._scalar(theta) ** 2]])

    def score_moments(self, theta: Theta) -> tuple[np.ndarray, np.ndarray]:
        """:math:`S_c = 2/\\theta - y_1 - Y_2`: mean :math:`1/\\theta - y_1`, variance
        :math:`\\mathrm{Var}(Y_2) = 1/\\theta^2`."""
        t = self._scalar(theta)
        return np.array([1 / t - self.y1]), np.array([[1 / t**2]])

    @staticmethod
    def valid(theta: Theta) -> bool:
        """:math:`\\theta > 0`."""
        return bool(np.all(np.asarray(theta) > 0))


# ---- the models with a discrete latent variable -----------------------------------------


def _count_sum(counts: np.ndarray, values: np.ndarray) -> float:
    """:math:`\\sum_i n_i v_i` over the observations that occur (:math:`n_i > 0`), so that
    :math:`0 \\cdot (-\\infty) = 0` as in :func:`scipy.special.xlogy`."""
    seen = counts > 0
    return float(counts[seen] @ values[seen])


class FiniteLatentModel:
    """Shared part of a model whose missing data are discrete labels :math:`z_i \\in
    \\{1..K\\}`, observation :math:`i` occurring ``counts[i]`` times.

    A subclass defines ``log_joint(theta)`` (n, K) :math:`= \\log f(x_i, z_i = k \\mid
    \\theta)` (``-inf`` where impossible) and ``complete_scores(theta)`` (n, K, d)
    :math:`= \\nabla_\\theta \\log f(x_i, z_i = k \\mid \\theta)`, and a ``counts`` array.
    """

    counts: np.ndarray

    def log_joint(self, theta: Theta) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def complete_scores(self, theta: Theta) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def posterior(self, theta: Theta) -> np.ndarray:
        """:math:`P(z_i = k \\mid x_i, \\theta)`, shape (n, K), in log space; a row whose
        observation is impossible at :math:`\\theta` (every :math:`f = 0`, e.g. a phenotype
        of probability 0 at a boundary point) is 0."""
        lj = self.log_joint(theta)
        lse = logsumexp(lj, axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):  # -inf - -inf in impossible rows
            return np.where(np.isfinite(lse), np.exp(lj - lse), 0.0)

    def loglik(self, theta: Theta) -> float:
        """:math:`\\ell(\\theta) = \\sum_i n_i \\log \\sum_k f(x_i, z_i = k \\mid \\theta)`,
        with :math:`0 \\log 0 = 0` (an impossible observation that occurs 0 times)."""
        return _count_sum(self.counts, logsumexp(self.log_joint(theta), axis=1))

    def Q(self, theta: Theta, theta_t: Theta) -> float:
        """:math:`Q(\\theta\\mid\\theta_t) = \\sum_i n_i \\sum_k p_{ik}(\\theta_t)
        \\log f(x_i, z_i = k \\mid \\theta)`."""
        p = self.posterior(theta_t)
        lj = self.log_joint(theta)
        return _count_sum(self.counts, (p * np.where(p > 0, lj, 0.0)).sum(axis=1))

    def H(self, theta: Theta, theta_t: Theta) -> float:
        """:math:`H(\\theta\\mid\\theta_t) = \\sum_i n_i \\sum_k p_{ik}(\\theta_t)
        \\log p_{ik}(\\theta)`."""
        p = self.posterior(theta_t)
        lj = self.log_joint(theta)
        with np.errstate(invalid="ignore"):  # -inf - -inf in impossible rows (p = 0 there)
            log_post = lj - logsumexp(lj, axis=1, keepdims=True)
        return _count_sum(self.counts, (p * np.where(p > 0, log_post, 0.0)).sum(axis=1))

    def curves(self, thetas: np.ndarray, theta_t: Theta) -> tuple[np.ndarray, ...]:
        """:math:`(\\ell, Q(\\cdot\\mid\\theta_t), H(\\cdot\\mid\\theta_t))` at every row of
        ``thetas`` (shape (m, d)) at once: the formulas of :meth:`loglik`, :meth:`Q` and
        :meth:`H` with the posterior at :math:`\\theta_t` computed once and one
        ``log_joint`` per row (for widgets that redraw whole curves)."""
        p = self.posterior(theta_t)
        mask = p > 0
        lj = np.stack([self.log_joint(theta) for theta in np.asarray(thetas, dtype=float)])
        lse = np.logaddexp.reduce(lj, axis=2, keepdims=True)  # 10x faster than logsumexp here
        seen = self.counts > 0  # 0 log 0 = 0: rows never observed drop out
        counts = self.counts[seen]
        ll = lse[:, seen, 0] @ counts
        q = (p * np.where(mask, lj, 0.0)).sum(axis=2)[:, seen] @ counts
        with np.errstate(invalid="ignore"):  # -inf - -inf in impossible rows (p = 0 there)
            h = (p * np.where(mask, lj - lse, 0.0)).sum(axis=2)[:, seen] @ counts
        return ll, q, h

    def score_moments(self, theta: Theta) -> tuple[np.ndarray, np.ndarray]:
        """Mean (the observed score) and covariance (the missing information) of the
        complete-data score given the data; see :func:`em_helpers.louis.score_moments`."""
        return _score_moments(self.posterior(theta), self.complete_scores(theta), self.counts)


# ---- 2. peppered moths ------------------------------------------------------------------

#: Genotypes in the order of the E-step's expected counts, and their (C, I, T) allele counts.
GENOTYPES = ("CC", "CI", "CT", "II", "IT", "TT")
_ALLELES = np.array([[2, 0, 0], [1, 1, 0], [1, 0, 1], [0, 2, 0], [0, 1, 1], [0, 0, 2]], float)
#: Which genotypes each phenotype (carbonaria, insularia, typica, "insularia or typica") allows.
_COMPATIBLE = np.array(
    [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 1, 1]], bool
)


@dataclass(frozen=True, eq=False)
class Moths(FiniteLatentModel):
    """Peppered moths (notebook 02; Givens & Hoeting Example 4.2): phenotype counts
    ``counts = (n_C, n_I, n_T, n_U)``, free parameters :math:`\\theta = (p_C, p_I)` with
    :math:`p_T = 1 - p_C - p_I` derived everywhere. Missing: each moth's genotype."""

    counts: np.ndarray = field(default_factory=lambda: np.array([85.0, 196.0, 341.0, 0.0]))
    theta0: tuple[float, ...] = (1 / 3, 1 / 3)
    names: tuple[str, ...] = ("p_C", "p_I")
    #: (p_C, p_I, p_T), Givens & Hoeting Example 4.2 (for n_U = 0).
    published: tuple[float, ...] = (0.07084, 0.18874, 0.74043)

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=float)
        if counts.shape != (4,) or not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ValueError(
                f"counts must be 4 non-negative numbers (n_C, n_I, n_T, n_U), got {self.counts!r}"
            )
        if counts.sum() <= 0:
            raise ValueError("counts must not all be zero")
        object.__setattr__(self, "counts", counts)

    @staticmethod
    def allele_freqs(theta: Theta) -> tuple[float, float, float]:
        """:math:`(p_C, p_I, p_T)` from :math:`\\theta = (p_C, p_I)`."""
        p_c, p_i = theta
        return p_c, p_i, 1.0 - p_c - p_i

    def genotype_probs(self, theta: Theta) -> np.ndarray:
        """Hardy-Weinberg :math:`(p_C^2, 2p_Cp_I, 2p_Cp_T, p_I^2, 2p_Ip_T, p_T^2)`."""
        p_c, p_i, p_t = self.allele_freqs(theta)
        return np.array([p_c**2, 2 * p_c * p_i, 2 * p_c * p_t, p_i**2, 2 * p_i * p_t, p_t**2])

    def e_step(self, theta: Theta) -> np.ndarray:
        """Expected genotype counts (CC, CI, CT, II, IT, TT) given the phenotype counts."""
        p_c, p_i, p_t = self.allele_freqs(theta)
        n_c, n_i, n_t, n_u = self.counts
        carb = n_c / (p_c + 2 * p_i + 2 * p_t)  # n_C / (P(carbonaria) / p_C)
        insu = n_i / (p_i + 2 * p_t)  # n_I / (P(insularia) / p_I)
        unkn = n_u / (p_i + p_t) ** 2  # n_U / P(insularia or typica)
        return np.array([
            carb * p_c,
            carb * 2 * p_i,
            carb * 2 * p_t,
            insu * p_i + unkn * p_i**2,
            insu * 2 * p_t + unkn * 2 * p_i * p_t,
            n_t + unkn * p_t**2,
        ])

    @staticmethod
    def allele_counts(genotypes: np.ndarray) -> np.ndarray:
        """:math:`(A_C, A_I, A_T)`, the sufficient statistic, from genotype counts."""
        return np.asarray(genotypes) @ _ALLELES

    def m_step(self, genotypes: np.ndarray) -> np.ndarray:
        """Allele counting: :math:`(p_C, p_I) = (A_C, A_I) / 2n`."""
        cc, ci, ct, ii, it, tt = genotypes
        two_n = 2 * genotypes.sum()
        return np.array([(2 * cc + ci + ct) / two_n, (2 * ii + ci + it) / two_n])

    def loglik(self, theta: Theta) -> float:
        """:math:`\\ell = n_C \\log P_C + n_I \\log P_I + n_T \\log P_T + n_U \\log P_U` with
        the phenotype probabilities in closed form, computed so that no digit is lost when
        counts are huge or a frequency is near 0 or 1:

        .. math:: P_C = p_C(2 - p_C) = 1 - (1-p_C)^2, \\quad P_I = p_I(p_I + 2p_T), \\quad
                  P_T = p_T^2, \\quad P_U = (1 - p_C)^2,

        :math:`\\log P_C` as ``log1p(-(1-p_C)**2)`` for :math:`p_C \\ge 1/2` (where
        :math:`1 - p_C` is exact), :math:`\\log p_T` as ``log1p(-(p_C + p_I))`` when
        :math:`p_T > 1/2` and :math:`p_T` itself correctly rounded (``math.fsum``),
        :math:`\\log P_U = 2\\,\\mathrm{log1p}(-p_C)`; :math:`0 \\log 0 = 0` (a phenotype of
        probability 0 that was never seen, as at the boundary MLE :math:`p_C = 0` when
        :math:`n_C = 0`). NaN outside the simplex. Equals
        :meth:`FiniteLatentModel.loglik` (a log-sum-exp over genotypes) up to round-off."""
        p_c, p_i = (float(v) for v in np.asarray(theta, dtype=float).reshape(2))
        s = p_c + p_i
        p_t = math.fsum((1.0, -p_c, -p_i))
        if min(p_c, p_i, p_t) < 0 or max(p_c, p_i) > 1:
            return float("nan")
        with np.errstate(divide="ignore"):
            log_pc = np.log1p(-(1.0 - p_c) ** 2) if p_c >= 0.5 else np.log(p_c) + np.log(2.0 - p_c)
            log_pt = np.log1p(-s) if s < 0.5 else np.log(p_t)
            log_p = (
                log_pc,
                np.log(p_i) + np.log(p_i + 2.0 * p_t),
                2.0 * log_pt,
                2.0 * np.log1p(-p_c),
            )
        return math.fsum(n * lp for n, lp in zip(self.counts, log_p, strict=True) if n > 0)

    def log_joint(self, theta: Theta) -> np.ndarray:
        """:math:`\\log P(\\text{phenotype}, \\text{genotype})`: (4, 6), -inf if incompatible."""
        with np.errstate(divide="ignore"):
            logp = np.log(self.genotype_probs(theta))
        return np.where(_COMPATIBLE, logp, -np.inf)

    def complete_scores(self, theta: Theta) -> np.ndarray:
        """:math:`\\nabla \\log P_g = (a_C/p_C - a_T/p_T,\\; a_I/p_I - a_T/p_T)` per genotype."""
        p_c, p_i, p_t = self.allele_freqs(theta)
        a = _ALLELES
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.column_stack([a[:, 0] / p_c - a[:, 2] / p_t, a[:, 1] / p_i - a[:, 2] / p_t])
        return np.broadcast_to(s, (len(self.counts), 6, 2))

    def complete_info(self, theta: Theta) -> np.ndarray:
        """:math:`-\\nabla^2` of :math:`\\bar A_C\\log p_C + \\bar A_I\\log p_I + \\bar A_T
        \\log(1 - p_C - p_I)` at :math:`\\bar A = \\mathrm{E}[A \\mid x, \\theta]`."""
        p_c, p_i, p_t = self.allele_freqs(theta)
        a_c, a_i, a_t = self.allele_counts(self.e_step(theta))
        shared = a_t / p_t**2
        return np.array([[a_c / p_c**2 + shared, shared], [shared, a_i / p_i**2 + shared]])

    def valid(self, theta: Theta) -> bool:
        """The parameter space: every frequency, :math:`p_T` included, in [0, 1], and each
        phenotype that was observed possible (:math:`\\ell > -\\infty`): :math:`p_C > 0` if
        :math:`n_C > 0`, :math:`p_I > 0` if :math:`n_I > 0`, :math:`p_T > 0` if
        :math:`n_T > 0`, :math:`p_C < 1` if :math:`n_U > 0`. A frequency of 0 is allowed
        where the data allow it: with :math:`n_C = 0` the MLE has :math:`p_C = 0`."""
        p_c, p_i = (float(v) for v in np.asarray(theta, dtype=float).reshape(2))
        p_t = math.fsum((1.0, -p_c, -p_i))
        if not (min(p_c, p_i, p_t) >= 0 and max(p_c, p_i) <= 1):  # also False for NaN
            return False
        possible = (p_c > 0, p_i > 0, p_t > 0, p_c < 1)  # P_C, P_I, P_T, P_U > 0
        return all(ok or n == 0 for ok, n in zip(possible, self.counts, strict=True))


# ---- 3. two Gaussians, sigma known ------------------------------------------------------


def simulate_gaussians(
    mu1: float, mu2: float, pi: float, sigma: float, n: int, seed: int
) -> np.ndarray:
    """Notebook 03's data: component 1 with probability ``pi`` (uniform draw first), then
    one normal draw per component, seeded."""
    rng = np.random.default_rng(seed)
    first = rng.random(n) < pi
    return np.where(first, rng.normal(mu1, sigma, n), rng.normal(mu2, sigma, n))


@dataclass(frozen=True, eq=False)
class TwoGaussians(FiniteLatentModel):
    """:math:`\\pi N(\\mu_1, \\sigma^2) + (1-\\pi) N(\\mu_2, \\sigma^2)` with :math:`\\sigma`
    known, :math:`\\theta = (\\mu_1, \\mu_2, \\pi)` (notebook 03, Part 1: 400 points from
    (-1, 2, 0.35), :math:`\\sigma = 1`, seed 1). Missing: the component labels."""

    x: np.ndarray = field(default_factory=lambda: simulate_gaussians(-1.0, 2.0, 0.35, 1.0, 400, 1))
    sigma: float = 1.0
    theta0: tuple[float, ...] = (0.0, 1.0, 0.5)
    names: tuple[str, ...] = ("mu1", "mu2", "pi")

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=float)
        if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
            raise ValueError(
                f"x must be a non-empty 1-D array of finite numbers, got shape {x.shape}"
            )
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be positive, got {self.sigma!r}")
        object.__setattr__(self, "x", x)

    @property
    def counts(self) -> np.ndarray:  # type: ignore[override]
        return np.ones(self.x.size)

    def log_joint(self, theta: Theta) -> np.ndarray:
        """:math:`\\log\\pi\\varphi(x_i;\\mu_1,\\sigma)` and
        :math:`\\log(1-\\pi)\\varphi(x_i;\\mu_2,\\sigma)`, shape (N, 2)."""
        mu1, mu2, pi = theta
        s, x = self.sigma, self.x
        c = 0.5 * np.log(2 * np.pi) + np.log(s)
        return np.column_stack([
            np.log(pi) - 0.5 * ((x - mu1) / s) ** 2 - c,
            np.log1p(-pi) - 0.5 * ((x - mu2) / s) ** 2 - c,
        ])

    def e_step(self, theta: Theta) -> np.ndarray:
        """Responsibilities :math:`\\gamma_i = \\mathrm{expit}(\\log a_i - \\log b_i)`."""
        lj = self.log_joint(theta)
        return expit(lj[:, 0] - lj[:, 1])

    def m_step(self, gamma: np.ndarray) -> np.ndarray:
        """Weighted means and the mean responsibility."""
        x = self.x
        w1, w2 = gamma.sum(), (1 - gamma).sum()
        return np.array([gamma @ x / w1, (1 - gamma) @ x / w2, w1 / x.size])

    def complete_scores(self, theta: Theta) -> np.ndarray:
        """Label 1: :math:`((x-\\mu_1)/\\sigma^2, 0, 1/\\pi)`; label 2:
        :math:`(0, (x-\\mu_2)/\\sigma^2, -1/(1-\\pi))`."""
        mu1, mu2, pi = theta
        x, s2 = self.x, self.sigma**2
        out = np.zeros((x.size, 2, 3))
        out[:, 0, 0] = (x - mu1) / s2
        out[:, 0, 2] = 1 / pi
        out[:, 1, 1] = (x - mu2) / s2
        out[:, 1, 2] = -1 / (1 - pi)
        return out

    def complete_info(self, theta: Theta) -> np.ndarray:
        """Diagonal: :math:`\\sum\\gamma_i/\\sigma^2`, :math:`\\sum(1-\\gamma_i)/\\sigma^2`,
        :math:`\\sum\\gamma_i/\\pi^2 + \\sum(1-\\gamma_i)/(1-\\pi)^2`."""
        gamma = self.e_step(theta)
        w1, w2 = gamma.sum(), (1 - gamma).sum()
        pi = theta[2]
        return np.diag([w1 / self.sigma**2, w2 / self.sigma**2, w1 / pi**2 + w2 / (1 - pi) ** 2])

    @staticmethod
    def valid(theta: Theta) -> bool:
        """:math:`0 < \\pi < 1`."""
        return bool(0 < theta[2] < 1)


# ---- 4. two coins -----------------------------------------------------------------------

#: Do & Batzoglou (2008): five sets of ten tosses.
TOSSES = ("HTTTHHTHTH", "HHHHTHHHHH", "HTHHHHHTHH", "HTHTTTHHTT", "THHHTHHHTH")


@dataclass(frozen=True, eq=False)
class TwoCoins(FiniteLatentModel):
    """Two coins with head probabilities :math:`\\theta = (\\theta_A, \\theta_B)`, each set
    of tosses made by coin A with probability ``weight`` (1/2, fixed) (notebook 04; Do &
    Batzoglou 2008). Missing: which coin made each set."""

    heads: np.ndarray = field(
        default_factory=lambda: np.array([s.count("H") for s in TOSSES], float)
    )
    flips: np.ndarray = field(default_factory=lambda: np.array([len(s) for s in TOSSES], float))
    weight: float = 0.5
    theta0: tuple[float, ...] = (0.6, 0.5)
    names: tuple[str, ...] = ("theta_A", "theta_B")
    #: Do & Batzoglou: (theta_A, theta_B) after 1 and after 10 iterations, two decimals.
    published: tuple[tuple[float, float], ...] = ((0.71, 0.58), (0.80, 0.52))

    def __post_init__(self) -> None:
        heads = np.asarray(self.heads, dtype=float)
        flips = np.asarray(self.flips, dtype=float)
        if heads.ndim != 1 or heads.size == 0 or flips.shape != heads.shape:
            raise ValueError(
                "heads and flips must be 1-D arrays of one shape, "
                f"got {heads.shape} and {flips.shape}"
            )
        if not np.all(flips > 0):
            raise ValueError(f"flips must be positive, got {self.flips!r}")
        if not np.all((heads >= 0) & (heads <= flips)):
            raise ValueError(f"heads must lie in [0, flips], got {self.heads!r}")
        if not 0 < self.weight < 1:
            raise ValueError(f"weight must be in (0, 1), got {self.weight!r}")
        object.__setattr__(self, "heads", heads)
        object.__setattr__(self, "flips", flips)

    @property
    def counts(self) -> np.ndarray:  # type: ignore[override]
        return np.ones(self.heads.size)

    def log_joint(self, theta: Theta) -> np.ndarray:
        """:math:`\\log P(\\text{set } i, z_i)` for A and B, shape (sets, 2)."""
        theta_a, theta_b = theta
        h, t, lam = self.heads, self.flips - self.heads, self.weight
        return np.column_stack([
            np.log(lam) + xlogy(h, theta_a) + xlog1py(t, -theta_a),
            np.log1p(-lam) + xlogy(h, theta_b) + xlog1py(t, -theta_b),
        ])

    def e_step(self, theta: Theta) -> np.ndarray:
        """Responsibilities :math:`\\gamma_i = P(z_i = A \\mid h_i, \\theta)`."""
        lj = self.log_joint(theta)
        return np.exp(lj[:, 0] - np.logaddexp(lj[:, 0], lj[:, 1]))

    def m_step(self, gamma: np.ndarray) -> np.ndarray:
        """Weighted proportions of heads."""
        h, n = self.heads, self.flips
        return np.array([gamma @ h / (gamma @ n), (1 - gamma) @ h / ((1 - gamma) @ n)])

    def complete_scores(self, theta: Theta) -> np.ndarray:
        """Coin A: :math:`(h/\\theta_A - t/(1-\\theta_A), 0)`; coin B: the same in
        :math:`\\theta_B`."""
        theta_a, theta_b = theta
        h, t = self.heads, self.flips - self.heads
        out = np.zeros((h.size, 2, 2))
        out[:, 0, 0] = h / theta_a - t / (1 - theta_a)
        out[:, 1, 1] = h / theta_b - t / (1 - theta_b)
        return out

    def complete_info(self, theta: Theta) -> np.ndarray:
        """Diagonal, one binomial per coin weighted by the responsibilities."""
        gamma = self.e_step(theta)
        theta_a, theta_b = theta
        h, t = self.heads, self.flips - self.heads
        return np.diag([
            gamma @ (h / theta_a**2 + t / (1 - theta_a) ** 2),
            (1 - gamma) @ (h / theta_b**2 + t / (1 - theta_b) ** 2),
        ])

    @staticmethod
    def valid(theta: Theta) -> bool:
        """Both head probabilities in (0, 1)."""
        return bool(np.all((np.asarray(theta) > 0) & (np.asarray(theta) < 1)))


exponential = Exponential()
moths = Moths()
gaussians = TwoGaussians()
coins = TwoCoins()

#: Short name -> the model with the course data, in course order.
EXAMPLES = {"exponential": exponential, "moths": moths, "gaussians": gaussians, "coins": coins}
