"""The t distribution by EM, ECM, ECME and PX-EM (em_helpers.models.student_t, notebook 11).

Each derivation is checked by computation: the closed-form M-steps are the numerical
argmax of Q (and of PX-EM's expanded Q), every algorithm reaches the MLE that a direct
maximisation (scipy) finds, the information matrices are numerical Hessians, and the rates
(Louis' fractions of missing information, SEM's DM) agree.
"""

import hashlib
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

import em_helpers as emh
from em_helpers.models import student_t as st

ROOT = Path(__file__).resolve().parents[1]
NEWCOMB_CSV = ROOT / "data" / "newcomb.csv"
MODEL = st.StudentT(st.NEWCOMB)


@pytest.fixture(scope="module")
def hat():
    return MODEL.fit("px-ecme", tol=1e-13).theta


@pytest.fixture(scope="module")
def bivariate():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((120, 2)) @ np.array([[1.0, 0.0], [0.6, 0.8]])
    x = np.array([1.0, -2.0]) + z / np.sqrt(rng.gamma(2.0, 1 / 2.0, size=(120, 1)))
    model = st.StudentT(x)
    return model, model.fit("px-ecme", tol=1e-12).theta


def test_newcomb_file_is_the_module_data_with_the_recorded_hash():
    digest = hashlib.sha256(NEWCOMB_CSV.read_bytes()).hexdigest()
    assert digest in (ROOT / "data" / "SOURCES.md").read_text()
    table = np.loadtxt(NEWCOMB_CSV, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(table[:, 0], np.arange(1, 67))
    np.testing.assert_array_equal(table[:, 1], st.NEWCOMB)
    assert (st.NEWCOMB.mean().round(2), np.median(st.NEWCOMB)) == (26.21, 27.0)


def test_loglik_is_scipys_t_density(hat, bivariate):
    mu, s2, nu = hat
    assert MODEL.loglik(hat) == pytest.approx(
        stats.t.logpdf(st.NEWCOMB, nu, mu, np.sqrt(s2)).sum(), rel=1e-13
    )
    model, theta = bivariate
    mu, scatter, nu = model.unpack(theta)
    ref = stats.multivariate_t(mu, scatter, df=nu).logpdf(model.x).sum()
    assert model.loglik(theta) == pytest.approx(ref, rel=1e-12)


def _argmax_q(model, stats_t, x0):
    """Numerical argmax of Q over (mu, log-Cholesky of Sigma, log nu)."""
    p = model.p

    def theta_of(v):
        mu = v[:p]
        chol = np.zeros((p, p))
        chol[np.tril_indices(p)] = v[p : p + p * (p + 1) // 2]
        chol[np.diag_indices(p)] = np.exp(np.diag(chol))
        nu = np.exp(v[-1]) if model.estimate_nu else None
        return model.pack(mu, chol @ chol.T, nu)

    mu, scatter, nu = model.unpack(x0)
    chol = np.linalg.cholesky(scatter)
    chol[np.diag_indices(p)] = np.log(np.diag(chol))
    v0 = np.concatenate([mu, chol[np.tril_indices(p)]] + ([[np.log(nu)]] if model.estimate_nu
                                                          else []))
    res = optimize.minimize(lambda v: -model.Q(theta_of(v), stats_t), v0, method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 5000})
    return theta_of(res.x)


@pytest.mark.parametrize("nu", [None, 3.0])
def test_closed_form_m_step_is_the_numerical_argmax_of_q(nu, bivariate):
    for model in (st.StudentT(st.NEWCOMB, nu=nu), st.StudentT(bivariate[0].x, nu=nu)):
        theta_t = model.start(nu0=6.0) if nu is None else model.start()
        s = model.e_step(theta_t)
        closed = model.m_step(s)
        numeric = _argmax_q(model, s, theta_t)
        np.testing.assert_allclose(numeric, closed, rtol=2e-6, atol=1e-8)
        assert model.Q(closed, s) >= model.Q(numeric, s) - 1e-9


def test_px_m_step_is_the_argmax_of_the_expanded_q_then_reduced():
    theta_t = MODEL.start(nu0=6.0)
    s = MODEL.e_step(theta_t)

    def neg(v):
        return -MODEL.Q_expanded(v[0], np.exp(v[1]), np.exp(v[2]), np.exp(v[3]), s)

    v = optimize.minimize(neg, [25.0, np.log(20.0), 0.0, np.log(4.0)], method="BFGS",
                          options={"gtol": 1e-10}).x
    mu, scatter_star, alpha, nu = v[0], np.exp(v[1]), np.exp(v[2]), np.exp(v[3])
    assert alpha == pytest.approx(s.w.mean(), rel=1e-6)  # alpha = W / n
    reduced = np.array([mu, scatter_star / alpha, nu])  # Sigma = Sigma_* / alpha
    np.testing.assert_allclose(reduced, MODEL.em_map(theta_t, "px-em"), rtol=1e-6)
    # the two M-steps share mu; EM's scale is S/n, PX-EM's S/W
    em, px = MODEL.em_map(theta_t, "em"), MODEL.em_map(theta_t, "px-em")
    assert em[0] == px[0] and em[1] / px[1] == pytest.approx(s.w.mean(), rel=1e-12)


def test_every_algorithm_reaches_the_mle_of_a_direct_maximisation(hat):
    def tight(func, x0, args=(), disp=0):
        return optimize.fmin(func, x0, args=args, xtol=1e-12, ftol=1e-14, maxiter=20000,
                             maxfun=40000, disp=disp)

    df, loc, scale = stats.t.fit(st.NEWCOMB, 3.0, loc=27.0, scale=4.0, optimizer=tight)
    np.testing.assert_allclose(hat, [loc, scale**2, df], rtol=1e-6)
    for algorithm in st.ALGORITHMS:
        res = MODEL.fit(algorithm, tol=1e-11)
        assert res.converged, algorithm
        np.testing.assert_allclose(res.theta, hat, rtol=1e-8, err_msg=algorithm)
        assert np.all(np.diff(res.logliks) >= -1e-9)  # each is monotone
    fast = MODEL.fit("em", accelerate="squarem", tol=1e-11)
    np.testing.assert_allclose(fast.theta, hat, rtol=1e-8)
    # at the MLE the weights sum to n and the observed score is zero
    assert MODEL.e_step(hat).w.sum() == pytest.approx(MODEL.n, rel=1e-9)
    score, _ = MODEL.score_moments(hat)
    assert np.max(np.abs(score) * np.abs(hat)) < 1e-6


def test_ecm_is_em_and_the_nu_steps_solve_their_equations():
    theta_t = MODEL.start(nu0=6.0)
    np.testing.assert_array_equal(MODEL.em_map(theta_t, "ecm"), MODEL.em_map(theta_t, "em"))
    s = MODEL.e_step(theta_t)
    nu_em = MODEL.em_map(theta_t, "em")[2]
    assert st.h_nu(nu_em) == pytest.approx(np.mean(s.w - s.log_w) - 1, rel=1e-12)
    nu_px = MODEL.em_map(theta_t, "px-em")[2]
    assert st.h_nu(nu_px) == pytest.approx(np.log(s.w.mean()) - s.log_w.mean(), rel=1e-12)
    # ECME's nu maximises the observed loglik given the new (mu, sigma2): a brentq root
    mu, s2, nu = MODEL.em_map(theta_t, "ecme")
    root = optimize.brentq(lambda v: MODEL.nu_score([mu, s2, v]), 0.6, 100.0, xtol=1e-14)
    assert nu == pytest.approx(root, rel=1e-10)
    assert MODEL.loglik([mu, s2, nu]) >= MODEL.loglik([mu, s2, theta_t[2]])


def test_nu_score_is_the_derivative_of_the_loglik(hat):
    theta = hat * np.array([1.0, 1.2, 0.7])
    h = 1e-6
    fd = (MODEL.loglik(theta + [0, 0, h]) - MODEL.loglik(theta - [0, 0, h])) / (2 * h)
    assert MODEL.nu_score(theta) == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("expanded", [False, True])
def test_complete_information_is_minus_the_hessian_of_q(hat, bivariate, expanded):
    for model, theta in ((MODEL, hat * np.array([1.02, 1.3, 0.7])),
                         (bivariate[0], bivariate[1] * 1.05)):
        info = model.complete_info(theta, expanded=expanded)
        if not expanded:
            s = model.e_step(theta)
            numeric = emh.observed_information(lambda th, s=s, m=model: m.Q(th, s), theta)
            np.testing.assert_allclose(info, numeric, rtol=1e-6, atol=1e-8 * np.abs(info).max())
            continue
        # expanded: the Schur complement of the (theta, alpha) Hessian of Q_X at alpha = 1
        s = model.e_step(theta)

        def q_x(v, s=s, m=model):
            mu, scatter, nu = m.unpack(v[:-1])
            return m.Q_expanded(mu, v[-1] * scatter, v[-1], nu, s)  # Sigma_* = alpha Sigma

        full = emh.observed_information(q_x, np.append(theta, 1.0))
        schur = full[:-1, :-1] - np.outer(full[:-1, -1], full[-1, :-1]) / full[-1, -1]
        np.testing.assert_allclose(info, schur, rtol=1e-6, atol=1e-8 * np.abs(info).max())


def test_louis_observed_information_and_score_are_the_loglik_derivatives(hat, bivariate):
    for model, theta in ((MODEL, hat * np.array([1.02, 1.3, 0.7])), bivariate):
        score, _ = model.score_moments(theta)
        louis = model.louis(theta)
        numeric = emh.observed_information(model.loglik, theta)
        np.testing.assert_allclose(louis.observed, numeric, rtol=1e-6,
                                   atol=1e-7 * np.abs(numeric).max())
        steps = 1e-6 * np.maximum(np.abs(theta), 1e-2)
        fd = [(model.loglik(theta + e) - model.loglik(theta - e)) / (2 * e.max())
              for e in np.diag(steps)]
        np.testing.assert_allclose(score, fd, rtol=1e-5, atol=1e-5)


def test_rates_sem_louis_and_path_agree(hat):
    for algorithm, expanded in (("em", False), ("px-em", True)):
        e_step, m_step = MODEL.steps(algorithm)
        res = MODEL.fit(algorithm, tol=1e-12)
        sem = emh.sem_covariance(e_step, m_step, res,
                                 lambda th, x=expanded: MODEL.complete_info(th, expanded=x),
                                 valid=MODEL.valid)
        louis = MODEL.louis(res.theta, expanded=expanded)
        np.testing.assert_allclose(sem.rates, louis.fractions, atol=1e-6)
        np.testing.assert_allclose(sem.cov, np.linalg.inv(louis.observed), rtol=1e-5)
        assert emh.convergence_rate(res) == pytest.approx(louis.fractions[0], abs=2e-3)
    # PX-EM has less missing information: its largest fraction is smaller
    assert MODEL.louis(hat, expanded=True).fractions[0] < MODEL.louis(hat).fractions[0]
    # the map Jacobian of every algorithm: EM's equals SEM's DM; ECME is faster than EM
    jac = {a: st.map_jacobian(lambda t, a=a: MODEL.em_map(t, a), hat) for a in st.ALGORITHMS}
    np.testing.assert_allclose(jac["em"], MODEL.louis(hat).dm, atol=1e-6)
    np.testing.assert_allclose(jac["px-em"], MODEL.louis(hat, expanded=True).dm, atol=1e-6)
    top = {a: np.max(np.abs(np.linalg.eigvals(j))) for a, j in jac.items()}
    assert top["px-ecme"] < top["ecme"] < top["px-em"] < top["em"] == top["ecm"]


def test_known_nu_px_em_is_faster_and_equivalent(hat):
    known = st.StudentT(st.NEWCOMB, nu=float(hat[2]))
    em, px = known.fit("em", tol=1e-12), known.fit("px-em", tol=1e-12)
    np.testing.assert_allclose(em.theta, hat[:2], rtol=1e-8)
    np.testing.assert_allclose(px.theta, hat[:2], rtol=1e-8)
    assert px.n_iter < em.n_iter
    assert known.louis(hat[:2], expanded=True).fractions[0] < known.louis(hat[:2]).fractions[0]


def test_profile_likelihood_interval(hat):
    lo, hi = MODEL.nu_interval(hat)
    assert lo < hat[2] < hi
    cut = stats.chi2.ppf(0.95, 1) / 2
    for end in (lo, hi):
        drop = MODEL.loglik(hat) - MODEL.profile_loglik(end, hat)
        assert drop == pytest.approx(cut, abs=1e-6)
    assert MODEL.profile_loglik(float(hat[2]), hat) == pytest.approx(MODEL.loglik(hat), abs=1e-9)


def test_normal_data_send_nu_to_its_upper_bound():
    model = st.StudentT(st.simulate_t(80, np.inf, seed=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emh.ConvergenceWarning)
        res = model.fit("ecme", tol=1e-8, max_iter=200)
    assert res.theta[-1] == st.NU_BOUNDS[1] and model.valid(res.theta)


def test_simulate_t_is_seeded_and_heavy_tailed():
    a, b = st.simulate_t(5000, 1.0, 2.0, 3.0, seed=1), st.simulate_t(5000, 1.0, 2.0, 3.0, seed=1)
    np.testing.assert_array_equal(a, b)
    assert stats.kstest((a - 2.0) / 3.0, stats.t(1.0).cdf).pvalue > 1e-3


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: st.StudentT("abc"), TypeError, "x must be"),
        (lambda: st.StudentT(None), TypeError, "x must be"),
        (lambda: st.StudentT([1.0, np.nan, 2.0, 3.0]), ValueError, "x has non-finite"),
        (lambda: st.StudentT(np.ones((2, 2, 2))), ValueError, "x must be 1-D"),
        (lambda: st.StudentT([1.0, 2.0, 3.0]), ValueError, "x has 3 rows"),
        (lambda: st.StudentT(np.ones(10)), ValueError, "x has no spread"),
        (lambda: st.StudentT([True, False] * 5), TypeError, "x must be real"),
        (lambda: st.StudentT(st.NEWCOMB, nu=0.1), ValueError, "nu must be in"),
        (lambda: st.StudentT(st.NEWCOMB, nu=True), TypeError, "nu must be a real"),
        (lambda: MODEL.steps("newton"), ValueError, "algorithm must be one of"),
        (lambda: st.StudentT(st.NEWCOMB, nu=4.0).steps("ecme"), ValueError, "nu is known"),
        (lambda: MODEL.e_step([1.0, 2.0]), ValueError, "theta must have length 3"),
        (lambda: MODEL.e_step([1.0, -2.0, 3.0]), ValueError, "sigma2 must be positive"),
        (lambda: MODEL.e_step([1.0, np.inf, 3.0]), ValueError, "theta must be finite"),
        (lambda: MODEL.loglik([1.0, 2.0, -3.0]), ValueError, "nu must be positive"),
        (lambda: MODEL.m_step({"w": 1}), TypeError, "stats must be the TStats"),
        (lambda: MODEL.fit("em", [1.0, 2.0, 0.1]), ValueError, "theta0 .* is not a valid"),
        (lambda: MODEL.start(nu0=-1.0), ValueError, "nu0 must be in"),
        (lambda: MODEL.pack(1.0, 2.0), ValueError, "pack needs a value of nu"),
        (lambda: MODEL.nu_interval([27.0, 14.0, 2.0], level=1.5), ValueError, "level must"),
        (lambda: st.StudentT(st.NEWCOMB, nu=3.0).nu_interval([27.0, 14.0]), ValueError,
         "nu_interval needs nu estimated"),
        (lambda: st.simulate_t(0, 3.0), ValueError, "n must be"),
        (lambda: st.simulate_t(10, -1.0), ValueError, "nu must be"),
        (lambda: st.simulate_t(10, 3.0, scale=0.0), ValueError, "scale must be"),
        (lambda: st.map_jacobian(lambda t: t, [np.nan]), ValueError, "theta must be"),
        (lambda: st.map_jacobian(None, [1.0]), TypeError, "em_map must be a callable"),
        (lambda: MODEL.Q_expanded(27.0, 14.0, -1.0, 2.0, MODEL.e_step(MODEL.start())),
         ValueError, "alpha and nu must be positive"),
        (lambda: MODEL.Q_expanded([27.0, 1.0], 14.0, 1.0, 2.0, MODEL.e_step(MODEL.start())),
         ValueError, "mu must have shape"),
        (lambda: MODEL.Q([27.0, 14.0, 2.0], None), TypeError, "stats must be the TStats"),
        (lambda: MODEL.profile_loglik(1e5), ValueError, "nu must be in"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bivariate_non_positive_definite_scale_is_named(bivariate):
    model, theta = bivariate
    bad = model.pack([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]], 4.0)
    assert not model.valid(bad)
    with pytest.raises(ValueError, match=re.escape("not positive definite")):
        model.e_step(bad)
