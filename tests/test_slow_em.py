"""The published SQUAREM/turboEM counts on Hasselblad's data, with the published (R) rules.

The R packages stop on the absolute step length ||M(p) - p||_2 < tol; em_helpers stops on a
relative error estimate (tests/test_squarem.py). These compact re-implementations of R's
loops (as in notebook 06) check that em_helpers' EM map reproduces the published counts
exactly under R's rules, and that they stop at em_helpers' fixed point.
"""

import numpy as np
import pytest

import em_helpers as emh
from em_helpers.models.poisson_mixture import PoissonMixture

MODEL = PoissonMixture()


def em_map(p):
    return MODEL.m_step(MODEL.e_step(p))


def neg_loglik(p):
    return -MODEL.loglik(p) if MODEL.valid(p) else np.nan


def r_wichmann_hill_runif(seed, n):
    """R: set.seed(seed, kind="Wichmann-Hill"); runif(n)."""
    s = seed
    for _ in range(51):
        s = (69069 * s + 1) % 2**32
    i = [s % 30269]
    for m in (30307, 30323):
        s = (69069 * s + 1) % 2**32
        i.append(s % m)
    out = []
    for _ in range(n):
        i = [i[0] * 171 % 30269, i[1] * 172 % 30307, i[2] * 170 % 30323]
        out.append((i[0] / 30269 + i[1] / 30307 + i[2] / 30323) % 1.0)
    return np.array(out)


def cycle(p, q1, q2, p2, lold, step_max, objfn_inc=1.0):
    """R's squarem1 after the two EM steps: S3 step, step.min0 = step.max0 = 1, mstep = 4."""
    alpha = max(1.0, min(step_max, np.sqrt((q1 @ q1) / ((q2 - q1) @ (q2 - q1)))))
    new, evals = p + 2 * alpha * q1 + alpha**2 * (q2 - q1), 0
    if abs(alpha - 1) > 0.01:
        with np.errstate(all="ignore"):
            new = em_map(new)
        evals = 1
    lnew = neg_loglik(new) if np.all(np.isfinite(new)) else np.nan
    rejected = bool(np.isnan(lnew) or lnew > lold + objfn_inc)
    if rejected:
        new, lnew = p2, neg_loglik(p2)
        if alpha == step_max:
            step_max = max(1.0, step_max / 4)
        alpha = 1.0
    if alpha == step_max:
        step_max *= 4
    return new, lnew, step_max, evals, rejected


def r_fpiter(p, tol, maxiter=5000):
    for evals in range(1, maxiter):
        new = em_map(p)
        if np.linalg.norm(new - p) < tol:
            return p, evals, True
        p = new
    return p, maxiter, False


def r_squarem(p, tol, objfn_inc=1.0, maxiter=1500):
    lold, step_max, evals, it, rejections = neg_loglik(p), 1.0, 0, 1, 0
    while evals < maxiter:
        p1 = em_map(p)
        q1, evals = p1 - p, evals + 1
        if np.linalg.norm(q1) < tol:
            break
        p2 = em_map(p1)
        q2, evals = p2 - p1, evals + 1
        if np.linalg.norm(q2) < tol:
            break
        p, lold, step_max, extra, rejected = cycle(p, q1, q2, p2, lold, step_max, objfn_inc)
        evals, it, rejections = evals + extra, it + 1, rejections + rejected
    return p, it, evals, rejections


def turboem_squarem(p, tol, maxiter=1500):
    """turboEM: whole cycles, stop on ||p_new - p||_2 < tol; its count misses the 2nd step."""
    lold, step_max, true_evals, reported = neg_loglik(p), 1.0, 0, 0
    for itr in range(1, maxiter + 1):  # noqa: B007 (itr is returned)
        p1 = em_map(p)
        p2 = em_map(p1)
        new, lold, step_max, extra, _ = cycle(p, p1 - p, p2 - p1, p2, lold, step_max)
        true_evals, reported = true_evals + 2 + extra, reported + 1 + extra
        done, p = np.linalg.norm(new - p) < tol, new
        if done:
            break
    return p, itr, true_evals, reported


@pytest.fixture(scope="module")
def theta_hat():
    res = emh.run_em(MODEL.e_step, MODEL.m_step, [0.5, 1, 3], loglik=MODEL.loglik, tol=1e-13,
                     accelerate="squarem", valid=MODEL.valid)
    return res.theta  # (0.3599, 1.2561, 2.6634): Hasselblad's labels swapped


def em_helpers_rejections(theta0, tol):
    """em_helpers' SQUAREM and its rejected jumps: points outside the space, or whose
    log-likelihood was evaluated but is not on the accepted path."""
    seen, outside = [], []

    def loglik(theta):
        seen.append(MODEL.loglik(theta))
        return seen[-1]

    def valid(theta):
        outside.append(not MODEL.valid(theta))
        return not outside[-1]

    res = emh.run_em(MODEL.e_step, MODEL.m_step, theta0, loglik=loglik, tol=tol,
                     accelerate="squarem", valid=valid)
    kept = set(res.logliks)
    return res, sum(ll not in kept for ll in seen) + sum(outside)


def swap(theta):
    return np.array([1 - theta[0], theta[2], theta[1]])


def test_squarem_vignette_counts(theta_hat):
    """SQUAREM vignette, tol 1e-8: fpiter 2909 evaluations; squarem 25 iterations, 72."""
    u = r_wichmann_hill_runif(123, 3)
    p0 = np.array([u[0], 6 * u[1], 6 * u[2]])
    fp, fp_evals, converged = r_fpiter(p0, 1e-8)
    sq, sq_iter, sq_evals, sq_rejected = r_squarem(p0, 1e-8)
    assert converged and (fp_evals, sq_iter, sq_evals, sq_rejected) == (2909, 25, 72, 0)
    np.testing.assert_allclose(fp, swap(theta_hat), atol=1e-5)  # the step rule's error
    np.testing.assert_allclose(sq, swap(theta_hat), atol=1e-7)
    # monotone (objfn.inc = 0, as em_helpers): R's own loop rejects 7 jumps and needs 90;
    # em_helpers rejects 4 and needs 88
    _, _, strict, strict_rejected = r_squarem(p0, 1e-8, objfn_inc=0.0)
    ours, ours_rejected = em_helpers_rejections(p0, 1e-8)
    assert (strict, strict_rejected) == (90, 7) and ours_rejected == 4
    assert ours.n_evals <= strict
    assert np.diff(ours.logliks).min() >= -1e-10 * (1 + abs(ours.loglik))
    np.testing.assert_allclose(ours.theta, swap(theta_hat), atol=1e-7)


def test_turboem_vignette_counts(theta_hat):
    """turboEM, (0.5, 1, 3), tol 1e-7: EM not converged in 1500; squarem 23 iterations, '45'."""
    _, _, converged = r_fpiter(np.array([0.5, 1, 3]), 1e-7, maxiter=1500)
    assert not converged
    p, itr, true_evals, reported = turboem_squarem(np.array([0.5, 1, 3]), 1e-7)
    assert (itr, reported, true_evals) == (23, 45, 68)
    np.testing.assert_allclose(p, theta_hat, atol=1e-7)
