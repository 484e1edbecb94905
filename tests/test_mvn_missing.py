"""em_helpers.models.mvn_missing: the normal with missing values, and mixtures with NaN in X.

- Little & Rubin's apple data (mvnmle's ``apple``): EM equals the factored-likelihood
  closed form to 1e-9 and R mvnmle's ``mlest`` to its own accuracy; the log-likelihood
  equals mvnmle's up to the 2π constant.
- The sweep operator: SWP then RSW is the identity, SWP on everything is minus the inverse,
  and the E-step through the sweep equals the Cholesky one.
- Non-monotone data: EM's fixed point zeroes the analytic score (itself checked against
  finite differences) and equals a direct BFGS maximisation of the observed likelihood.
- The complete-data information, SEM against the inverse observed information, the batch
  fitter against one-at-a-time fits, regression imputation's downward bias, Rubin's rules,
  conditional draws.
- Mixtures: with nothing missing ``MissingGMM`` is ``gmm.GMM`` step for step (every
  covariance type); with K = 1 it is the normal's EM; EM ascends with NaN in X.
- Bad input (a column never observed, a row all missing, inf, wrong types) is named.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

import em_helpers as emh
from em_helpers.models import gmm
from em_helpers.models import mvn_missing as mm

ROOT = Path(__file__).resolve().parents[1]

# R mvnmle 0.1-11 mlest(apple) (nlm, gradient ~1e-5), as recorded by
# haishuo/pymvnmle tests/references/apple_reference.json (generated with R)
MVNMLE_MU = np.array([14.722265587140136, 49.333248446740669])
MVNMLE_SIGMA = np.array([[89.534149681512773, -90.696532296720122],
                         [-90.696532296720122, 114.69470032845283]])
MVNMLE_LOGLIK = -74.217476133121025  # without the -(n_obs/2) log(2 pi) term


def load(name: str) -> np.ndarray:
    return np.genfromtxt(ROOT / "data" / name, delimiter=",", skip_header=1,
                         missing_values="NA", filling_values=np.nan)


@pytest.fixture(scope="module")
def apple():
    return load("apple.csv")


@pytest.fixture(scope="module")
def air():
    return load("airquality.csv")[:, :4]


def random_missing(rng, n=60, p=3, rate=0.25, rho=0.5):
    sd = np.sqrt(np.arange(1, p + 1))
    cov = (rho * np.ones((p, p)) + (1 - rho) * np.eye(p)) * np.outer(sd, sd)
    X = rng.multivariate_normal(np.arange(p, dtype=float), cov, n)
    X[rng.random(X.shape) < rate] = np.nan
    return X[~np.isnan(X).all(axis=1)]


def test_apple_data_and_published_mle(apple):
    assert apple.shape == (18, 2) and np.isnan(apple[:, 1]).sum() == 6
    model = mm.MVNMissing(apple)
    res = model.fit(tol=1e-13)
    assert res.converged
    mu, sigma = mm.unpack(res.theta, 2)
    mu_c, sigma_c = mm.monotone_mle(apple)
    np.testing.assert_allclose(mu, mu_c, rtol=1e-10)
    np.testing.assert_allclose(sigma, sigma_c, rtol=1e-9)
    np.testing.assert_allclose(mu, MVNMLE_MU, rtol=1e-5)
    np.testing.assert_allclose(sigma, MVNMLE_SIGMA, rtol=1e-5)
    n_obs = int((~np.isnan(apple)).sum())
    assert res.loglik + 0.5 * n_obs * np.log(2 * np.pi) == pytest.approx(MVNMLE_LOGLIK, abs=1e-8)
    assert mu[0] == pytest.approx(np.mean(apple[:, 0]))  # size is always observed


def test_sweep_operator():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((5, 5))
    G = A @ A.T + 5 * np.eye(5)
    np.testing.assert_allclose(mm.reverse_sweep(mm.sweep(G, [1, 3]), [3, 1]), G, atol=1e-12)
    np.testing.assert_allclose(mm.sweep(G, range(5)), -np.linalg.inv(G), rtol=1e-10)
    np.testing.assert_allclose(mm.sweep(G, [0, 2]), mm.sweep(G, [2, 0]), atol=1e-12)
    # augmented matrix: sweeping on the observed coordinates gives the regression
    mu = rng.standard_normal(4)
    S = G[:4, :4]
    aug = np.block([[-np.ones((1, 1)), mu[None]], [mu[:, None], S]])
    o, m = np.array([0, 2]), np.array([1, 3])
    H = mm.sweep(aug, o + 1)
    B = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
    np.testing.assert_allclose(H[np.ix_(o + 1, m + 1)], B.T, rtol=1e-10)
    np.testing.assert_allclose(H[0, m + 1], mu[m] - B @ mu[o], rtol=1e-10)
    np.testing.assert_allclose(H[np.ix_(m + 1, m + 1)], S[np.ix_(m, m)] - B @ S[np.ix_(o, m)],
                               rtol=1e-10)
    with pytest.raises(ValueError, match="pivot"):
        mm.sweep(np.zeros((2, 2)), [0])


def test_sweep_and_cholesky_e_steps_agree(air):
    model = mm.MVNMissing(air)
    theta = model.start()
    theta[4 + 1] = 0.3 * np.sqrt(theta[4] * theta[4 + 2])  # some covariance
    a = mm.e_step(model.patterns, theta, method="cholesky")
    b = mm.e_step(model.patterns, theta, method="sweep")
    np.testing.assert_allclose(a.s1, b.s1, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a.s2, b.s2, rtol=1e-12)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-13)
    assert a.loglik == pytest.approx(mm.loglik(air, theta), rel=1e-13)
    with pytest.raises(ValueError, match="method"):
        mm.e_step(air, theta, method="qr")


def test_score_matches_finite_differences():
    X = random_missing(np.random.default_rng(0))
    model = mm.MVNMissing(X)
    theta = model.fit(tol=1e-6).theta + 0.05
    h = 1e-6
    fd = np.array([(model.loglik(theta + h * e) - model.loglik(theta - h * e)) / (2 * h)
                   for e in np.eye(theta.size)])
    np.testing.assert_allclose(model.score(theta), fd, rtol=1e-6, atol=1e-6)


def _cholesky_vector(theta, p):
    mu, sigma = mm.unpack(theta, p)
    L = np.linalg.cholesky(sigma)
    L[np.diag_indices(p)] = np.log(np.diag(L))
    return np.concatenate([mu, L[np.tril_indices(p)]])


def _from_cholesky_vector(v, p):
    L = np.zeros((p, p))
    L[np.tril_indices(p)] = v[p:]
    L[np.diag_indices(p)] = np.exp(np.diag(L))
    return mm.pack(v[:p], L @ L.T)


def test_non_monotone_em_equals_direct_maximisation(air):
    model = mm.MVNMissing(air)
    res = model.fit(tol=1e-12)
    assert res.converged and np.all(np.diff(res.logliks) >= -1e-9)
    with pytest.raises(ValueError, match="not monotone"):
        mm.monotone_mle(air)
    # the score at the fixed point, relative to the parameters' scale
    sd = np.sqrt(np.diag(mm.unpack(res.theta, 4)[1]))
    scale = np.concatenate([sd, (sd[:, None] * sd)[np.tril_indices(4)]])
    assert np.max(np.abs(model.score(res.theta) * scale)) < 1e-6
    p = 4
    start = mm.pack(np.nanmean(air, axis=0), np.diag(np.nanvar(air, axis=0)))

    rows, cols = np.tril_indices(p)

    def f(v):  # -l and its gradient in v, by the chain rule from the score
        theta = _from_cholesky_vector(v, p)
        s = model.score(theta)
        G = np.zeros((p, p))
        G[rows, cols] = np.where(rows == cols, s[p:], s[p:] / 2)
        G = G + np.tril(G, -1).T
        L = np.zeros((p, p))
        L[rows, cols] = v[p:]
        L[np.diag_indices(p)] = np.exp(np.diag(L))
        dL = (2 * G @ L)[rows, cols]
        dL[rows == cols] *= np.diag(L)
        return -model.loglik(theta), -np.concatenate([s[:p], dL])

    direct = optimize.minimize(f, _cholesky_vector(start, p), jac=True, method="BFGS",
                               options={"gtol": 1e-8, "maxiter": 5000})
    theta_d = _from_cholesky_vector(direct.x, p)
    assert -direct.fun <= res.loglik + 1e-8
    assert res.loglik + direct.fun < 1e-8
    assert np.max(np.abs(theta_d - res.theta) / scale) < 1e-6


def test_closed_form_m_step_is_argmax_of_q():
    X = random_missing(np.random.default_rng(5), n=40, p=2)
    model = mm.MVNMissing(X)
    theta_t = model.start()
    stats = model.e_step(theta_t)
    mu_c, sig_c = mm.unpack(model.m_step(stats), 2)

    def q(theta):  # Q up to a constant, from the expected statistics about c
        mu, sigma = mm.unpack(theta, 2)
        lam = np.linalg.inv(sigma)
        d = mu - stats.center
        cross = np.outer(stats.s1, d)
        scatter = stats.s2 - cross - cross.T + stats.n * np.outer(d, d)
        return -0.5 * stats.n * np.linalg.slogdet(sigma)[1] - 0.5 * np.trace(lam @ scatter)

    num = optimize.minimize(lambda v: -q(_from_cholesky_vector(v, 2)),
                            _cholesky_vector(theta_t, 2), method="BFGS",
                            options={"gtol": 1e-10})
    np.testing.assert_allclose(_from_cholesky_vector(num.x, 2), mm.pack(mu_c, sig_c),
                               rtol=1e-5, atol=1e-6)


def test_complete_info_is_the_complete_data_hessian():
    rng = np.random.default_rng(1)
    X = rng.multivariate_normal([1.0, -2.0], [[2, 0.5], [0.5, 1]], 80)
    model = mm.MVNMissing(X)
    res = model.fit(tol=1e-13)
    info = emh.observed_information(model.loglik, res.theta)
    np.testing.assert_allclose(model.complete_info(res.theta), info, rtol=1e-5, atol=1e-6)


def test_sem_equals_inverse_observed_information(apple):
    model = mm.MVNMissing(apple)
    res = model.fit(tol=1e-13)
    sem = emh.sem_covariance(model.e_step, model.m_step, res, model.complete_info)
    assert sem.converged
    v = np.linalg.inv(emh.observed_information(model.loglik, res.theta))
    np.testing.assert_allclose(sem.se, np.sqrt(np.diag(v)), rtol=1e-5)
    # size is always observed: no information about mu_size or sigma_size is missing
    assert np.sqrt(v[0, 0]) == pytest.approx(np.sqrt(res.theta[2] / 18), rel=1e-6)


def test_fit_batch_equals_single_fits():
    rng = np.random.default_rng(2)
    sets = np.stack([random_missing(np.random.default_rng(s), n=50)[:40] for s in range(4)])
    batch = mm.fit_batch(sets, tol=1e-12)
    assert batch.converged.all()
    for r in range(4):
        single = mm.MVNMissing(sets[r]).fit(tol=1e-12)
        np.testing.assert_allclose(batch.theta[r], single.theta, rtol=1e-8, atol=1e-9)
        assert batch.loglik[r] == pytest.approx(single.loglik, rel=1e-8)
    bad = sets.copy()
    bad[2, :, 1] = np.nan
    with pytest.raises(ValueError, match=r"X\[2\]"):
        mm.fit_batch(bad)
    assert rng is not None


def test_monotone_closed_form_three_blocks():
    rng = np.random.default_rng(7)
    X = rng.multivariate_normal([0, 1, 2, 3], np.eye(4) + 0.6, 120)
    X[80:, 2:] = np.nan  # variables 2, 3 observed on the first 80 rows
    X[50:, 1] = np.nan  # variable 1 on the first 50
    X[50:80, 1] = np.nan
    mu, sigma = mm.monotone_mle(X)
    res = mm.MVNMissing(X).fit(tol=1e-13)
    np.testing.assert_allclose(mm.pack(mu, sigma), res.theta, rtol=1e-8, atol=1e-10)


def test_regression_imputation_understates_sigma(apple):
    model = mm.MVNMissing(apple)
    em = model.fit(tol=1e-13).theta
    ri = emh.run_em(lambda th: model.e_step(th, correction=False), model.m_step, model.start(),
                    tol=1e-13, max_iter=10_000)
    assert ri.converged
    s_em, s_ri = mm.unpack(em, 2)[1], mm.unpack(ri.theta, 2)[1]
    assert s_ri[1, 1] < s_em[1, 1]
    # at the regression-imputation fixed point the gap is the correction it leaves out
    stats = model.e_step(ri.theta)
    assert s_em[1, 1] - s_ri[1, 1] > 0.5 * stats.correction[1, 1] / 18
    np.testing.assert_allclose(mm.unpack(ri.theta, 2)[0][0], em[0])


def test_rubin_rules_by_hand():
    q = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0]])
    u = np.array([[0.5, 1.0], [0.5, 1.0], [0.5, 1.0]])
    r = mm.rubin(q, u)
    np.testing.assert_allclose(r.estimate, [2.0, 10.0])
    np.testing.assert_allclose(r.between, [1.0, 0.0])
    np.testing.assert_allclose(r.total, [0.5 + 4 / 3, 1.0])
    assert r.fmi[1] == 0 and np.isinf(r.df[1])
    rr = (4 / 3) / 0.5
    assert r.df[0] == pytest.approx(2 * (1 + 1 / rr) ** 2)
    lo, hi = r.interval()
    assert lo[1] == pytest.approx(10 - 1.959964, abs=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        mm.rubin(q[:1], u[:1])


def test_draws_keep_observed_values_and_match_conditional_moments(apple):
    model = mm.MVNMissing(apple)
    theta = model.fit(tol=1e-12).theta
    draws = np.stack([model.draw(theta, rng) for rng in range(400)])
    obs = ~np.isnan(apple)
    assert np.all(draws[:, obs] == apple[obs])
    mean = model.impute(theta)
    mu, sigma = mm.unpack(theta, 2)
    cond_sd = np.sqrt(sigma[1, 1] - sigma[0, 1] ** 2 / sigma[0, 0])
    z = (draws[:, 12:, 1].mean(axis=0) - mean[12:, 1]) / (cond_sd / np.sqrt(400))
    assert np.all(np.abs(z) < 4)
    assert (draws[:, 12:, 1] - mean[12:, 1]).std() == pytest.approx(cond_sd, rel=0.05)


@pytest.mark.parametrize("ctype", gmm.COVARIANCE_TYPES)
def test_mixture_without_missing_values_is_gmm(ctype):
    from sklearn.datasets import load_iris

    X = load_iris().data
    start = gmm.init_params(X, 3, covariance_type=ctype, seed=1)
    a, b = gmm.GMM(X, 3, ctype, reg_covar=1e-6), mm.MissingGMM(X, 3, ctype, reg_covar=1e-6)
    pa = pb = start
    for _ in range(15):
        pa, pb = a.step(pa), b.step(pb)
    np.testing.assert_allclose(pa.pack(), pb.pack(), rtol=1e-9, atol=1e-12)
    assert gmm.loglik(X, pa) == pytest.approx(mm.mixture_loglik(X, pb), rel=1e-12)


def test_one_component_mixture_is_the_normal_em():
    X = random_missing(np.random.default_rng(4), n=80, p=3)
    params, res = mm.MissingGMM(X, 1, "full", reg_covar=0.0).fit(tol=1e-12)
    single = mm.MVNMissing(X).fit(tol=1e-12)
    mu, sigma = mm.unpack(single.theta, 3)
    np.testing.assert_allclose(params.means[0], mu, rtol=1e-8)
    np.testing.assert_allclose(params.covariances[0], sigma, rtol=1e-8)
    assert res.loglik == pytest.approx(single.loglik, rel=1e-10)
    np.testing.assert_allclose(mm.mixture_impute(X, params), mm.impute(X, single.theta),
                               rtol=1e-7)


def test_mixture_em_ascends_and_marginalises():
    rng = np.random.default_rng(8)
    z = rng.random(300) < 0.4
    a, b = rng.normal([0, 0, 0], 1, (300, 3)), rng.normal([4, 4, -3], 1, (300, 3))
    X = np.where(z[:, None], a, b)
    X[rng.random(X.shape) < 0.3] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    model = mm.MissingGMM(X, 2, "full", reg_covar=0.0)
    params, res = model.fit(tol=1e-9, max_iter=500)  # reg_covar=0: the ascent check is on
    assert res.converged and np.all(np.diff(res.logliks) >= -1e-9 * abs(res.loglik))
    assert np.sort(params.weights) == pytest.approx([0.4, 0.6], abs=0.07)
    g = mm.mixture_responsibilities(X, params)
    assert g.shape == (X.shape[0], 2) and np.allclose(g.sum(axis=1), 1)
    for ctype in ("tied", "diag", "spherical"):
        _, r = mm.MissingGMM(X, 2, ctype).fit(tol=1e-7, max_iter=500)
        assert r.converged


def test_gmm_with_nan_in_x_delegates_to_missing_gmm():
    rng = np.random.default_rng(9)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(5, 1, (40, 2))])
    assert type(gmm.GMM(X, 2)) is gmm.GMM
    X[rng.random(X.shape) < 0.2] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    model = gmm.GMM(X, 2, "full", reg_covar=1e-6)
    assert isinstance(model, mm.MissingGMM) and model.covariance_type == "full"
    start = model.init(seed=0)
    params, res = model.fit(start, tol=1e-8, max_iter=500)
    direct, res2 = mm.MissingGMM(X, 2, reg_covar=1e-6).fit(start, tol=1e-8, max_iter=500)
    assert res.converged and np.allclose(params.pack(), direct.pack())
    assert np.sort(params.means[:, 0]) == pytest.approx([0, 5], abs=0.5)
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        gmm.GMM(X, 2)


def test_sklearn_gaussian_mixture_refuses_nan():
    from sklearn.mixture import GaussianMixture

    X = np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 0.5], [2.0, 2.0]])
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(1).fit(X)


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (None, TypeError, "X must be"),
        ("abc", TypeError, "X must be"),
        (np.array([[1 + 1j, 2]]), TypeError, "real numbers"),
        (np.zeros((2, 2, 2)), ValueError, "2-D"),
        (np.zeros((0, 2)), ValueError, "empty"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), ValueError, r"infinite value.*row 0, column 1"),
        (np.array([[1.0, np.nan], [2.0, np.nan]]), ValueError, r"column\(s\) \[1\] of X are never"),
        (np.array([[1.0, 2.0], [np.nan, np.nan]]), ValueError, r"row\(s\) of X have no observed"),
    ],
)
def test_bad_input_is_named(X, error, match):
    with pytest.raises(error, match=match):
        mm.check_data(X)
    with pytest.raises(error, match=match):
        mm.MVNMissing(X)
    with pytest.raises(error, match=match):
        mm.MissingGMM(X, 1)


def test_bad_options():
    X = random_missing(np.random.default_rng(0))
    with pytest.raises(ValueError, match="method"):
        mm.MVNMissing(X, method="lu")
    with pytest.raises(ValueError, match="columns"):
        mm.MVNMissing(X, columns=["a"])
    with pytest.raises(ValueError, match="covariance_type"):
        mm.MissingGMM(X, 2, "banded")
    with pytest.raises(ValueError, match="reg_covar"):
        mm.MissingGMM(X, 2, reg_covar=-1.0)
    with pytest.raises(TypeError, match="n_components"):
        mm.MissingGMM(X, 2.0)
    with pytest.raises(ValueError, match="theta0"):
        mm.MVNMissing(X).fit(mm.pack(np.zeros(3), -np.eye(3)))
    with pytest.raises(ValueError, match="theta must have"):
        mm.unpack(np.zeros(4), 3)
    with pytest.raises(ValueError, match="p=2"):
        mm.mixture_loglik(X, gmm.GMMParams([1.0], [[0.0, 0.0]], [np.eye(2)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mm.MVNMissing(X).fit(tol=1e-8)  # no warning on a plain fit
