"""Checks for the exercises of notebook 07 (Gaussian mixtures in practice, Old Faithful).

- 07.1 BIC of a given fit: -2ℓ plus the count of free parameters times log N (a function);
- 07.2 a setting of the explorer whose maximum-likelihood fit is degenerate and whose MAP
  fit is not (its controls);
- 07.3 the M-step for diagonal covariances from responsibilities (a function);
- 07.4 k-means as hard EM: one step of Lloyd's algorithm (a function);
- 07.5 the MAP M-step with a Dirichlet and an inverse-Wishart prior, which keeps a
  collapsing component proper (a function).

References are computed here with the course's model, :mod:`em_helpers.models.gmm`: its
log-likelihood and parameter count (:func:`~em_helpers.models.gmm.n_parameters`), its M-step
and MAP M-step from the statistics of the given responsibilities, its ``log_joint`` (for
:math:`Q`) and ``log_prior``, and its k-means (the fixed point of Lloyd's step); Lloyd's
step itself by brute-force distances; the explorer's fits are rerun from its settings with
the explorer's own options and its rule for a degenerate fit.
"""

from __future__ import annotations

import importlib.util
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..models import gmm
from .base import Wrong, as_array, call, compare, exercise, settings_of

__all__ = ["explorer_fit", "faithful", "iris"]

_DATA = Path(__file__).resolve().parents[2] / "data"


@lru_cache(maxsize=1)
def faithful() -> np.ndarray:
    """Old Faithful's 272 eruptions (length, waiting), as the notebook reads them."""
    X = np.loadtxt(_DATA / "faithful.csv", delimiter=",", skiprows=1)
    X.flags.writeable = False
    return X


@lru_cache(maxsize=1)
def iris() -> np.ndarray:
    """The iris measurements (150 x 4), scikit-learn's copy (read from its CSV file:
    importing ``sklearn.datasets`` takes about a second)."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "iris.csv"
    if path.exists():
        X = np.loadtxt(path, delimiter=",", skiprows=1)[:, :4]
    else:  # pragma: no cover - another layout of the package
        from sklearn.datasets import load_iris

        X = load_iris().data.astype(float)
    X.flags.writeable = False
    return X


def _wait_1d() -> np.ndarray:
    return np.array(faithful()[:, 1:2])


# --- 07.1 -------------------------------------------------------------------------------


def _bic_cases() -> list[tuple[str, np.ndarray, gmm.GMMParams]]:
    cases = []
    for name, X, K, ctype, seed in [
        ("Old Faithful", faithful(), 2, "full", 0),
        ("Old Faithful", faithful(), 3, "tied", 1),
        ("iris", iris(), 3, "full", 2),
        ("iris", iris(), 3, "diag", 3),
        ("iris", iris(), 4, "spherical", 4),
        ("iris", iris(), 2, "tied", 5),
        ("the waiting times (p = 1)", _wait_1d(), 2, "full", 6),
        ("Old Faithful", faithful(), 1, "full", 7),
    ]:
        X = np.array(X)
        params = gmm.init_params(X, K, covariance_type=ctype, seed=seed)
        cases.append((f"{name}, K = {K}, {ctype}", X, params))
    return cases


def _bic_wrong_k_weights() -> Any:  # K weights, forgetting that they sum to 1
    return lambda X, params: gmm.bic(X, params) + np.log(len(X))


def _bic_wrong_full_p2() -> Any:  # p^2 entries per covariance, not p(p + 1)/2
    def f(X, params):
        K, p = params.means.shape
        extra = K * p * (p - 1) // 2 if params.covariance_type == "full" else 0
        return gmm.bic(X, params) + extra * np.log(len(X))
    return f


def _bic_wrong_tied_per_component() -> Any:  # the shared covariance counted K times
    def f(X, params):
        K, p = params.means.shape
        extra = (K - 1) * p * (p + 1) // 2 if params.covariance_type == "tied" else 0
        return gmm.bic(X, params) + extra * np.log(len(X))
    return f


def _bic_wrong_aic() -> Any:  # 2 per parameter: AIC, not BIC
    def f(X, params):
        d = gmm.n_parameters(*params.means.shape, params.covariance_type)
        return -2 * gmm.loglik(X, params) + 2 * d
    return f


def _bic_wrong_mean_loglik() -> Any:  # scikit-learn's score(): the mean log-likelihood
    def f(X, params):
        d = gmm.n_parameters(*params.means.shape, params.covariance_type)
        return -2 * gmm.loglik(X, params) / len(X) + d * np.log(len(X))
    return f


@exercise("07.1", wrong=[_bic_wrong_k_weights, _bic_wrong_full_p2,
                         _bic_wrong_tied_per_component, _bic_wrong_aic,
                         _bic_wrong_mean_loglik])
def _bic(answer: Any) -> str:
    for what, X, params in _bic_cases():
        N = X.shape[0]
        got = float(as_array(call(answer, X, params, name="bic_of"), (), f"bic_of for {what}"))
        ll = gmm.loglik(X, params)
        d = gmm.n_parameters(*params.means.shape, params.covariance_type)
        want = -2 * ll + d * np.log(N)
        if abs(got - want) <= 1e-7 * (1 + abs(want)):
            continue
        implied = (got + 2 * ll) / np.log(N)  # the count your BIC charges, if -2l is right
        if abs(implied - round(implied)) < 1e-6:
            side = "too many" if implied > d else "too few"
            raise Wrong(f"{what}: your -2ℓ term is right but your BIC charges {side} "
                        f"free parameters (log N each)")
        compare(got, want, rtol=1e-9, what=f"bic_of for {what} (the -2ℓ term is off, or "
                                           f"the penalty is not a count times log N)")
    return ("right for every covariance type, K = 1 to 4 and p = 1, 2, 4: the weights "
            "count K - 1, a covariance p(p + 1)/2, a tied one once.")


# --- 07.2 -------------------------------------------------------------------------------


def _degenerate(X: np.ndarray, par: gmm.GMMParams) -> str | None:
    """The explorer's rule: a component with fewer than p + 1 points' weight, or a
    direction of variance below 1e-4 of the data's smallest variance."""
    N, p = X.shape
    nk = par.weights * N
    low = np.linalg.eigvalsh(par.full_covariances())[:, 0]
    floor = 1e-4 * X.var(axis=0).min()
    k = int(np.argmin(np.minimum(nk / (p + 1), low / floor)))
    if nk[k] < p + 1 or low[k] < floor:
        return f"component {k + 1}: {nk[k]:.1f} points' weight, variance {low[k]:.0e}"
    return None


