"""The four course models in em_helpers.models.examples: published numbers, derivation checks."""

import itertools

import numpy as np
import pytest
from scipy import optimize

import em_helpers as emh
from em_helpers.models import examples as ex

MODELS = list(ex.EXAMPLES.items())
IDS = [name for name, _ in MODELS]
#: a point away from the MLE inside each parameter space
AWAY = {
    "exponential": np.array([0.7]),
    "moths": np.array([0.2, 0.3]),
    "gaussians": np.array([-0.3, 1.2, 0.6]),
    "coins": np.array([0.6, 0.45]),
}


def fit(m, **kw):
    return emh.run_em(m.e_step, m.m_step, m.theta0, loglik=m.loglik, tol=1e-12, **kw)


def test_published_numbers():
    assert fit(ex.exponential).theta == pytest.approx(ex.exponential.published, abs=1e-12)
    res = fit(ex.moths)
    np.testing.assert_allclose(ex.moths.allele_freqs(res.theta), ex.moths.published, atol=5e-6)
    # Givens & Hoeting Table 4.1, t = 1..3
    table = [(0.081994, 0.23741), (0.071249, 0.19787), (0.070852, 0.19036)]
    np.testing.assert_allclose(res.thetas[1:4], table, atol=6e-6)
    res = fit(ex.coins)
    for t, published in zip((1, 10), ex.coins.published, strict=True):
        np.testing.assert_array_equal(np.round(res.thetas[t], 2), published)


def test_gaussian_data_and_fit_as_in_notebook_03():
    assert ex.gaussians.x.size == 400
    assert ex.gaussians.x.mean() == pytest.approx(0.9384, abs=5e-5)
    np.testing.assert_allclose(fit(ex.gaussians).theta, [-0.94328, 1.97521, 0.35525], atol=5e-6)


@pytest.mark.parametrize(("name", "m"), MODELS, ids=IDS)
def test_m_step_is_the_argmax_of_q(name, m):
    theta_t = AWAY[name]
    closed = np.atleast_1d(m.m_step(m.e_step(theta_t if name != "exponential" else 0.7)))
    start = np.atleast_1d(np.asarray(m.theta0, float))

    def neg_q(th):
        return -m.Q(th, theta_t) if m.valid(th) else np.inf

    numeric = optimize.minimize(neg_q, start, method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20_000}).x
    np.testing.assert_allclose(closed, numeric, atol=1e-6)


@pytest.mark.parametrize(("name", "m"), MODELS, ids=IDS)
def test_loglik_is_q_minus_h_and_h_peaks_at_theta_t(name, m):
    rng = np.random.default_rng(0)
    theta_t = AWAY[name]
    for _ in range(5):
        theta = theta_t * rng.uniform(0.8, 1.2, theta_t.size)
        assert m.valid(theta)
        assert m.loglik(theta) == pytest.approx(m.Q(theta, theta_t) - m.H(theta, theta_t),
                                                abs=1e-9 * abs(m.loglik(theta)))
        assert m.H(theta, theta_t) <= m.H(theta_t, theta_t) + 1e-12


@pytest.mark.parametrize(("name", "m"), MODELS, ids=IDS)
def test_complete_info_is_minus_hessian_of_q_and_mean_score_is_the_gradient(name, m):
    theta = AWAY[name]  # I_oc(theta) = -d2 Q(. | theta) at theta
    hess_q = emh.observed_information(lambda th: m.Q(th, theta), theta)
    np.testing.assert_allclose(m.complete_info(theta), hess_q, rtol=1e-6,
                               atol=1e-8 * np.abs(hess_q).max())
    for theta in (np.atleast_1d(fit(m).theta), AWAY[name]):  # Fisher's identity
        mean, _ = m.score_moments(theta)
        grad = optimize.approx_fprime(theta, m.loglik, 1e-7 * np.maximum(np.abs(theta), 1e-2))
        scale = max(1.0, np.abs(grad).max())
        np.testing.assert_allclose(mean, grad, atol=1e-4 * scale)


def test_score_moments_by_enumerating_every_configuration():
    """Two coins: the 2^5 coin assignments, weighted by their joint posterior."""
    m, theta = ex.coins, AWAY["coins"]
    post, scores = m.posterior(theta), m.complete_scores(theta)
    total, weights = [], []
    for z in itertools.product([0, 1], repeat=5):
        weights.append(np.prod(post[np.arange(5), z]))
        total.append(scores[np.arange(5), z].sum(axis=0))
    weights, total = np.array(weights), np.array(total)
    mean = weights @ total
    cov = (total - mean).T @ (weights[:, None] * (total - mean))
    got_mean, got_cov = m.score_moments(theta)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(got_cov, cov, rtol=1e-10)


