"""Issue 18 (third hardening), the model and scale-out items: each test failed on 8fe1d96.

- 6: gmm's log density and the two-normal M-step lose nothing to cancellation far from 0;
  statistics about the current means stay additive (chunks, Dask) and combine exactly in
  online EM, which now runs p-dimensional mixtures.
- 7: gmm refuses bad K, asymmetric or indefinite covariances, a constant column without a
  floor; warns when K exceeds the distinct rows; keeps its own copy of X.
- 8: GMM.fit passes data units as run_em's scale.
- 9: online EM warns when burn_in swallows every batch; an in-place m_step is harmless.
- 10: dask_em (and chunked_em) check ascent from the log-likelihood the statistics carry,
  at one pass per EM map evaluation.
- 11: PoissonMixture validates its frequencies.
- Errors that name the argument; dask_client's logger level and address keywords.
"""

from __future__ import annotations

import logging
import time
import warnings
from functools import partial

import numpy as np
import pytest

import em_helpers as emh
from em_helpers import streaming as st
from em_helpers.models import gmm
from em_helpers.models import normal_mixture as nm
from em_helpers.models.poisson_mixture import HASSELBLAD, PoissonMixture

#: the two-normal model of notebook 08 (test_streaming's truth and start)
TRUE, START = np.array([-2.0, 2.0, 0.35, 1.0, 0.8]), np.array([-1.0, 1.0, 0.5, 1.5, 1.5])


def _blobs(offset=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(5, [1.0, 0.5], (150, 2))])
    return X + offset


def _shift(theta, offset):
    out = np.array(theta, dtype=float)
    out[:2] += offset
    return out


# ---- 6: far from 0 ------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["full", "tied"])
def test_gmm_log_density_is_centred_before_whitening(ctype):
    """log N(x; mu, Sigma) at x, mu ~ 1e8 equals its value at the exactly centred x - mu
    (the difference of two doubles that close is exact); X L^-T - mu L^-T cancelled."""
    X = _blobs(1e8)
    params = gmm.init_params(X, 2, covariance_type=ctype, seed=0, reg_covar=0.0)
    got = gmm.log_joint(X, params)
    for k in range(2):
        c = params.means[k]
        centred = gmm.GMMParams(params.weights, params.means - c, params.covariances, ctype)
        want = gmm.log_joint(X - c, centred)[:, k]
        np.testing.assert_allclose(got[:, k], want, rtol=1e-13, atol=0)


@pytest.mark.parametrize("off", [1e8, 1e10])
def test_gmm_fit_far_from_zero_equals_the_fit_at_zero(off):
    X = _blobs()
    start = gmm.init_params(X, 2, seed=0, reg_covar=0.0)
    ref, res0 = gmm.GMM(X, 2, "full", reg_covar=0.0).fit(start, tol=1e-10)
    start_far = gmm.GMMParams(start.weights, start.means + off, start.covariances)
    far, res = gmm.GMM(X + off, 2, "full", reg_covar=0.0).fit(start_far, tol=1e-10)
    assert res0.converged and res.converged  # was: AscentError (1e8), no convergence (1e10)
    np.testing.assert_allclose(far.means - off, ref.means, atol=1e-4 * off / 1e8 + 1e-5)
    np.testing.assert_allclose(far.covariances, ref.covariances, rtol=1e-4)
    np.testing.assert_allclose(far.weights, ref.weights, rtol=1e-6)


@pytest.mark.parametrize("off", [1e7, 1e8])
def test_two_normal_m_step_far_from_zero(off):
    x = nm.mixture_sample(np.random.default_rng(5), 3001, TRUE)
    ref = nm.mixture_m_step(nm.mixture_stats(START, x))
    far = nm.mixture_m_step(nm.mixture_stats(_shift(START, off), x + off))
    # was: sigma 0.810 instead of 0.796 at 1e7, NaN at 1e8
    np.testing.assert_allclose(far[2:], ref[2:], rtol=1e-7)
    np.testing.assert_allclose(far[:2] - off, ref[:2], atol=1e-7)


