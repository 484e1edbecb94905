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
:math:`|\\alpha|` starts at 1 and is multiplied by 4 whenever a step reaches it, up to
:data:`STEP_MAX_LIMIT` (the package has no limit: without a log-likelihood to reject wild
jumps its iterates can overflow); a rejected extrapolation taken at the cap divides it by 4
(never below 1).

**Safeguards** (here stricter than the package, whose default ``objfn.inc = 1`` tolerates
a drop of 1 in :math:`\\ell`): an extrapolated point is rejected, and the cycle falls back to
the EM double step :math:`\\theta_2`, when it is not ``valid``, when the EM map fails or
returns non-finite values there, or, with ``loglik``, when :math:`\\ell` there is not finite
or is below :math:`\\ell(\\theta)` by more than ``ascent_tol``. So with ``loglik`` every
accepted iterate has :math:`\\ell` no lower than the one before, as in EM. The two EM steps
of a cycle are checked as plain EM's (an EM step that leaves ``valid`` is an error).

**Stopping.** The rule of :class:`~em_helpers.core.stopping.StoppingRule` is applied to the
two EM steps of each cycle; the rate is the largest ratio of their lengths (overall and per
component) over the last :data:`RATE_MEMORY` cycles, because a single cycle's pair, taken
right after a jump, can hide the slowest mode (the jump removes most of it from the step but
not from the error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stopping import EMMap, Options, StoppingRule, Trace

__all__ = ["MSTEP", "RATE_MEMORY", "STEP_MAX0", "STEP_MAX_LIMIT", "STEP_MIN", "squarem_path"]

#: |alpha| never below this (alpha = -1 is the EM double step)
STEP_MIN = 1.0
#: initial cap on |alpha|
STEP_MAX0 = 1.0
#: factor by which the cap grows when reached (and shrinks after a rejected capped step)
MSTEP = 4.0
#: the cap never exceeds this: 4**10, about 1e6 (alpha ~ 1/(1 - lambda) extrapolates a rate
#: lambda = 1 - 1e-6 fully); beyond it, the alpha**2 v term is mostly round-off of v
STEP_MAX_LIMIT = MSTEP**10
#: cycles whose EM-step ratios make the rate of the stopping rule
RATE_MEMORY = 3


@dataclass
class SquaremRun:
    """What :func:`squarem_path` leaves besides the trace: the pieces of an EMResult."""

    converged: bool
    n_iter: int
    fallbacks: int
    rule: StoppingRule
    step_max: float


def squarem_path(em: EMMap, trace: Trace, options: Options) -> SquaremRun:
    """Run SQUAREM cycles from ``trace.last`` (already checked), appending every accepted
    iterate to ``trace``; ``n_iter`` counts cycles, ``em.n_evals`` EM map evaluations and
    ``fallbacks`` the cycles that used the EM double step instead of a jump."""
    rule = StoppingRule(options.tol, options.scale, memory=RATE_MEMORY)
    theta = trace.last
    step_max = STEP_MAX0
    fallbacks = t = 0
    converged = False
    while t < options.max_iter:
        t += 1
        p1 = em(theta, t)  # two EM steps, checked as plain EM's
        em.require_inside(p1, t, theta)
        p2 = em(p1, t)
        em.require_inside(p2, t, p1)
        rule.new_cycle()
        rule.update(theta, p1)
        done = rule.update(p1, p2)
        r, v = p1 - theta, (p2 - p1) - (p1 - theta)
        sv2 = float(v @ v)
        alpha = np.sqrt(float(r @ r) / sv2) if sv2 > 0 else step_max
        alpha = max(STEP_MIN, min(step_max, alpha))
        new, ll_new = None, None
        extrapolate = not done and abs(alpha - 1) > 0.01
        if extrapolate:
            new, ll_new = _extrapolate(em, trace, theta, r, v, alpha, t)
        if new is None:  # the EM double step: rejected extrapolation, alpha = 1, or done
            if extrapolate:
                fallbacks += 1
                if alpha == step_max:
                    step_max = max(STEP_MAX0, step_max / MSTEP)
                alpha = 1.0
            new, ll_new = p2, None  # trace.add computes l and checks the ascent
        if alpha == step_max:
            step_max = min(STEP_MAX_LIMIT, step_max * MSTEP)
        trace.add(new, t, ll_new)
        theta = new
        if done:
            converged = True
            break
    return SquaremRun(converged, t, fallbacks, rule, step_max)


def _extrapolate(
    em: EMMap, trace: Trace, theta: np.ndarray, r: np.ndarray, v: np.ndarray, alpha: float,
    t: int,
) -> tuple[np.ndarray | None, float | None]:
    """The stabilised extrapolated point and its l, or (None, None) when it is rejected."""
    with np.errstate(all="ignore"):
        jump = theta + 2 * alpha * r + alpha**2 * v  # = theta - 2a r + a^2 v with a = -alpha
    if not (np.all(np.isfinite(jump)) and em.inside(jump)):
        return None, None
    try:
        with np.errstate(all="ignore"):
            new = em(jump, t)
    except (ArithmeticError, ValueError, TypeError):
        return None, None
    if not em.inside(new):
        return None, None
    if trace.logliks is None:
        return new, None
    try:
        ll_new = trace.loglik_at(new, f"theta^({t})")
    except (ArithmeticError, ValueError, TypeError):
        return None, None
    if not (np.isfinite(ll_new) and ll_new >= trace.logliks[-1] - trace.allowed_drop()):
        return None, None
    return new, ll_new