def test_steps_keep_the_notebook_interfaces():
    assert ex.exponential.e_step(0.2) == pytest.approx(5.0)
    assert np.shape(ex.exponential.m_step(np.array([5.0]))) == (1,)
    assert ex.moths.e_step(np.array(ex.moths.theta0)).shape == (6,)
    assert ex.gaussians.e_step(np.array(ex.gaussians.theta0)).shape == (400,)
    assert ex.coins.e_step(np.array(ex.coins.theta0)).shape == (5,)
    with pytest.raises(ValueError, match="size-1"):
        ex.exponential.loglik(np.array([0.1, 0.2]))
    assert not ex.moths.valid(np.array([0.6, 0.5]))  # p_T < 0
    assert not ex.gaussians.valid(np.array([0.0, 1.0, 1.0]))
    assert not ex.coins.valid(np.array([0.0, 0.5]))


def test_moths_with_the_extra_insularia_or_typica_moths():
    m = ex.Moths(counts=np.array([85.0, 196.0, 341.0, 578.0]))
    res = fit(m)
    np.testing.assert_allclose(m.allele_freqs(res.theta), [0.03607, 0.19580, 0.76813], atol=5e-6)
    assert m.loglik(res.theta) == pytest.approx(m.Q(res.theta, res.theta) - m.H(res.theta,
                                                                                 res.theta))


@pytest.mark.parametrize("n_u", [0.0, 578.0])
def test_moths_carbonaria_update_depends_on_p_c_alone(n_u):
    """Notebook 05's DM_21 = 0: the E-step splits n_C as p_C^2 : 2 p_C p_I : 2 p_C p_T, so
    2 CC + CI + CT = 2 n_C / (2 - p_C) (p_I + p_T = 1 - p_C) and the new p_C is
    n_C / (n (2 - p_C)), free of p_I; the new p_I does depend on p_I."""
    m = ex.Moths(counts=np.array([85.0, 196.0, 341.0, n_u]))
    p_c, n_c, n = 0.1, 85.0, 622.0 + n_u
    new_c = [m.m_step(m.e_step(np.array([p_c, p_i])))[0] for p_i in (0.05, 0.2, 0.6)]
    np.testing.assert_allclose(new_c, n_c / n / (2 - p_c), rtol=1e-14)  # (2CC + CI + CT) / 2n
    assert len({m.m_step(m.e_step(np.array([p_c, p_i])))[1] for p_i in (0.05, 0.2)}) == 2


def test_bad_model_data_name_the_argument():
    with pytest.raises(ValueError, match="y1"):
        ex.Exponential(y1=-1.0)
    with pytest.raises(ValueError, match="counts"):
        ex.Moths(counts=np.array([85.0, 196.0, 341.0]))
    with pytest.raises(ValueError, match="counts"):
        ex.Moths(counts=np.array([85.0, -1.0, 341.0, 0.0]))
    with pytest.raises(ValueError, match="x must"):
        ex.TwoGaussians(x=np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="sigma"):
        ex.TwoGaussians(sigma=0.0)
    with pytest.raises(ValueError, match="heads"):
        ex.TwoCoins(heads=np.array([11.0, 2.0, 3.0, 4.0, 5.0]))
    with pytest.raises(ValueError, match="flips"):
        ex.TwoCoins(flips=np.zeros(5))
    with pytest.raises(ValueError, match="weight"):
        ex.TwoCoins(weight=1.0)
    assert isinstance(ex.Moths(counts=[1, 2, 3, 0]).counts, np.ndarray)  # lists are accepted


@pytest.mark.parametrize(("name", "m"), MODELS, ids=IDS)
def test_curves_match_loglik_q_and_h_point_by_point(name, m):
    theta_t = AWAY[name]
    points = np.repeat(theta_t[None, :], 7, axis=0)
    points[:, 0] *= np.linspace(0.6, 1.3, 7)
    ll, q, h = m.curves(points, theta_t)
    for k, point in enumerate(points):
        assert ll[k] == pytest.approx(m.loglik(point), rel=1e-13)
        assert q[k] == pytest.approx(m.Q(point, theta_t), rel=1e-13)
        assert h[k] == pytest.approx(m.H(point, theta_t), rel=1e-13, abs=1e-12)