def test_two_normal_statistics_stay_additive_and_carry_the_loglik():
    x = nm.mixture_sample(np.random.default_rng(1), 2000, TRUE) + 1e8
    theta = _shift(START, 1e8)
    whole = nm.mixture_stats(theta, x)
    parts = st.chunked_e_step(nm.mixture_stats, theta, np.split(x, [1, 2, 900, 1999]))
    for name in ("nk", "s1", "s2"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=1e-12)
    assert parts.loglik == pytest.approx(nm.mixture_loglik(theta, x), rel=1e-12)


def test_suff_stats_about_other_centres_are_moved_exactly():
    X = _blobs()
    for ctype in gmm.COVARIANCE_TYPES:
        a_par = gmm.init_params(X, 2, covariance_type=ctype, seed=0)
        b_par = gmm.GMMParams([0.3, 0.7], a_par.means + [[0.5, -0.2], [-0.3, 0.4]],
                              a_par.covariances, ctype)
        a, b = gmm.suff_stats(X[:150], a_par), gmm.suff_stats(X[150:], b_par)
        total = a + b  # was: ValueError ("same parameters")
        c = a.center
        g_b = gmm.responsibilities(X[150:], b_par)
        D = X[150:][:, None, :] - c[None]  # (N, K, p) about a's centres
        np.testing.assert_allclose(total.s1 - a.s1, np.einsum("nk,nkj->kj", g_b, D),
                                   rtol=1e-10, atol=1e-10)
        want = (np.einsum("nk,nki,nkj->kij", g_b, D, D) if ctype in ("full", "tied")
                else np.einsum("nk,nkj->kj", g_b, D * D))
        np.testing.assert_allclose(total.s2 - a.s2, want, rtol=1e-10, atol=1e-10)
        assert np.isnan(total.loglik)  # belongs to no single theta
        half = 0.5 * a
        np.testing.assert_allclose(half.nk, a.nk / 2)
        assert half.n == a.n  # rows stay rows


def test_online_em_runs_a_p_dimensional_mixture_far_from_zero():
    """gmm's SuffStats in online EM (was: an error from np.asarray of the dataclass); the
    Polyak average lands near the batch MLE, the same at an offset of 1e8."""
    results = []
    order = np.random.default_rng(4).permutation(350)  # a stream in random order
    for off in (0.0, 1e8):
        X = _blobs(off, seed=3)[order]
        steps = gmm.GMMSteps(2, 2, "full", reg_covar=0.0)
        start = gmm.init_params(X, 2, seed=1, reg_covar=0.0)
        mle = st.chunked_em(steps.suff_stats, steps.m_step, np.array_split(X, 3), start.pack(),
                         tol=1e-10)
        on = st.online_em(steps.suff_stats, steps.m_step, np.array_split(X, 35), start.pack(),
                       burn_in=2, average_from=5)
        a, b = steps.params(mle.theta), steps.params(on.theta_avg)
        assert np.abs(a.means - b.means).max() < 0.5
        results.append(on.theta_avg - np.r_[0, 0, np.full(4, off), np.zeros(8)])
    np.testing.assert_allclose(results[1], results[0], atol=1e-5)


def test_online_em_two_normals_far_from_zero():
    x = nm.mixture_sample(np.random.default_rng(11), 20_000, TRUE)
    batches = np.array_split(x, 200)
    ref = st.online_em(nm.mixture_stats, nm.mixture_m_step, batches, START, burn_in=5)
    far = st.online_em(nm.mixture_stats, nm.mixture_m_step, [b + 1e8 for b in batches],
                    _shift(START, 1e8), burn_in=5)
    np.testing.assert_allclose(far.theta[2:], ref.theta[2:], rtol=1e-6)
    np.testing.assert_allclose(far.theta[:2] - 1e8, ref.theta[:2], atol=1e-6)


# ---- 7: gmm refuses what it must ----------------------------------------------------------


