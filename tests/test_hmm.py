"""em_helpers.models.hmm: forward–backward, Baum–Welch, the book's earthquake fits, hmmlearn.

Published values: Zucchini, MacDonald & Langrock, *Hidden Markov Models for Time Series*
(Tables 4.1 and 4.2, the earthquake series fitted by EM, and the stationary fits).
"""

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.special import logsumexp
from scipy.stats import poisson

import em_helpers as emh
from em_helpers.models import hmm

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "earthquakes.csv"
SHA256 = "4c4b1d822fd6e568f2a40c3f0dd81e889e0179b2bded049b52960609d792a4df"


@pytest.fixture(scope="module")
def quakes():
    assert hashlib.sha256(DATA.read_bytes()).hexdigest() == SHA256
    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.int64)
    assert table[0, 0] == 1900 and table[-1, 0] == 2006 and len(table) == 107
    return table[:, 1]


def test_series_matches_the_book(quakes):
    # as printed in the book: mean 19.364, variance 51.573
    assert round(quakes.mean(), 3) == 19.364
    assert round(quakes.var(ddof=1), 3) == 51.573


# ---- forward–backward against brute force and a log-space recursion -------------------


def brute_force(x, lam, g, d):
    """Sum over every state path: log L, posteriors, expected transitions, best path."""
    m, T = len(lam), len(x)
    logb = poisson.logpmf(np.asarray(x)[:, None], np.asarray(lam)[None, :])
    paths = np.array(list(itertools.product(range(m), repeat=T)))
    with np.errstate(divide="ignore"):
        lj = np.log(d)[paths[:, 0]] + logb[np.arange(T), paths].sum(axis=1)
        lj += np.log(g)[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    ll = logsumexp(lj)
    w = np.exp(lj - ll)
    post = np.zeros((T, m))
    xi = np.zeros((m, m))
    for k in range(T):
        np.add.at(post[k], paths[:, k], w)
    for k in range(1, T):
        np.add.at(xi, (paths[:, k - 1], paths[:, k]), w)
    return ll, post, xi, paths[np.argmax(lj)]


def log_space(logb, g, d):
    """The unscaled recursions in log space (one step at a time, no blocks)."""
    T, m = logb.shape
    with np.errstate(divide="ignore"):
        lg, ld = np.log(g), np.log(d)
    la = np.empty((T, m))
    lb = np.zeros((T, m))
    la[0] = ld + logb[0]
    for t in range(1, T):
        la[t] = logsumexp(la[t - 1][:, None] + lg, axis=0) + logb[t]
    for t in range(T - 2, -1, -1):
        lb[t] = logsumexp(lg + (logb[t + 1] + lb[t + 1])[None, :], axis=1)
    ll = logsumexp(la[-1])
    post = np.exp(la + lb - ll)
    lxi = la[:-1, :, None] + lg[None] + (logb[1:] + lb[1:])[:, None, :] - ll
    xi = np.exp(logsumexp(lxi, axis=0)) if T > 1 else np.zeros((m, m))
    return ll, post, xi


def test_forward_backward_and_viterbi_equal_brute_force():
    rng = np.random.default_rng(3)
    for m, T in [(1, 5), (2, 1), (2, 2), (2, 7), (3, 6)]:
        lam = rng.uniform(2, 20, m)
        g = rng.dirichlet(np.ones(m), size=m)
        d = rng.dirichlet(np.ones(m))
        x = rng.poisson(10, T)
        ll, post, xi, best = brute_force(x, lam, g, d)
        logb = poisson.logpmf(x[:, None], lam[None, :])
        fb = hmm.forward_backward(logb, g, d)
        assert fb.loglik == pytest.approx(ll, abs=1e-10)
        np.testing.assert_allclose(fb.posteriors, post, atol=1e-12)
        np.testing.assert_allclose(fb.xi_sum, xi, atol=1e-12)
        np.testing.assert_array_equal(hmm.viterbi(logb, g, d), best)


@settings(max_examples=15, deadline=None)
@given(
    m=st.integers(1, 4),
    T=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
)
def test_blockwise_scaled_pass_equals_log_space_recursion(m, T, seed):
    rng = np.random.default_rng(seed)
    lam = rng.uniform(1, 40, m)
    g = rng.dirichlet(np.full(m, 0.7), size=m)
    d = rng.dirichlet(np.ones(m))
    x = rng.poisson(rng.choice(lam), T)
    logb = poisson.logpmf(x[:, None], lam[None, :])
    fb = hmm.forward_backward(logb, g, d)
    ll, post, xi = log_space(logb, g, d)
    assert fb.loglik == pytest.approx(ll, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(fb.posteriors, post, atol=1e-9)
    np.testing.assert_allclose(fb.xi_sum, xi, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(fb.posteriors.sum(axis=1), 1.0, atol=1e-12)
    assert fb.xi_sum.sum() == pytest.approx(T - 1, abs=1e-8)


def test_long_series_does_not_underflow():
    # T = 1e5 counts: L is about 10**-(0.9 * 1e5); the scaled pass stays finite
    states, x = hmm.simulate([5.0, 20.0], [[0.95, 0.05], [0.1, 0.9]], [1.0, 0.0], 100_000, seed=1)
    model = hmm.PoissonHMM(x, 2, delta=[1.0, 0.0])
    theta = model.pack([5.0, 20.0], [[0.95, 0.05], [0.1, 0.9]])
    stats = model.e_step(theta)
    assert np.isfinite(stats.loglik) and stats.loglik < -2e5
    assert stats.trans.sum() == pytest.approx(x.size - 1, rel=1e-10)
    # the states are well separated: the posterior mode recovers almost all of them
    assert np.mean(np.argmax(model.posteriors(theta), axis=1) == states) > 0.97
    assert model.loglik(theta) == pytest.approx(stats.loglik, rel=1e-13)


# ---- the book's fits -------------------------------------------------------------------


def test_book_table_4_1_iterations_and_fits(quakes):
    model = hmm.PoissonHMM(quakes, 2, "free")
    theta = model.pack([10, 30], [[0.9, 0.1], [0.1, 0.9]], [0.5, 0.5])
    assert round(-model.loglik(theta), 5) == 413.27542
    rows = {}
    for t in range(1, 51):
        theta = model.m_step(model.e_step(theta))
        rows[t] = theta
    # (gamma12, gamma21, lambda1, lambda2, delta1, -l) as printed in Table 4.1
    book = {
        1: (0.138816, 0.11622, 13.742, 24.169, 0.99963, 343.76023),
        2: (0.115510, 0.10079, 14.090, 24.061, 1.00000, 343.13618),
        30: (0.071653, 0.11895, 15.419, 26.014, 1.00000, 341.87871),
        50: (0.071626, 0.11903, 15.421, 26.018, 1.00000, 341.87870),
    }
    digits = (6, 5, 3, 3, 5, 5)
    for t, row in book.items():
        lam, g, d = model.unpack(rows[t])
        ours = (g[0, 1], g[1, 0], lam[0], lam[1], d[0], -model.loglik(rows[t]))
        assert [round(v, k) for v, k in zip(ours, digits, strict=True)] == list(row), t

    stat = hmm.PoissonHMM(quakes, 2, "stationary")
    res = stat.fit(stat.pack([10, 30], [[0.9, 0.1], [0.1, 0.9]]), tol=1e-10)
    lam, g, d = stat.unpack(res.theta)
    assert res.converged
    assert (round(g[1, 0], 5), round(lam[0], 3), round(lam[1], 3)) == (0.12851, 15.472, 26.125)
    assert (round(d[0], 5), round(-res.loglik, 5)) == (0.66082, 342.31827)
    aic, bic = stat.information_criteria(res.loglik)  # k = 4
    assert (round(aic, 1), round(bic, 1)) == (692.6, 703.3)
    # the book prints gamma12 = 0.065961 (its nlm run); the maximiser is 0.0659594
    assert abs(g[0, 1] - 0.065961) < 2.5e-6


def test_book_table_4_2_three_states(quakes):
    g0 = np.full((3, 3), 0.1) + 0.7 * np.eye(3)
    free = hmm.PoissonHMM(quakes, 3, "free")
    theta0 = free.pack([10, 20, 30], g0, np.ones(3) / 3)
    assert round(-free.loglik(theta0), 5) == 342.90781
    res = free.fit(theta0, tol=1e-10)
    lam, g, d = free.unpack(res.theta)
    assert list(np.round(lam, 3)) == [13.134, 19.713, 29.710]
    book_g = [[0.9393, 0.0321, 0.0286], [0.0404, 0.9064, 0.0532], [0.0000, 0.1903, 0.8097]]
    np.testing.assert_array_equal(np.round(g, 4), book_g)
    assert round(d[0], 5) == 1.0 and round(-res.loglik, 5) == 328.52748

    stat = hmm.PoissonHMM(quakes, 3, "stationary")
    res = stat.fit(stat.pack([10, 20, 30], g0), tol=1e-10)
    lam, g, d = stat.unpack(res.theta)
    assert list(np.round(lam, 3)) == [13.146, 19.721, 29.714]
    book_g = [[0.9546, 0.0244, 0.0209], [0.0498, 0.8994, 0.0509], [0.0000, 0.1966, 0.8034]]
    np.testing.assert_array_equal(np.round(g, 4), book_g)
    assert list(np.round(d, 4)) == [0.4436, 0.4045, 0.1519]
    assert round(-res.loglik, 5) == 329.46028
    aic, bic = stat.information_criteria(res.loglik)  # k = 9
    assert (round(aic, 1), round(bic, 1)) == (676.9, 701.0)


# ---- against hmmlearn ------------------------------------------------------------------


@pytest.mark.parametrize("m", [2, 3])
def test_same_fixed_point_as_hmmlearn(quakes, m):
    hl = pytest.importorskip("hmmlearn.hmm")
    lam0 = np.linspace(10, 30, m)
    g0 = np.full((m, m), 0.1 / (m - 1)) + (0.9 - 0.1 / (m - 1)) * np.eye(m)
    d0 = np.ones(m) / m
    model = hmm.PoissonHMM(quakes, m, "free")
    res = model.fit(model.pack(lam0, g0, d0), tol=1e-12, max_iter=5000)
    lam, g, d = model.unpack(res.theta)
    ref = hl.PoissonHMM(n_components=m, n_iter=400, tol=-np.inf, init_params="", params="stl")
    ref.startprob_, ref.transmat_, ref.lambdas_ = d0, g0, lam0[:, None]
    ref.fit(quakes[:, None])
    assert res.loglik == pytest.approx(ref.score(quakes[:, None]), abs=1e-6)
    np.testing.assert_allclose(lam, ref.lambdas_.ravel(), atol=1e-6)
    np.testing.assert_allclose(g, ref.transmat_, atol=1e-6)
    np.testing.assert_allclose(d, ref.startprob_, atol=1e-6)
    # and one E-step from the start gives hmmlearn's posteriors
    ref.startprob_, ref.transmat_, ref.lambdas_ = d0, g0, lam0[:, None]
    np.testing.assert_allclose(
        model.posteriors(model.pack(lam0, g0, d0)), ref.predict_proba(quakes[:, None]), atol=1e-10
    )


# ---- the derivation: M-step = argmax Q, complete information, SEM ---------------------


def test_closed_form_m_step_is_the_argmax_of_q(quakes):
    model = hmm.PoissonHMM(quakes, 2, "free")
    theta_t = model.pack([12, 25], [[0.8, 0.2], [0.3, 0.7]], [0.4, 0.6])
    stats = model.e_step(theta_t)
    closed = model.m_step(stats)

    def negq(w):  # unconstrained: log rates, logits of gamma12, gamma21, delta2
        th = np.concatenate([np.exp(w[:2]), 1 / (1 + np.exp(-w[2:]))])
        return -model.Q(th, stats)

    w0 = np.array([np.log(15), np.log(20), 0.0, 0.0, 0.0])
    w = optimize.minimize(negq, w0, method="BFGS", jac="3-point", options={"gtol": 1e-10}).x
    numeric = np.concatenate([np.exp(w[:2]), 1 / (1 + np.exp(-w[2:]))])
    np.testing.assert_allclose(closed, numeric, atol=1e-5)
    assert model.Q(closed, stats) >= model.Q(numeric, stats) - 1e-9


def test_stationary_gamma_step_maximises_its_q(quakes):
    model = hmm.PoissonHMM(quakes, 3, "stationary")
    g0 = np.full((3, 3), 0.1) + 0.7 * np.eye(3)
    stats = model.e_step(model.pack([11, 19, 28], g0))
    lam = model.m_step(stats)[:3]
    g = model.gamma_step_stationary(stats.trans, stats.start, g0)
    best = model.Q(model.pack(lam, g), stats)
    rng = np.random.default_rng(0)
    for _ in range(30):  # random perturbations of the rows never do better
        h = np.clip(g + rng.normal(0, 1e-3, g.shape), 1e-9, None)
        h /= h.sum(axis=1, keepdims=True)
        assert model.Q(model.pack(lam, h), stats) <= best + 1e-9


def test_complete_information_is_minus_the_hessian_of_q(quakes):
    model = hmm.PoissonHMM(quakes, 2, delta=[1.0, 0.0])
    theta = model.pack([15.4, 26.0], [[0.93, 0.07], [0.12, 0.88]])
    stats = model.e_step(theta)
    ioc = model.complete_info(theta)
    assert ioc.shape == (4, 4)
    hess = -emh.observed_information(lambda th: model.Q(th, stats), theta)
    np.testing.assert_allclose(ioc, -hess, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="fixed delta"):
        hmm.PoissonHMM(quakes, 2, "free").complete_info(
            model.pack([15, 26], np.eye(2) * 0.8 + 0.1, [1, 0])
        )


def test_sem_agrees_with_the_observed_information(quakes):
    model = hmm.PoissonHMM(quakes, 2, delta=[1.0, 0.0])
    res = model.fit(model.pack([10, 30], [[0.9, 0.1], [0.1, 0.9]]), tol=1e-12)
    sem = emh.sem_covariance(
        model.e_step, model.m_step, res, model.complete_info, valid=model.valid
    )
    assert sem.converged, sem.message
    se_obs = np.sqrt(np.diag(np.linalg.inv(emh.observed_information(model.loglik, res.theta))))
    np.testing.assert_allclose(sem.se, se_obs, rtol=5e-3)
    # EM's observed rate is DM's largest eigenvalue, the largest fraction of missing information
    assert emh.convergence_rate(res) == pytest.approx(sem.rates[0], abs=5e-3)


def test_fixed_point_zeroes_the_score(quakes):
    model = hmm.PoissonHMM(quakes, 2, delta=[1.0, 0.0])
    res = model.fit(model.pack([10, 30], [[0.9, 0.1], [0.1, 0.9]]), tol=1e-12)
    h = 1e-6 * np.maximum(np.abs(res.theta), 1e-2)
    score = [
        (model.loglik(res.theta + hj * e) - model.loglik(res.theta - hj * e)) / (2 * hj)
        for hj, e in zip(h, np.eye(4), strict=True)
    ]
    assert np.max(np.abs(score)) < 1e-5


# ---- small pieces ----------------------------------------------------------------------


def test_one_state_is_an_iid_poisson(quakes):
    model = hmm.PoissonHMM(quakes, 1, "stationary")
    res = model.fit([10.0])
    assert res.theta[0] == pytest.approx(quakes.mean())
    assert res.loglik == pytest.approx(poisson.logpmf(quakes, quakes.mean()).sum())
    assert round(-res.loglik, 4) == 391.9189  # the book's one-state model
    aic, bic = model.information_criteria(res.loglik)
    assert (round(aic, 1), round(bic, 1)) == (785.8, 788.5)


def test_stationary_distribution():
    g = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.0, 0.4, 0.6]])
    d = hmm.stationary_distribution(g)
    np.testing.assert_allclose(d @ g, d, atol=1e-14)
    assert d.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no unique stationary"):
        hmm.stationary_distribution(np.eye(2))


