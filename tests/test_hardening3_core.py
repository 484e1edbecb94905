"""Issue 18 (third hardening), the EM machinery: run_em, SQUAREM, the stopping rule, the
course's example models and the errors that must name their argument.

Every test here failed on the code before the fix (commit 8fe1d96: this file was run
against that commit's em_helpers). The hostile cases are the issue's own.

- 2: SQUAREM said ``converged=True`` 41x tol from the MLE (its rate came from the two EM
  steps right after a jump, which hide the slow mode) and 10-100x tol away on slow maps;
- 3: SQUAREM without ``loglik`` let its step length grow x4 without limit (OverflowError);
- 4: a boundary MLE (moths with no carbonaria) gave a NaN log-likelihood, a false "an EM
  step never does this", and a SQUAREM result outside ``valid``; huge counts lost digits
  of the log-likelihood and raised a false AscentError;
- 5: plain EM stopped 1000x tol away when a slow block hid under a fast one, and 2-3x tol
  away on sublinear convergence to a boundary;
- 8: a round-off fixed point (N = 8 < p = 12, tied covariance) never stopped;
- errors that did not name their argument.
"""

import math
import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest

import em_helpers as emh
from em_helpers.models import examples as ex

TOL = 1e-8  # run_em's default


def _em_map(model):
    return lambda theta: model.m_step(model.e_step(theta))


# ---- 2. SQUAREM: converged means within tol -------------------------------------------


def _hostile_gaussians():
    x = ex.simulate_gaussians(0.0, 1.306109195563148, 0.20811758852514478, 1.0, 306, 351139)
    return ex.TwoGaussians(x=x), [-1.4323782582178461, 4.438475809704102, 0.4234577345297017]


def test_squarem_sees_the_slow_mode_its_jumps_hide():
    model, theta0 = _hostile_gaussians()
    em_map = _em_map(model)
    ref = emh.run_em(model.e_step, model.m_step, theta0, loglik=model.loglik, tol=1e-11,
                     accelerate="squarem", max_iter=2000).theta
    # DM at the MLE by central differences: the slow mode has rate 0.9988
    h = 1e-5
    dm = np.column_stack([(em_map(ref + h * e) - em_map(ref - h * e)) / (2 * h)
                          for e in np.eye(3)])
    rate = np.max(np.abs(np.linalg.eigvals(dm)))
    assert rate == pytest.approx(0.99875, abs=1e-4)
    # ref is within |M(ref) - ref| / (1 - rate) < 1e-11 of the fixed point: a reference
    assert np.max(np.abs(em_map(ref) - ref)) / (1 - rate) < 1e-11
    res = emh.run_em(model.e_step, model.m_step, theta0, loglik=model.loglik,
                     accelerate="squarem")
    assert res.converged
    np.testing.assert_array_less(np.abs(res.theta - ref), TOL * np.abs(ref))  # was 41x tol
    assert res.rate == pytest.approx(rate, abs=2e-3)  # was 0.798


def _slow_map(c):
    """M(theta) = (c + 1) / (5 + c / theta): fixed point 0.2, rate c / (c + 1)."""
    return (lambda th: c / th), (lambda s: (c + 1) / (5 + s))


@pytest.mark.parametrize(
    ("c", "theta0", "max_iter"),
    [(1e5, 1.0, 1000), (3e5, 0.1, 1000), (3e4, 2.0, 300), (1e6, 1.0, 3000)],
)
def test_squarem_on_a_slow_map_converges_within_tol_or_says_it_did_not(c, theta0, max_iter):
    # before: converged 9x, 33x, 2.5x and (the call) 100x tol away from 0.2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = emh.run_em(*_slow_map(c), theta0, accelerate="squarem",
                         valid=lambda t: t > 0, max_iter=max_iter)
    if res.converged:
        assert abs(res.theta - 0.2) <= TOL * 0.2
    else:
        assert any(issubclass(w.category, emh.ConvergenceWarning) for w in caught)
        assert res.n_iter == max_iter


# ---- 3. SQUAREM without loglik: a bounded step ---------------------------------------------


def test_squarem_without_loglik_does_not_overflow():
    # the call: the step cap grew x4 without limit, iterates reached 1e143, and a
    # bare OverflowError; now the cap stops at 4**10 and the run ends within tol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emh.ConvergenceWarning)
        res = emh.run_em(*_slow_map(1e5), 1.0, accelerate="squarem", max_iter=100_000)
    assert np.all(np.isfinite(res.thetas))
    assert res.converged and abs(res.theta - 0.2) <= TOL * 0.2


# ---- 4. boundary MLEs and huge counts (moths) ----------------------------------------------