def test_gmm_refuses_bad_n_components():
    X = _blobs()
    for K in (0, -1):
        with pytest.raises(ValueError, match="n_components"):
            gmm.GMM(X, K)
    for K in (2.7, True, "2"):
        with pytest.raises(TypeError, match="n_components"):
            gmm.GMM(X, K)
    with pytest.raises(ValueError, match="n_components"):
        gmm.GMM(X[:3], 5)
    gmm.GMM(X, np.int64(2))  # numpy integers are integers


def test_gmm_params_refuse_asymmetric_and_indefinite_covariances():
    w, mu = [0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]]
    asym = np.array([np.eye(2), [[1.0, 0.9], [0.1, 1.0]]])
    with pytest.raises(ValueError, match=r"covariances\[1\] is not symmetric"):
        gmm.GMMParams(w, mu, asym)
    indefinite = np.array([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match=r"covariances\[1\] is not positive definite"):
        gmm.GMMParams(w, mu, indefinite)
    with pytest.raises(ValueError, match="positive definite"):
        gmm.GMMParams(w, mu, [[1.0, 2.0], [2.0, 1.0]], "tied")
    with pytest.raises(ValueError, match="variances must be > 0"):
        gmm.GMMParams(w, mu, [[1.0, 1.0], [0.0, 1.0]], "diag")
    with pytest.raises(ValueError, match="variances must be > 0"):
        gmm.GMMParams(w, mu, [1.0, -1.0], "spherical")
    # symmetric to round-off is accepted and symmetrised
    tiny = np.array([np.eye(2), [[1.0, 0.3 + 1e-17], [0.3, 1.0]]])
    p = gmm.GMMParams(w, mu, tiny)
    np.testing.assert_array_equal(p.covariances, p.covariances.transpose(0, 2, 1))


def test_more_components_than_distinct_points_warns():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0], [5.0, 2.0]], 10, axis=0)
    with pytest.warns(UserWarning, match="distinct"):
        gmm.GMM(X, 4)
    with pytest.warns(UserWarning, match="distinct"):
        start = gmm.init_params(X, 4, seed=0)
    # the empty component sits at a data point, not at the origin
    far = np.min(np.abs(start.means[:, None, :] - np.unique(X, axis=0)[None]).sum(-1), axis=1)
    assert np.all(far == 0)


def test_gmm_keeps_its_own_copy_of_X():
    X = _blobs()
    model = gmm.GMM(X, 2, "full", reg_covar=0.0)
    start = gmm.init_params(X, 2, seed=0, reg_covar=0.0)
    first, _ = model.fit(start, tol=1e-8)
    X *= 10  # the caller's array; the model must not see it (was: a false AscentError)
    again, res = model.fit(start, tol=1e-8)
    assert res.converged
    np.testing.assert_array_equal(again.means, first.means)
    with pytest.raises(ValueError):
        model.X[0, 0] = 1.0  # read-only


def test_constant_column_is_named():
    X = _blobs()
    X[:, 1] = 3.0
    with pytest.raises(ValueError, match="column 1 of X is constant"):
        gmm.GMM(X, 2, "full", reg_covar=0.0)
    gmm.GMM(X, 2, "full", reg_covar=1e-6)  # a floor makes it fine
    # the M-step's own message names the feature too
    params = gmm.GMMParams([0.5, 0.5], [[0.0, 3.0], [5.0, 3.0]], np.array([np.eye(2)] * 2))
    collapsed = gmm.m_step(gmm.suff_stats(X, params), reg_covar=0.0)
    with pytest.raises(ValueError, match="along feature 1"):
        gmm.loglik(X, collapsed)


def test_gmm_errors_name_the_argument():
    X = _blobs()
    with pytest.raises(TypeError, match="reg_covar"):
        gmm.GMM(X, 2, reg_covar=None)
    with pytest.raises(TypeError, match="start"):
        gmm.GMM(X, 2).fit(gmm.init_params(X, 2).pack())
    prior = gmm.GMMPrior(scale=np.eye(3), dof=5.0)
    with pytest.raises(ValueError, match="prior"):
        gmm.GMM(X, 2, prior=prior)
    with pytest.raises(TypeError, match="prior"):
        gmm.GMM(X, 2, prior={"scale": np.eye(2)})