@lru_cache(maxsize=256)
def explorer_fit(K: int, covariance: str, init: str, seed: int, prior: bool) -> str | None:
    """Rerun the explorer's fit on Old Faithful: None if proper, else why it is
    degenerate ("collapsed" when the start's EM collapses a component outright)."""
    F = np.array(faithful())
    kw = (dict(reg_covar=0.0, prior=gmm.GMMPrior.default(F, K, covariance)) if prior
          else dict(reg_covar=1e-6))
    model = gmm.GMM(F, K, covariance, **kw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = gmm.init_params(F, K, method=init, covariance_type=covariance,
                                    seed=seed)
            par, _ = model.fit(start, tol=1e-5, max_iter=100)
    except ValueError:
        return "collapsed"
    return _degenerate(F, par)


# the explorer's controls: IntSliders K 1..6 and seed 0..20, two Dropdowns (and the
# prior's Checkbox, which the check sets both ways itself)
CONTROLS = {"K": (1, 6), "covariance": set(gmm.COVARIANCE_TYPES),
            "init": {"kmeans++", "random", "short-em"}, "seed": (0, 20)}


def _degenerate_setting(answer: Any) -> str:
    s = settings_of(answer, ("K", "covariance", "init", "seed"), ranges=CONTROLS)
    K, ctype, init, seed = s["K"], s["covariance"], s["init"], s["seed"]
    name = f"K = {K}, {ctype}, {init} start, seed {seed}"
    ml = explorer_fit(K, ctype, init, seed, False)
    if ml is None:
        raise Wrong(f"{name}: without the prior this fit is proper, not degenerate")
    mp = explorer_fit(K, ctype, init, seed, True)
    if mp is not None:
        raise Wrong(f"{name}: the fit with the MAP prior is flagged too ({mp}); look for "
                    f"one the prior turns into a proper fit")
    return (f"right: {name} — without the prior a degenerate fit ({ml}), with it a "
            f"proper one.")


exercise("07.2", wrong=[
    lambda: {"K": 2, "covariance": "full", "init": "kmeans++", "seed": 0, "prior": False},
    lambda: {"K": 3, "covariance": "spherical", "init": "random", "seed": 2,
             "prior": False},
    lambda: {"K": 6, "covariance": "diag", "init": "kmeans++", "seed": 2, "prior": True},
    lambda: {"K": "two", "covariance": "full", "init": "random", "seed": 0},
    lambda: {"K": 3, "covariance": "full", "init": "random", "seed": 2.9},
    lambda: {"K": 3.5, "covariance": "full", "init": "random", "seed": 2},
    lambda: {"K": 3, "covariance": ["full"], "init": "random", "seed": 2},
    lambda: {"K": 3, "covariance": "full", "init": "random", "seed": 21},
    lambda: {"K": 3, "covariance": "full", "init": "k-means", "seed": 2},
])(_degenerate_setting)


# --- 07.3 -------------------------------------------------------------------------------


def _m_step_diag_reference(X: np.ndarray, gamma: np.ndarray) -> gmm.GMMParams:
    """The course's M-step (``gmm.m_step``, no floor) from the statistics of ``gamma``."""
    K, p = gamma.shape[1], X.shape[1]
    center = gmm.GMMParams(np.full(K, 1 / K), np.tile(X.mean(axis=0), (K, 1)),
                           np.ones((K, p)), "diag")
    return gmm.m_step(gmm._stats_from_gamma(X, gamma, center), reg_covar=0.0)


def _diag_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    F, iris_x, rng = np.array(faithful()), np.array(iris()), np.random.default_rng(7)
    start = gmm.GMMParams([0.5, 0.5], [[2.0, 55.0], [4.5, 80.0]],
                          [[1.0, 36.0], [1.0, 36.0]], "diag")
    return [
        ("Old Faithful, K = 2 (responsibilities at a start)", F,
         gmm.responsibilities(F, start)),
        ("iris, K = 3 (random responsibilities)", iris_x,
         rng.dirichlet(np.ones(3), size=len(iris_x))),
        ("the waiting times (p = 1), K = 1", _wait_1d(), np.ones((len(F), 1))),
    ]


def _q_value(X: np.ndarray, gamma: np.ndarray, params: gmm.GMMParams) -> float:
    return float(np.sum(gamma * gmm.log_joint(X, params)))


def _diag_wrong_divide_by_n() -> Any:  # variances divided by N, not n_k
    def f(X, gamma):
        ref = _m_step_diag_reference(X, gamma)
        nk = gamma.sum(axis=0)
        return ref.weights, ref.means, ref.covariances * (nk / len(X))[:, None]
    return f


def _diag_wrong_overall_mean() -> Any:  # deviations about the overall mean
    def f(X, gamma):
        nk = gamma.sum(axis=0)
        means = gamma.T @ X / nk[:, None]
        var = gamma.T @ (X - X.mean(axis=0)) ** 2 / nk[:, None]
        return nk / len(X), means, var
    return f


def _diag_wrong_hard() -> Any:  # the per-component variances of the MAP labels
    def f(X, gamma):
        ref = _m_step_diag_reference(X, gamma)
        labels = gamma.argmax(axis=1)
        var = np.array([X[labels == k].var(axis=0) if np.sum(labels == k) > 1
                        else ref.covariances[k] for k in range(gamma.shape[1])])
        return ref.weights, ref.means, var
    return f


def _diag_wrong_unnormalised() -> Any:  # w_k = n_k
    def f(X, gamma):
        ref = _m_step_diag_reference(X, gamma)
        return gamma.sum(axis=0), ref.means, ref.covariances
    return f


def _diag_wrong_full() -> Any:  # full covariance matrices
    def f(X, gamma):
        nk = gamma.sum(axis=0)
        means = gamma.T @ X / nk[:, None]
        cov = np.array([((X - m).T * g) @ (X - m) / n for m, g, n in zip(means, gamma.T, nk,
                                                                         strict=True)])
        return nk / len(X), means, cov
    return f


@exercise("07.3", wrong=[_diag_wrong_divide_by_n, _diag_wrong_overall_mean, _diag_wrong_hard,
                         _diag_wrong_unnormalised, _diag_wrong_full])
def _m_step_diag(answer: Any) -> str:
    for what, X, gamma in _diag_cases():
        p, K = X.shape[1], gamma.shape[1]
        out = call(answer, X.copy(), gamma.copy(), name="m_step_diag")
        if not isinstance(out, tuple | list) or len(out) != 3:
            raise Wrong("m_step_diag should return three arrays: (weights, means, variances)")
        w = as_array(out[0], (K,), f"the weights for {what}")
        mu = as_array(out[1], (K, p), f"the means for {what}")
        var = as_array(out[2], (K, p), f"the variances for {what} (one per component and "
                                       f"coordinate)")
        if abs(w.sum() - 1) > 1e-8 or np.any(w < 0):
            raise Wrong(f"the weights for {what} do not sum to 1")
        if np.any(var <= 0):
            raise Wrong(f"a variance for {what} is not positive")
        ref = _m_step_diag_reference(X, gamma)
        q_yours = _q_value(X, gamma, gmm.GMMParams(w, mu, var, "diag"))
        q_best = _q_value(X, gamma, ref)
        if q_yours < q_best - 1e-8 * (1 + abs(q_best)):
            raise Wrong(f"{what}: Q is lower at your parameters than at its maximum, so "
                        f"this is not the M-step; off: your "
                        f"{_parts_off((w, mu, var), ref, 'variances')}")
        compare(var, ref.covariances, rtol=1e-7, what=f"the variances for {what}")
    return ("right: weighted proportions, weighted means, and per coordinate the weighted "
            "mean square about the component's own mean — the argmax of Q.")


# --- 07.4 -------------------------------------------------------------------------------


def _lloyd_reference(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Nearest centre by brute-force distances, then the mean of each group (an empty
    group keeps its centre)."""
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    labels = d2.argmin(axis=1)
    new = centers.astype(float).copy()
    for k in range(len(centers)):
        if np.any(labels == k):
            new[k] = X[labels == k].mean(axis=0)
    return new


def _parts_off(mine: tuple, ref: Any, third: str) -> str:
    """Which of (weights, means, covariances) differ from the reference M-step's."""
    names = ("weights", "means", third)
    refs = (ref.weights, ref.means, ref.covariances)
    return ", ".join(name for name, a, b in zip(names, mine, refs, strict=True)
                     if not np.allclose(a, b, rtol=1e-7, atol=1e-12))


def _inertia(X: np.ndarray, centers: np.ndarray) -> float:
    return float(((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).min(axis=1).sum())


def _lloyd_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    F = np.array(faithful())
    Z = (F - F.mean(axis=0)) / F.std(axis=0)
    iris_x = np.array(iris())
    return [
        ("standardised Old Faithful, K = 2", Z, np.array([[-1.0, 1.0], [1.0, -1.0]])),
        # seeded jitter: iris's decimal data sit at exactly equal distances from centres
        # shifted by a round 0.1, and a tie's winner would be decided by rounding
        ("iris, K = 3", iris_x,
         iris_x[[0, 1, 2]] + np.random.default_rng(74).normal(0.0, 0.05, (3, 4))),
        ("standardised Old Faithful, K = 3, one centre far away", Z,
         np.array([[-1.0, -1.0], [1.0, 1.0], [8.0, -8.0]])),
    ]


def _lloyd_wrong_farthest() -> Any:
    def f(X, centers):
        d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d2.argmax(axis=1)
        return np.array([X[labels == k].mean(axis=0) if np.any(labels == k) else c
                         for k, c in enumerate(centers)])
    return f


def _lloyd_wrong_soft() -> Any:  # EM's weighted means at sigma = 1: not hard
    def f(X, centers):
        params = gmm.GMMParams(np.full(len(centers), 1 / len(centers)), centers,
                               np.ones(len(centers)), "spherical")
        g = gmm.responsibilities(X, params)
        return g.T @ X / g.sum(axis=0)[:, None]
    return f


def _lloyd_wrong_empty() -> Any:  # an empty group's mean: nan
    def f(X, centers):
        d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d2.argmin(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.array([X[labels == k].sum(axis=0) / np.sum(labels == k)
                             for k in range(len(centers))])
    return f


def _lloyd_wrong_median() -> Any:
    def f(X, centers):
        d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d2.argmin(axis=1)
        return np.array([np.median(X[labels == k], axis=0) if np.any(labels == k) else c
                         for k, c in enumerate(centers)])
    return f


@exercise("07.4", wrong=[_lloyd_wrong_farthest, _lloyd_wrong_soft, _lloyd_wrong_empty,
                         _lloyd_wrong_median])
def _lloyd(answer: Any) -> str:
    for what, X, centers in _lloyd_cases():
        got = as_array(call(answer, X.copy(), centers.copy(), name="lloyd_step"),
                       centers.shape, f"lloyd_step on {what}")
        if _inertia(X, got) > _inertia(X, centers) + 1e-9:
            raise Wrong(f"lloyd_step on {what} raises the within-cluster sum of squares: "
                        f"a k-means step must lower it (as EM raises ℓ)")
        compare(got, _lloyd_reference(X, centers), rtol=1e-9, atol=1e-12,
                what=f"lloyd_step on {what}")
    X, centers = _lloyd_cases()[0][1:]
    km = gmm.kmeans(X, centers)
    got = as_array(call(answer, X.copy(), km.centers.copy(), name="lloyd_step"),
                   km.centers.shape, "lloyd_step at k-means' converged centres")
    if not np.allclose(got, km.centers, rtol=1e-10, atol=1e-12):
        raise Wrong("k-means' converged centres are not a fixed point of your step")
    return ("right: nearest centre, then the mean of each group (an empty group keeps "
            "its centre); the sum of squares never rises, k-means' limit is a fixed point.")


# --- 07.5 -------------------------------------------------------------------------------

PSI_FRACTION, ALPHA = 0.05, 2.0  # the notebook's hand-made prior


def _prior(X: np.ndarray) -> gmm.GMMPrior:
    p = X.shape[1]
    return gmm.GMMPrior(scale=PSI_FRACTION * np.atleast_2d(np.cov(X.T)), dof=p + 2.0,
                        alpha=ALPHA)


def _map_reference(X: np.ndarray, gamma: np.ndarray, psi: np.ndarray, nu: float,
                  alpha: float) -> gmm.GMMParams:
    """The course's MAP M-step (``gmm.m_step`` with a :class:`GMMPrior`, κ = 0)."""
    K, p = gamma.shape[1], X.shape[1]
    center = gmm.GMMParams(np.full(K, 1 / K), np.tile(X.mean(axis=0), (K, 1)),
                           np.array([np.eye(p)] * K))
    prior = gmm.GMMPrior(scale=psi, dof=nu, alpha=alpha)
    return gmm.m_step(gmm._stats_from_gamma(X, gamma, center), reg_covar=0.0, prior=prior)


def _spike_gamma(X: np.ndarray) -> np.ndarray:
    """Responsibilities of the notebook's collapse: component 3 on two eruptions."""
    start = gmm.GMMParams([0.45, 0.45, 0.1], [[2.0, 54.0], [4.4, 80.0], [3.6, 79.0]],
                          np.array([np.diag([0.1, 30.0]), np.diag([0.2, 30.0]),
                                    np.diag([0.01, 0.5])]))
    g = gmm.responsibilities(X, start)
    # push component 3 onto its two most likely points, as EM does after a few steps
    top = np.argsort(g[:, 2])[::-1][:2]
    g[:, 2] = 0.0
    g[top] = 0.0
    g[top, 2] = 1.0
    g[:, :2] /= np.maximum(g[:, :2].sum(axis=1, keepdims=True), 1e-300)
    g[top, :2] = 0.0
    return g


def _map_cases() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, float, float]]:
    F, iris_x = np.array(faithful()), np.array(iris())
    rng = np.random.default_rng(11)
    pf, pi_ = _prior(F), _prior(iris_x)
    return [
        ("Old Faithful, a component on two eruptions", F, _spike_gamma(F), pf.scale,
         pf.dof, pf.alpha),
        ("iris, K = 3, random responsibilities", iris_x,
         rng.dirichlet(np.ones(3), size=len(iris_x)), pi_.scale, 9.0, 1.0),
        ("Old Faithful, K = 2, a strong prior", F,
         gmm.responsibilities(F, gmm.init_params(F, 2, seed=0)), 2 * np.cov(F.T), 20.0,
         3.0),
    ]


def _map_wrong_ml_denominator() -> Any:  # (A + Ψ)/n_k
    def f(X, gamma, psi, nu, alpha):
        ref = _map_reference(X, gamma, psi, nu, alpha)
        nk = gamma.sum(axis=0)
        p = X.shape[1]
        return ref.weights, ref.means, ref.covariances * ((nk + nu + p + 1) / nk)[:, None, None]
    return f


def _map_wrong_no_p() -> Any:  # (A + Ψ)/(n_k + ν): forgets the p + 1
    def f(X, gamma, psi, nu, alpha):
        ref = _map_reference(X, gamma, psi, nu, alpha)
        nk = gamma.sum(axis=0)
        p = X.shape[1]
        return (ref.weights, ref.means,
                ref.covariances * ((nk + nu + p + 1) / (nk + nu))[:, None, None])
    return f


def _map_wrong_no_psi() -> Any:  # A/(n_k + ν + p + 1): shrinks, but can still collapse
    def f(X, gamma, psi, nu, alpha):
        ref = _map_reference(X, gamma, psi, nu, alpha)
        nk = gamma.sum(axis=0)
        p = X.shape[1]
        return (ref.weights, ref.means,
                ref.covariances - psi / (nk + nu + p + 1)[:, None, None])
    return f


def _map_wrong_ml_weights() -> Any:  # w_k = n_k / N: the Dirichlet prior forgotten
    def f(X, gamma, psi, nu, alpha):
        ref = _map_reference(X, gamma, psi, nu, alpha)
        return gamma.sum(axis=0) / len(X), ref.means, ref.covariances
    return f


@exercise("07.5", wrong=[_map_wrong_ml_denominator, _map_wrong_no_p, _map_wrong_no_psi,
                         _map_wrong_ml_weights])
def _map(answer: Any) -> str:
    for what, X, gamma, psi, nu, alpha in _map_cases():
        p, K = X.shape[1], gamma.shape[1]
        out = call(answer, X.copy(), gamma.copy(), psi.copy(), nu, alpha,
                   name="map_m_step")
        if not isinstance(out, tuple | list) or len(out) != 3:
            raise Wrong("map_m_step should return three arrays: (weights, means, "
                        "covariances)")
        w = as_array(out[0], (K,), f"the weights for {what}")
        mu = as_array(out[1], (K, p), f"the means for {what}")
        cov = as_array(out[2], (K, p, p), f"the covariances for {what}")
        if abs(w.sum() - 1) > 1e-8 or np.any(w <= 0):
            raise Wrong(f"the weights for {what} are not positive or do not sum to 1")
        nk = gamma.sum(axis=0)
        for k in range(K):
            floor = psi / (nk[k] + nu + p + 2)
            if np.linalg.eigvalsh(0.5 * (cov[k] + cov[k].T) - floor)[0] < 0:
                raise Wrong(f"{what}: your covariance of component {k + 1} is not bounded "
                            f"below by the prior's Ψ: with a component on {nk[k]:.0f} "
                            f"points' weight it can still collapse")
        ref = _map_reference(X, gamma, psi, nu, alpha)
        prior = gmm.GMMPrior(scale=psi, dof=nu, alpha=alpha)
        mine = gmm.GMMParams(w, mu, 0.5 * (cov + cov.transpose(0, 2, 1)))
        goal = _q_value(X, gamma, mine) + gmm.log_prior(mine, prior)
        best = _q_value(X, gamma, ref) + gmm.log_prior(ref, prior)
        if goal < best - 1e-8 * (1 + abs(best)):
            raise Wrong(f"{what}: Q + log p(θ) is lower at your parameters than at its "
                        f"maximum; off: your {_parts_off((w, mu, cov), ref, 'covariances')}")
        compare(cov, ref.covariances, rtol=1e-7, atol=1e-12,
                what=f"the covariances for {what}")
    return ("right: the MAP M-step, Σ_k = (A_k + Ψ)/(n_k + ν + p + 1) and "
            "w_k = (n_k + α - 1)/(N + K(α - 1)); no component can collapse.")