NO_CARBONARIA = [0.0, 10.0, 30.0, 0.0]
#: p_C = 0; then l = 10 log(p(2 - p)) + 60 log(1 - p) in p = p_I: 4 (1 - p)^2 = 3
BOUNDARY_MLE = [0.0, 1 - math.sqrt(3) / 2]


def test_moths_loglik_at_the_boundary_is_finite():
    model = ex.Moths(counts=NO_CARBONARIA)
    p_i, p_t = 0.134, 0.866
    expected = 10 * math.log(p_i * (p_i + 2 * p_t)) + 30 * math.log(p_t**2)  # 0 log 0 = 0
    assert model.loglik([0.0, p_i]) == pytest.approx(expected, rel=1e-14)
    assert model.valid([0.0, p_i]) and not ex.moths.valid([0.0, p_i])  # n_C = 85 > 0 there


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_boundary_mle_is_reached_and_reported(accelerate):
    model = ex.Moths(counts=NO_CARBONARIA)
    res = emh.run_em(model.e_step, model.m_step, model.theta0, loglik=model.loglik,
                     valid=model.valid, names=model.names, accelerate=accelerate)
    assert res.converged and model.valid(res.theta)
    np.testing.assert_allclose(res.theta, BOUNDARY_MLE, atol=1e-9)
    assert "boundary of the parameter space along p_C" in res.message


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_a_valid_without_the_boundary_is_an_error_never_a_point_outside(accelerate):
    # before: plain EM raised "an EM step never does this"; SQUAREM returned (0, 0.134),
    # valid False, with converged=True
    model = ex.Moths(counts=NO_CARBONARIA)

    def interior(t):
        return bool(min(t) > 0 and sum(t) < 1)

    with pytest.raises(ValueError, match="left the parameter space.*boundary"):
        emh.run_em(model.e_step, model.m_step, model.theta0, valid=interior,
                   accelerate=accelerate)


def _exact_moths_loglik(counts, theta):
    with localcontext() as ctx:
        ctx.prec = 50
        p_c, p_i = (Decimal(float(v)) for v in theta)
        p_t = 1 - p_c - p_i
        probs = [p_c * (2 - p_c), p_i * (p_i + 2 * p_t), p_t * p_t, (1 - p_c) ** 2]
        terms = [Decimal(float(n)) * p.ln() for n, p in zip(counts, probs, strict=True) if n]
        return float(sum(terms))


def test_moths_loglik_keeps_its_digits_at_huge_counts():
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(300):
        counts = rng.integers(0, 10, 4) * 10.0 ** rng.integers(0, 16, 4)
        if counts[:3].sum() == 0:
            continue
        model = ex.Moths(counts=counts)
        theta = rng.dirichlet([1, 1, 1])[:2] * 10.0 ** rng.choice([0, -5, -10])
        if not model.valid(theta):
            continue
        exact = _exact_moths_loglik(counts, theta)
        # every term n log P is <= 0: no cancellation, so a relative bound is fair
        worst = max(worst, abs(model.loglik(theta) - exact) / (1 + abs(exact)))
    assert worst < 1e-14  # was 1e-6 (log of p_T = 1 - p_C - p_I near 1 from the rounded p_T)


@pytest.mark.parametrize(
    ("counts", "theta0"),
    [
        ([30.0, 2.0, 7e10, 8e5], [0.1488811, 0.38243801]),
        ([1e3, 8e5, 4e15, 7e9], [0.49996314, 0.32434593]),
        ([4e5, 6e3, 5.0, 3e14], [0.01283395, 0.6852829]),
    ],
)
def test_no_false_ascent_error_at_huge_counts(counts, theta0):
    model = ex.Moths(counts=counts)
    res = emh.run_em(model.e_step, model.m_step, theta0, loglik=model.loglik)
    assert res.converged  # before: AscentError on a drop of round-off size


@pytest.mark.parametrize("y1", ["5", None, True, [5.0]])
def test_exponential_names_y1(y1):
    with pytest.raises(TypeError, match="y1"):
        ex.Exponential(y1=y1)


# ---- 5. plain EM: a slow block under a fast one; sublinear convergence --------------------


def _blocks(slow):
    def m_step(theta):  # two decoupled blocks, rates 0.5 and `slow`, fixed point (1, 1)
        return np.array([1 + 0.5 * (theta[0] - 1), 1 + slow * (theta[1] - 1)])

    return (lambda t: t), m_step


def test_a_slow_block_hidden_under_a_fast_one_is_not_converged():
    # before: converged after 27 iterations, 1e-5 (1000 x tol) from the fixed point
    with pytest.warns(emh.ConvergenceWarning, match="rate here is about 0.9999"):
        res = emh.run_em(*_blocks(0.9999), [2.0, 1 + 1e-5])
    assert not res.converged