# ---- 8: data units as run_em's scale --------------------------------------------------------


def test_gmm_fit_passes_data_units_as_scale(monkeypatch):
    X = _blobs() * [1.0, 100.0]
    seen = {}
    real = gmm.run_em

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(gmm, "run_em", spy)
    model = gmm.GMM(X, 2, "full")
    model.fit(gmm.init_params(X, 2, seed=0))
    scale = seen["scale"]
    sd = X.std(axis=0)
    assert scale.shape == (2 + 4 + 8,)
    f = gmm.SCALE_FRACTION
    np.testing.assert_allclose(scale[:2], f)
    np.testing.assert_allclose(scale[2:6], f * np.tile(sd, 2))
    np.testing.assert_allclose(scale[6:].reshape(2, 2, 2), f * np.array([np.outer(sd, sd)] * 2))
    model.fit(gmm.init_params(X, 2, seed=0), scale=0.0)  # the caller's scale wins
    assert seen["scale"] == 0.0


def test_gmm_fit_converges_on_entries_that_are_zero_by_symmetry():
    """Data mirrored in feature 1: every component mean and covariance in x1 is 0 up to
    round-off (~1e-17), where no relative tolerance is ever met; with an absolute scale in
    data units the fit converges (was: 2000 iterations, no convergence)."""
    rng = np.random.default_rng(0)
    A = np.vstack([rng.normal([0, 0], 1, (100, 2)), rng.normal([2.5, 0], 1, (80, 2))])
    X = np.vstack([A, A * [1, -1]])
    start = gmm.GMMParams([0.5, 0.5], [[-0.5, 0.0], [3.0, 0.0]], np.array([np.eye(2)] * 2))
    par, res = gmm.GMM(X, 2, "full", reg_covar=0.0).fit(start, max_iter=2000)
    assert res.converged
    assert np.abs(par.means[:, 1]).max() < 1e-15


def test_round_off_fixed_point_with_fewer_rows_than_features():
    """N = 8 < p = 12, tied covariance: the EM map reaches its fixed point up to round-off
    (steps of ~1e-17 on entries of ~1e-3) and must say converged, not run 1000 iterations."""
    X = np.random.default_rng(3).normal(size=(8, 12)) * np.random.default_rng(103).uniform(
        0.01, 1, 12)
    model = gmm.GMM(X, 2, "tied", reg_covar=1e-6)
    start = gmm.init_params(X, 2, covariance_type="tied", seed=3)
    _, res = model.fit(start, max_iter=300)
    assert res.converged and res.n_iter < 300


# ---- 9: online EM ---------------------------------------------------------------------------


def test_online_em_warns_when_burn_in_swallows_every_batch():
    x = nm.mixture_sample(np.random.default_rng(2), 500, TRUE)
    with pytest.warns(emh.ConvergenceWarning, match="burn_in=5 >= the 5 batches"):
        res = st.online_em(nm.mixture_stats, nm.mixture_m_step, np.array_split(x, 5), START,
                           burn_in=5)
    np.testing.assert_array_equal(res.theta, START)
    with pytest.warns(emh.ConvergenceWarning, match="no M-step"):
        st.online_em(nm.mixture_stats, nm.mixture_m_step, np.array_split(x, 5), START, burn_in=9)


