"""SQUAREM (run_em(accelerate="squarem")): same fixed points, monotone, safe, and fast."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from models import Exponential, Linkage, Mixture, Moths

import em_helpers as emh
from em_helpers.models.poisson_mixture import HASSELBLAD, PoissonMixture


def _mixture():
    rng = np.random.default_rng(7)
    return Mixture(np.r_[rng.normal(-1, 1, 150), rng.normal(1.5, 1, 100)])


MODELS = [
    (Exponential(k=1, m=19), 1.0),
    (Linkage(), 0.5),
    (Moths(), [1 / 3, 1 / 3]),
    (Moths((85, 196, 341, 578)), [1 / 3, 1 / 3]),
    (_mixture(), [-0.5, 0.5, 0.5]),
    (PoissonMixture(), [0.5, 1.0, 3.0]),
]


@pytest.mark.parametrize(("model", "theta0"), MODELS, ids=lambda m: type(m).__name__)
def test_same_fixed_point_as_em(model, theta0):
    kw = {"loglik": model.loglik, "tol": 1e-10, "max_iter": 20000}
    em = emh.run_em(model.e_step, model.m_step, theta0, **kw)
    sq = emh.run_em(model.e_step, model.m_step, theta0, accelerate="squarem", **kw)
    assert em.converged and sq.converged
    assert (em.method, sq.method) == ("em", "squarem")
    np.testing.assert_allclose(sq.theta, em.theta, rtol=1e-8)
    assert sq.loglik == pytest.approx(em.loglik, abs=1e-9 * (1 + abs(em.loglik)))
    assert np.all(np.diff(sq.logliks) >= -1e-10 * (1 + np.abs(sq.logliks[:-1])))
    assert sq.n_evals <= em.n_evals


def test_hasselblad_benchmark():
    """Published: MLE (0.6401, 2.6634, 1.2561) up to labels, -l = 1989.946, EM rate 0.9957;
    turboEM from (0.5, 1, 3) at tol 1e-7: EM not converged in 1500, SQUAREM "45" evaluations,
    which counts two of the three EM evaluations per cycle (a counter typo in turboEM's
    bodySquarem1): its 23 cycles make 68 (tests/test_slow_em.py reproduces both)."""
    model = PoissonMixture()
    assert HASSELBLAD.sum() == 1096
    kw = {"loglik": model.loglik, "tol": 1e-7, "valid": model.valid}
    with pytest.warns(emh.ConvergenceWarning):
        slow = emh.run_em(model.e_step, model.m_step, [0.5, 1, 3], max_iter=1500, **kw)
    assert not slow.converged
    fast = emh.run_em(model.e_step, model.m_step, [0.5, 1, 3], accelerate="squarem", **kw)
    pi, lam1, lam2 = fast.theta  # this start labels the low-rate component first
    np.testing.assert_allclose([1 - pi, lam2, lam1], [0.6401, 2.6634, 1.2561], atol=5e-5)
    assert -fast.loglik == pytest.approx(1989.946, abs=5e-4)
    assert fast.rate == pytest.approx(0.9957, abs=2e-4)
    # 73 here: turboEM's 68 actual evaluations stop on |step| < 1e-7 and accept l drops < 1;
    # ours stop on the estimated error and never accept a drop
    assert fast.n_evals <= 80


def test_hasselblad_standard_errors():
    """turboEM's vignette, numerical Hessian at the MLE: se 0.1948, 0.3503, 0.2507 for
    (pi, lambda1, lambda2) labelled as from (0.5, 1, 3). SEM and the inverse observed
    information agree with each other to 1e-5 and with the published values to 0.2%."""
    model = PoissonMixture()
    res = emh.run_em(model.e_step, model.m_step, [0.5, 1, 3], loglik=model.loglik, tol=1e-10,
                     accelerate="squarem", valid=model.valid)
    sem = emh.sem_covariance(model.e_step, model.m_step, res, model.complete_info,
                             valid=model.valid)
    se_obs = np.sqrt(np.diag(np.linalg.inv(emh.observed_information(model.loglik, res.theta))))
    assert sem.converged
    np.testing.assert_allclose(sem.se, se_obs, rtol=1e-4)
    np.testing.assert_allclose(se_obs, [0.1948, 0.3503, 0.2507], rtol=2e-3)


@pytest.mark.parametrize("theta0", [[0.026, 8.142, 9.132], [0.971, 6.871, 6.522]])
def test_extrapolation_outside_the_space_falls_back(theta0):
    # from these starts some SQUAREM jumps land outside 0 < pi < 1, lambda > 0
    model = PoissonMixture()
    outside = []

    def valid(t):
        if not model.valid(t):
            outside.append(t)
            return False
        return True

    res = emh.run_em(
        model.e_step, model.m_step, theta0, loglik=model.loglik, accelerate="squarem",
        valid=valid,
    )
    assert outside, "the test needs extrapolations that leave the space"
    assert "fell back" in res.message and res.converged
    assert all(model.valid(t) for t in res.thetas)
    assert -res.loglik == pytest.approx(1989.946, abs=5e-4)


def test_extrapolation_where_the_map_fails_falls_back():
    model = PoissonMixture()

    def m_step(w):  # refuses points the mixture cannot have (a careful model's check)
        out = model.m_step(w)
        if not model.valid(out):
            raise ValueError("outside")
        return out

    def e_step(theta):
        if not model.valid(theta):
            raise ValueError(f"invalid theta {theta}")
        return model.e_step(theta)

    res = emh.run_em(e_step, m_step, [0.9, 0.2, 8.0], loglik=model.loglik, accelerate="squarem")
    assert res.converged and -res.loglik == pytest.approx(1989.946, abs=5e-4)


def test_wrong_m_step_still_raises_ascent_error():
    model = Exponential()
    with pytest.raises(emh.AscentError):
        emh.run_em(model.e_step, lambda s: 0.9, 0.2, loglik=model.loglik, accelerate="squarem")


def test_unknown_method():
    with pytest.raises(ValueError, match="accelerate"):
        emh.run_em(lambda t: t, lambda s: s, 0.5, accelerate="anderson")


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.integers(0, 2**32 - 1),
    st.floats(0.05, 0.95),
    st.floats(0.3, 8.0),
    st.floats(0.3, 8.0),
    st.floats(0.02, 0.98),
    st.floats(0.1, 10.0),
    st.floats(0.1, 10.0),
)
def test_squarem_never_lowers_the_loglik(seed, pi, lam1, lam2, pi0, l1, l2):
    rng = np.random.default_rng(seed)
    n = 500
    z = rng.random(n) < pi
    x = np.where(z, rng.poisson(lam1, n), rng.poisson(lam2, n))
    model = PoissonMixture(np.bincount(x).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emh.ConvergenceWarning)
        res = emh.run_em(
            model.e_step, model.m_step, [pi0, l1, l2], loglik=model.loglik,
            accelerate="squarem", valid=model.valid, max_iter=300,
        )
    ll = res.logliks
    assert np.all(np.diff(ll) >= -1e-10 * (1 + np.abs(ll[:-1])))
    assert all(model.valid(t) for t in res.thetas)