def test_emptied_state_keeps_its_values():
    x = np.full(30, 3)
    model = hmm.PoissonHMM(x, 2, delta=[1.0, 0.0])
    # state 2 can never be reached (gamma12 = 0) and never starts: it gets no weight
    theta = model.pack([3.0, 50.0], [[1.0, 0.0], [0.5, 0.5]])
    new = model.m_step(model.e_step(theta))
    lam, g, _ = model.unpack(new)
    assert lam[1] == 50.0 and np.allclose(g[1], [0.5, 0.5]) and lam[0] == pytest.approx(3.0)


def test_a_state_with_only_zero_counts_gets_a_tiny_positive_rate():
    # every count 0: Q's rate part, -lambda_j sum_t u_j(t), rises as lambda_j -> 0, which
    # is outside the space; the M-step takes a tiny positive rate (and so still raises Q)
    model = hmm.PoissonHMM(np.zeros(6, dtype=int), 2, "free")
    theta = model.pack([0.5, 3.0], [[0.8, 0.2], [0.3, 0.7]], [0.5, 0.5])
    stats = model.e_step(theta)
    new = model.m_step(stats)
    lam, _, _ = model.unpack(new)
    assert np.all((lam > 0) & (lam <= 1e-12)) and model.valid(new)
    assert model.Q(new, stats) > model.Q(theta, stats)
    assert model.loglik(new) > model.loglik(theta)