def test_online_em_survives_an_m_step_that_changes_its_statistics():
    x = nm.mixture_sample(np.random.default_rng(2), 4000, TRUE)
    batches = np.array_split(x, 40)

    def greedy(stats):  # divides in place, then reads: a legitimate way to write an M-step
        stats.s1 /= stats.nk[:, None]
        stats.s2 /= stats.nk[:, None]
        stats.nk /= stats.nk.sum()
        mu = stats.center[:, 0] + stats.s1[:, 0]
        sd = np.sqrt(stats.s2[:, 0] - stats.s1[:, 0] ** 2)
        return np.array([mu[0], mu[1], stats.nk[0], sd[0], sd[1]])

    ref = st.online_em(nm.mixture_stats, nm.mixture_m_step, batches, START, burn_in=2)
    res = st.online_em(nm.mixture_stats, greedy, batches, START, burn_in=2)  # was: "not invariant"
    np.testing.assert_allclose(res.thetas, ref.thetas, rtol=1e-12)


# ---- 10: the ascent check on Dask at no extra pass ------------------------------------------


def _counting(stats_fn, counter):
    def wrapped(theta, chunk):
        counter.append(len(chunk))
        return stats_fn(theta, chunk)
    return wrapped


def test_dask_em_checks_ascent_at_one_pass_per_evaluation():
    blocks = st.SeededBlocks(partial(nm.mixture_sample, theta=TRUE), 4_000, 1_000, seed=9)
    data = blocks.to_dask()
    calls = []
    res = st.dask_em(_counting(nm.mixture_stats, calls), nm.mixture_m_step, data, START, tol=1e-6,
                  scheduler="synchronous")
    assert res.logliks is not None and np.all(np.diff(res.logliks) >= -1e-9)  # was: None
    assert sum(calls) == blocks.n * (res.n_evals + 1)  # one compute per evaluation, + l(final)
    assert res.n_passes == res.n_evals + 1
    x = np.concatenate(list(blocks))
    assert res.loglik == pytest.approx(nm.mixture_loglik(res.theta, x), rel=1e-12)
    calls.clear()
    valid = lambda th: 0 < th[2] < 1 and th[3] > 0 and th[4] > 0  # noqa: E731
    sq = st.dask_em(_counting(nm.mixture_stats, calls), nm.mixture_m_step, data, START, tol=1e-8,
                 scheduler="synchronous", accelerate="squarem", valid=valid)
    assert sq.converged and sq.logliks is not None
    assert sum(calls) <= blocks.n * (sq.n_evals + sq.n_iter + 1)
    assert sum(calls) == blocks.n * sq.n_passes
    np.testing.assert_allclose(sq.theta, res.theta, rtol=1e-4)


def test_dask_em_raises_on_a_step_that_lowers_the_loglik():
    blocks = st.SeededBlocks(partial(nm.mixture_sample, theta=TRUE), 3_000, 1_000, seed=4)

    def wrong_m_step(stats):  # shrinks sigma below the argmax: l falls
        theta = nm.mixture_m_step(stats)
        theta[3:] *= 0.7
        return theta

    with pytest.raises(emh.AscentError):
        st.dask_em(nm.mixture_stats, wrong_m_step, blocks.to_dask(), START,
                scheduler="synchronous")
    with pytest.raises(emh.AscentError):
        st.chunked_em(nm.mixture_stats, wrong_m_step, blocks, START)
    # loglik=None switches the check off
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emh.ConvergenceWarning)
        res = st.chunked_em(nm.mixture_stats, wrong_m_step, blocks, START, loglik=None, max_iter=5)
    assert res.logliks is None


def test_gmm_steps_run_on_dask_with_the_ascent_check():
    import dask.array as da

    X = _blobs(seed=2)
    steps = gmm.GMMSteps(2, 2, "full", reg_covar=0.0)
    start = gmm.init_params(X, 2, seed=0, reg_covar=0.0)
    res = st.dask_em(steps.suff_stats, steps.m_step, da.from_array(X, chunks=(90, 2)),
                  start.pack(), scheduler="synchronous", tol=1e-9)
    ref, ref_res = gmm.GMM(X, 2, "full", reg_covar=0.0).fit(start, tol=1e-9, scale=None)
    assert res.logliks is not None and res.converged
    np.testing.assert_allclose(res.logliks, ref_res.logliks, rtol=1e-12)
    np.testing.assert_allclose(steps.params(res.theta).means, ref.means, rtol=1e-9)


