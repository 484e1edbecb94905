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

import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "AscentError",
    "ConvergenceWarning",
    "EMResult",
    "convergence_rate",
    "run_em",
]

#: Default relative size of a log-likelihood decrease that is still taken as round-off.
ASCENT_RTOL = 1e-10
#: A step within this many ulps of the iterate is at round-off: EM cannot move further.
ROUNDOFF_ULPS = 8


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before meeting its tolerance."""


class AscentError(RuntimeError):
    """A step lowered the observed-data log-likelihood, which EM never does.

    A decrease beyond round-off means the E-step or the M-step is wrong (or the
    log-likelihood function does not belong to the same model as the steps).
    """


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
        of the last two ratios of successive scaled step lengths; NaN before two steps).
        For EM it estimates the largest fraction of missing information.
    error : ndarray, shape (d,)
        Estimated distance to the fixed point per component,
        :math:`|\\theta_j^{(n)} - \\theta_j^{(n-1)}|\\,\\max(1, \\hat\\lambda/(1-\\hat\\lambda))`
        (inf when :math:`\\hat\\lambda \\ge 1` or unknown). A small step is not a small error:
        with :math:`\\lambda = 0.99` the error is 99 times the last step.
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


# ---- input checking ---------------------------------------------------------------------


def _as_vector(value: Any, what: str) -> np.ndarray:
    """``value`` as a new 1-D float array (a copy), or a ``ValueError``/``TypeError`` naming
    ``what``: None, strings, complex, boolean, ragged and non-numeric values are refused."""
    if value is None:
        raise TypeError(f"{what} is None; expected a float or a 1-D sequence of floats")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{what} is a string ({value!r}); expected numbers")
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(f"{what} is ragged or not numeric: {value!r}") from exc
    if np.iscomplexobj(arr):
        raise TypeError(
            f"{what} is complex ({value!r}); EM parameters are real: take .real yourself if "
            "the imaginary part is meant to be zero"
        )
    if arr.dtype == bool:
        raise TypeError(f"{what} is boolean ({value!r}); expected numbers")
    try:
        arr = np.array(arr, dtype=float)  # always a copy: a step may reuse its output buffer
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not numeric: {value!r}") from exc
    if arr.ndim > 1:
        raise ValueError(f"{what} must be a float or a 1-D sequence, got shape {arr.shape}")
    return np.atleast_1d(arr)


def _real_number(value: Any, what: str) -> float:
    """``value`` as a float; a ``TypeError`` for booleans, strings, None and arrays."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_options(
    tol: Any, max_iter: Any, names: Any, scale: Any, ascent_tol: Any, d: int
) -> tuple[float, int, list[str], np.ndarray, float | None]:
    tol = _real_number(tol, "tol")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1) (a relative tolerance), got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral):
        raise TypeError(f"max_iter must be an integer, got {max_iter!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if names is None:
        names = ["theta"] if d == 1 else [f"theta[{j}]" for j in range(d)]
    elif isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"names must be a sequence of str (one per parameter), got {names!r}")
    names = [str(n) for n in names]
    if len(names) != d:
        raise ValueError(f"names has {len(names)} labels for {d} parameters: {names}")
    if scale is None:
        scale_arr = np.zeros(d)
    else:
        scale_arr = _as_vector(scale, "scale")
        if scale_arr.size == 1:
            scale_arr = np.full(d, scale_arr[0])
        if scale_arr.shape != (d,) or not np.all(np.isfinite(scale_arr) & (scale_arr >= 0)):
            raise ValueError(
                f"scale must be a non-negative finite float or one per parameter ({d}), "
                f"got {scale!r}"
            )
    if ascent_tol is not None:
        ascent_tol = _real_number(ascent_tol, "ascent_tol")
        if not (np.isfinite(ascent_tol) and ascent_tol >= 0):
            raise ValueError(f"ascent_tol must be a finite number >= 0, got {ascent_tol!r}")
    return tol, int(max_iter), names, scale_arr, ascent_tol


def _check_step(theta_new: np.ndarray, d: int, t: int, theta_old: np.ndarray) -> None:
    if theta_new.shape != (d,):
        raise ValueError(
            f"EM iteration {t}: m_step(e_step(theta)) returned shape {theta_new.shape}, "
            f"expected ({d},); theta^({t - 1}) = {theta_old}, returned {theta_new}"
        )
    if not np.all(np.isfinite(theta_new)):
        raise ValueError(
            f"EM iteration {t}: the step returned non-finite values {theta_new} "
            f"from theta^({t - 1}) = {theta_old}"
        )


