"""The EM iteration loop, kept apart from any model.

A model supplies two functions, ``e_step(theta) -> stats`` and ``m_step(stats) -> theta``;
one EM iteration is the map

.. math:: M(\\theta) = \\text{m\\_step}(\\text{e\\_step}(\\theta)).

:func:`run_em` iterates :math:`\\theta^{(t+1)} = M(\\theta^{(t)})`, records the path, checks
that every iterate is finite, real and has the right shape, and (given the observed-data
log-likelihood) that no step lowers it. Its stopping rule estimates the distance to the
fixed point from the observed rate, so that ``converged=True`` means the iterate is within
``tol`` (relative) of the fixed point, not merely that the last step was small.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .squarem import STEP_MAX_LIMIT, squarem_path
from .stopping import (
    ROUNDOFF_ULPS,
    AscentError,
    ConvergenceWarning,
    EMMap,
    Options,
    StoppingRule,
    Trace,
    check_options,
)

__all__ = [
    "AscentError",
    "ConvergenceWarning",
    "EMResult",
    "convergence_rate",
    "run_em",
]


@dataclass
class EMResult:
    """What :func:`run_em` returns (field names follow :class:`scipy.optimize.OptimizeResult`).

    Attributes
    ----------
    theta : float or ndarray, shape (d,)
        The last iterate :math:`\\theta^{(n)}`; a float when ``theta0`` was a float.
    n_iter : int
        Number of EM iterations done, :math:`n`.
    converged : bool
        Whether the stopping rule was met before ``max_iter`` (see :func:`run_em`).
    message : str
        One line saying why the loop stopped.
    thetas : ndarray, shape (n + 1, d)
        The path :math:`\\theta^{(0)}, \\dots, \\theta^{(n)}`, one row per iterate.
    logliks : ndarray, shape (n + 1,) or None
        :math:`\\ell(\\theta^{(t)})` along the path, or None when no ``loglik`` was given.
    names : list of str
        A label per component of :math:`\\theta`.
    rate : float
        The contraction factor :math:`\\hat\\lambda` observed over the last steps (the larger
        of the last two ratios of successive scaled step lengths; for SQUAREM the largest
        ratio of the two EM steps of a cycle over the last three cycles; a ratio blurred
        by round-off is replaced as described in :func:`run_em`; NaN before two steps).
        For EM it estimates the largest fraction of missing information.
    error : ndarray, shape (d,)
        Estimated distance to the fixed point per component,
        :math:`e_j = |\\theta_j^{(n)} - \\theta_j^{(n-1)}|\\,\\max(1, \\hat\\lambda_j/(1-
        \\hat\\lambda_j))` with the per-component rate :math:`\\hat\\lambda_j` (inf when it
        is :math:`\\ge 1` or unknown; larger under sublinear convergence; the step itself
        for a component at round-off); see :func:`run_em`. A small step is not a small
        error: with :math:`\\lambda = 0.99` the error is 99 times the last step.
    n_evals : int
        Number of EM map evaluations :math:`M(\\theta)` (one ``e_step`` and one ``m_step``
        each) the run cost.
    method : str
        ``"em"`` for plain EM.
    """

    theta: float | np.ndarray
    n_iter: int
    converged: bool
    message: str
    thetas: np.ndarray
    logliks: np.ndarray | None
    names: list[str] = field(default_factory=list)
    rate: float = float("nan")
    error: np.ndarray | None = None
    n_evals: int = 0
    method: str = "em"

    @property
    def loglik(self) -> float | None:
        """The observed-data log-likelihood at the last iterate (None without ``loglik``)."""
        return None if self.logliks is None else float(self.logliks[-1])

    @property
    def scalar(self) -> bool:
        """True when the parameter is a scalar (``theta0`` was a float)."""
        return np.ndim(self.theta) == 0


# ---- the loop ---------------------------------------------------------------------------


def run_em(
    e_step: Callable[[Any], Any],
    m_step: Callable[[Any], Any],
    theta0: float | Sequence[float] | np.ndarray,
    *,
    loglik: Callable[[Any], float] | None = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    names: Sequence[str] | None = None,
    scale: float | Sequence[float] | np.ndarray | None = None,
    check_ascent: bool = True,
    ascent_tol: float | None = None,
    accelerate: str | None = None,
    valid: Callable[[Any], bool] | None = None,
) -> EMResult:
    """Iterate :math:`\\theta^{(t+1)} = M(\\theta^{(t)})` with ``M = m_step ∘ e_step``.

    Parameters
    ----------
    e_step : callable
        ``e_step(theta) -> stats``: whatever the M-step needs, computed at the current
        :math:`\\theta^{(t)}` (expected counts, responsibilities, expected sufficient
        statistics). It receives a float when ``theta0`` is a float, else a fresh 1-D array.
    m_step : callable
        ``m_step(stats) -> theta``: the maximiser of :math:`Q(\\theta \\mid \\theta^{(t)})`.
        Its result is copied, so it may reuse an output buffer.
    theta0 : float or 1-D sequence of float
        Starting value :math:`\\theta^{(0)}`; real, finite and non-empty.
    loglik : callable, optional
        The **observed-data** log-likelihood :math:`\\ell(\\theta)`, returning a float (a
        size-1 array is accepted and converted). When given, it is recorded along the path
        and used for the ascent check; it must be finite at ``theta0``.
    tol : float in (0, 1)
        Relative tolerance on the *estimated distance to the fixed point* (rule below).
    max_iter : int
        Most iterations. Reaching it emits :class:`ConvergenceWarning` and returns
        ``converged=False`` with the path so far.
    names : sequence of str, optional
        Labels of the components, used by the plots and tables.
    scale : float or array of shape (d,), optional
        Per-component absolute scale :math:`s_j \\ge 0` (default 0: purely relative). Give
        it for a component whose fixed point may be 0 or whose natural unit is known (a
        location in data units); below :math:`s_j` its tolerance becomes absolute,
        :math:`\\mathrm{tol}\\cdot s_j`, and so does its round-off level.
    check_ascent : bool
        With ``loglik``, raise :class:`AscentError` when a step lowers :math:`\\ell` by more
        than ``ascent_tol``. EM's defining property is
        :math:`\\ell(\\theta^{(t+1)}) \\ge \\ell(\\theta^{(t)})`.
    accelerate : {None, "squarem"}
        None: plain EM. ``"squarem"``: SQUAREM (Varadhan & Roland 2008; see
        :mod:`em_helpers.core.squarem`): each iteration is a cycle of two EM steps, an
        extrapolation along their quadratic path and one stabilising EM step (three map
        evaluations; ``n_evals`` counts them, ``n_iter`` counts cycles, ``max_iter`` bounds
        cycles). Checks that apply to accelerated runs: every map evaluation is checked as
        in plain EM (finite, real, right shape; the two EM steps must stay ``valid``); an
        extrapolated point that is not ``valid``, where the map fails, or (with ``loglik``)
        where :math:`\\ell` is not finite or lower than at the cycle's start by more than
        ``ascent_tol`` is rejected and the cycle takes the plain EM double step instead, on
        which the :class:`AscentError` check applies; so every accepted iterate has
        :math:`\\ell` no lower than the one before. The stopping rule is applied to the two
        EM steps of each cycle (the returned point is then the second of them), with the
        rate taken over the last three cycles.
    valid : callable, optional
        ``valid(theta) -> bool``: whether a point is in the parameter space (probabilities
        in [0, 1] where the likelihood is positive, variances positive). SQUAREM rejects
        extrapolations outside it; an EM step that leaves it raises ``ValueError`` (a wrong
        step, or a ``valid`` that excludes a boundary where the maximiser lies). At a
        converged point the message names the components along which ``valid`` holds on
        one side only, a relative ``tol`` away (the fixed point is on the boundary of the
        space, where standard errors from the information do not apply).
    ascent_tol : float, optional
        Largest decrease of :math:`\\ell` taken as round-off; default
        :math:`10^{-10}(1 + |\\ell^{(t)}|)`. A log-likelihood that sums large terms (a count
        of :math:`10^{10}` times the log of a probability near 1) carries round-off of about
        :math:`\\epsilon \\sum_i |\\text{term}_i \\text{'s inputs}|`; pass a tolerance that
        covers it, or compute :math:`\\ell` more accurately (``log1p``, ``logsumexp``).

    Returns
    -------
    EMResult
        With ``rate`` (:math:`\\hat\\lambda`), ``error`` (the estimated distance to the fixed
        point per component) and ``n_evals`` (EM map evaluations, here ``n_iter``).

    Notes
    -----
    **Stopping rule.** With the step :math:`\\Delta_j = |\\theta_j^{(t)} - \\theta_j^{(t-1)}|`,
    the width :math:`w_j = \\max(|\\theta_j^{(t)}|, s_j)` and the scaled step length
    :math:`n_t = \\max_j \\Delta_j / w_j`, the observed contraction is the larger of the last
    two step ratios, overall and per component,

    .. math:: \\hat\\lambda = \\max\\Big(\\frac{n_t}{n_{t-1}}, \\frac{n_{t-1}}{n_{t-2}}\\Big),
              \\qquad
              \\hat\\lambda_j = \\max\\Big(\\hat\\lambda,
              \\frac{\\Delta_j^{(t)}}{\\Delta_j^{(t-1)}},
              \\frac{\\Delta_j^{(t-1)}}{\\Delta_j^{(t-2)}}\\Big),

    where a ratio :math:`a/b` counts only if round-off cannot blur it: overall,
    :math:`|a - b| > 32\\eta` and :math:`b > 32\\eta` with :math:`\\eta = \\epsilon` (then
    :math:`1 - a/b` is known to some 6%; a ratio above 1 means growing steps); per
    component, :math:`a + 32\\eta < b` with :math:`\\eta = \\epsilon w_j` (a component
    whose step grows while the whole converges is crossing zero or at round-off, which
    says nothing about its rate). A ratio that does not count is replaced by
    :math:`(1+\\lambda')/2`, :math:`\\lambda'` the largest of the last two (SQUAREM:
    three) that counted, however long ago (they were measured farther from the fixed
    point), or by :math:`\\infty` if none ever did: the rate is unknown. The run has
    converged at iteration :math:`t` when for every :math:`j`

    .. math:: e_j = \\Delta_j \\max\\!\\Big(1, \\frac{\\hat\\lambda_j}{1-\\hat\\lambda_j}\\Big)
              \\le \\mathrm{tol}\\; w_j

    (:math:`e_j = \\infty` when :math:`\\hat\\lambda_j \\ge 1`; :math:`e_j = 0` when
    :math:`\\Delta_j = 0`). For a linearly convergent iteration with rate :math:`\\lambda`,
    :math:`\\lambda/(1-\\lambda)\\,\\Delta_j` is the distance still to go, so :math:`e_j` bounds
    the error rather than the step: a small step is not a small error when
    :math:`\\lambda \\approx 1`. The per-component ratios find a slow mode that the overall
    step length hides under a fast one (its steps are small because it is slow).
    Requiring :math:`\\hat\\lambda_j < 1` refuses to stop while steps grow (a parameter that
    doubles every step from :math:`10^{-12}` has tiny steps but is far from its fixed
    point), and the relative width refuses to call a tiny parameter converged because its
    steps are tiny in absolute terms. A component whose fixed point is exactly 0 converges
    only in absolute terms: give it a ``scale``.

    *Sublinear convergence* (EM creeping to a boundary of the parameter space,
    :math:`\\theta_t - \\hat\\theta \\propto t^{-a}`) has ratios rising towards 1 as
    :math:`\\rho_t \\approx 1 - (a+1)/t`, and :math:`\\lambda/(1-\\lambda)` times the step
    underestimates the distance by the factor :math:`(a+1)/a`. So with
    :math:`g_t = 1/(1-n_t/n_{t-1})`, when the last two increments :math:`g_t - g_{t-1}` are
    within 25% of each other and in [0.05, 1) (linear convergence makes them decay
    geometrically; here they stay near :math:`\\kappa = 1/(a+1)`), :math:`\\hat\\kappa` is the
    larger and the factor becomes

    .. math:: e_j = \\frac{\\Delta_j}{(1-\\hat\\lambda_j)(1-\\hat\\kappa)}
              \\approx \\frac{t}{a}\\,\\Delta_j ,

    the tail :math:`\\sum_{s>t}\\Delta_s` of steps shrinking like :math:`s^{-(a+1)}`; the
    message says so.

    *Round-off.* A component whose rate is unknown (:math:`e_j = \\infty`) is accepted when
    its step is within 256 units in the last place of its width,
    :math:`\\Delta_j \\le 256\\,\\mathrm{ulp}(w_j)`, or when it is caught in a floating-point
    2-cycle, :math:`\\theta_j^{(t)} = \\theta_j^{(t-2)}` with :math:`\\Delta_j \\le
    \\mathrm{tol}\\,w_j`: there successive steps are rounding error, the rate cannot be
    measured and EM cannot locate the fixed point more finely. A finite :math:`e_j` is
    trusted, so a slow component (rate :math:`1 - 10^{-6}`, say) is not called converged
    because its steps have reached round-off. When the stop rests on round-off (a rate
    unknown, or every moving component at round-off while some :math:`e_j` exceeds 1% of
    its tolerance: the ratios and so the :math:`e_j` are then noise, as with a ``tol`` near
    :math:`10^{-13}`), the message says "round-off" and names the components, and
    ``error`` holds the steps of those accepted that way.

    Raises
    ------
    ValueError
        Empty, non-finite, ragged or out-of-range ``theta0``; a step that returns
        non-finite values or a different shape (the message names the iteration and the
        values), or leaves ``valid``; bad ``tol``, ``max_iter``, ``names``, ``scale``,
        ``ascent_tol`` or ``accelerate`` values; a NaN or +inf log-likelihood, or
        :math:`-\\infty` at ``theta0``.
    TypeError
        Arguments of the wrong type (``e_step=5``, ``loglik=5``, ``tol="1e-8"``,
        ``max_iter=True``, ``names="ab"``, ``check_ascent="no"``), complex parameters or
        steps, a step or ``loglik`` that returns None or an array, a ``valid`` that does
        not return a single bool.
    AscentError
        A step lowered the observed-data log-likelihood by more than ``ascent_tol``.
    """
    em = EMMap(e_step, m_step, theta0, valid=valid)  # checked steps and start
    opts = check_options(tol, max_iter, names, scale, ascent_tol, check_ascent, em.d)
    if accelerate not in (None, "squarem"):
        raise ValueError(f"accelerate must be None or 'squarem', got {accelerate!r}")
    trace = Trace(em, loglik, opts)  # the path from theta0, with l and the ascent check
    if accelerate == "squarem":
        sq = squarem_path(em, trace, opts)
        extra = f"; SQUAREM fell back to the EM double step in {sq.fallbacks} cycles"
        if not sq.converged and sq.step_max >= STEP_MAX_LIMIT:
            extra += (
                f"; its step length reached the limit {STEP_MAX_LIMIT:g}, so the rate is "
                "within about 1e-6 of 1 or the extrapolations are round-off"
            )
        return _result(em, trace, sq.rule, opts, sq.converged, sq.n_iter, "squarem", extra)

    rule = StoppingRule(opts.tol, opts.scale)
    theta, converged, t = trace.last, False, 0
    while not converged and t < opts.max_iter:
        t += 1
        new = em(theta, t)  # E-step and M-step, checked: real, finite, d components
        em.require_inside(new, t, theta)  # an EM step never leaves the parameter space
        trace.add(new, t)  # the path, l and the ascent check
        converged = rule.update(theta, new)  # the estimated distance to the fixed point
        theta = new
    return _result(em, trace, rule, opts, converged, t, "em")


def _result(
    em: EMMap,
    trace: Trace,
    rule: StoppingRule,
    opts: Options,
    converged: bool,
    n_iter: int,
    method: str,
    extra: str = "",
) -> EMResult:
    thetas = np.vstack(trace.path)
    message = _message(converged, rule, n_iter, opts, thetas) + extra
    if converged:
        widths = np.maximum(np.abs(thetas[-1]), opts.scale)
        edge = em.on_boundary(thetas[-1], widths, opts.tol)
        if edge:
            message += (
                f"; on the boundary of the parameter space along "
                f"{_listing([opts.names[j] for j in edge])} (valid holds on one side only, "
                f"a relative {opts.tol:g} away): standard errors from the information do not "
                "apply there"
            )
    else:
        warnings.warn(
            f"EM {message}. The result keeps the path (converged=False).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return EMResult(
        theta=em.public(thetas[-1]),
        n_iter=n_iter,
        converged=converged,
        message=message,
        thetas=thetas,
        logliks=None if trace.logliks is None else np.asarray(trace.logliks),
        names=opts.names,
        rate=rule.rate,
        error=rule.error,
        n_evals=em.n_evals,
        method=method,
    )


def _listing(names: list[str], most: int = 6) -> str:
    """``names`` joined by commas, the first ``most`` and a count of the rest."""
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def _message(
    converged: bool, rule: StoppingRule, t: int, opts: Options, thetas: np.ndarray
) -> str:
    tol, max_iter = opts.tol, opts.max_iter
    err = np.max(rule.error) if rule.error is not None else np.nan
    sublinear = (
        f"; the steps shrink sublinearly (ratios rising towards 1, as when EM creeps to a "
        f"boundary of the parameter space): the error estimate includes the factor "
        f"{rule.sublinear:.3g} for it"
        if rule.sublinear > 1
        else ""
    )
    if converged and rule.roundoff:
        which = _listing([opts.names[j] for j in rule.roundoff])
        return (
            f"converged after {t} iterations at round-off: the last steps of {which} are "
            f"within {ROUNDOFF_ULPS} ulps or repeat every two iterations, where EM's rate "
            "(hence the distance to the fixed point) cannot be measured and EM cannot locate "
            "the fixed point more finely in floating point"
        )
    if converged:
        return (
            f"converged after {t} iterations: estimated distance to the fixed point "
            f"{err:.3g} <= tol={tol:g} relative (rate {rule.rate:.4g}){sublinear}"
        )
    last = np.max(np.abs(thetas[-1] - thetas[-2]))
    lam = rule.rate
    if np.isfinite(lam) and 0 < lam < 1:
        need = np.log(tol * (1 - lam)) / np.log(lam)
        hint = (
            f" EM's linear rate here is about {lam:.4f}, so the error is about "
            f"{lam / (1 - lam):.3g} times the step; reaching tol takes about {need:.0f} more "
            "iterations: increase max_iter, loosen tol, start closer, or accelerate"
        )
        if rule.rates is not None and not np.all(np.isfinite(rule.rates)):
            hint += (
                " (some components' rates are not yet measurable: their steps are not "
                "shrinking or are too close to round-off to tell the rate from 1)"
            )
    elif np.isfinite(lam):
        hint = (
            f" The steps are not shrinking (last ratio {lam:.3g}): EM has not reached its "
            "linear phase (e.g. a parameter still growing from near 0) or is not converging; "
            "increase max_iter or start elsewhere"
        )
    else:
        hint = " increase max_iter"
    shrunk = np.abs(thetas[-1]) < 1e-3 * np.max(np.abs(thetas), axis=0)
    if np.any(shrunk):  # heading for 0, where only an absolute tolerance can be met
        hint += (
            "; components near 0 converge only in absolute terms: pass scale= (their "
            "natural size)"
        )
    return (
        f"did not converge in max_iter={max_iter} iterations (last step {last:.3g}, "
        f"estimated error {err:.3g}, tol={tol:g} relative).{hint}{sublinear}"
    )


def convergence_rate(path: EMResult | np.ndarray) -> float:
    """Estimate EM's linear rate from successive step lengths along a path.

    For a linearly convergent iteration the step lengths
    :math:`s_t = \\lVert\\theta^{(t+1)} - \\theta^{(t)}\\rVert` satisfy
    :math:`s_{t+1}/s_t \\to \\rho`, EM's rate: the largest eigenvalue of
    :math:`DM`, the largest fraction of missing information. The estimate is the median
    of those ratios over the second half of the steps that are still well above round-off
    (:math:`s_t > 10^{-13}(1+\\lVert\\theta\\rVert)`).

    Parameters
    ----------
    path : EMResult or array_like, shape (n + 1, d) or (n + 1,)
        The iterates; an empty or scalar ``path`` raises ``ValueError``.

    Returns
    -------
    float
        The rate in [0, 1) for a converging run; NaN when there are fewer than two usable
        steps (e.g. EM converged in one step).
    """
    if isinstance(path, EMResult):
        thetas = path.thetas
    else:
        try:
            thetas = np.asarray(path, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"path must be an EMResult or an array of iterates, got {path!r}"
            ) from exc
    if thetas.ndim == 0 or thetas.size == 0:
        raise ValueError(
            "path must be an EMResult or a non-empty array of iterates, shape (n + 1, d) or "
            f"(n + 1,), got {path!r}"
        )
    thetas = thetas.reshape(len(thetas), -1)
    steps = np.linalg.norm(np.diff(thetas, axis=0), axis=1)
    floor = 1e-13 * (1.0 + np.linalg.norm(thetas[-1]))
    usable = np.flatnonzero(steps > floor)
    # keep the initial run of usable steps (round-off noise at the end is dropped)
    if usable.size == 0:
        return float("nan")
    stop = usable[0]
    while stop + 1 < steps.size and steps[stop + 1] > floor:
        stop += 1
    ratios = steps[usable[0] + 1 : stop + 1] / steps[usable[0] : stop]
    if ratios.size == 0:
        return float("nan")
    return float(np.median(ratios[ratios.size // 2 :]))
