"""Issue 21: MAP-EM for every covariance type, the two ICLs, the bootstrap LR statistic,
the noise component, incremental EM and data on disk."""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
import pytest
from scipy import stats

from em_helpers.models import gmm
from em_helpers.models.gmm_noise import NoiseGMM
from em_helpers.models.normal_mixture import mixture_m_step, mixture_sample, mixture_stats
from em_helpers.streaming import (
    NpyBlocks,
    SeededBlocks,
    chunked_e_step,
    chunked_em,
    dask_e_step,
    incremental_em,
    online_em,
    write_npy,
)

TYPES = gmm.COVARIANCE_TYPES
TRUE = np.array([-2.0, 2.0, 0.35, 1.0, 0.8])
START = np.array([-1.0, 1.0, 0.5, 1.5, 1.5])


def _two_blobs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal([0, 0], [1, 0.5], (20, 2)), rng.normal([3, 2], [0.6, 1], (15, 2))])


def _prior(kappa: float) -> gmm.GMMPrior:
    return gmm.GMMPrior(scale=np.array([[0.5, 0.1], [0.1, 0.3]]), dof=4.0, alpha=2.0,
                        kappa=kappa, mean=np.array([1.0, 0.5]))


@pytest.mark.parametrize("kappa", [0.0, 0.5])
@pytest.mark.parametrize("ctype", TYPES)
def test_log_prior_matches_scipy(ctype, kappa):
    X, prior = _two_blobs(), _prior(kappa)
    params = gmm.init_params(X, 2, covariance_type=ctype, seed=1)
    full = params.full_covariances()
    want = stats.dirichlet.logpdf(params.weights, [2.0, 2.0])
    if ctype == "tied":
        want += stats.invwishart.logpdf(full[0], 4.0, prior.scale)
    for k in range(2):
        if ctype == "full":
            want += stats.invwishart.logpdf(full[k], 4.0, prior.scale)
        elif ctype == "diag":
            want += sum(stats.invgamma.logpdf(full[k][j, j], 2.0, scale=prior.scale[j, j] / 2)
                        for j in range(2))
        elif ctype == "spherical":
            want += stats.invgamma.logpdf(full[k][0, 0], 2.0, scale=np.trace(prior.scale) / 4)
        if kappa > 0:
            want += stats.multivariate_normal.logpdf(params.means[k], prior.mean,
                                                     full[k] / kappa)
    assert gmm.log_prior(params, prior) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("kappa", [0.0, 0.5])
@pytest.mark.parametrize("ctype", TYPES)
def test_map_m_step_is_the_argmax(ctype, kappa):
    """Q + log prior at the closed form beats every small perturbation (a local argmax of a
    concave-in-the-natural-parameters objective), and its directional derivatives vanish."""
    X, prior = _two_blobs(), _prior(kappa)
    start = gmm.init_params(X, 2, covariance_type=ctype, seed=1)
    gamma = gmm.responsibilities(X, start)

    def objective(params):
        return float(np.sum(gamma * gmm.log_joint(X, params))) + gmm.log_prior(params, prior)

    closed = gmm.m_step(gmm.suff_stats(X, start), reg_covar=0.0, prior=prior)
    v0, steps = closed.pack(), gmm.GMMSteps(2, 2, ctype)
    best = objective(closed)
    rng = np.random.default_rng(3)
    for _ in range(60):
        d = rng.normal(size=v0.size)
        d[:2] = [d[0], -d[0]]  # keep the weights on the simplex
        if ctype in ("full",):
            d[6:] = (d[6:].reshape(2, 2, 2) + d[6:].reshape(2, 2, 2).transpose(0, 2, 1)).ravel()
        if ctype == "tied":
            d[6:] = (d[6:].reshape(2, 2) + d[6:].reshape(2, 2).T).ravel()
        d /= np.abs(d).max()
        up, down = (objective(steps.params(v0 + s * 1e-4 * d)) for s in (1, -1))
        assert up <= best + 1e-12 and down <= best + 1e-12
        h = 1e-6  # the directional derivative is 0
        up, down = (objective(steps.params(v0 + s * h * d)) for s in (1, -1))
        assert abs(up - down) / (2 * h) < 1e-4


@pytest.mark.parametrize("ctype", TYPES)
def test_map_em_ascends_and_never_collapses(ctype):
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.2, 0.1], [0.3, 0.1], [5.0, 5.0], [5.0, 5.0]])
    prior = gmm.GMMPrior.default(X, 2, ctype)
    start = gmm.GMMParams([0.7, 0.3], [[0.15, 0.05], [5.0, 5.0]],
                          gmm.init_params(X, 2, covariance_type=ctype, seed=0).covariances,
                          ctype)
    model = gmm.GMM(X, 2, ctype, reg_covar=0.0, prior=prior)
    fit, res = model.fit(start, tol=1e-10, max_iter=5000)  # ascent checked (MAP)
    assert res.converged and np.all(np.diff(res.logliks) >= -1e-9 * abs(res.loglik))
    assert np.all(np.linalg.eigvalsh(fit.full_covariances()) > 1e-4)


