"""em_helpers.models.gmm: K-component mixtures in p dimensions against scikit-learn and the algebra.

- From the same start, with the same reg_covar, tol=0 and a fixed number of iterations, our
  EM agrees with ``GaussianMixture`` to 1e-6, for every covariance type (iris, K=3).
- The statistics are additive: summed over chunks of rows they equal the one-chunk ones.
- The closed-form M-step (and the MAP M-step) equals a numerical argmax of Q (+ log prior).
- EM and MAP-EM never lower their objective; k-means equals scikit-learn's Lloyd k-means.
- The fast 1-D path equals the general tied model.
- Bad input raises errors that name the argument.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.mixture import GaussianMixture

import em_helpers as emh
import em_helpers.models.gmm as g

TYPES = g.COVARIANCE_TYPES


@pytest.fixture(scope="module")
def iris():
    return load_iris().data


def sklearn_from(start: g.GMMParams, n_iter: int, reg_covar: float) -> GaussianMixture:
    ct = start.covariance_type
    prec = np.linalg.inv(start.covariances) if ct in ("full", "tied") else 1 / start.covariances
    gm = GaussianMixture(
        start.n_components, covariance_type=ct, weights_init=start.weights,
        means_init=start.means, precisions_init=prec, reg_covar=reg_covar, tol=0,
        max_iter=n_iter,
    )
    return gm


@pytest.mark.parametrize("ctype", TYPES)
def test_agrees_with_sklearn_same_start_fixed_iterations(iris, ctype):
    start = g.init_params(iris, 3, method="kmeans++", covariance_type=ctype, seed=1)
    gm = sklearn_from(start, 40, 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn: "did not converge" (tol=0 on purpose)
        gm.fit(iris)
    assert gm.n_iter_ == 40
    model = g.GMM(iris, 3, ctype, reg_covar=1e-6)
    params = start
    for _ in range(40):
        params = model.step(params)
    np.testing.assert_allclose(params.weights, gm.weights_, atol=1e-6, rtol=0)
    np.testing.assert_allclose(params.means, gm.means_, atol=1e-6, rtol=0)
    np.testing.assert_allclose(params.covariances, gm.covariances_, atol=1e-6, rtol=0)
    assert g.loglik(iris, params) / len(iris) == pytest.approx(gm.score(iris), abs=1e-9)
    assert g.bic(iris, params) == pytest.approx(gm.bic(iris), abs=1e-6)
    assert g.n_parameters(3, 4, ctype) == gm._n_parameters()
    np.testing.assert_allclose(g.responsibilities(iris, params), gm.predict_proba(iris),
                               atol=1e-8)


def test_agrees_with_sklearn_through_run_em(iris):
    start = g.init_params(iris, 3, method="random", seed=3)
    gm = sklearn_from(start, 25, 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(iris)
    model = g.GMM(iris, 3, "full", reg_covar=1e-6)
    with pytest.warns(emh.ConvergenceWarning):
        params, res = model.fit(start, max_iter=25, tol=1e-15)
    assert res.n_iter == 25
    np.testing.assert_allclose(params.means, gm.means_, atol=1e-6)
    np.testing.assert_allclose(params.covariances, gm.covariances_, atol=1e-6)


@pytest.mark.parametrize("ctype", TYPES)
def test_chunked_statistics_add_up(iris, ctype):
    params = g.init_params(iris, 3, covariance_type=ctype, seed=0)
    whole = g.suff_stats(iris, params)
    parts = [g.suff_stats(chunk, params) for chunk in np.array_split(iris, [7, 60, 61, 130])]
    summed = sum(parts)
    assert summed.n == whole.n == len(iris)
    for name in ("nk", "s1", "s2"):
        np.testing.assert_allclose(getattr(summed, name), getattr(whole, name), rtol=1e-12,
                                   atol=1e-10)
    assert summed.loglik == pytest.approx(whole.loglik, rel=1e-13)
    assert summed.loglik == pytest.approx(g.loglik(iris, params), rel=1e-13)
    a, b = g.m_step(summed), g.m_step(whole)
    np.testing.assert_allclose(a.covariances, b.covariances, rtol=1e-11, atol=1e-13)
    # statistics at other parameters are moved onto our centres (online EM combines them);
    # their sum then belongs to no single theta, so its loglik is NaN
    other = g.suff_stats(iris, g.init_params(iris, 3, covariance_type=ctype, seed=9))
    mixed = whole + other
    assert np.isnan(mixed.loglik) and np.array_equal(mixed.center, whole.center)
    np.testing.assert_allclose(mixed.s1, whole.s1 + other.recentred(whole.center).s1)


def _tiny():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal([0, 0], 1.0, (12, 2)), rng.normal([3, 1], [0.5, 1.5], (9, 2))])
    theta_t = g.GMMParams([0.4, 0.6], [[0.5, 0.0], [2.0, 1.0]],
                          np.array([np.eye(2), [[1.0, 0.3], [0.3, 2.0]]]), "full")
    return X, theta_t


def _unflatten(v, K, p):
    w = np.exp(v[:K] - np.logaddexp.reduce(v[:K]))
    mu = v[K:K + K * p].reshape(K, p)
    Ls = []
    rest = v[K + K * p:].reshape(K, -1)
    rows, cols = np.tril_indices(p)
    for k in range(K):
        L = np.zeros((p, p))
        L[rows, cols] = rest[k]
        L[np.diag_indices(p)] = np.exp(np.diag(L))
        Ls.append(L)
    cov = np.array([L @ L.T for L in Ls])
    return g.GMMParams(w, mu, cov, "full")


def _flatten(params):
    K, p = params.means.shape
    rows, cols = np.tril_indices(p)
    out = [np.log(params.weights), params.means.ravel()]
    for S in params.covariances:
        L = np.linalg.cholesky(S)
        L[np.diag_indices(p)] = np.log(np.diag(L))
        out.append(L[rows, cols])
    return np.concatenate(out)


@pytest.mark.parametrize("with_prior", [False, True], ids=["ml", "map"])
def test_m_step_is_numerical_argmax_of_Q(with_prior):
    X, theta_t = _tiny()
    gamma = g.responsibilities(X, theta_t)
    prior = g.GMMPrior(scale=0.5 * np.eye(2), dof=4.0, alpha=2.0, kappa=0.5,
                       mean=np.zeros(2)) if with_prior else None

    def Q(params):
        val = float(np.sum(gamma * g.log_joint(X, params)))
        return val + (g.log_prior(params, prior) if prior else 0.0)

    closed = g.m_step(g.suff_stats(X, theta_t), reg_covar=0.0, prior=prior)
    res = optimize.minimize(lambda v: -Q(_unflatten(v, 2, 2)), _flatten(theta_t), method="BFGS",
                            options={"gtol": 1e-9})
    numeric = _unflatten(res.x, 2, 2)
    assert Q(closed) >= Q(numeric) - 1e-9
    np.testing.assert_allclose(numeric.weights, closed.weights, atol=1e-5)
    np.testing.assert_allclose(numeric.means, closed.means, atol=1e-5)
    np.testing.assert_allclose(numeric.covariances, closed.covariances, atol=1e-5)


def test_log_prior_matches_scipy_pieces():
    prior = g.GMMPrior(scale=np.eye(2), dof=3.0, alpha=1.5, kappa=1.0, mean=[0.0, 1.0])
    _, params = _tiny()
    want = stats.dirichlet.logpdf(params.weights, [1.5, 1.5]) + sum(
        stats.invwishart.logpdf(S, 3.0, np.eye(2))
        + stats.multivariate_normal.logpdf(m, [0.0, 1.0], S) for m, S in
        zip(params.means, params.covariances, strict=True)
    )
    assert g.log_prior(params, prior) == pytest.approx(want, rel=1e-12)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(11)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    return np.vstack([rng.normal(c, [1.0, 0.7], (100, 2)) for c in centres])


@pytest.mark.parametrize("ctype", TYPES)
def test_em_ascends_without_floor(blobs, ctype):
    start = g.init_params(blobs, 3, method="random", covariance_type=ctype, seed=2)
    model = g.GMM(blobs, 3, ctype, reg_covar=0.0)
    params, res = model.fit(start, tol=1e-7, max_iter=2000)  # check_ascent on (reg_covar=0)
    assert res.converged
    assert np.all(np.diff(res.logliks) >= -1e-9 * np.abs(res.logliks[1:]))
    # at the fixed point the observed score is zero in every direction: one more step is null
    again = model.step(params)
    np.testing.assert_allclose(again.means, params.means, atol=1e-5)


def test_map_em_ascends_in_log_posterior(blobs):
    prior = g.GMMPrior(scale=0.1 * np.eye(2), dof=4.0, alpha=2.0, kappa=0.01, mean=[1.0, 1.0])
    start = g.init_params(blobs, 3, method="random", seed=4, reg_covar=0.0)
    _, res = g.GMM(blobs, 3, prior=prior, reg_covar=0.0).fit(start, tol=1e-7, max_iter=2000)
    assert res.converged and np.all(np.diff(res.logliks) >= -1e-9)


def test_collapse_without_floor_raises_and_prior_prevents_it():
    X = np.array([[0.0], [0.1], [0.2], [0.3], [5.0]])
    start = g.GMMParams([0.8, 0.2], [[0.15], [5.0]], np.array([[[0.1]], [[1.0]]]), "full")
    model = g.GMM(X, 2, reg_covar=0.0)
    lls, params = [], start
    with pytest.raises(ValueError, match="component 1 is not positive definite"):
        for _ in range(200):
            params = model.step(params)
            lls.append(g.loglik(X, params))
    assert lls[-1] > 20 and np.all(np.diff(lls) > 0)  # l -> +inf as sigma_2 -> 0
    prior = g.GMMPrior(scale=0.01 * np.eye(1), dof=1.0)
    fit, res = g.GMM(X, 2, reg_covar=0.0, prior=prior).fit(start, tol=1e-10)
    # n_2 -> 1, S_2 -> 0: Sigma_2 -> Psi / (n_2 + nu + p + 1)
    assert fit.covariances[1, 0, 0] == pytest.approx(0.01 / (1 + 1 + 1 + 1), rel=1e-6)


def test_fast_path_equals_general_tied_model():
    x = np.loadtxt(emh.__path__[0] + "/../data/faithful.csv", delimiter=",", skiprows=1)[:, 1]
    fast = g.TwoGaussiansSharedVariance(x)
    general = g.GMM(x, 2, "tied", reg_covar=0.0)
    theta = np.array([50.0, 80.0, 0.5, 10.0])
    for _ in range(5):
        params = g.GMMParams([theta[2], 1 - theta[2]], theta[:2, None], [[theta[3] ** 2]], "tied")
        assert fast.loglik(theta) == pytest.approx(g.loglik(x, params), rel=1e-13)
        new = general.step(params)
        theta = fast.m_step(fast.e_step(theta))
        np.testing.assert_allclose(theta, [new.means[0, 0], new.means[1, 0], new.weights[0],
                                           np.sqrt(new.covariances[0, 0])], rtol=1e-12)
    res = emh.run_em(fast.e_step, fast.m_step, [50.0, 80.0, 0.5, 10.0], loglik=fast.loglik,
                     tol=1e-12)
    np.testing.assert_allclose(res.theta, [54.6136, 80.0903, 0.36085, 5.86909], atol=1e-4)
    # far tails: the log-odds clip keeps the log-likelihood exact
    far = np.array([54.6, 80.0, 0.36, 0.05])
    p = g.GMMParams([0.36, 0.64], [[54.6], [80.0]], [[0.05**2]], "tied")
    assert fast.loglik(far) == pytest.approx(g.loglik(x, p), rel=1e-12)


def test_kmeans_matches_sklearn_lloyd(iris):
    rng = np.random.default_rng(0)
    c0 = g.kmeans_plusplus(iris, 3, rng)
    ours = g.kmeans(iris, c0)
    sk = KMeans(3, init=c0, n_init=1, algorithm="lloyd", tol=0).fit(iris)
    np.testing.assert_allclose(ours.centers, sk.cluster_centers_, atol=1e-10)
    assert ours.inertia[-1] == pytest.approx(sk.inertia_, rel=1e-10)
    assert np.all(np.diff(ours.inertia) <= 1e-9)


def test_kmeans_is_the_small_sigma_limit(iris):
    centers = g.kmeans_plusplus(iris, 3, np.random.default_rng(1))
    params = g.GMMParams(np.full(3, 1 / 3), centers, np.full(3, 1e-4), "spherical")
    gamma = g.responsibilities(iris, params)
    labels = g._sq_dist(iris, centers).argmin(axis=1)
    np.testing.assert_array_equal(gamma.argmax(axis=1), labels)
    assert np.all(gamma.max(axis=1) > 1 - 1e-12)


def test_init_methods_and_ordering(iris):
    for method in ("kmeans++", "kmeans", "random"):
        p = g.init_params(iris, 3, method=method, seed=0)
        assert p.weights.sum() == pytest.approx(1) and np.all(p.weights > 0)
    a = g.init_params(iris, 3, method="short-em", seed=7, n_short=3, short_iter=5)
    b = g.init_params(iris, 3, method="short-em", seed=7, n_short=3, short_iter=5)
    np.testing.assert_array_equal(a.means, b.means)  # seeded
    o = g.order_components(a)
    assert np.all(np.diff(o.means[:, 0]) >= 0)
    assert g.loglik(iris, o) == pytest.approx(g.loglik(iris, a), rel=1e-13)


def test_icl_is_bic_plus_entropy(iris):
    p = g.init_params(iris, 3, seed=0)
    s = g.suff_stats(iris, p)
    assert g.icl(iris, p) == pytest.approx(g.bic(iris, p) + 2 * s.entropy, rel=1e-12)
    assert g.icl(iris, p) >= g.bic(iris, p)


def test_bad_input_names_the_argument(iris):
    p = g.init_params(iris, 2, seed=0)
    with pytest.raises(ValueError, match="covariance_type"):
        g.GMM(iris, 2, "banana")
    with pytest.raises(ValueError, match="NaN"):
        g.suff_stats(np.where(iris == iris[0, 0], np.nan, iris), p)
    with pytest.raises(ValueError, match="features"):
        g.loglik(iris[:, :3], p)
    with pytest.raises(ValueError, match="reg_covar"):
        g.m_step(g.suff_stats(iris, p), reg_covar=-1.0)
    with pytest.raises(ValueError, match="n_components"):
        g.init_params(iris, 0)
    with pytest.raises(TypeError, match="n_components"):
        g.init_params(iris, 2.5)
    with pytest.raises(ValueError, match="method"):
        g.init_params(iris, 2, method="magic")
    with pytest.raises(ValueError, match="weights"):
        g.GMMParams([0.5, 0.6], [[0.0], [1.0]], [1.0, 1.0], "spherical")
    with pytest.raises(ValueError, match="shape"):
        g.GMMParams([0.5, 0.5], [[0.0], [1.0]], [1.0], "spherical")
    with pytest.raises(TypeError, match="X"):
        g.loglik("abc", p)
    with pytest.raises(ValueError, match="dof"):
        g.GMMPrior(scale=np.eye(2), dof=0.5)
    with pytest.raises(ValueError, match="prior.scale"):  # a prior of another size
        g.m_step(g.suff_stats(iris, g.init_params(iris, 2, covariance_type="diag")),
                 prior=g.GMMPrior(scale=np.eye(3), dof=5.0))
    with pytest.raises(ValueError, match="pi"):
        g.TwoGaussiansSharedVariance([1.0, 2.0, 3.0]).e_step([1.0, 2.0, 1.5, 1.0])


@pytest.mark.parametrize("ctype", TYPES)
def test_batched_and_looped_paths_agree(iris, ctype, monkeypatch):
    params = g.init_params(iris, 3, covariance_type=ctype, seed=0)
    batched = g.suff_stats(iris, params)
    monkeypatch.setattr(g, "_BATCH", 0)  # force the loop over components
    looped = g.suff_stats(iris, params)
    for name in ("nk", "s1", "s2"):
        np.testing.assert_allclose(getattr(batched, name), getattr(looped, name), rtol=1e-12,
                                   atol=1e-12)
    assert batched.loglik == pytest.approx(looped.loglik, rel=1e-14)
    assert batched.entropy == pytest.approx(looped.entropy, rel=1e-10)
