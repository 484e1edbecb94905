"""Gaussian mixtures with K components in p dimensions: EM steps from additive statistics.

The model: :math:`z_i \\sim \\mathrm{Categorical}(w_1, \\dots, w_K)` and
:math:`x_i \\mid z_i = k \\sim N_p(\\mu_k, \\Sigma_k)`. With the log joint
:math:`\\log w_k + \\log N(x_i; \\mu_k, \\Sigma_k)` the E-step is the responsibility

.. math:: \\gamma_{ik} = \\exp\\Big(\\log w_k + \\log N(x_i; \\mu_k, \\Sigma_k)
          - \\operatorname{logsumexp}_j
          \\big[\\log w_j + \\log N(x_i; \\mu_j, \\Sigma_j)\\big]\\Big),

with :math:`\\log N(x; \\mu, \\Sigma) = -\\tfrac12\\big(p \\log 2\\pi + 2\\sum_j \\log L_{jj}
+ \\lVert L^{-1}(x-\\mu)\\rVert^2\\big)` from the Cholesky factor :math:`\\Sigma = LL^\\top`
(:math:`L^{-1}` solved from :math:`LX = I`; :math:`\\Sigma^{-1}` and :math:`\\det\\Sigma` are
never formed). The rows are centred *before* they are whitened, :math:`(x_i - \\mu_k)
L_k^{-\\top}`, so data far from 0 (a location of :math:`10^{10}`) lose nothing to cancellation.

The M-step needs only the expected sufficient statistics, computed about the current
means :math:`c_k = \\mu_k^{(t)}` (the same on every chunk of rows, so the sums are still
additive; centring avoids the cancellation of :math:`\\sum\\gamma xx^\\top - n\\mu\\mu^\\top`):

.. math:: n_k = \\sum_i \\gamma_{ik},\\quad s_k = \\sum_i \\gamma_{ik}(x_i - c_k),\\quad
          S_k = \\sum_i \\gamma_{ik}(x_i - c_k)(x_i - c_k)^\\top,

and then :math:`w_k = n_k/N`, :math:`\\mu_k = c_k + s_k/n_k`,
:math:`\\Sigma_k = S_k/n_k - (s_k/n_k)(s_k/n_k)^\\top + \\varepsilon I` (``reg_covar``
:math:`\\varepsilon`, scikit-learn's covariance floor). :func:`suff_stats` computes them for
a block of rows (also the log-likelihood of that block); :class:`SuffStats` add with ``+``,
so a data set split into chunks gives the same M-step as the whole (notebook 08 does this
with Dask). :class:`GMMSteps` is the same EM written in the protocol of
:mod:`em_helpers.streaming` (``suff_stats(theta, chunk)``, ``m_step(stats)`` on the flat
vector :meth:`GMMParams.pack`), so ``chunked_em``, ``dask_em`` and ``online_em`` run it
as they are. Covariance types: ``"full"`` (one :math:`\\Sigma_k` each), ``"tied"`` (one
shared :math:`\\Sigma`), ``"diag"`` (diagonal :math:`\\Sigma_k`), ``"spherical"``
(:math:`\\sigma_k^2 I`), as in :class:`sklearn.mixture.GaussianMixture`.

Also: the MAP M-step under a conjugate prior for every covariance type (:class:`GMMPrior`,
Fraley & Raftery 2007, with their data-scaled default :meth:`GMMPrior.default`), k-means++ /
random / short-run-EM starts, Lloyd's k-means (hard EM), BIC and two ICLs,
:class:`TwoGaussiansSharedVariance`, a fast path for notebook 03's model, and
:func:`shared_variance_lr`, the likelihood-ratio statistic of notebook 07's bootstrap. A
uniform noise component for outliers is :class:`em_helpers.models.gmm_noise.NoiseGMM`.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logsumexp, xlogy

from ..core.loop import EMResult, run_em

__all__ = [
    "COVARIANCE_TYPES",
    "GMM",
    "GMMParams",
    "GMMPrior",
    "GMMSteps",
    "KMeansResult",
    "LR_STARTS",
    "SuffStats",
    "SCALE_FRACTION",
    "TwoGaussiansSharedVariance",
    "bic",
    "e_step",
    "icl",
    "init_params",
    "kmeans",
    "kmeans_plusplus",
    "log_joint",
    "log_prior",
    "loglik",
    "m_step",
    "n_parameters",
    "order_components",
    "responsibilities",
    "shared_variance_lr",
    "suff_stats",
    "real_matrix",
    "param_names",
    "entry_scales",
]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_LOG_2PI = float(np.log(2 * np.pi))
#: :meth:`GMMSteps.scale`: entries below this fraction of their data unit are judged in
#: absolute terms by the stopping rule (run_em's ``scale``).
SCALE_FRACTION = 1e-3
#: Added to every n_k before dividing, as scikit-learn does, so an emptied component gives
#: a finite (centre-of-nothing) mean instead of 0/0.
_NK_EPS = 10 * np.finfo(float).eps


def _check_type(covariance_type: str) -> str:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}"
        )
    return covariance_type


def entry_scales(sd: np.ndarray, K: int, covariance_type: str) -> np.ndarray:
    """``SCALE_FRACTION`` of each flat entry's data unit, for ``run_em(scale=...)``: 1 for a
    weight, the feature's SD :math:`s_j` for a mean, :math:`s_is_j` for a covariance."""
    sd = np.asarray(sd, dtype=float)
    p = sd.size
    cov = {
        "full": np.broadcast_to(np.outer(sd, sd), (K, p, p)),
        "tied": np.outer(sd, sd),
        "diag": np.broadcast_to(sd**2, (K, p)),
        "spherical": np.full(K, np.mean(sd**2)),
    }[covariance_type]
    return SCALE_FRACTION * np.concatenate([np.ones(K), np.tile(sd, K), np.ravel(cov)])


def param_names(K: int, p: int, covariance_type: str) -> list[str]:
    """Labels of a flat parameter vector: weights ``w1..wK``, means ``mu1[0]...``, then the
    covariance entries ``cov(k, i, j)`` in the layout of ``covariance_type``."""
    names = [f"w{k + 1}" for k in range(K)]
    names += [f"mu{k + 1}[{j}]" for k in range(K) for j in range(p)]
    shape = {"full": (K, p, p), "tied": (p, p), "diag": (K, p), "spherical": (K,)}[
        covariance_type
    ]
    return names + [f"cov{idx}" for idx in np.ndindex(*shape)]


def real_matrix(X: Any, name: str = "X", missing: bool = False) -> np.ndarray:
    """``X`` as a C-contiguous (N, p) float array (1-D: one column), or a TypeError /
    ValueError naming ``name``: None, strings, objects that are not numbers, complex or
    boolean dtypes, more than two dimensions, no rows or no columns. Finiteness is the
    caller's to check (``missing=True`` only changes the messages: NaN marks a missing value).
    """
    nan = " with NaN for missing values" if missing else ""
    if X is None or isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be an (N, p) array of floats{nan}, got {X!r}")
    try:
        arr = np.asarray(X)
    except ValueError as exc:
        raise ValueError(f"{name} is ragged or not numeric") from exc
    if arr.dtype == object:
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold numbers{nan}, got objects") from exc
    if np.iscomplexobj(arr) or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N observations, p features), got shape "
                         f"{arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return np.ascontiguousarray(arr, dtype=float)


def _check_X(X: Any, p: int | None = None) -> np.ndarray:
    """``X`` as a C-contiguous (N, p) float array, or an error naming ``X``."""
    X = real_matrix(X, "X")
    if p is not None and X.shape[1] != p:
        raise ValueError(f"X has {X.shape[1]} features but the parameters have p={p}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    return X


def _has_nan(X: Any) -> bool:
    """Whether ``X`` is a float array with a NaN (a missing value) in it."""
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError):
        return False
    return arr.dtype.kind == "f" and bool(np.isnan(arr).any())