def test_default_prior_is_fraley_raftery():
    X = _two_blobs()
    for ctype in TYPES:
        prior = gmm.GMMPrior.default(X, 3, ctype)
        assert prior.dof == 4.0 and prior.kappa == 0.01 and prior.alpha == 1.0
        np.testing.assert_allclose(prior.mean, X.mean(axis=0))
        var = np.cov(X.T) / 3.0  # K^(2/p) = 3 for p = 2
        want = {"full": var, "tied": var, "diag": np.diag(np.diag(var)),
                "spherical": np.trace(var) / 2 * np.eye(2)}[ctype]
        np.testing.assert_allclose(prior.scale, want)


def test_icl_map_penalises_at_least_as_much_as_soft():
    X = _two_blobs()
    params, _ = gmm.GMM(X, 2).fit(gmm.init_params(X, 2, seed=0))
    soft, hard, bic = gmm.icl(X, params), gmm.icl(X, params, kind="map"), gmm.bic(X, params)
    g = gmm.responsibilities(X, params)
    assert hard == pytest.approx(bic - 2 * np.log(g.max(axis=1)).sum(), rel=1e-12)
    assert bic <= hard <= soft  # -log max_k gamma_ik <= the entropy of gamma_i
    with pytest.raises(ValueError, match="kind"):
        gmm.icl(X, params, kind="hard")


def test_shared_variance_lr_is_twice_the_log_likelihood_gain():
    x = np.loadtxt(gmm.__file__.rsplit("/em_helpers/", 1)[0] + "/data/faithful.csv",
                   delimiter=",", skiprows=1)[:, 1]
    lr, per = gmm.shared_variance_lr(x)
    ll1 = stats.norm.logpdf(x, x.mean(), x.std()).sum()
    tied = gmm.GMM(x, 2, "tied", reg_covar=0.0)
    _, res = tied.fit(gmm.GMMParams([0.36, 0.64], [[54.6], [80.1]], [[34.0]], "tied"),
                      tol=1e-10)
    assert lr == pytest.approx(2 * (res.loglik - ll1), abs=1e-5) and per.shape == (5,)
    null = np.random.default_rng(0).normal(70.0, 13.0, 272)
    assert gmm.shared_variance_lr(null)[0] >= 0.0


def _outlier_data():
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = np.vstack([rng.normal(c, 0.8, (80, 2)) for c in centres])
    return np.vstack([X, np.random.default_rng(11).uniform(-6, 12, (24, 2))])


def test_noise_component_em():
    X = _outlier_data()
    model = NoiseGMM(X, 3, reg_covar=0.0)
    start = gmm.init_params(X, 3, seed=2)
    w0, params, res = model.fit(start, 0.05, tol=1e-9)  # check_ascent on (reg_covar = 0)
    assert res.converged and np.all(np.diff(res.logliks) >= -1e-9 * abs(res.loglik))
    # loglik is sum_i log(w0 / V + (1 - w0) sum_k w_k N(x_i; ...))
    dens = w0 / model.volume + (1 - w0) * np.exp(gmm.log_joint(X, params)).sum(axis=1)
    assert res.loglik == pytest.approx(np.log(dens).sum(), rel=1e-12)
    # the fixed point: one more EM step is null, and w0 = mean noise responsibility
    again = model.m_step(model.e_step(res.theta))
    np.testing.assert_allclose(again, res.theta, atol=1e-6)
    assert w0 == pytest.approx(model.responsibilities(res.theta)[:, 0].mean(), rel=1e-6)
    assert 0.03 < w0 < 0.15 and np.all(np.sqrt(np.linalg.eigvalsh(params.covariances)) < 1.2)
    with pytest.raises(ValueError, match="volume"):
        NoiseGMM(X, 3, volume=-1.0)
    with pytest.raises(ValueError, match="noise"):
        model.fit(start, 1.5)


def test_incremental_em_reaches_em_fixed_point_in_fewer_passes():
    blocks = SeededBlocks(partial(mixture_sample, theta=TRUE), 40_000, 2_000, seed=5)
    em = chunked_em(mixture_stats, mixture_m_step, blocks, START, tol=1e-9)
    inc = incremental_em(mixture_stats, mixture_m_step, blocks, START, tol=1e-9)
    assert inc.converged and inc.n_passes < em.n_passes
    np.testing.assert_allclose(inc.theta, em.theta, rtol=1e-6)
    assert inc.thetas.shape == (inc.n_passes + 1, 5)
    # at the fixed point every chunk's statistics are at theta: the total is S(theta)
    total = chunked_e_step(mixture_stats, inc.theta, blocks)
    np.testing.assert_allclose(mixture_m_step(total), inc.theta, rtol=1e-7)


