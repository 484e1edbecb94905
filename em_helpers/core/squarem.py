"""SQUAREM: squared extrapolation of the EM map (Varadhan & Roland 2008).

One SQUAREM cycle from :math:`\\theta` takes two EM steps,

.. math:: \\theta_1 = M(\\theta),\\quad \\theta_2 = M(\\theta_1),\\quad
          r = \\theta_1 - \\theta,\\quad v = (\\theta_2 - \\theta_1) - r,

and jumps along the quadratic path through them,

.. math:: \\theta' = \\theta - 2\\alpha r + \\alpha^2 v, \\qquad
          \\alpha = -\\lVert r\\rVert / \\lVert v\\rVert \\ \\text{(the "S3" step length)},

clamped to :math:`\\alpha \\le -1` (:math:`\\alpha = -1` gives :math:`\\theta' = \\theta_2`, the
plain EM double step), then stabilises with one more EM step,
:math:`\\theta_{new} = M(\\theta')`. For a linear map with a single rate the extrapolation
lands on the fixed point; for EM it turns a linear rate :math:`\\lambda` into a much smaller
one at the price of three map evaluations per cycle.

**Step-length adaptation** (the R package SQUAREM's defaults, ``step.min0 = 1``,
``step.max0 = 1``, ``mstep = 4``, in the sign convention :math:`|\\alpha|`): the cap on
:math:`|\\alpha|` starts at 1 and is multiplied by 4 whenever a step reaches it; a rejected
extrapolation taken at the cap divides it by 4 (never below 1).

**Safeguards** (here stricter than the package, whose default ``objfn.inc = 1`` tolerates
a drop of 1 in :math:`\\ell`): an extrapolated point is rejected, and the cycle falls back to
the EM double step :math:`\\theta_2`, when it is not ``valid``, when the EM map fails or
returns non-finite values there, or, with ``loglik``, when :math:`\\ell` there is not finite
or is below :math:`\\ell(\\theta)` by more than ``ascent_tol``. So with ``loglik`` every
accepted iterate has :math:`\\ell` no lower than the one before, as in EM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .loop import (
    _check_ascent,
    _check_step,
    _em_step,
    _loglik_value,
    _StoppingRule,
)

__all__ = ["STEP_MAX0", "STEP_MIN", "MSTEP", "squarem_path"]

#: |alpha| never below this (alpha = -1 is the EM double step)
STEP_MIN = 1.0
#: initial cap on |alpha|
STEP_MAX0 = 1.0
#: factor by which the cap grows when reached (and shrinks after a rejected capped step)
MSTEP = 4.0


def squarem_path(
    e_step: Callable,
    m_step: Callable,
    theta: np.ndarray,
    public: Callable[[np.ndarray], Any],
    *,
    loglik: Callable | None,
    ll0: float | None,
    rule: _StoppingRule,
    max_iter: int,
    valid: Callable[[Any], bool] | None,
    check_ascent: bool,
    ascent_tol: float | None,
) -> dict[str, Any]:
    """Run SQUAREM cycles from ``theta`` (already checked); the pieces of an EMResult.

    Returns a dict with ``path``, ``logliks``, ``converged``, ``n_iter`` (cycles),
    ``n_evals`` (EM map evaluations) and ``fallbacks`` (cycles that used the EM double step).
    """
    d = theta.size
    path, lls = [theta], None if ll0 is None else [ll0]
    step_max = STEP_MAX0
    n_evals = fallbacks = t = 0
    converged = False

    def em(vec: np.ndarray, label: int) -> np.ndarray:
        nonlocal n_evals
        n_evals += 1
        new = _em_step(e_step, m_step, public(vec), label)
        _check_step(new, d, label, vec)
        return new

    def inside(vec: np.ndarray) -> bool:
        return valid is None or bool(valid(public(vec)))

    while t < max_iter:
        t += 1
        p1 = em(theta, t)
        p2 = em(p1, t)
        rule.new_cycle()
        rule.update(theta, p1)
        done = rule.update(p1, p2)
        r, v = p1 - theta, (p2 - p1) - (p1 - theta)
        sv2 = float(v @ v)
        alpha = np.sqrt(float(r @ r) / sv2) if sv2 > 0 else step_max
        alpha = max(STEP_MIN, min(step_max, alpha))
        new, ll_new = None, None
        if not done and abs(alpha - 1) > 0.01:
            new, ll_new = _extrapolate(
                em, inside, loglik, public, theta, r, v, alpha, t, lls, ascent_tol
            )
        if new is None:  # the EM double step: rejected extrapolation, alpha = 1, or done
            if not done and abs(alpha - 1) > 0.01:
                fallbacks += 1
                if alpha == step_max:
                    step_max = max(STEP_MAX0, step_max / MSTEP)
                alpha = 1.0
            new = p2
            if lls is not None:
                ll_new = _loglik_value(loglik, public(p2), f"theta^({t})")
                _check_ascent(lls[-1], ll_new, t, theta, p2, check_ascent, ascent_tol)
        if alpha == step_max:
            step_max *= MSTEP
        theta = new
        path.append(new)
        if lls is not None:
            lls.append(ll_new)
        if done:
            converged = True
            break
    return {
        "path": path,
        "logliks": lls,
        "converged": converged,
        "n_iter": t,
        "n_evals": n_evals,
        "fallbacks": fallbacks,
    }


def _extrapolate(em, inside, loglik, public, theta, r, v, alpha, t, lls, ascent_tol):
    """The stabilised extrapolated point and its l, or (None, None) when it is rejected."""
    jump = theta + 2 * alpha * r + alpha**2 * v  # = theta - 2a r + a^2 v with a = -alpha
    if not (np.all(np.isfinite(jump)) and inside(jump)):
        return None, None
    try:
        with np.errstate(all="ignore"):
            new = em(jump, t)
    except (ArithmeticError, ValueError, TypeError):
        return None, None
    if not inside(new):
        return None, None
    if lls is None:
        return new, None
    try:
        ll_new = _loglik_value(loglik, public(new), f"theta^({t})")
    except (ArithmeticError, ValueError, TypeError):
        return None, None
    allowed = 1e-10 * (1.0 + abs(lls[-1])) if ascent_tol is None else ascent_tol
    if not (np.isfinite(ll_new) and ll_new >= lls[-1] - allowed):
        return None, None
    return new, ll_new