# ---- parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GMMParams:
    """Mixture parameters.

    Attributes
    ----------
    weights : ndarray, shape (K,)
        :math:`w_k > 0`, summing to 1.
    means : ndarray, shape (K, p)
        :math:`\\mu_k`.
    covariances : ndarray
        ``"full"``: (K, p, p); ``"tied"``: (p, p); ``"diag"``: (K, p) variances;
        ``"spherical"``: (K,) variances, as ``GaussianMixture.covariances_``.
    covariance_type : str
        One of :data:`COVARIANCE_TYPES`.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str = "full"

    def __post_init__(self) -> None:
        _check_type(self.covariance_type)
        w = np.asarray(self.weights, dtype=float)
        mu = np.asarray(self.means, dtype=float)
        cov = np.asarray(self.covariances, dtype=float)
        if mu.ndim == 1:
            mu = mu[:, None]
        if w.ndim != 1 or mu.ndim != 2 or mu.shape[0] != w.size:
            raise ValueError(
                f"weights must have shape (K,) and means (K, p); got {w.shape} and {mu.shape}"
            )
        K, p = mu.shape
        want = {"full": (K, p, p), "tied": (p, p), "diag": (K, p), "spherical": (K,)}[
            self.covariance_type
        ]
        if cov.shape != want:
            raise ValueError(
                f"covariances for covariance_type={self.covariance_type!r} with K={K}, p={p} "
                f"must have shape {want}, got {cov.shape}"
            )
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(mu)) and np.all(np.isfinite(cov))):
            raise ValueError("mixture parameters must be finite")
        if np.any(w < 0) or abs(w.sum() - 1) > 1e-8:
            raise ValueError(f"weights must be >= 0 and sum to 1, got {w}")
        cov = _check_covariances(cov, self.covariance_type)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "means", mu)
        object.__setattr__(self, "covariances", cov)

    @classmethod
    def _trusted(
        cls, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, ctype: str
    ) -> GMMParams:
        """Build without the checks, for arrays the M-step has just computed."""
        obj = object.__new__(cls)
        for name, value in (("weights", weights), ("means", means),
                            ("covariances", covariances), ("covariance_type", ctype)):
            object.__setattr__(obj, name, value)
        return obj

    @property
    def n_components(self) -> int:
        return self.weights.size

    @property
    def n_features(self) -> int:
        return self.means.shape[1]

    def full_covariances(self) -> np.ndarray:
        """Every :math:`\\Sigma_k` as a (K, p, p) array, whatever the type."""
        K, p = self.means.shape
        c = self.covariances
        if self.covariance_type == "full":
            return c
        if self.covariance_type == "tied":
            return np.broadcast_to(c, (K, p, p)).copy()
        if self.covariance_type == "diag":
            return np.einsum("kj,jl->kjl", c, np.eye(p))
        return c[:, None, None] * np.eye(p)

    def pack(self) -> np.ndarray:
        """The flat vector ``[weights, means, covariances]`` that :func:`run_em` iterates."""
        return np.concatenate([self.weights, self.means.ravel(), self.covariances.ravel()])

    @classmethod
    def unpack(
        cls, theta: np.ndarray, n_components: int, n_features: int, covariance_type: str
    ) -> GMMParams:
        """Inverse of :meth:`pack`."""
        K, p = n_components, n_features
        theta = np.asarray(theta, dtype=float)
        shape = {"full": (K, p, p), "tied": (p, p), "diag": (K, p), "spherical": (K,)}[
            _check_type(covariance_type)
        ]
        n_cov = int(np.prod(shape))
        if theta.shape != (K + K * p + n_cov,):
            raise ValueError(
                f"theta must have {K + K * p + n_cov} entries for K={K}, p={p}, "
                f"{covariance_type!r}; got shape {theta.shape}"
            )
        return cls(
            theta[:K], theta[K : K + K * p].reshape(K, p), theta[K + K * p :].reshape(shape),
            covariance_type,
        )


#: Largest asymmetry :math:`\\max|\\Sigma - \\Sigma^\\top|` of a full or tied covariance
#: accepted (relative to its largest diagonal entry) and then symmetrised; more is an error.
_SYM_RTOL = 1e-10


def _check_covariances(cov: np.ndarray, ctype: str) -> np.ndarray:
    """``cov`` (already of the right shape and finite) checked to be covariances: symmetric
    (within :data:`_SYM_RTOL`, then symmetrised) and positive definite for ``"full"`` and
    ``"tied"``, positive variances for ``"diag"`` and ``"spherical"``; a ValueError naming
    ``covariances`` and the component otherwise."""
    if ctype in ("diag", "spherical"):
        if np.any(cov <= 0):
            k = np.argwhere(cov <= 0)[0]
            where = f"[{k[0]}]" if cov.ndim == 1 else f"[{k[0]}, {k[1]}]"
            raise ValueError(
                f"covariances{where} = {cov[tuple(k)]}: variances must be > 0 "
                f"(covariance_type={ctype!r})"
            )
        return cov
    stack = cov if ctype == "full" else cov[None]
    asym = np.abs(stack - stack.transpose(0, 2, 1)).max(axis=(1, 2))
    diag = np.abs(np.diagonal(stack, axis1=1, axis2=2)).max(axis=1)
    if np.any(asym > 0):
        bad = np.flatnonzero(asym > _SYM_RTOL * diag)
        if bad.size:
            k = int(bad[0])
            name = f"covariances[{k}]" if ctype == "full" else "covariances (tied)"
            raise ValueError(
                f"{name} is not symmetric (largest |S - S^T| = {asym[k]:.3g}); a covariance "
                "matrix must equal its transpose"
            )
        cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
        stack = cov if ctype == "full" else cov[None]
    try:
        np.linalg.cholesky(stack)
    except np.linalg.LinAlgError:
        for k in range(stack.shape[0]):
            try:
                np.linalg.cholesky(stack[k])
            except np.linalg.LinAlgError:
                name = f"covariances[{k}]" if ctype == "full" else "covariances (tied)"
                low = float(np.linalg.eigvalsh(stack[k])[0])
                raise ValueError(
                    f"{name} is not positive definite (smallest eigenvalue {low:.3g})"
                ) from None
    return cov


def _cholesky(cov: np.ndarray, k: int | str) -> np.ndarray:
    """Lower Cholesky factor :math:`L` of :math:`\\Sigma = LL^\\top`, or a ValueError that
    names the component and, when a variance is 0, the feature."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as exc:
        zero = np.flatnonzero(np.diagonal(cov) <= 0)
        why = (f"its variance along feature {int(zero[0])} is {cov[zero[0], zero[0]]:.3g}: "
               f"is column {int(zero[0])} of X constant?" if zero.size
               else "a component collapsed onto too few points?")
        raise ValueError(
            f"the covariance of component {k} is not positive definite ({why}): use "
            "reg_covar > 0 or a prior (GMMPrior)"
        ) from exc


