"""Louis' method: the observed information from the complete-data model and the E-step.

Write :math:`\\ell_c(\\theta) = \\log f_Y(x, Z \\mid \\theta)` for the complete-data
log-likelihood, :math:`S_c = \\nabla_\\theta \\ell_c` for its score and
:math:`\\ell(\\theta) = \\log f_X(x \\mid \\theta)` for the observed one. Because
:math:`\\ell(\\theta) = \\ell_c(\\theta) - \\log f_{Z\\mid X}(Z \\mid x, \\theta)` for every
value of :math:`Z`, differentiating twice and averaging over
:math:`Z \\sim f_{Z\\mid X}(\\cdot \\mid x, \\theta)` (the same :math:`\\theta`) gives,
at *every* :math:`\\theta` (Louis 1982, JRSS B 44, 226-233),

.. math::
    I_o(\\theta) = -\\nabla^2 \\ell(\\theta)
    = \\underbrace{\\mathrm{E}[-\\nabla^2 \\ell_c \\mid x, \\theta]}_{I_{oc}(\\theta)}
    - \\underbrace{\\mathrm{Var}(S_c \\mid x, \\theta)}_{I_{om}(\\theta)},
    \\qquad
    \\mathrm{Var}(S_c \\mid x, \\theta) = \\mathrm{E}[S_c S_c^\\top \\mid x, \\theta]
    - S(\\theta) S(\\theta)^\\top,

with :math:`S(\\theta) = \\mathrm{E}[S_c \\mid x, \\theta] = \\nabla \\ell(\\theta)` (Fisher's
identity). At the MLE :math:`S = 0` and the second moment is the variance; away from it
the :math:`S S^\\top` term must be subtracted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

from .variance import InformationWarning

__all__ = ["LouisResult", "louis_information", "score_moments"]


def _square(value: object, what: str, d: int | None = None) -> np.ndarray:
    arr = np.atleast_2d(np.asarray(value, dtype=float))
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{what} must be a square (d, d) matrix, got shape {arr.shape}")
    if d is not None and arr.shape[0] != d:
        raise ValueError(f"{what} has shape {arr.shape}, expected ({d}, {d})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} has non-finite entries: {arr!r}")
    scale = max(float(np.max(np.abs(arr))), np.finfo(float).tiny)
    if np.max(np.abs(arr - arr.T)) > 1e-8 * scale:
        raise ValueError(f"{what} must be symmetric, got {arr!r}")
    return (arr + arr.T) / 2


def score_moments(
    probs: np.ndarray, scores: np.ndarray, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional mean and covariance of the complete-data score for a discrete latent.

    Observation :math:`i` (with multiplicity :math:`n_i`) has latent value :math:`k` with
    conditional probability :math:`p_{ik} = P(z_i = k \\mid x_i, \\theta)` and complete-data
    score :math:`s_{ik} = \\nabla_\\theta \\log f(x_i, z_i = k \\mid \\theta)`. Given the
    data the :math:`z_i` are independent, so the moments add over observations:

    .. math::
        S = \\sum_i n_i \\sum_k p_{ik} s_{ik}, \\qquad
        I_{om} = \\sum_i n_i \\Big(\\sum_k p_{ik} s_{ik} s_{ik}^\\top
                 - m_i m_i^\\top\\Big), \\quad m_i = \\sum_k p_{ik} s_{ik}.

    Parameters
    ----------
    probs : array, shape (n, K)
        Conditional probabilities; each row sums to 1. Entries 0 mark impossible values,
        whose scores are ignored (they may be infinite).
    scores : array, shape (n, K, d)
        Complete-data scores per observation and latent value.
    counts : array, shape (n,), optional
        Multiplicities :math:`n_i` (default 1): grouped data such as phenotype counts.

    Returns
    -------
    mean : ndarray, shape (d,)
        :math:`S(\\theta) = \\mathrm{E}[S_c \\mid x, \\theta]`, the observed-data score.
    cov : ndarray, shape (d, d)
        :math:`\\mathrm{Var}(S_c \\mid x, \\theta)`, the missing information.
    """
    p = np.asarray(probs, dtype=float)
    s = np.asarray(scores, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"probs must have shape (n, K), got {p.shape}")
    if s.ndim != 3 or s.shape[:2] != p.shape:
        raise ValueError(f"scores must have shape (n, K, d) = {p.shape} + (d,), got {s.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1, rtol=0, atol=1e-9):
        raise ValueError("probs must be non-negative with rows summing to 1")
    n = np.ones(p.shape[0]) if counts is None else np.asarray(counts, dtype=float)
    if n.shape != (p.shape[0],) or np.any(n < 0) or not np.all(np.isfinite(n)):
        raise ValueError(f"counts must be non-negative, shape ({p.shape[0]},), got {counts!r}")
    s = np.where(p[..., None] > 0, s, 0.0)  # an impossible value contributes nothing
    if not np.all(np.isfinite(s)):
        raise ValueError("scores are not finite where probs > 0")
    m = np.einsum("ik,ikd->id", p, s)
    second = np.einsum("i,ik,ikd,ike->de", n, p, s, s)
    cov = second - np.einsum("i,id,ie->de", n, m, m)
    return n @ m, (cov + cov.T) / 2


@dataclass
class LouisResult:
    """What :func:`louis_information` returns; all matrices (d, d) at one :math:`\\theta`.

    Attributes
    ----------
    observed : ndarray
        :math:`I_o = I_{oc} - I_{om}`.
    complete : ndarray
        :math:`I_{oc}`, the expected complete-data information given the data.
    missing : ndarray
        :math:`I_{om} = \\mathrm{Var}(S_c \\mid x, \\theta)`.
    """

    observed: np.ndarray
    complete: np.ndarray
    missing: np.ndarray

    @property
    def fractions(self) -> np.ndarray:
        """Eigenvalues of :math:`I_{oc}^{-1} I_{om}`, largest first: the fractions of
        missing information (EM's rates at the MLE). Solved as the symmetric generalized
        problem :math:`I_{om} v = \\lambda I_{oc} v`, so they are real."""
        return eigh(self.missing, self.complete, eigvals_only=True)[::-1]

    @property
    def dm(self) -> np.ndarray:
        """:math:`DM = I_{om} I_{oc}^{-1}` (row :math:`i` = response to :math:`\\theta_i`,
        the orientation of :func:`~em_helpers.sem_covariance`); the EM map's Jacobian
        (transposed) when :math:`\\theta` is a fixed point."""
        return np.linalg.solve(self.complete, self.missing).T

    @property
    def positive_definite(self) -> bool:
        """Whether :math:`I_o` is positive definite (a strict local maximum of ell)."""
        return bool(np.all(np.linalg.eigvalsh(self.observed) > 0))

    @property
    def cov(self) -> np.ndarray:
        """:math:`I_o^{-1}`; warns (:class:`~em_helpers.InformationWarning`) when
        :math:`I_o` is not positive definite (not a maximum: no covariance)."""
        if not self.positive_definite:
            warnings.warn(
                "Louis: I_o is not positive definite here (not a local maximum of the "
                "log-likelihood); its inverse is not a covariance.",
                InformationWarning,
                stacklevel=2,
            )
        return np.linalg.inv(self.observed)

    @property
    def se(self) -> np.ndarray:
        """:math:`\\sqrt{(I_o^{-1})_{jj}}` (NaN where the diagonal is not positive)."""
        diag = np.diag(self.cov)
        return np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)