# ---- 11: PoissonMixture ----------------------------------------------------------------------


def test_poisson_mixture_validates_frequencies():
    bad = HASSELBLAD.copy()
    bad[3] = -185
    with pytest.raises(ValueError, match=r"freq\[3\] = -185"):
        PoissonMixture(bad)
    bad[3] = np.nan
    with pytest.raises(ValueError, match=r"freq\[3\] = nan"):
        PoissonMixture(bad)
    with pytest.raises(ValueError, match="freq"):
        PoissonMixture(np.zeros(4))
    with pytest.raises(ValueError, match="freq"):
        PoissonMixture(np.ones((2, 3)))
    with pytest.raises(TypeError, match="freq"):
        PoissonMixture("162 267")
    with pytest.raises(TypeError, match="freq"):
        PoissonMixture([True, False])
    model = PoissonMixture(list(HASSELBLAD))
    assert model.freq.dtype == float and not model.freq.flags.writeable


# ---- errors that name the argument; st.dask_client ----------------------------------------------


def test_streaming_errors_name_the_argument():
    with pytest.raises(TypeError, match="chunks"):
        st.chunked_e_step(nm.mixture_stats, START, "abc")
    blocks = st.SeededBlocks(partial(nm.mixture_sample, theta=TRUE), 100, 30)
    for b in (-1, 4):
        with pytest.raises(ValueError, match="b must be in 0..3"):
            blocks.block(b)
    with pytest.raises(TypeError, match="b must be an integer"):
        blocks.block(1.0)


def test_dask_client_restores_the_logger_and_refuses_cluster_keywords(monkeypatch):
    monkeypatch.delenv("EM_DASK_SCHEDULER", raising=False)
    logger = logging.getLogger("distributed.batched")
    monkeypatch.setattr(logger, "level", logging.DEBUG)
    with st.dask_client(n_workers=1) as client:
        assert client.submit(sum, [1, 2]).result() == 3
    assert logger.level == logging.DEBUG  # was: left at WARNING
    with pytest.raises(ValueError, match="n_workers"):
        with st.dask_client("tcp://127.0.0.1:9", n_workers=4):
            pass
    with pytest.raises(ValueError, match="timeout"):
        with st.dask_client(timeout=-1):
            pass


def test_dask_client_honours_timeout():
    t0 = time.perf_counter()
    with pytest.raises(OSError):
        with st.dask_client("tcp://127.0.0.1:9", timeout=0.5):
            pass
    assert time.perf_counter() - t0 < 10  # was: 30 s, the timeout silently dropped


def test_dict_statistics_carry_the_loglik_too():
    """The protocol: a dict pytree with a "loglik" key is summed like the rest and read
    for the ascent check (stats_loglik). Here raw moments about 0 (data near 0)."""
    x = nm.mixture_sample(np.random.default_rng(8), 2000, TRUE)

    def stats(theta, chunk):
        s = nm.mixture_stats(theta, chunk)
        n, s1, s2, c = s.nk, s.s1[:, 0], s.s2[:, 0], s.center[:, 0]
        return {"n": n, "sx": s1 + n * c, "sxx": s2 + 2 * c * s1 + n * c * c,
                "loglik": s.loglik}

    def m_step(d):
        n = d["n"]
        mu = d["sx"] / n
        sd = np.sqrt(d["sxx"] / n - mu**2)
        return np.array([mu[0], mu[1], n[0] / n.sum(), sd[0], sd[1]])

    res = st.chunked_em(stats, m_step, np.array_split(x, 4), START, tol=1e-8)
    ref = st.chunked_em(nm.mixture_stats, nm.mixture_m_step, [x], START, tol=1e-8)
    assert res.logliks is not None and res.n_passes == res.n_evals + 1
    np.testing.assert_allclose(res.theta, ref.theta, rtol=1e-9)
    np.testing.assert_allclose(res.logliks, ref.logliks, rtol=1e-12)