def _em_step(e_step: Callable, m_step: Callable, theta: Any, t: int) -> np.ndarray:
    """One evaluation of the EM map, its result checked and copied."""
    stats = e_step(theta)
    if stats is None:
        raise TypeError(f"EM iteration {t}: e_step returned None at theta = {theta}")
    new = m_step(stats)
    if new is None:
        raise TypeError(
            f"EM iteration {t}: m_step returned None (a missing `return`?) at theta = {theta}"
        )
    return _as_vector(new, f"EM iteration {t}: the step's result")


def _loglik_value(loglik: Callable[[Any], Any], theta: Any, what: str) -> float:
    """``loglik(theta)`` as a float. A size-1 array is converted (documented); None, other
    shapes and complex values raise ``TypeError``; NaN and +inf raise ``ValueError``."""
    value = loglik(theta)
    if value is None:
        raise TypeError(f"loglik returned None at {what} = {theta}")
    arr = np.asarray(value)
    if arr.size != 1:
        raise TypeError(
            f"loglik must return a scalar, got shape {arr.shape} at {what} = {theta} "
            "(sum the per-observation terms)"
        )
    if np.iscomplexobj(arr):
        raise TypeError(f"loglik returned a complex value {value!r} at {what} = {theta}")
    try:
        out = float(arr.reshape(()))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"loglik returned a non-numeric {value!r} at {what} = {theta}") from exc
    if np.isnan(out) or out == np.inf:
        raise ValueError(f"loglik({what}) = {out} at {what} = {theta}")
    return out


# ---- the stopping rule ------------------------------------------------------------------


