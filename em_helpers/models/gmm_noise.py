"""A Gaussian mixture with a uniform noise component for outliers (Banfield & Raftery 1993;
mclust's ``noise``): component 0 has the constant density :math:`1/V` over a region of
volume :math:`V` that holds the data.

.. math:: f(x \\mid \\theta) = \\frac{w_0}{V} + \\sum_{k=1}^K w_k\\, N(x; \\mu_k, \\Sigma_k),
          \\qquad w_0 + \\sum_k w_k = 1.

EM: the responsibilities run over the K + 1 components (the noise column's log joint is
:math:`\\log w_0 - \\log V`); the M-step gives :math:`w_0 = n_0/N` and, for the Gaussians,
the M-step of :mod:`em_helpers.models.gmm` on their statistics (its weights
:math:`n_k/\\sum_j n_j` are the weights given "not noise", so :math:`w_k = (1 - w_0)
n_k/\\sum_j n_j = n_k/N`). A point far from every Gaussian costs the noise component only
:math:`\\log(w_0/V)` instead of dragging a mean or inflating a covariance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from ..core.loop import EMResult, run_em
from . import gmm

__all__ = ['NoiseGMM']


class NoiseGMM:
    """EM for a K-component Gaussian mixture plus a uniform noise component on data ``X``.

    The flat parameter vector is ``[w0, *params.pack()]``, where ``params`` is a
    :class:`~em_helpers.models.gmm.GMMParams` whose weights are the Gaussians' weights
    given "not noise" (they sum to 1); :meth:`split` and :meth:`pack` convert.

    Parameters
    ----------
    X : array, shape (N, p)
    n_components : int
        Number of Gaussian components K (the noise component comes on top).
    covariance_type : {"full", "tied", "diag", "spherical"}
    volume : float, optional
        :math:`V`; default the volume of the data's bounding box,
        :math:`\\prod_j (\\max_i x_{ij} - \\min_i x_{ij})`.
    reg_covar, prior
        As for :class:`~em_helpers.models.gmm.GMM`.
    """

    def __init__(self, X: Any, n_components: int, covariance_type: str = "full", *,
                 volume: float | None = None, reg_covar: float = 1e-6,
                 prior: gmm.GMMPrior | None = None):
        X = gmm._check_X(X)
        self.steps = gmm.GMMSteps(n_components, X.shape[1], covariance_type,
                                  reg_covar=reg_covar, prior=prior)
        if volume is None:
            volume = float(np.prod(np.ptp(X, axis=0)))
        if isinstance(volume, bool) or not np.isscalar(volume) or not (
                np.isfinite(volume) and volume > 0):
            raise ValueError(f"volume must be a finite number > 0, got {volume!r}")
        self.X, self.volume = X, float(volume)
        self.K, self.p = self.steps.K, self.steps.p
        self._cache: tuple[bytes, tuple[float, gmm.SuffStats, float]] | None = None

    def split(self, theta: np.ndarray) -> tuple[float, gmm.GMMParams]:
        """``theta`` as (noise weight :math:`w_0`, the Gaussians given "not noise")."""
        theta = np.asarray(theta, dtype=float)
        w0 = float(theta[0])
        if not 0 <= w0 < 1:
            raise ValueError(f"the noise weight w0 must be in [0, 1), got {w0}")
        return w0, self.steps.params(theta[1:])

    @staticmethod
    def pack(w0: float, params: gmm.GMMParams) -> np.ndarray:
        """The flat vector ``[w0, *params.pack()]``."""
        return np.concatenate([[float(w0)], params.pack()])

    def _log_joint(self, theta: np.ndarray) -> np.ndarray:
        """(N, K + 1) log joints, the noise component in column 0."""
        w0, params = self.split(theta)
        with np.errstate(divide="ignore"):
            noise = np.full((self.X.shape[0], 1), np.log(w0) - np.log(self.volume))
            return np.hstack([noise, np.log1p(-w0) + gmm.log_joint(self.X, params)])

    def responsibilities(self, theta: np.ndarray) -> np.ndarray:
        """:math:`\\gamma_{ik}`, shape (N, K + 1), column 0 the noise component."""
        lj = self._log_joint(theta)
        return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))

    def _pass(self, theta: np.ndarray) -> tuple[float, gmm.SuffStats, float]:
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if self._cache is None or self._cache[0] != key:
            lj = self._log_joint(theta)
            norm = logsumexp(lj, axis=1, keepdims=True)
            gamma = np.exp(lj - norm)
            _, params = self.split(theta)
            stats = gmm._stats_from_gamma(self.X, gamma[:, 1:], params)
            ll = float(norm.sum())
            if self.steps.prior is not None:
                ll += gmm.log_prior(params, self.steps.prior)
            self._cache = (key, (float(gamma[:, 0].sum()), stats, ll))
        return self._cache[1]

    def e_step(self, theta: np.ndarray) -> tuple[float, gmm.SuffStats]:
        """:math:`n_0 = \\sum_i \\gamma_{i0}` and the Gaussians' statistics."""
        n0, stats, _ = self._pass(theta)
        return n0, stats

    def m_step(self, stats: tuple[float, gmm.SuffStats]) -> np.ndarray:
        """:math:`w_0 = n_0/N` and the Gaussians' M-step."""
        n0, gstats = stats
        return np.concatenate([[n0 / self.X.shape[0]], self.steps.m_step(gstats)])

    def loglik(self, theta: np.ndarray) -> float:
        """:math:`\\ell(\\theta) = \\sum_i \\log f(x_i \\mid \\theta)` (plus the log prior under
        MAP-EM), from the same pass as the E-step."""
        return self._pass(theta)[2]

    def fit(self, start: gmm.GMMParams, noise: float = 0.05, *, tol: float = 1e-8,
            max_iter: int = 1000, **kwargs: Any,
            ) -> tuple[float, gmm.GMMParams, EMResult]:
        """Run :func:`~em_helpers.run_em` from the Gaussians ``start`` and noise weight
        ``noise``; returns :math:`(w_0, \\text{the Gaussians}, \\text{result})`."""
        if not isinstance(start, gmm.GMMParams):
            raise TypeError(f"start must be GMMParams, got {type(start).__name__}")
        if not 0 < noise < 1:
            raise ValueError(f"noise (the starting w0) must be in (0, 1), got {noise!r}")
        scale = np.concatenate([[gmm.SCALE_FRACTION], self.steps.scale(self.X)])
        kwargs.setdefault("scale", scale)
        kwargs.setdefault("check_ascent", self.steps.reg_covar == 0
                          or self.steps.prior is not None)
        res = run_em(self.e_step, self.m_step, self.pack(noise, start), loglik=self.loglik,
                     tol=tol, max_iter=max_iter, **kwargs)
        w0, params = self.split(res.theta)
        return w0, params, res