def test_simulate_is_seeded_and_follows_the_chain():
    s1, x1 = hmm.simulate([2.0, 30.0], [[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0], 50, seed=4)
    s2, x2 = hmm.simulate([2.0, 30.0], [[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0], 50, seed=4)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(s1, np.arange(50) % 2)  # it alternates


def test_label_switching_sort_states(quakes):
    model = hmm.PoissonHMM(quakes, 2, "free")
    a = model.pack([26.0, 15.0], [[0.88, 0.12], [0.07, 0.93]], [0.0, 1.0])
    b = model.sort_states(a)
    lam, g, d = model.unpack(b)
    assert list(lam) == [15.0, 26.0] and np.allclose(g, [[0.93, 0.07], [0.12, 0.88]])
    assert model.loglik(a) == pytest.approx(model.loglik(b), abs=1e-12)


# ---- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, error, match",
    [
        ([1, 2.5, 3], ValueError, "non-integer"),
        ([1, -2, 3], ValueError, "negative"),
        ([], ValueError, "empty"),
        ([[1, 2], [3, 4]], ValueError, "1-D"),
        ([1, np.nan], ValueError, "non-finite"),
        ("123", TypeError, "counts"),
        ([True, False], TypeError, "boolean"),
        (None, TypeError, "counts"),
    ],
)
def test_bad_counts(x, error, match):
    with pytest.raises(error, match=match):
        hmm.PoissonHMM(x, 2)


@pytest.mark.parametrize(
    "m, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_bad_number_of_states(m, error):
    with pytest.raises(error, match="number of states"):
        hmm.PoissonHMM([1, 2, 3], m)


def test_bad_parameters():
    model = hmm.PoissonHMM([3, 4, 5, 6], 2, "free")
    with pytest.raises(ValueError, match="row 1 of Gamma sums to"):
        model.pack([1.0, 2.0], [[0.9, 0.1], [0.5, 0.6]], [0.5, 0.5])
    with pytest.raises(ValueError, match="positive"):
        model.pack([0.0, 2.0], [[0.9, 0.1], [0.5, 0.5]], [0.5, 0.5])
    with pytest.raises(ValueError, match="delta sums to"):
        model.pack([1.0, 2.0], [[0.9, 0.1], [0.5, 0.5]], [0.5, 0.6])
    with pytest.raises(ValueError, match="give a starting delta"):
        model.pack([1.0, 2.0], [[0.9, 0.1], [0.5, 0.5]])
    with pytest.raises(ValueError, match="theta must have 5 entries"):
        model.unpack([1.0, 2.0])
    with pytest.raises(ValueError, match="delta must be 'free', 'stationary'"):
        hmm.PoissonHMM([1, 2], 2, "uniform")
    with pytest.raises(ValueError, match="one probability per state"):
        hmm.PoissonHMM([1, 2], 2, [1.0])
    logb = np.zeros((3, 2))
    with pytest.raises(ValueError, match="row 0 of Gamma sums to"):
        hmm.forward_backward(logb, [[0.5, 0.6], [0.5, 0.5]], [0.5, 0.5])
    with pytest.raises(ValueError, match="2 x 2"):
        hmm.forward_backward(logb, np.eye(3), [0.5, 0.5])
    with pytest.raises(ValueError, match="outside"):
        hmm.viterbi(logb, [[1.2, -0.2], [0.5, 0.5]], [0.5, 0.5])
    assert not model.valid([1.0, 2.0, 1.1, 0.5, 0.5])  # gamma12 > 1
    assert not model.valid([1.0, 2.0, 0.1, 0.5, 1.01])  # delta2 > 1
    # round-off: a derived gamma11 or delta1 of -1e-16 is still inside
    assert model.valid([1.0, 2.0, 1.0 + 1e-16, 0.5, 1.0 + 2e-16])
    assert not model.valid([-1.0, 2.0, 0.1, 0.5, 0.5])


def test_underflowing_emission_ratio_falls_back_to_log_space():
    # the chain never leaves state 1 (rate 1); the count 1000 is e^-5900 times less likely
    # there than in state 2, so its scaled weight underflows to 0: the log-space pass runs
    x = [1, 1000, 2]
    model = hmm.PoissonHMM(x, 2, delta=[1.0, 0.0])
    theta = model.pack([1.0, 1000.0], [[1.0, 0.0], [0.5, 0.5]])
    exact = poisson.logpmf(x, 1.0).sum()
    assert model.loglik(theta) == pytest.approx(exact, rel=1e-12)
    stats = model.e_step(theta)
    np.testing.assert_allclose(stats.occupancy, [3.0, 0.0], atol=1e-12)
    fb = hmm.forward_backward(model.log_emissions([1.0, 1000.0]), [[1.0, 0.0], [0.5, 0.5]], [1, 0])
    assert fb.loglik == pytest.approx(exact, rel=1e-12)
    with pytest.raises(ValueError, match="probability 0"):
        hmm.forward_backward(np.array([[0.0, -np.inf], [-np.inf, 0.0]]), np.eye(2), [1.0, 0.0])