class _StoppingRule:
    """Scale-aware stopping rule with a rate-based error estimate (see :func:`run_em`)."""

    def __init__(self, tol: float, scale: np.ndarray):
        self.tol = tol
        self.scale = scale
        self.norms: list[float] = []  # scaled step lengths
        self.carry: float | None = None  # the last ratio of an earlier cycle (SQUAREM)
        self.rate = float("nan")
        self.error: np.ndarray | None = None
        self.roundoff = False

    def update(self, old: np.ndarray, new: np.ndarray) -> bool:
        """Record the step ``old -> new``; True when the stopping rule is met."""
        step = np.abs(new - old)
        width = np.maximum(np.abs(new), self.scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(step == 0, 0.0, step / width)
        self.norms.append(float(np.max(scaled)))
        ratios = [
            _ratio(self.norms[k], self.norms[k - 1])
            for k in range(max(1, len(self.norms) - 2), len(self.norms))
        ]
        if len(ratios) < 2 and self.carry is not None:
            ratios.append(self.carry)
        self.rate = max(ratios) if ratios else float("nan")
        lam = self.rate
        factor = max(1.0, lam / (1.0 - lam)) if lam < 1 else np.inf  # NaN -> inf
        with np.errstate(invalid="ignore"):
            self.error = np.where(step == 0, 0.0, step * factor)
        ulp = np.spacing(np.maximum(np.abs(new), np.abs(old)))
        self.roundoff = bool(np.all(step <= ROUNDOFF_ULPS * ulp))
        if self.roundoff:
            return True
        return bool(np.all(self.error <= self.tol * width))


    def new_cycle(self) -> None:
        """Forget the steps so far (an extrapolation jumped), keeping their last ratio."""
        if len(self.norms) >= 2:
            self.carry = _ratio(self.norms[-1], self.norms[-2])
        self.norms = []


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else np.inf


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
        :math:`\\mathrm{tol}\\cdot s_j`.
    check_ascent : bool
        With ``loglik``, raise :class:`AscentError` when a step lowers :math:`\\ell` by more
        than ``ascent_tol``. EM's defining property is
        :math:`\\ell(\\theta^{(t+1)}) \\ge \\ell(\\theta^{(t)})`.
    accelerate : {None, "squarem"}
        None: plain EM. ``"squarem"``: SQUAREM (Varadhan & Roland 2008; see
        :mod:`em_helpers.squarem`): each iteration is a cycle of two EM steps, an
        extrapolation along their quadratic path and one stabilising EM step (three map
        evaluations; ``n_evals`` counts them, ``n_iter`` counts cycles, ``max_iter`` bounds
        cycles). Checks that apply to accelerated runs: every map evaluation is checked as
        in plain EM (finite, real, right shape); an extrapolated point that is not
        ``valid``, where the map fails, or (with ``loglik``) where :math:`\\ell` is not
        finite or lower than at the cycle's start by more than ``ascent_tol`` is rejected
        and the cycle takes the plain EM double step instead, on which the
        :class:`AscentError` check applies; so every accepted iterate has :math:`\\ell` no
        lower than the one before. The stopping rule is applied to the two EM steps of
        each cycle (the returned point is then the second of them).
    valid : callable, optional
        ``valid(theta) -> bool``: whether a point is inside the parameter space
        (probabilities in (0, 1), variances positive). SQUAREM rejects extrapolations
        outside it; plain EM raises ``ValueError`` if an EM step leaves it (a wrong step).
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
    the width :math:`w_j = \\max(|\\theta_j^{(t)}|, s_j)`, the scaled step length
    :math:`n_t = \\max_j \\Delta_j / w_j` and the observed contraction
    :math:`\\hat\\lambda = \\max(n_t/n_{t-1}, n_{t-1}/n_{t-2})`, the run has converged at
    iteration :math:`t \\ge 2` when

    .. math:: \\hat\\lambda < 1 \\quad\\text{and}\\quad
              e_j = \\Delta_j \\max\\!\\Big(1, \\frac{\\hat\\lambda}{1-\\hat\\lambda}\\Big)
              \\le \\mathrm{tol}\\; w_j \\quad \\text{for every } j,

    or when every step is within a few ulps of the iterate (EM can move no further in
    floating point; the message says so). For a linearly convergent iteration with rate
    :math:`\\lambda`, :math:`\\lambda/(1-\\lambda)\\,\\Delta_j` is the distance still to go, so
    :math:`e_j` bounds the error rather than the step: a small step is not a small error
    when :math:`\\lambda \\approx 1`. Requiring :math:`\\hat\\lambda < 1` refuses to stop while
    steps grow (a parameter that doubles every step from :math:`10^{-12}` has tiny steps but
    is far from its fixed point), and the relative width refuses to call a tiny parameter
    converged because its steps are tiny in absolute terms. A component whose fixed point
    is exactly 0 converges only in absolute terms: give it a ``scale``.

    Raises
    ------
    ValueError
        Empty, non-finite or ragged ``theta0``; a step that returns non-finite values or a
        different shape (the message names the iteration and the values); bad ``tol``,
        ``max_iter``, ``names``, ``scale`` or ``ascent_tol`` values; a NaN or +inf
        log-likelihood, or :math:`-\\infty` at ``theta0``.
    TypeError
        Arguments of the wrong type (``tol="1e-8"``, ``max_iter=True``, ``names="ab"``),
        complex parameters or steps, a step or ``loglik`` that returns None or an array.
    AscentError
        A step lowered the observed-data log-likelihood by more than ``ascent_tol``.
    """
    theta = _as_vector(theta0, "theta0")
    scalar = np.ndim(theta0) == 0
    d = theta.size
    if d == 0:
        raise ValueError("theta0 is empty: give at least one parameter")
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"theta0 must be finite, got {theta}")
    tol, max_iter, names, scale_arr, ascent_tol = _check_options(
        tol, max_iter, names, scale, ascent_tol, d
    )

    def public(vec: np.ndarray) -> float | np.ndarray:
        return float(vec[0]) if scalar else vec.copy()

    path = [theta]
    lls = None
    if loglik is not None:
        ll0 = _loglik_value(loglik, public(theta), "theta0")
        if ll0 == -np.inf:
            raise ValueError(
                f"loglik(theta0) = -inf at theta0 = {public(theta)}: the start has zero "
                "likelihood, so the ascent check cannot work; start where the data are possible"
            )
        lls = [ll0]
    if accelerate not in (None, "squarem"):
        raise ValueError(f"accelerate must be None or 'squarem', got {accelerate!r}")
    if valid is not None:
        if not callable(valid):
            raise TypeError(f"valid must be a callable theta -> bool, got {valid!r}")
        if not valid(public(theta)):
            raise ValueError(f"theta0 = {public(theta)} is not valid (valid(theta0) is False)")
    rule = _StoppingRule(tol, scale_arr)
    if accelerate == "squarem":
        from .squarem import squarem_path

        out = squarem_path(
            e_step, m_step, theta, public, loglik=loglik, ll0=None if lls is None else lls[0],
            rule=rule, max_iter=max_iter, valid=valid, check_ascent=check_ascent,
            ascent_tol=ascent_tol,
        )
        return _result(
            out["path"], out["logliks"], out["converged"], out["n_iter"], out["n_evals"],
            "squarem", rule, tol, max_iter, names, public,
            extra=f"; SQUAREM fell back to the EM double step in {out['fallbacks']} cycles",
        )
    converged = False
    t = 0
    while t < max_iter:
        t += 1
        new = _em_step(e_step, m_step, public(theta), t)
        _check_step(new, d, t, theta)
        if valid is not None and not valid(public(new)):
            raise ValueError(
                f"EM iteration {t} left the parameter space: valid({public(new)}) is False "
                f"from theta^({t - 1}) = {public(theta)}; an EM step never does, check the steps"
            )
        path.append(new)
        if lls is not None:
            ll_new = _loglik_value(loglik, public(new), f"theta^({t})")
            _check_ascent(lls[-1], ll_new, t, theta, new, check_ascent, ascent_tol)
            lls.append(ll_new)
        done = rule.update(theta, new)
        theta = new
        if done:
            converged = True
            break

    return _result(path, lls, converged, t, t, "em", rule, tol, max_iter, names, public)


def _result(
    path: list[np.ndarray],
    lls: list[float] | None,
    converged: bool,
    n_iter: int,
    n_evals: int,
    method: str,
    rule: _StoppingRule,
    tol: float,
    max_iter: int,
    names: list[str],
    public: Callable[[np.ndarray], Any],
    extra: str = "",
) -> EMResult:
    thetas = np.vstack(path)
    message = _message(converged, rule, n_iter, tol, max_iter, thetas) + extra
    if not converged:
        warnings.warn(
            f"EM {message}. The result keeps the path (converged=False).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return EMResult(
        theta=public(path[-1]),
        n_iter=n_iter,
        converged=converged,
        message=message,
        thetas=thetas,
        logliks=None if lls is None else np.asarray(lls),
        names=names,
        rate=rule.rate,
        error=rule.error,
        n_evals=n_evals,
        method=method,
    )


def _check_ascent(
    ll_old: float,
    ll_new: float,
    t: int,
    old: np.ndarray,
    new: np.ndarray,
    check: bool,
    ascent_tol: float | None,
) -> None:
    allowed = ASCENT_RTOL * (1.0 + abs(ll_old)) if ascent_tol is None else ascent_tol
    drop = ll_old - ll_new
    if not check or not drop > allowed:  # also passes -inf -> -inf (drop is NaN)
        return
    hint = ""
    if np.isfinite(drop) and drop <= 1e-6 * (1.0 + abs(ll_old)):
        ulps = drop / np.spacing(abs(ll_old))
        hint = (
            f" The drop is only {drop:.3g} ({ulps:.3g} ulps of |l|): it may be round-off in "
            "loglik, e.g. a large count times the log of a probability near 1. If so, compute "
            "loglik more accurately (log1p, logsumexp) or pass ascent_tol larger than its "
            "round-off."
        )
    raise AscentError(
        f"EM iteration {t} lowered the observed log-likelihood from {ll_old!r} to {ll_new!r} "
        f"(theta {old} -> {new}); EM never does this, so the E-step, the M-step or loglik is "
        f"wrong (allowed round-off {allowed:.3g}).{hint}"
    )


def _message(
    converged: bool, rule: _StoppingRule, t: int, tol: float, max_iter: int, thetas: np.ndarray
) -> str:
    err = np.max(rule.error) if rule.error is not None else np.nan
    if converged and rule.roundoff:
        return (
            f"converged after {t} iterations: the last step is at round-off (within "
            f"{ROUNDOFF_ULPS} ulps), EM can move no further in floating point"
        )
    if converged:
        return (
            f"converged after {t} iterations: estimated distance to the fixed point "
            f"{err:.3g} <= tol={tol:g} relative (rate {rule.rate:.4g})"
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
        f"estimated error {err:.3g}, tol={tol:g} relative).{hint}"
    )


def convergence_rate(path: EMResult | np.ndarray) -> float:
    """Estimate EM's linear rate from successive step lengths along a path.

    For a linearly convergent iteration the step lengths
    :math:`s_t = \\lVert\\theta^{(t+1)} - \\theta^{(t)}\\rVert` satisfy
    :math:`s_{t+1}/s_t \\to \\lambda_{\\max}(DM)`, the largest fraction of missing
    information. The estimate is the median of those ratios over the second half of the
    steps that are still well above round-off (:math:`s_t > 10^{-13}(1+\\lVert\\theta\\rVert)`).

    Parameters
    ----------
    path : EMResult or ndarray, shape (n + 1, d)

    Returns
    -------
    float
        The rate in [0, 1) for a converging run; NaN when there are fewer than two usable
        steps (e.g. EM converged in one step).
    """
    thetas = path.thetas if isinstance(path, EMResult) else np.asarray(path, dtype=float)
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