def test_a_slow_block_is_converged_within_tol():
    res = emh.run_em(*_blocks(0.99), [2.0, 1 + 1e-5], max_iter=5000)
    assert res.converged
    np.testing.assert_array_less(np.abs(res.theta - 1), TOL)


@pytest.mark.parametrize(("power", "tol"), [(2, 1e-3), (3, 1e-2)])
def test_sublinear_convergence_to_a_boundary_stops_within_tol(power, tol):
    # p -> p - p^power creeps to 0 like t^(-1/(power-1)); before: stopped at 2x / 3x tol
    res = emh.run_em(lambda p: p, lambda p: p - p**power, 0.5, scale=1.0, tol=tol,
                     max_iter=100_000)
    assert res.converged and 0 < res.theta <= tol  # scale 1: the tolerance is absolute
    assert "sublinearly" in res.message


# ---- 8. a round-off fixed point stops ----------------------------------------------------


def test_a_roundoff_fixed_point_stops():
    from em_helpers.models import gmm

    # the case: 8 points in 12 dimensions, tied covariance; from k-means++ EM is at
    # its fixed point at once and then moves entries of 5e-4 by 1e-17 (~100 ulps) forever
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 12))
    model = gmm.GMM(X, 2, covariance_type="tied")
    start = gmm.init_params(X, 2, covariance_type="tied", seed=0)
    res = emh.run_em(model.e_step, model.m_step, start.pack(), loglik=model.loglik,
                     check_ascent=False)  # no scale: the run_em part alone
    assert res.converged and res.n_iter <= 5  # before: 1000 iterations, "did not converge"
    assert "round-off" in res.message


def test_a_floating_point_two_cycle_stops():
    # one component alternates between two floats 512 ulps apart (a floating-point 2-cycle:
    # its rate is never measurable), the other sits at its fixed point; before: the
    # max-norm ratio was 1 forever and "did not converge"
    step = 512 * np.spacing(1e-5)

    def m_step(theta):
        return np.array([0.25, 1e-5 + step if theta[1] == 1e-5 else 1e-5])

    res = emh.run_em(lambda t: t, m_step, [0.25, 1e-5], max_iter=200)
    assert res.converged and res.n_iter <= 3
    assert "round-off" in res.message and "theta[1]" in res.message


# ---- errors that name their argument -------------------------------------------------------


def _run(**kw):
    args = {"e_step": lambda t: 1 / t, "m_step": lambda e: 2 / (5 + e), "theta0": 1.0}
    args.update(kw)
    return emh.run_em(args.pop("e_step"), args.pop("m_step"), args.pop("theta0"), **args)


BAD_CALLS = [
    (lambda: _run(e_step=5), TypeError, "e_step"),
    (lambda: _run(m_step=5), TypeError, "m_step"),
    (lambda: _run(loglik=5), TypeError, "loglik"),
    (lambda: _run(valid=lambda t: np.array([True, True])), TypeError, "valid"),
    (lambda: _run(valid="yes"), TypeError, "valid"),
    (lambda: _run(theta0=10**400), ValueError, "theta0"),
    (lambda: _run(theta0=[0.5, 10**400]), ValueError, "theta0"),
    (lambda: _run(check_ascent="no"), TypeError, "check_ascent"),
    (lambda: _run(check_ascent=None), TypeError, "check_ascent"),
    (lambda: emh.observed_information(lambda t: -t @ t, [0.2, 0.3], scale=[1.0, 2.0, 3.0]),
     ValueError, "scale"),
    (lambda: emh.convergence_rate([]), ValueError, "path"),
    (lambda: emh.convergence_rate(np.float64(0.5)), ValueError, "path"),
    (lambda: emh.convergence_rate([["a"], ["b"]]), ValueError, "path"),
]


@pytest.mark.parametrize(("call", "exc", "match"), BAD_CALLS)
def test_bad_input_names_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_sem_valid_returning_an_array_names_valid():
    model = ex.exponential
    res = emh.run_em(model.e_step, model.m_step, model.theta0)
    with pytest.raises(TypeError, match="valid"):
        emh.sem_covariance(model.e_step, model.m_step, res, model.complete_info,
                           valid=lambda t: np.array([True, True]))


def test_numpy_bools_are_fine():
    res = _run(check_ascent=np.True_, valid=lambda t: np.all(np.asarray(t) > 0),
               loglik=lambda t: np.log(t) - 5 * t)
    assert res.converged and res.theta == pytest.approx(0.2)