def louis_information(
    complete_info: np.ndarray,
    score_cov: np.ndarray | None = None,
    *,
    score_second_moment: np.ndarray | None = None,
    score: np.ndarray | None = None,
) -> LouisResult:
    """Observed information by Louis' formula, :math:`I_o = I_{oc} - I_{om}`.

    Give the missing information either as ``score_cov``
    (:math:`\\mathrm{Var}(S_c \\mid x, \\theta)`, e.g. from :func:`score_moments`) or as
    ``score_second_moment`` :math:`\\mathrm{E}[S_c S_c^\\top \\mid x, \\theta]` together with
    ``score`` :math:`S(\\theta)`, in which case
    :math:`I_{om} = \\mathrm{E}[S_c S_c^\\top \\mid x] - S S^\\top` (Louis' form; the
    :math:`S S^\\top` term vanishes only at the MLE).

    Parameters
    ----------
    complete_info : (d, d) array
        :math:`I_{oc}(\\theta) = \\mathrm{E}[-\\nabla^2 \\ell_c \\mid x, \\theta]`; symmetric and
        positive definite.
    score_cov : (d, d) array, optional
    score_second_moment : (d, d) array, optional
    score : (d,) array, optional
        Required with ``score_second_moment``.

    Returns
    -------
    LouisResult
    """
    ioc = _square(complete_info, "complete_info")
    d = ioc.shape[0]
    if np.any(np.linalg.eigvalsh(ioc) <= 0):
        raise ValueError(f"complete_info must be positive definite, got {ioc!r}")
    if (score_cov is None) == (score_second_moment is None):
        raise TypeError("give exactly one of score_cov and score_second_moment")
    if score_cov is not None:
        if score is not None:
            raise TypeError("score is used only with score_second_moment")
        iom = _square(score_cov, "score_cov", d)
    else:
        if score is None:
            raise TypeError(
                "score_second_moment needs score = E[S_c | x, theta] (the observed score; "
                "pass zeros only at the MLE)"
            )
        s = np.atleast_1d(np.asarray(score, dtype=float))
        if s.shape != (d,) or not np.all(np.isfinite(s)):
            raise ValueError(f"score must be a finite ({d},) vector, got {score!r}")
        iom = _square(score_second_moment, "score_second_moment", d) - np.outer(s, s)
    if np.any(np.linalg.eigvalsh(iom) < -1e-9 * np.max(np.abs(ioc))):
        raise ValueError(
            f"the missing information {iom!r} is not positive semi-definite: a covariance "
            "of the complete-data score cannot be"
        )
    return LouisResult(observed=ioc - iom, complete=ioc, missing=iom)