def _whitener(cov: np.ndarray, tied: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:math:`(L_k^{-\\top}, \\log|\\Sigma_k|)` for a stack of covariances (K, p, p):
    :math:`L_k^{-1}` solved from :math:`L_k X = I`, and :math:`2\\sum_j \\log (L_k)_{jj}`.

    Applying :math:`L^{-1}` to all N rows as one matrix product is several times faster than
    a triangular solve with N right-hand sides (BLAS ``gemm`` is better tuned than ``trsm``
    for :math:`p \\ll N`); it is what scikit-learn's ``precisions_cholesky_`` holds.
    :math:`\\Sigma^{-1}` and :math:`\\det\\Sigma` are never formed. Only NumPy's LAPACK is
    used here, on the whole stack at once: SciPy's wheels carry a second OpenBLAS, and
    alternating its thread pool with NumPy's (the matrix products) costs 0.1 ms to several
    ms per switch.
    """
    try:
        L = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        for k in range(cov.shape[0]):  # name the culprit
            _cholesky(cov[k], "(tied)" if tied else k)
        raise
    Linv = np.linalg.solve(L, np.broadcast_to(np.eye(cov.shape[-1]), cov.shape))
    logdet = 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
    return Linv.transpose(0, 2, 1), logdet


#: Below this many numbers in a (K, N, p) array, the E- and M-step loops over components
#: are replaced by one batched operation (fewer Python-level calls for small data sets).
_BATCH = 1 << 17


def log_joint(X: np.ndarray, params: GMMParams) -> np.ndarray:
    """:math:`\\log w_k + \\log N(x_i; \\mu_k, \\Sigma_k)`, shape (N, K), via Cholesky factors.

    For ``"full"``/``"tied"``: :math:`z_i = L^{-1}(x_i - \\mu)`, computed for all rows as
    :math:`(X - \\mathbf{1}\\mu^\\top) L^{-\\top}` with :math:`L^{-1}` solved from
    :math:`LX = I` (see :func:`_whitener`), and :math:`\\log|\\Sigma| = 2 \\sum_j \\log L_{jj}`. For
    ``"diag"``/``"spherical"`` the factor is the square root of the variances. Centring
    comes first: :math:`XL^{-\\top} - \\mu^\\top L^{-\\top}` would subtract two numbers of the
    size of :math:`|x|/\\sigma` and lose :math:`\\log_{10}(|x|/\\sigma)` digits (all of them
    for data at :math:`10^{10}` with unit spread).

    Raises
    ------
    ValueError
        When a covariance is not positive definite (it names the component).
    """
    X = _check_X(X, params.n_features)
    return _log_joint(X, params).T


def _log_joint(X: np.ndarray, params: GMMParams) -> np.ndarray:
    """The log joint with components as rows, shape (K, N): each row contiguous, so the
    reductions over components below are sums of K rows."""
    N, p = X.shape
    K = params.n_components
    ctype = params.covariance_type
    cov = params.covariances
    with np.errstate(divide="ignore"):
        log_w = np.log(params.weights)
    if ctype in ("full", "tied"):
        Pt, logdet = _whitener(cov if ctype == "full" else cov[None], tied=ctype == "tied")
        if ctype == "tied":
            Pt, logdet = np.broadcast_to(Pt, (K, p, p)), np.broadcast_to(logdet, (K,))
    else:
        var = cov if ctype == "diag" else np.repeat(cov[:, None], p, axis=1)
        if np.any(var <= 0):
            k = int(np.argmin(var.min(axis=1)))
            j = int(np.argmin(var[k]))
            feature = f" along feature {j}" if ctype == "diag" else ""
            raise ValueError(
                f"the variance of component {k}{feature} is {var[k, j]} <= 0 (a component "
                "collapsed onto one point, or a constant feature?): use reg_covar > 0 or a "
                "prior"
            )
        scale = 1.0 / np.sqrt(var)
        logdet = np.log(var).sum(axis=1)
    const = log_w - 0.5 * (p * _LOG_2PI + logdet)
    if K * N * p <= _BATCH:
        Z = X - params.means[:, None, :]  # centre first, then whiten
        if ctype in ("full", "tied"):
            Z = np.matmul(Z, Pt)
        else:
            Z *= scale[:, None, :]
        out = np.einsum("knj,knj->kn", Z, Z)
        out *= -0.5
        out += const[:, None]
        return out
    out = np.empty((K, N))
    for k in range(K):
        Z = X - params.means[k]
        if ctype in ("full", "tied"):
            Z = Z @ Pt[k]
        else:
            Z *= scale[k]
        row = out[k]
        np.einsum("ij,ij->i", Z, Z, out=row)
        row *= -0.5
        row += const[k]
    return out


def _normalise(lj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities and :math:`\\log \\sum_k e^{l_{ki}}` from the log joint ``lj`` (K, N).

    The log-sum-exp with the max shift, :math:`m_i + \\log\\sum_k e^{l_{ki} - m_i}`, and
    :math:`\\gamma_{ki} = e^{l_{ki} - m_i} / \\sum_j e^{l_{ji} - m_i}` share one ``exp`` pass
    (``lj`` is overwritten by the responsibilities). This is
    :func:`scipy.special.logsumexp`'s algorithm; calling it and then ``exp(lj - lse)`` would
    exponentiate every entry twice (and SciPy 1.17's array-API version is about 2x slower
    than this on (K, N) arrays).
    """
    m = lj.max(axis=0)
    if not np.all(np.isfinite(m)):
        raise ValueError("a point has zero density under every component (all weights 0?)")
    lj -= m
    np.exp(lj, out=lj)
    total = lj.sum(axis=0)
    lj /= total
    np.log(total, out=total)
    total += m
    return lj, total


def loglik(X: np.ndarray, params: GMMParams) -> float:
    """Observed-data log-likelihood :math:`\\ell = \\sum_i \\operatorname{logsumexp}_k
    [\\log w_k + \\log N(x_i; \\mu_k, \\Sigma_k)]`."""
    X = _check_X(X, params.n_features)
    return float(logsumexp(_log_joint(X, params), axis=0).sum())


def responsibilities(X: np.ndarray, params: GMMParams) -> np.ndarray:
    """:math:`\\gamma_{ik}`, shape (N, K), computed in log space."""
    X = _check_X(X, params.n_features)
    return _normalise(_log_joint(X, params))[0].T


# ---- additive sufficient statistics and the M-step ----------------------------------------


@dataclass
class SuffStats:
    """Expected sufficient statistics of a block of rows, additive over blocks.

    Stored about centres :math:`c_k` (the means of the parameters they were computed at),
    which are the same for every block at one :math:`\\theta`, so blocks add entry by entry
    and exactly as the sums they are. Statistics about other centres (computed at another
    :math:`\\theta`, as online EM combines them) are first moved onto the left operand's
    centres, exactly: with :math:`\\delta_k = c_k - c'_k`,

    .. math:: s'_k = s_k + n_k\\delta_k,\\qquad
              S'_k = S_k + s_k\\delta_k^\\top + \\delta_k s_k^\\top + n_k\\delta_k\\delta_k^\\top

    (:meth:`recentred`). Multiplying by a number :math:`a` scales every sum (``a * stats``)
    but not the row count ``n``, so online EM's running averages
    :math:`(1-\\gamma)\\hat s + \\gamma\\bar s` are ordinary expressions, and :func:`m_step`
    (without a prior) is invariant to the scaling.

    Attributes
    ----------
    nk : ndarray, shape (K,)
        :math:`n_k = \\sum_i \\gamma_{ik}`.
    s1 : ndarray, shape (K, p)
        :math:`s_k = \\sum_i \\gamma_{ik}(x_i - c_k)`.
    s2 : ndarray, shape (K, p, p), or (K, p) for ``"diag"``/``"spherical"``
        :math:`S_k = \\sum_i \\gamma_{ik}(x_i - c_k)(x_i - c_k)^\\top` (its diagonal for the
        diagonal types).
    loglik : float
        :math:`\\sum_i \\log \\sum_k w_k N(x_i; \\mu_k, \\Sigma_k)` over the block, at the
        parameters the statistics were computed at (NaN once statistics from different
        parameters are combined: it then belongs to no single :math:`\\theta`).
    n : int
        Number of rows the statistics summarise (sums add it; scaling leaves it).
    center : ndarray, shape (K, p)
        The centres :math:`c_k`.
    covariance_type : str
    entropy : float
        :math:`-\\sum_i\\sum_k \\gamma_{ik}\\log\\gamma_{ik}` (for ICL), also additive (NaN
        like ``loglik``).
    log_prior : float
        :math:`\\log p(\\theta)` under the prior of :class:`GMMSteps`, 0 without one. Not a
        sum over rows: every block at one :math:`\\theta` carries the same value and a sum
        keeps it, so ``loglik + log_prior`` is the log posterior MAP-EM ascends.
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float
    n: int
    center: np.ndarray
    covariance_type: str
    entropy: float = 0.0
    log_prior: float = 0.0

    def recentred(self, center: np.ndarray) -> SuffStats:
        """The same statistics about the centres ``center`` (K, p) (formula above)."""
        c = np.asarray(center, dtype=float)
        if c.shape != self.center.shape:
            raise ValueError(f"center must have shape {self.center.shape}, got {c.shape}")
        delta = self.center - c  # x - c = (x - c_old) + delta
        nk = self.nk
        s1 = self.s1 + nk[:, None] * delta
        if self.covariance_type in ("diag", "spherical"):
            s2 = self.s2 + 2.0 * delta * self.s1 + nk[:, None] * delta * delta
        else:
            cross = np.einsum("ki,kj->kij", self.s1, delta)
            s2 = (self.s2 + cross + cross.transpose(0, 2, 1)
                  + nk[:, None, None] * np.einsum("ki,kj->kij", delta, delta))
        return SuffStats(nk.copy(), s1, s2, self.loglik, self.n, c.copy(),
                         self.covariance_type, self.entropy, self.log_prior)

    def __add__(self, other: SuffStats) -> SuffStats:
        if not isinstance(other, SuffStats):
            return NotImplemented
        if other.covariance_type != self.covariance_type or other.s2.shape != self.s2.shape:
            raise ValueError(
                "statistics of different models cannot be added: covariance_type "
                f"{self.covariance_type!r} with shapes {self.s2.shape} vs "
                f"{other.covariance_type!r} with {other.s2.shape}"
            )
        if np.array_equal(other.center, self.center):
            ll, ent = self.loglik + other.loglik, self.entropy + other.entropy
            log_prior = self.log_prior
        else:  # computed at other parameters: move onto our centres; no single theta
            other = other.recentred(self.center)
            ll = ent = log_prior = float("nan")
        return SuffStats(
            self.nk + other.nk,
            self.s1 + other.s1,
            self.s2 + other.s2,
            ll,
            self.n + other.n,
            self.center,
            self.covariance_type,
            ent,
            log_prior,
        )

    def __radd__(self, other: Any) -> SuffStats:  # so that sum(list_of_stats) works
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    def __mul__(self, a: Any) -> SuffStats:
        """``a * stats``: every sum times the number ``a`` (the row count ``n`` stays)."""
        if isinstance(a, bool) or not isinstance(a, numbers.Real):
            return NotImplemented
        a = float(a)
        return SuffStats(a * self.nk, a * self.s1, a * self.s2, a * self.loglik, self.n,
                         self.center, self.covariance_type, a * self.entropy, self.log_prior)

    __rmul__ = __mul__

    def __truediv__(self, a: Any) -> SuffStats:
        if isinstance(a, bool) or not isinstance(a, numbers.Real):
            return NotImplemented
        return self * (1.0 / float(a))


def suff_stats(X: np.ndarray, params: GMMParams) -> SuffStats:
    """E-step on a block of rows: the additive statistics :class:`SuffStats` at ``params``.

    Computes the responsibilities :math:`\\gamma_{ik}` in log space (``logsumexp`` over
    components), then :math:`n_k, s_k, S_k` about :math:`c_k = \\mu_k` and the block's
    log-likelihood. ``suff_stats(X1, p) + suff_stats(X2, p) == suff_stats(vstack(X1, X2), p)``
    up to round-off.
    """
    return _suff_stats(_check_X(X, params.n_features), params)


def _suff_stats(X: np.ndarray, params: GMMParams) -> SuffStats:
    lj = _log_joint(X, params)
    # sum_ik gamma log gamma = sum_ik gamma (l - norm) = sum_ik gamma l - sum_i norm
    finite = bool(np.all(params.weights > 0))
    if not finite:  # a zero weight: l = -inf where gamma = 0
        lj_copy = np.where(np.isfinite(lj), lj, 0.0)
    else:
        lj_copy = lj.copy()
    gamma, norm = _normalise(lj)
    entropy = float(norm.sum()) - float(np.einsum("ki,ki->", gamma, lj_copy))
    K, p = params.means.shape
    diag = params.covariance_type in ("diag", "spherical")
    nk = gamma.sum(axis=1)
    if K * X.shape[0] * p <= _BATCH:
        D = X - params.means[:, None, :]  # (K, N, p)
        s1 = np.einsum("kn,knj->kj", gamma, D)
        W = D * gamma[:, :, None]
        s2 = np.einsum("knj,knj->kj", W, D) if diag else np.matmul(W.transpose(0, 2, 1), D)
        return SuffStats(
            nk, s1, s2, float(norm.sum()), X.shape[0], params.means.copy(),
            params.covariance_type, entropy,
        )
    s1 = np.empty((K, p))
    s2 = np.empty((K, p) if diag else (K, p, p))
    for k in range(K):
        D = X - params.means[k]
        g = gamma[k]
        s1[k] = g @ D
        if diag:
            s2[k] = g @ (D * D)
        else:
            s2[k] = (D.T * g) @ D
    return SuffStats(
        nk, s1, s2, float(norm.sum()), X.shape[0], params.means.copy(),
        params.covariance_type, entropy,
    )


@dataclass(frozen=True)
class GMMPrior:
    """Conjugate prior for MAP-EM, every covariance type (Fraley & Raftery 2007).

    :math:`(w_1..w_K) \\sim \\mathrm{Dirichlet}(\\alpha, \\dots, \\alpha)`, and for the
    covariances, by type:

    - ``"full"``: :math:`\\Sigma_k \\sim \\mathcal{W}^{-1}(\\Psi, \\nu)` (density
      :math:`\\propto |\\Sigma|^{-(\\nu+p+1)/2} e^{-\\operatorname{tr}(\\Psi\\Sigma^{-1})/2}`);
    - ``"tied"``: the shared :math:`\\Sigma \\sim \\mathcal{W}^{-1}(\\Psi, \\nu)`;
    - ``"diag"``: :math:`\\sigma^2_{kj} \\sim \\mathrm{InvGamma}(\\nu/2, \\Psi_{jj}/2)` (density
      :math:`\\propto (\\sigma^2)^{-\\nu/2-1} e^{-\\Psi_{jj}/2\\sigma^2}`);
    - ``"spherical"``: :math:`\\sigma^2_k \\sim \\mathrm{InvGamma}(\\nu/2, s^2/2)`,
      :math:`s^2 = \\operatorname{tr}(\\Psi)/p`;

    and, when :math:`\\kappa > 0`, :math:`\\mu_k \\mid \\Sigma_k \\sim N(m, \\Sigma_k/\\kappa)`
    (:math:`\\kappa = 0`: a flat prior on the means). With :math:`W_k` the weighted scatter
    about :math:`\\bar x_k` and :math:`B_k = \\frac{\\kappa n_k}{\\kappa + n_k}
    (\\bar x_k - m)(\\bar x_k - m)^\\top` (0 when :math:`\\kappa = 0`), the MAP M-step
    (derived in notebook 07) is :math:`w_k = (n_k + \\alpha - 1)/(N + K(\\alpha - 1))`,
    :math:`\\mu_k = (n_k\\bar x_k + \\kappa m)/(n_k + \\kappa)` and, with
    :math:`[\\kappa]` = 1 if :math:`\\kappa > 0` else 0,

    .. math:: \\text{full: }\\Sigma_k = \\frac{\\Psi + W_k + B_k}{n_k + \\nu + p + 1 + [\\kappa]},
              \\qquad
              \\text{tied: }\\Sigma = \\frac{\\Psi + \\sum_k (W_k + B_k)}
              {N + \\nu + p + 1 + K[\\kappa]},

    .. math:: \\text{diag: }\\sigma^2_{kj} = \\frac{\\Psi_{jj} + (W_k + B_k)_{jj}}
              {n_k + \\nu + 2 + [\\kappa]},\\qquad
              \\text{spherical: }\\sigma^2_k = \\frac{s^2 + \\operatorname{tr}(W_k + B_k)}
              {p\\,n_k + \\nu + 2 + p[\\kappa]}

    (Fraley & Raftery 2007, Table 2, for their EEE, VVV, VVI, VII). The posterior is
    bounded, so no component can collapse. :meth:`default` gives their data-scaled prior.

    Attributes
    ----------
    scale : ndarray, shape (p, p)
        :math:`\\Psi`, symmetric positive definite.
    dof : float
        :math:`\\nu > p - 1`.
    alpha : float
        Dirichlet concentration, :math:`\\ge 1` (1: flat on the weights).
    kappa : float
        :math:`\\ge 0`.
    mean : ndarray, shape (p,), optional
        :math:`m` (needed when :math:`\\kappa > 0`).
    """

    scale: np.ndarray
    dof: float
    alpha: float = 1.0
    kappa: float = 0.0
    mean: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        scale = np.atleast_2d(np.asarray(self.scale, dtype=float))
        p = scale.shape[0]
        if scale.shape != (p, p) or not np.allclose(scale, scale.T):
            raise ValueError(f"scale must be a symmetric (p, p) matrix, got {scale.shape}")
        _cholesky(scale, "(prior scale)")
        if not self.dof > p - 1:
            raise ValueError(f"dof must be > p - 1 = {p - 1}, got {self.dof}")
        if not self.alpha >= 1:
            raise ValueError(f"alpha must be >= 1 (a mode exists), got {self.alpha}")
        if not self.kappa >= 0:
            raise ValueError(f"kappa must be >= 0, got {self.kappa}")
        if self.kappa > 0:
            if self.mean is None:
                raise ValueError("mean is needed when kappa > 0")
            m = np.asarray(self.mean, dtype=float).reshape(-1)
            if m.shape != (p,):
                raise ValueError(f"mean must have shape ({p},), got {m.shape}")
            object.__setattr__(self, "mean", m)
        object.__setattr__(self, "scale", scale)
        # constants of log_prior, computed once (MAP-EM evaluates it at every pass)
        from scipy.special import multigammaln

        C = np.linalg.cholesky(scale)
        object.__setattr__(self, "_chol", C)
        object.__setattr__(self, "_iw_const", float(
            self.dof * np.log(np.diag(C)).sum() - 0.5 * self.dof * p * np.log(2.0)
            - multigammaln(0.5 * self.dof, p)))


    @classmethod
    def default(cls, X: np.ndarray, n_components: int, covariance_type: str = "full", *,
                shrinkage: float = 0.01, alpha: float = 1.0) -> GMMPrior:
        """Fraley & Raftery's (2007) data-scaled default prior (mclust's ``priorControl()``)
        for K components: :math:`m = \\bar x`, :math:`\\kappa` = ``shrinkage`` (0.01),
        :math:`\\nu = p + 2` and :math:`\\Psi = \\widehat{\\mathrm{Var}}(X)/K^{2/p}` (the
        sample covariance, divisor N - 1) for ``"full"`` and ``"tied"``; for ``"diag"``
        its diagonal (mclust uses the mean variance for every feature there; per
        feature keeps features of different units apart), for ``"spherical"``
        :math:`\\operatorname{tr}(\\widehat{\\mathrm{Var}})/p\\,I`, both over
        :math:`K^{2/p}`. No prior on the weights unless ``alpha`` > 1."""
        X = _check_X(X)
        K = _check_n_components(n_components)
        ctype = _check_type(covariance_type)
        N, p = X.shape
        if N < 2:
            raise ValueError(f"X needs at least 2 rows for a data-scaled prior, got {N}")
        var = np.atleast_2d(np.cov(X.T))
        if ctype == "diag":
            var = np.diag(np.diag(var))
        elif ctype == "spherical":
            var = np.trace(var) / p * np.eye(p)
        return cls(scale=var / K ** (2.0 / p), dof=p + 2.0, alpha=alpha,
                   kappa=float(shrinkage), mean=X.mean(axis=0))

def log_prior(params: GMMParams, prior: GMMPrior) -> float:
    """:math:`\\log p(\\theta)` of :class:`GMMPrior` (normalised), for the MAP ascent check:
    the Dirichlet on the weights, the inverse-Wishart (``"full"``, ``"tied"``) or
    inverse-gamma (``"diag"``, ``"spherical"``) on the covariances, and with
    :math:`\\kappa > 0` the normal on each mean. In closed form with NumPy (Cholesky
    factors, no inverse), since MAP-EM evaluates it at every pass:
    :math:`\\log\\mathcal{W}^{-1}(\\Sigma; \\Psi, \\nu) = \\tfrac{\\nu}{2}\\log|\\Psi|
    - \\tfrac{\\nu p}{2}\\log 2 - \\log\\Gamma_p(\\tfrac{\\nu}{2})
    - \\tfrac{\\nu + p + 1}{2}\\log|\\Sigma| - \\tfrac12\\operatorname{tr}(\\Psi\\Sigma^{-1})`."""
    from scipy.special import gammaln

    ctype = params.covariance_type
    K, p = params.means.shape
    if prior.scale.shape != (p, p):
        raise ValueError(f"prior.scale must be ({p}, {p}), got {prior.scale.shape}")
    a, nu, kappa = prior.alpha, prior.dof, prior.kappa
    w = params.weights
    with np.errstate(divide="ignore"):
        out = float(gammaln(K * a) - K * gammaln(a) + np.sum((a - 1) * np.log(w))) \
            if a != 1 else float(gammaln(K))
    cov = params.covariances
    if ctype in ("full", "tied"):
        stack = cov if ctype == "full" else cov[None]
        L = np.linalg.cholesky(stack)
        logdet = 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
        Linv = np.linalg.solve(L, np.broadcast_to(np.eye(p), stack.shape))
        # tr(Psi Sigma^-1) = ||L^-1 C||_F^2 with Psi = C C^T
        LC = Linv @ prior._chol
        tr = np.einsum("kij,kij->k", LC, LC)
        iw = prior._iw_const - 0.5 * (nu + p + 1) * logdet - 0.5 * tr
        out += float(iw.sum())
        if kappa > 0:
            lk = logdet if ctype == "full" else np.broadcast_to(logdet, (K,))
            Li = Linv if ctype == "full" else np.broadcast_to(Linv, (K, p, p))
            z = np.einsum("kij,kj->ki", Li, params.means - prior.mean) * np.sqrt(kappa)
            out += float(np.sum(-0.5 * (p * _LOG_2PI + lk - p * np.log(kappa))
                                - 0.5 * np.einsum("ki,ki->k", z, z)))
        return out
    var = cov if ctype == "diag" else np.repeat(cov[:, None], p, axis=1)  # (K, p)
    b = 0.5 * (np.diag(prior.scale) if ctype == "diag"
               else np.full(p, np.trace(prior.scale) / p))
    shape = 0.5 * nu
    if ctype == "diag":
        ig = shape * np.log(b) - gammaln(shape) - (shape + 1) * np.log(var) - b / var
    else:  # one sigma_k^2 per component
        v = cov
        ig = shape * np.log(b[0]) - gammaln(shape) - (shape + 1) * np.log(v) - b[0] / v
    out += float(np.sum(ig))
    if kappa > 0:
        d2 = (params.means - prior.mean) ** 2
        out += float(np.sum(-0.5 * (_LOG_2PI + np.log(var / kappa)) - 0.5 * kappa * d2 / var))
    return out

def m_step(
    stats: SuffStats, *, reg_covar: float = 1e-6, prior: GMMPrior | None = None
) -> GMMParams:
    """M-step from (summed) :class:`SuffStats`: the argmax of :math:`Q` (plus the log prior).

    Without a prior: :math:`w_k = n_k/N`, :math:`\\bar x_k = c_k + s_k/n_k` and the
    weighted scatter :math:`n_k \\hat S_k = S_k - s_k s_k^\\top/n_k`;
    ``"full"``: :math:`\\Sigma_k = \\hat S_k + \\varepsilon I`; ``"tied"``:
    :math:`\\Sigma = \\sum_k n_k\\hat S_k/N + \\varepsilon I`; ``"diag"``: the diagonal of
    :math:`\\hat S_k` plus :math:`\\varepsilon`; ``"spherical"``: its mean plus
    :math:`\\varepsilon`. (:math:`n_k` gets :math:`10\\epsilon_{\\rm mach}` times the weight
    of one row, :math:`\\sum_k n_k/N`, added: scikit-learn's :math:`10\\epsilon_{\\rm mach}` for
    counted rows, and scaled with the statistics, so that the M-step is invariant to scaling
    them, as online EM needs.) With ``prior`` (any type) the MAP update of :class:`GMMPrior`.

    Raises
    ------
    ValueError
        ``reg_covar`` negative or not finite; a prior with another covariance type.
    """
    if isinstance(reg_covar, bool) or not np.isscalar(reg_covar):
        raise TypeError(f"reg_covar must be a float, got {reg_covar!r}")
    if not (np.isfinite(reg_covar) and reg_covar >= 0):
        raise ValueError(f"reg_covar must be a finite float >= 0, got {reg_covar!r}")
    if not isinstance(stats, SuffStats):
        raise TypeError(f"stats must be SuffStats (from suff_stats), got {type(stats).__name__}")
    ctype = stats.covariance_type
    K, p = stats.s1.shape
    row = stats.nk.sum() / stats.n if stats.n > 0 else 1.0  # the weight of one row
    nk = stats.nk + _NK_EPS * row
    d = stats.s1 / nk[:, None]  # xbar_k - c_k
    means = stats.center + d
    if ctype in ("diag", "spherical"):
        scatter = stats.s2 - nk[:, None] * d * d  # n_k * diag(S_k)
    else:
        scatter = stats.s2 - nk[:, None, None] * np.einsum("ki,kj->kij", d, d)
    if prior is not None:
        if prior.scale.shape != (p, p):
            raise ValueError(f"prior.scale must be ({p}, {p}), got {prior.scale.shape}")
        return _map_m_step(stats, nk, means, scatter, prior, reg_covar)
    weights = nk / nk.sum()
    if ctype == "full":
        cov = scatter / nk[:, None, None]
        cov = 0.5 * (cov + cov.transpose(0, 2, 1)) + reg_covar * np.eye(p)
    elif ctype == "tied":
        cov = scatter.sum(axis=0) / nk.sum()
        cov = 0.5 * (cov + cov.T) + reg_covar * np.eye(p)
    elif ctype == "diag":
        cov = scatter / nk[:, None] + reg_covar
    else:
        cov = scatter.mean(axis=1) / nk + reg_covar
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(cov))):
        raise ValueError("the M-step produced non-finite parameters (an emptied component?)")
    return GMMParams._trusted(weights, means, cov, ctype)



def _map_m_step(stats: SuffStats, nk: np.ndarray, xbar: np.ndarray, scatter: np.ndarray,
                prior: GMMPrior, reg_covar: float) -> GMMParams:
    """The MAP M-step of :class:`GMMPrior` for every covariance type, from the weighted
    means :math:`\\bar x_k` and scatters :math:`W_k` (their diagonals for the diagonal
    types)."""
    ctype = stats.covariance_type
    K, p = xbar.shape
    a, nu, kappa = prior.alpha, prior.dof, prior.kappa
    weights = (stats.nk + a - 1) / (stats.nk.sum() + K * (a - 1))
    means = xbar
    W = scatter
    extra = 0.0  # [kappa > 0]
    if kappa > 0:
        dev = xbar - prior.mean
        shrink = kappa * nk / (kappa + nk)
        if ctype in ("diag", "spherical"):
            W = W + shrink[:, None] * dev * dev
        else:
            W = W + shrink[:, None, None] * np.einsum("ki,kj->kij", dev, dev)
        means = (nk[:, None] * xbar + kappa * prior.mean) / (nk + kappa)[:, None]
        extra = 1.0
    Psi = prior.scale
    if ctype == "full":
        cov = (Psi + W) / (nk + nu + p + 1 + extra)[:, None, None] + reg_covar * np.eye(p)
        cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    elif ctype == "tied":
        cov = (Psi + W.sum(axis=0)) / (nk.sum() + nu + p + 1 + K * extra)
        cov = 0.5 * (cov + cov.T) + reg_covar * np.eye(p)
    elif ctype == "diag":
        cov = (np.diag(Psi) + W) / (nk + nu + 2 + extra)[:, None] + reg_covar
    else:
        s2 = np.trace(Psi) / p
        cov = (s2 + W.sum(axis=1)) / (p * nk + nu + 2 + p * extra) + reg_covar
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(cov))):
        raise ValueError("the MAP M-step produced non-finite parameters")
    # Psi + W_k with W_k positive semi-definite: positive definite by construction
    return GMMParams._trusted(weights / weights.sum(), means, cov, ctype)

def e_step(X: np.ndarray, params: GMMParams) -> SuffStats:
    """Alias of :func:`suff_stats` (the E-step's output is the statistics)."""
    return suff_stats(X, params)


# ---- model selection, ordering ------------------------------------------------------------


def n_parameters(n_components: int, n_features: int, covariance_type: str) -> int:
    """Free parameters: :math:`K - 1 + Kp` plus :math:`Kp(p+1)/2` (full),
    :math:`p(p+1)/2` (tied), :math:`Kp` (diag) or :math:`K` (spherical)."""
    K, p = n_components, n_features
    cov = {
        "full": K * p * (p + 1) // 2,
        "tied": p * (p + 1) // 2,
        "diag": K * p,
        "spherical": K,
    }[_check_type(covariance_type)]
    return K - 1 + K * p + cov


def bic(X: np.ndarray, params: GMMParams) -> float:
    """:math:`\\mathrm{BIC} = -2\\ell(\\hat\\theta) + d \\log N` (smaller is better;
    scikit-learn's ``GaussianMixture.bic``)."""
    X = _check_X(X, params.n_features)
    d = n_parameters(params.n_components, params.n_features, params.covariance_type)
    return -2.0 * loglik(X, params) + d * np.log(X.shape[0])


def icl(X: np.ndarray, params: GMMParams, kind: str = "soft") -> float:
    """Integrated completed likelihood criterion (smaller is better), two versions:

    - ``kind="soft"``: BIC plus twice the entropy of the responsibilities,
      :math:`\\mathrm{BIC} - 2\\sum_i\\sum_k \\gamma_{ik}\\log\\gamma_{ik}` (McLachlan &
      Peel 2000's ICL-BIC);
    - ``kind="map"``: Biernacki, Celeux & Govaert (2000)'s, with the MAP labels
      :math:`\\hat z_i = \\arg\\max_k \\gamma_{ik}`:
      :math:`\\mathrm{BIC} - 2\\sum_i \\log\\gamma_{i\\hat z_i}` (mclust's ``icl``, sign
      flipped). Since :math:`-\\log\\max_k\\gamma_{ik}` is at most the entropy of
      :math:`\\gamma_{i\\cdot}`, it penalises at most as much as the soft version.
    """
    if kind not in ("soft", "map"):
        raise ValueError(f"kind must be 'soft' or 'map', got {kind!r}")
    gamma = responsibilities(X, params)
    if kind == "soft":
        return bic(X, params) - 2.0 * float(np.sum(xlogy(gamma, gamma)))
    with np.errstate(divide="ignore"):
        top = np.log(gamma.max(axis=1))
    return bic(X, params) - 2.0 * float(top.sum())

def order_components(params: GMMParams, key: str = "mean") -> GMMParams:
    """The same mixture with components sorted (label switching): by the first coordinate
    of the means (``key="mean"``) or by decreasing weight (``key="weight"``)."""
    if key == "mean":
        idx = np.lexsort(params.means.T[::-1])
    elif key == "weight":
        idx = np.argsort(-params.weights, kind="stable")
    else:
        raise ValueError(f"key must be 'mean' or 'weight', got {key!r}")
    cov = params.covariances if params.covariance_type == "tied" else params.covariances[idx]
    return GMMParams(params.weights[idx], params.means[idx], cov, params.covariance_type)


# ---- k-means and initialisation ----------------------------------------------------------


def _sq_dist(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, shape (N, K), without the |x|^2 - 2x.c + |c|^2 trick."""
    return np.stack([np.einsum("ij,ij->i", X - c, X - c) for c in centers], axis=1)


def kmeans_plusplus(X: np.ndarray, n_components: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): the first centre uniformly, each next
    one with probability proportional to the squared distance to the nearest centre."""
    N = X.shape[0]
    centers = [X[rng.integers(N)]]
    d2 = _sq_dist(X, np.array(centers))[:, 0]
    for _ in range(1, n_components):
        total = d2.sum()
        i = rng.choice(N, p=d2 / total) if total > 0 else rng.integers(N)
        centers.append(X[i])
        d2 = np.minimum(d2, np.einsum("ij,ij->i", X - X[i], X - X[i]))
    return np.array(centers)


@dataclass
class KMeansResult:
    """Lloyd's algorithm: ``centers`` (K, p), ``labels`` (N,), ``inertia`` per iteration."""

    centers: np.ndarray
    labels: np.ndarray
    inertia: np.ndarray
    n_iter: int


def kmeans(X: np.ndarray, centers: np.ndarray, max_iter: int = 100) -> KMeansResult:
    """Lloyd's k-means from ``centers``: hard EM. Assign each point to its nearest centre
    (the :math:`\\sigma \\to 0` limit of the responsibilities of a mixture with shared
    covariance :math:`\\sigma^2 I` and equal weights), then move each centre to the mean of
    its points. Stops when the labels no longer change. An emptied cluster keeps its centre.
    """
    X = _check_X(X)
    centers = np.array(centers, dtype=float, copy=True)
    if centers.ndim != 2 or centers.shape[1] != X.shape[1]:
        raise ValueError(f"centers must have shape (K, {X.shape[1]}), got {centers.shape}")
    labels = None
    inertia = []
    for it in range(1, max_iter + 1):
        d2 = _sq_dist(X, centers)
        new = d2.argmin(axis=1)
        inertia.append(float(d2[np.arange(X.shape[0]), new].sum()))
        if labels is not None and np.array_equal(new, labels):
            return KMeansResult(centers, labels, np.array(inertia), it - 1)
        labels = new
        for k in range(centers.shape[0]):
            members = labels == k
            if members.any():
                centers[k] = X[members].mean(axis=0)
    return KMeansResult(centers, labels, np.array(inertia), max_iter)


def _from_hard_labels(
    X: np.ndarray, labels: np.ndarray, K: int, covariance_type: str, reg_covar: float,
    centers: np.ndarray,
) -> GMMParams:
    """M-step from 0/1 responsibilities (how scikit-learn starts from k-means labels). A
    centre that no point is nearest to keeps its place (not the origin), with a warning:
    its component starts with weight ~1e-17."""
    gamma = np.zeros((X.shape[0], K))
    gamma[np.arange(X.shape[0]), labels] = 1.0
    nk = gamma.sum(axis=0)
    means = (gamma.T @ X) / (nk + _NK_EPS)[:, None]
    empty = np.flatnonzero(nk == 0)
    if empty.size:
        means[empty] = centers[empty]
        warnings.warn(
            f"component(s) {empty.tolist()} of the start hold no points (a centre nearest to "
            "none, or fewer distinct rows than n_components): they start with weight ~1e-17 "
            "and a covariance of reg_covar * I",
            UserWarning,
            stacklevel=3,
        )
    uniform = GMMParams(np.full(K, 1.0 / K), means, _unit_cov(K, X.shape[1], covariance_type),
                        covariance_type)
    return m_step(_stats_from_gamma(X, gamma, uniform), reg_covar=reg_covar)


def _unit_cov(K: int, p: int, ctype: str) -> np.ndarray:
    return {"full": np.broadcast_to(np.eye(p), (K, p, p)).copy(), "tied": np.eye(p),
            "diag": np.ones((K, p)), "spherical": np.ones(K)}[ctype]


def _stats_from_gamma(X: np.ndarray, gamma: np.ndarray, params: GMMParams) -> SuffStats:
    K, p = params.means.shape
    diag = params.covariance_type in ("diag", "spherical")
    s1 = np.empty((K, p))
    s2 = np.empty((K, p) if diag else (K, p, p))
    for k in range(K):
        D = X - params.means[k]
        s1[k] = gamma[:, k] @ D
        s2[k] = gamma[:, k] @ (D * D) if diag else (D.T * gamma[:, k]) @ D
    return SuffStats(gamma.sum(axis=0), s1, s2, float("nan"), X.shape[0], params.means.copy(),
                     params.covariance_type)


def init_params(
    X: np.ndarray,
    n_components: int,
    *,
    method: str = "kmeans++",
    covariance_type: str = "full",
    seed: int | np.random.Generator | None = 0,
    reg_covar: float = 1e-6,
    n_short: int = 5,
    short_iter: int = 10,
) -> GMMParams:
    """A starting point for EM.

    - ``"kmeans++"``: k-means++ seeds, points labelled by their nearest seed, M-step;
    - ``"random"``: K distinct data points drawn at random as centres, then the same;
    - ``"kmeans"``: k-means++ seeds refined by Lloyd's k-means, then the same (scikit-learn's
      default);
    - ``"short-em"``: ``n_short`` random starts, each run ``short_iter`` EM iterations; the
      start with the highest log-likelihood is returned (Biernacki et al. 2003).
    """
    X = _check_X(X)
    _check_type(covariance_type)
    K = _check_n_components(n_components)
    if K > X.shape[0]:
        raise ValueError(f"n_components must be in 1..N={X.shape[0]}, got {n_components}")
    reg_covar = _check_reg_covar(reg_covar)
    if method not in ("kmeans++", "kmeans", "random", "short-em"):
        raise ValueError(
            f"method must be 'kmeans++', 'kmeans', 'random' or 'short-em', got {method!r}"
        )
    _warn_few_distinct(X, K)
    return _init_params(X, K, method, covariance_type, np.random.default_rng(seed), reg_covar,
                        n_short, short_iter)


def _init_params(X: np.ndarray, K: int, method: str, covariance_type: str,
                 rng: np.random.Generator, reg_covar: float, n_short: int,
                 short_iter: int) -> GMMParams:
    """:func:`init_params` on checked arguments (no warning about distinct rows)."""
    if method in ("kmeans++", "kmeans"):
        centers = kmeans_plusplus(X, K, rng)
        if method == "kmeans":
            centers = kmeans(X, centers).centers
    elif method == "random":
        centers = X[rng.choice(X.shape[0], size=K, replace=False)]
    else:  # short-em
        best, best_ll = None, -np.inf
        with warnings.catch_warnings():  # the distinct rows were counted once above
            warnings.simplefilter("ignore", UserWarning)
            model = GMM(X, K, covariance_type, reg_covar=max(reg_covar, 1e-6))
        for _ in range(n_short):
            start = _init_params(X, K, "random", covariance_type, rng, reg_covar, 0, 0)
            params = start
            try:
                for _ in range(short_iter):
                    params = model.step(params)
                ll = loglik(X, params)
            except ValueError:  # a start that collapsed: skip it
                continue
            if ll > best_ll:
                best, best_ll = params, ll
        if best is None:
            raise ValueError("every short-run EM start failed (degenerate data?)")
        return best
    labels = _sq_dist(X, centers).argmin(axis=1)
    return _from_hard_labels(X, labels, K, covariance_type, reg_covar, centers)


# ---- the EM steps on the flat vector: the streaming protocol, and GMM on data -------------


def _check_n_components(n_components: Any) -> int:
    """``n_components`` as an int >= 1, or an error naming it (no bools, no floats)."""
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
        raise TypeError(f"n_components must be an integer, got {n_components!r}")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components!r}")
    return int(n_components)


def _check_reg_covar(reg_covar: Any) -> float:
    if isinstance(reg_covar, bool) or not isinstance(reg_covar, numbers.Real):
        raise TypeError(f"reg_covar must be a float >= 0, got {reg_covar!r}")
    if not (np.isfinite(reg_covar) and reg_covar >= 0):
        raise ValueError(f"reg_covar must be a finite float >= 0, got {reg_covar!r}")
    return float(reg_covar)


def _check_prior(prior: Any, p: int, covariance_type: str) -> GMMPrior | None:
    if prior is None:
        return None
    if not isinstance(prior, GMMPrior):
        raise TypeError(f"prior must be a GMMPrior or None, got {type(prior).__name__}")
    if prior.scale.shape != (p, p):
        raise ValueError(
            f"prior.scale has shape {prior.scale.shape} but the data have p={p} features: "
            f"the prior must be ({p}, {p})"
        )
    return prior


def _n_distinct_at_least(X: np.ndarray, K: int) -> int:
    """The number of distinct rows of ``X`` if it is below ``K``, else some number >= K
    (looks at the first 8K rows first, so the usual case costs O(K log K))."""
    rows = np.ascontiguousarray(X).view(np.dtype((np.void, X.dtype.itemsize * X.shape[1])))
    if np.unique(rows[: 8 * K]).size >= K:
        return K
    return int(np.unique(rows).size)


def _warn_few_distinct(X: np.ndarray, K: int, stacklevel: int = 3) -> None:
    n_distinct = _n_distinct_at_least(X, K)
    if n_distinct < K:
        warnings.warn(
            f"n_components={K} exceeds the number of distinct rows of X ({n_distinct}): "
            "at most that many components can hold points; the others will be empty "
            "(weight ~1e-17) or duplicates (scikit-learn warns alike)",
            UserWarning,
            stacklevel=stacklevel,
        )


class GMMSteps:
    """The EM steps of a K-component mixture in p dimensions, without the data: the
    protocol of :mod:`em_helpers.streaming`.

    ``suff_stats(theta, chunk) -> SuffStats`` (additive over chunks of rows) and
    ``m_step(stats) -> theta`` on the flat vector :math:`\\theta` of :meth:`GMMParams.pack`,
    so that ``chunked_em(steps.suff_stats, steps.m_step, chunks, start.pack())``,
    ``dask_em(...)`` and ``online_em(...)`` fit the mixture as they are. The statistics
    carry each chunk's log-likelihood (and the log prior under MAP-EM), which those
    functions use for the ascent check at no extra pass.

    Parameters
    ----------
    n_components : int
        :math:`K \\ge 1`.
    n_features : int
        :math:`p \\ge 1`.
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        :math:`\\varepsilon \\ge 0` added to the covariance diagonals in the M-step.
    prior : GMMPrior, optional
        MAP-EM (any covariance type).
    """

    def __init__(
        self,
        n_components: int,
        n_features: int,
        covariance_type: str = "full",
        *,
        reg_covar: float = 1e-6,
        prior: GMMPrior | None = None,
    ):
        self.K = _check_n_components(n_components)
        if isinstance(n_features, bool) or not isinstance(n_features, numbers.Integral) \
                or n_features < 1:
            raise ValueError(f"n_features must be an integer >= 1, got {n_features!r}")
        self.p = int(n_features)
        self.covariance_type = _check_type(covariance_type)
        self.reg_covar = _check_reg_covar(reg_covar)
        self.prior = _check_prior(prior, self.p, self.covariance_type)

    def params(self, theta: np.ndarray | GMMParams) -> GMMParams:
        """:class:`GMMParams` from the flat vector (checked: weights, symmetric positive
        definite covariances); a :class:`GMMParams` is returned as it is."""
        if isinstance(theta, GMMParams):
            if theta.covariance_type != self.covariance_type or \
                    theta.means.shape != (self.K, self.p):
                raise ValueError(
                    f"theta must be a {self.covariance_type!r} mixture with K={self.K}, "
                    f"p={self.p}, got {theta.covariance_type!r} with means {theta.means.shape}"
                )
            return theta
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        last = getattr(self, "_last_params", None)
        if last is not None and last[0] == key:  # e_step, loglik and valid at one theta
            return last[1]
        params = GMMParams.unpack(theta, self.K, self.p, self.covariance_type)
        self._last_params = (key, params)
        return params

    def suff_stats(self, theta: np.ndarray | GMMParams, chunk: np.ndarray) -> SuffStats:
        """E-step on a chunk of rows: :func:`suff_stats` at ``theta`` (with the log prior
        :math:`\\log p(\\theta)` in ``log_prior`` under MAP-EM)."""
        return self._suff_stats(self.params(theta), _check_X(chunk, self.p))

    def _suff_stats(self, params: GMMParams, X: np.ndarray) -> SuffStats:
        stats = _suff_stats(X, params)
        if self.prior is not None:
            stats.log_prior = log_prior(params, self.prior)
        return stats

    def m_step(self, stats: SuffStats) -> np.ndarray:
        """:func:`m_step` with this model's ``reg_covar`` and prior, packed flat."""
        if not isinstance(stats, SuffStats):
            raise TypeError(
                f"stats must be SuffStats (from suff_stats), got {type(stats).__name__}"
            )
        if stats.covariance_type != self.covariance_type or stats.s1.shape != (self.K, self.p):
            raise ValueError(
                f"stats are for a {stats.covariance_type!r} mixture with (K, p) = "
                f"{stats.s1.shape}, this model is {self.covariance_type!r} with "
                f"({self.K}, {self.p})"
            )
        return m_step(stats, reg_covar=self.reg_covar, prior=self.prior).pack()

    def valid(self, theta: np.ndarray) -> bool:
        """Whether ``theta`` is a mixture: weights in (0, 1] summing to 1, covariances
        symmetric positive definite (for ``accelerate="squarem", valid=steps.valid``)."""
        try:
            params = self.params(theta)
        except ValueError:
            return False
        return bool(np.all(params.weights > 0))

    def names(self) -> list[str]:
        """Labels of the entries of the flat vector (``w1``, ``mu1[0]``, ``cov(0, 0, 0)``...)."""
        return param_names(self.K, self.p, self.covariance_type)

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Absolute scales of the entries of the flat vector, for ``run_em(scale=...)``:
        :data:`SCALE_FRACTION` times each entry's data unit.

        Units: weights 1; means the standard deviation :math:`s_j` of feature :math:`j`;
        covariance entries :math:`(i, j)`: :math:`s_i s_j` (``"diag"``: :math:`s_j^2`,
        ``"spherical"``: the mean of :math:`s_j^2`). An entry below its scale is then
        judged in absolute terms, ``tol`` times the scale, instead of relative to its own
        size: a mean or covariance that is 0 (by symmetry, say) carries round-off of the
        data's size, ~1e-17 here, and no relative tolerance is ever met on it. Entries of
        ordinary size (above a thousandth of their unit) are judged exactly as without a
        scale.
        """
        X = _check_X(X, self.p)
        return entry_scales(X.std(axis=0), self.K, self.covariance_type)


class GMM(GMMSteps):
    """EM for a K-component mixture on data ``X``, shaped for :func:`em_helpers.run_em`.

    ``e_step(theta) -> SuffStats``, ``m_step(stats) -> theta`` and ``loglik(theta)`` work on
    the flat vector of :meth:`GMMParams.pack`; :meth:`fit` runs :func:`run_em`. The
    model keeps a read-only copy of ``X``: changing the caller's array afterwards changes
    nothing here.

    Parameters
    ----------
    X : array, shape (N, p)
    n_components : int
        :math:`1 \\le K \\le N` (a warning when ``X`` has fewer than K distinct rows).
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        :math:`\\varepsilon \\ge 0` added to the covariance diagonals in the M-step.
    prior : GMMPrior, optional
        MAP-EM; ``loglik`` then returns the log posterior (up to a constant).

    Raises
    ------
    ValueError
        K outside 1..N; with ``reg_covar=0`` and no prior, a constant column of ``X``
        (every covariance would be singular along it); a prior of another dimension.
    TypeError
        A non-integer ``n_components`` (``2.7``, ``True``), ``reg_covar`` not a number.

    Missing values: for an ``X`` with NaN, ``GMM(X, ...)`` returns a
    :class:`~em_helpers.models.mvn_missing.MissingGMM` (same steps, ``fit`` and ``step``),
    whose E-step marginalises each row's missing coordinates.
    """

    def __new__(cls, X: Any = None, *args: Any, **kwargs: Any) -> Any:
        if cls is GMM and _has_nan(X):
            from .mvn_missing import MissingGMM  # imports this module: imported on use

            return MissingGMM(X, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        X: np.ndarray,
        n_components: int,
        covariance_type: str = "full",
        *,
        reg_covar: float = 1e-6,
        prior: GMMPrior | None = None,
    ):
        X = np.array(_check_X(X), dtype=float, order="C", copy=True)
        X.flags.writeable = False
        super().__init__(n_components, X.shape[1], covariance_type, reg_covar=reg_covar,
                         prior=prior)
        if self.K > X.shape[0]:
            raise ValueError(
                f"n_components={self.K} exceeds the number of rows N={X.shape[0]}"
            )
        if self.reg_covar == 0 and self.prior is None:
            const = np.flatnonzero(np.ptp(X, axis=0) == 0)
            if const.size:
                raise ValueError(
                    f"column {int(const[0])} of X is constant ({X[0, const[0]]!r}): with "
                    "reg_covar=0 every component's variance along it would be 0; drop the "
                    "column, or use reg_covar > 0 or a prior"
                )
        _warn_few_distinct(X, self.K)
        self.X = X
        self._cache: tuple[bytes, SuffStats] | None = None

    def _stats(self, theta: np.ndarray) -> SuffStats:
        """:meth:`suff_stats` on all of ``X`` at ``theta``, kept for the next call at the same
        point (:func:`run_em` asks for :math:`\\ell(\\theta)` and then the E-step at that
        :math:`\\theta`: one pass over the data serves both). ``X`` is a private read-only
        copy, so :math:`\\theta` alone keys the cache."""
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._suff_stats(self.params(theta), self.X))
        return self._cache[1]

    def e_step(self, theta: np.ndarray) -> SuffStats:
        return self._stats(theta)

    def step(self, params: GMMParams) -> GMMParams:
        """One EM iteration on :class:`GMMParams`."""
        return m_step(_suff_stats(self.X, self.params(params)), reg_covar=self.reg_covar,
                      prior=self.prior)

    def loglik(self, theta: np.ndarray) -> float:
        """:math:`\\ell(\\theta)`, or the log posterior :math:`\\ell(\\theta) + \\log p(\\theta)`
        under MAP-EM (from the same pass as the E-step)."""
        stats = self._stats(theta)
        return stats.loglik + stats.log_prior

    def fit(
        self,
        start: GMMParams,
        *,
        tol: float = 1e-8,
        max_iter: int = 1000,
        check_ascent: bool | None = None,
        **kwargs: Any,
    ) -> tuple[GMMParams, EMResult]:
        """Run :func:`run_em` from ``start``; returns the final parameters and the result.

        The ascent check is on by default only when the M-step is an exact argmax (no
        ``reg_covar`` floor, or MAP-EM, whose log posterior ascends); a floor
        :math:`\\varepsilon > 0` is not the argmax of :math:`Q`, so :math:`\\ell` may dip by
        a tiny amount. Unless ``scale`` is given, :meth:`scale` (a thousandth of each
        entry's data unit) is passed to :func:`run_em`.
        """
        if not isinstance(start, GMMParams):
            raise TypeError(
                f"start must be GMMParams (e.g. from init_params), got {type(start).__name__}"
            )
        if start.covariance_type != self.covariance_type or start.means.shape != (self.K, self.p):
            raise ValueError(
                f"start must be a {self.covariance_type!r} mixture with K={self.K}, p={self.p}"
            )
        if check_ascent is None:
            check_ascent = self.reg_covar == 0 or self.prior is not None
        kwargs.setdefault("scale", self.scale(self.X))
        res = run_em(
            self.e_step, self.m_step, start.pack(), loglik=self.loglik, tol=tol,
            max_iter=max_iter, names=self.names(), check_ascent=check_ascent, **kwargs,
        )
        return self.params(res.theta), res


# ---- fast path: 1-D, two components, shared variance -------------------------------------


class TwoGaussiansSharedVariance:
    """Notebook 03's model, :math:`\\pi N(\\mu_1, \\sigma^2) + (1-\\pi) N(\\mu_2, \\sigma^2)`,
    as an exponential family: a fast E/M map for ``theta = (mu1, mu2, pi, sigma)``.

    With a shared variance the log-odds of component 1 are affine in :math:`x`,

    .. math:: \\eta_i = a + b x_i,\\quad b = \\frac{\\mu_1 - \\mu_2}{\\sigma^2},\\quad
              a = \\log\\frac{\\pi}{1-\\pi} - \\frac{\\mu_1^2 - \\mu_2^2}{2\\sigma^2},

    so :math:`\\gamma_i = 1/(1 + e^{-\\eta_i})`, and the M-step needs only the
    expected sufficient statistics
    :math:`(\\sum\\gamma_i, \\sum\\gamma_i x_i, \\sum\\gamma_i x_i^2)` with
    :math:`\\sum x_i, \\sum x_i^2` fixed -- and :math:`\\sum\\gamma_i x_i^2` cancels from the
    pooled variance, so one pass computes :math:`\\sum\\gamma_i, \\sum\\gamma_i x_i`:
    :math:`\\mu_1 = \\sum\\gamma x/\\sum\\gamma`, :math:`\\mu_2 = (\\sum x - \\sum\\gamma x)
    /(N - \\sum\\gamma)`, :math:`\\pi = \\sum\\gamma/N` and
    :math:`\\sigma^2 = (\\sum x^2 - n_1\\mu_1^2 - n_2\\mu_2^2)/N`. The data are shifted by
    their mean once (exact in the formulas; it keeps the last difference well conditioned).
    The log-likelihood comes from the same pass:
    :math:`\\ell = \\sum_i[\\log((1-\\pi)\\phi(x_i;\\mu_2,\\sigma))
    + \\eta_i + \\log(1 + e^{-\\eta_i})]`,
    the first sum in closed form from :math:`\\sum x, \\sum x^2`. One pass costs one
    ``exp``, one ``log``, and a few multiply/add sweeps over N floats, with buffers reused.
    """

    def __init__(self, x: Sequence[float] | np.ndarray):
        x = np.asarray(x, dtype=float)
        if x.ndim != 1 or x.size < 2:
            raise ValueError(f"x must be a 1-D array of at least 2 values, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite values")
        self.shift = float(x.mean())
        xc = x - self.shift
        self.N = x.size
        # columns 1, x: gamma @ V gives both sums in one BLAS pass
        self._V = np.empty((self.N, 2))
        self._V[:, 0] = 1.0
        self._V[:, 1] = xc
        self._xc = np.ascontiguousarray(xc)
        self._xmin, self._xmax = float(xc.min()), float(xc.max())
        self.Sx = float(xc.sum())
        self.Sxx = float(xc @ xc)
        self._buf = np.empty(self.N)
        self._tmp = np.empty(self.N)
        self._cache: tuple[bytes, np.ndarray, float] | None = None

    def _check(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (4,):
            raise ValueError(f"theta must be (mu1, mu2, pi, sigma), got shape {theta.shape}")
        if not (0 < theta[2] < 1 and theta[3] > 0):
            raise ValueError(f"need 0 < pi < 1 and sigma > 0, got theta = {theta}")
        return theta

    def _pass(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """The sums (sum g, sum g xc) and the log-likelihood at ``theta``."""
        key = theta.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2]
        mu1, mu2, pi, sigma = self._check(theta)
        m1, m2 = mu1 - self.shift, mu2 - self.shift
        s2 = sigma * sigma
        b = (m1 - m2) / s2
        a = np.log(pi) - np.log1p(-pi) - (m1 * m1 - m2 * m2) / (2 * s2)
        e = self._buf
        np.multiply(self._xc, -b, out=e)  # -eta = -a - b x
        e -= a
        # -eta is affine in x, so its largest value is at an end of the data: clip (so that
        # exp(-eta) stays finite; the clipped terms are exact below) only when needed, and
        # otherwise take sum(-eta) in closed form -- two passes over the data saved
        if max(-a - b * self._xmin, -a - b * self._xmax) > 700.0:
            np.minimum(e, 700.0, out=e)
            sum_eta = -float(e.sum())
        else:
            sum_eta = a * self.N + b * self.Sx
        np.exp(e, out=e)
        e += 1.0  # 1 + e^{-eta}
        # log, not log1p, of 1 + e^{-eta}: NumPy's log is vectorised (SIMD), log1p is not; for
        # tiny e^{-eta} the absolute error is below 1 ulp of 1, harmless in a sum of N terms
        np.log(e, out=self._tmp)
        softplus = sum_eta + float(self._tmp.sum())  # sum log(1 + e^eta)
        np.reciprocal(e, out=e)  # gamma
        sums = e @ self._V
        n = self.N
        ll2 = n * (np.log1p(-pi) - np.log(sigma) - 0.5 * _LOG_2PI) - (
            self.Sxx - 2 * m2 * self.Sx + n * m2 * m2
        ) / (2 * s2)
        ll = float(ll2 + softplus)
        self._cache = (key, sums, ll)
        return sums, ll

    def e_step(self, theta: np.ndarray) -> np.ndarray:
        """:math:`(\\sum\\gamma, \\sum\\gamma x)` (x shifted by its mean)."""
        return self._pass(np.asarray(theta, dtype=float))[0].copy()

    def m_step(self, sums: np.ndarray) -> np.ndarray:
        """:math:`(\\mu_1, \\mu_2, \\pi, \\sigma)` from the two sums."""
        g, gx = sums
        n = self.N
        n1, n2 = g, n - g
        m1, m2 = gx / n1, (self.Sx - gx) / n2
        var = (self.Sxx - n1 * m1 * m1 - n2 * m2 * m2) / n
        return np.array([m1 + self.shift, m2 + self.shift, n1 / n, np.sqrt(var)])

    def loglik(self, theta: np.ndarray) -> float:
        """Observed-data log-likelihood (the same pass as the E-step, cached)."""
        return self._pass(np.asarray(theta, dtype=float))[1]


#: Starts of :func:`shared_variance_lr`: (lower percentile, upper percentile, pi) for
#: :math:`(\mu_1, \mu_2, \pi)`; :math:`\sigma` starts at half the sample SD.
LR_STARTS = ((25.0, 75.0, 0.5), (10.0, 50.0, 0.3), (50.0, 90.0, 0.7), (5.0, 95.0, 0.5),
             (35.0, 65.0, 0.5))


def shared_variance_lr(
    x: Sequence[float] | np.ndarray, starts: Sequence[tuple[float, float, float]] = LR_STARTS,
    *, tol: float = 1e-7, max_iter: int = 500,
) -> tuple[float, np.ndarray]:
    """The likelihood-ratio statistic :math:`2(\\ell_2 - \\ell_1)` for one normal against
    two with a shared variance (notebook 07's bootstrap test), clipped at 0.

    :math:`\\ell_1` in closed form (the sample mean and SD); :math:`\\ell_2` the best of
    SQUAREM-accelerated EM runs of :class:`TwoGaussiansSharedVariance`, one per start in
    ``starts`` (percentiles of ``x`` for the two means, a weight; :math:`\\sigma` = half the
    sample SD). Returns the statistic and the per-start values of :math:`2(\\ell_2 -
    \\ell_1)`, so that the effect of fewer starts can be read off.
    """
    from ..core.loop import ConvergenceWarning

    x = np.asarray(x, dtype=float)
    fast = TwoGaussiansSharedVariance(x)
    sd = float(x.std())
    ll1 = float(np.sum(-0.5 * ((x - x.mean()) / sd) ** 2) - x.size * (np.log(sd)
                                                                       + 0.5 * _LOG_2PI))

    def valid(theta: np.ndarray) -> bool:
        return bool(0 < theta[2] < 1 and theta[3] > 0)

    out = []
    for lo_q, hi_q, pi in starts:
        lo, hi = np.percentile(x, [lo_q, hi_q])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = run_em(fast.e_step, fast.m_step, [lo, hi, pi, sd / 2], loglik=fast.loglik,
                         tol=tol, max_iter=max_iter, scale=[sd, sd, 0.1, sd],
                         accelerate="squarem", valid=valid)
        out.append(2.0 * (res.loglik - ll1))
    per_start = np.array(out)
    return max(0.0, float(per_start.max())), per_start