def test_incremental_em_with_gmm_statistics():
    X = _outlier_data()[:240]
    steps = gmm.GMMSteps(3, 2, "full", reg_covar=0.0)
    start = gmm.init_params(X, 3, seed=0, reg_covar=0.0).pack()
    chunks = np.array_split(X, 8)
    em = chunked_em(steps.suff_stats, steps.m_step, chunks, start, tol=1e-10)
    inc = incremental_em(steps.suff_stats, steps.m_step, chunks, start, tol=1e-10)
    assert inc.converged and inc.n_passes < em.n_passes
    np.testing.assert_allclose(inc.theta, em.theta, rtol=1e-6, atol=1e-8)


def test_incremental_em_errors():
    chunks = [np.zeros(3)]
    with pytest.raises(TypeError, match="suff_stats"):
        incremental_em(None, mixture_m_step, chunks, START)
    with pytest.raises(ValueError, match="max_passes"):
        incremental_em(mixture_stats, mixture_m_step, chunks, START, max_passes=0)
    with pytest.raises(ValueError, match="tol"):
        incremental_em(mixture_stats, mixture_m_step, chunks, START, tol=-1.0)
    with pytest.raises(ValueError, match="empty"):
        incremental_em(mixture_stats, mixture_m_step, [], START)


def test_npy_blocks_round_trip_and_em(tmp_path):
    seeded = SeededBlocks(partial(mixture_sample, theta=TRUE), 10_001, 1_000, seed=3)
    disk = write_npy(tmp_path / "x.npy", seeded)
    assert disk.n == 10_001 and disk.sizes == seeded.sizes and len(disk) == 11
    for a, b in zip(disk, seeded, strict=True):
        np.testing.assert_array_equal(a, b)
    a = chunked_em(mixture_stats, mixture_m_step, disk, START, tol=1e-8)
    b = chunked_em(mixture_stats, mixture_m_step, seeded, START, tol=1e-8)
    np.testing.assert_array_equal(a.theta, b.theta)
    S = dask_e_step(mixture_stats, START, disk.to_dask(), scheduler="threads")
    T = chunked_e_step(mixture_stats, START, disk)
    np.testing.assert_allclose(S.s2, T.s2, rtol=1e-12)
    again = pickle.loads(pickle.dumps(disk))  # travels as its path
    np.testing.assert_array_equal(again.block(10), disk.block(10))


def test_npy_blocks_2d_and_errors(tmp_path):
    X = np.arange(30.0).reshape(15, 2)
    disk = write_npy(tmp_path / "y.npy", np.array_split(X, 3))
    np.testing.assert_array_equal(np.vstack(list(NpyBlocks(disk.path, 4))), X)
    with pytest.raises(ValueError, match="chunk"):
        NpyBlocks(disk.path, 0)
    with pytest.raises(FileNotFoundError):
        NpyBlocks(tmp_path / "none.npy", 2)
    with pytest.raises(ValueError, match="b must be"):
        disk.block(3)
    with pytest.raises(ValueError, match="rows"):
        write_npy(tmp_path / "z.npy", [X], n=10)
    with pytest.raises(ValueError, match="match"):
        write_npy(tmp_path / "w.npy", [X, np.zeros((2, 3))], n=17)
    with pytest.raises(ValueError, match="n"):
        write_npy(tmp_path / "v.npy", iter([X]))


def test_online_em_in_p_dimensions_lands_near_the_mle():
    rng = np.random.default_rng(1)
    means = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 4.0]])
    X = means[rng.choice(3, 30_000, p=[0.5, 0.3, 0.2])] + rng.normal(0, 0.8, (30_000, 2))
    steps = gmm.GMMSteps(3, 2, "full")
    start = gmm.GMMParams(np.full(3, 1 / 3), [[1.0, 0.0], [3.0, 2.0], [0.0, 3.0]],
                          np.array([np.eye(2)] * 3))
    mle = chunked_em(steps.suff_stats, steps.m_step, [X], start.pack(), tol=1e-9)
    run = online_em(steps.suff_stats, steps.m_step, np.array_split(X, 300), start.pack(),
                    burn_in=3, average_from=30)
    gap_avg = np.abs(run.theta_avg - mle.theta).max()
    assert gap_avg < 0.03 and gap_avg < np.abs(start.pack() - mle.theta).max() / 20
