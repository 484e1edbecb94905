"""What plain EM (:mod:`~em_helpers.core.loop`) and SQUAREM (:mod:`~em_helpers.core.squarem`)
share: checked inputs, the checked EM map, the path with its ascent check, and the stopping
rule.

Both import from here and neither needs the other's internals (``loop`` calls ``squarem``
for ``accelerate="squarem"``; ``squarem`` never imports ``loop``). :mod:`~em_helpers.core.
variance` uses the same input checks.

The stopping rule (:class:`StoppingRule`) estimates the distance to the fixed point from the
observed rate of EM, per component, so that ``converged=True`` means the iterate is within
``tol`` of the fixed point, not merely that the last step was small.
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ASCENT_RTOL",
    "ROUNDOFF_ULPS",
    "AscentError",
    "ConvergenceWarning",
    "EMMap",
    "Options",
    "StoppingRule",
    "Trace",
    "as_bool",
    "as_vector",
    "check_callable",
    "check_options",
    "real_number",
]

#: Default relative size of a log-likelihood decrease that is still taken as round-off.
ASCENT_RTOL = 1e-10
#: A step within this many ulps of a component's width is at round-off: EM's rate cannot be
#: measured there (successive steps are mostly rounding error), so a component whose rate
#: is unknown counts as converged there (the message says so).
ROUNDOFF_ULPS = 256
#: When every moving component is at round-off, a rate-based estimate above this fraction
#: of tol rests on noisy ratios: the message calls the stop round-off too.
ROUNDOFF_MARGIN = 1e-2
#: Smallest increment of 1/(1 - rate) per step taken as a sublinear trend (1/(1 + a) for
#: steps shrinking like t^-(a+1)); a smaller trend changes the error estimate by < 5%.
SUBLINEAR_MIN = 0.05
#: A step ratio a/b counts as measured when b - a (and b) exceed this many rounding units
#: of a step (then 1 - a/b is known to about 6%); see StoppingRule._observe_ratios.
RATIO_ULPS = 32
#: The rounding unit of a step relative to its width, for the ratio test.
EPS = float(np.finfo(float).eps)


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before meeting its tolerance."""


class AscentError(RuntimeError):
    """A step lowered the observed-data log-likelihood, which EM never does.

    A decrease beyond round-off means the E-step or the M-step is wrong (or the
    log-likelihood function does not belong to the same model as the steps).
    """


# ---- input checking ---------------------------------------------------------------------


def as_vector(value: Any, what: str) -> np.ndarray:
    """``value`` as a new 1-D float array (a copy), or a ``ValueError``/``TypeError`` naming
    ``what``: None, strings, complex, boolean, ragged, non-numeric and out-of-range values
    (an integer beyond the float range) are refused."""
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
    except OverflowError as exc:  # a Python int beyond the float range, e.g. 10**400
        raise ValueError(f"{what} is beyond the float range: {value!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not numeric: {value!r}") from exc
    if arr.ndim > 1:
        raise ValueError(f"{what} must be a float or a 1-D sequence, got shape {arr.shape}")
    return np.atleast_1d(arr)


def real_number(value: Any, what: str) -> float:
    """``value`` as a float; a ``TypeError`` for booleans, strings, None and arrays."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def as_bool(value: Any, what: str) -> bool:
    """``value`` as a bool: Python and NumPy booleans (also 0-d arrays) only; anything else
    (an array of several truth values, a string, None, a number) is a ``TypeError`` naming
    ``what``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype == bool:
        return bool(value)
    shape = f" of shape {np.shape(value)}" if isinstance(value, np.ndarray) else ""
    raise TypeError(
        f"{what} must be a single bool, got {type(value).__name__}{shape}: {value!r}"
        + (" (combine the checks with np.all)" if shape else "")
    )


def check_callable(value: Any, what: str, signature: str) -> None:
    """A ``TypeError`` naming ``what`` unless ``value`` is callable."""
    if not callable(value):
        raise TypeError(f"{what} must be a callable {signature}, got {value!r}")


@dataclass(frozen=True)
class Options:
    """The checked options of :func:`~em_helpers.core.loop.run_em`."""

    tol: float
    max_iter: int
    names: list[str]
    scale: np.ndarray
    ascent_tol: float | None
    check_ascent: bool


def check_options(
    tol: Any, max_iter: Any, names: Any, scale: Any, ascent_tol: Any, check_ascent: Any, d: int
) -> Options:
    """The options of ``run_em`` checked for a parameter of ``d`` components, or a
    ``ValueError``/``TypeError`` naming the bad one."""
    tol = real_number(tol, "tol")
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
        scale_arr = as_vector(scale, "scale")
        if scale_arr.size == 1:
            scale_arr = np.full(d, scale_arr[0])
        if scale_arr.shape != (d,) or not np.all(np.isfinite(scale_arr) & (scale_arr >= 0)):
            raise ValueError(
                f"scale must be a non-negative finite float or one per parameter ({d}), "
                f"got {scale!r}"
            )
    if ascent_tol is not None:
        ascent_tol = real_number(ascent_tol, "ascent_tol")
        if not (np.isfinite(ascent_tol) and ascent_tol >= 0):
            raise ValueError(f"ascent_tol must be a finite number >= 0, got {ascent_tol!r}")
    check_ascent = as_bool(check_ascent, "check_ascent")
    return Options(tol, int(max_iter), names, scale_arr, ascent_tol, check_ascent)


# ---- the EM map, checked ----------------------------------------------------------------


class EMMap:
    """The model's EM map :math:`M = \\text{m\\_step} \\circ \\text{e\\_step}` with every
    evaluation checked, and its parameter space ``valid``.

    ``theta0`` fixes the parameter's form: a float start makes the steps and ``valid``
    receive floats, a sequence a fresh 1-D array (:meth:`public`); internally every iterate
    is a 1-D float array of ``d`` components. ``n_evals`` counts the evaluations.
    """

    def __init__(
        self,
        e_step: Callable[[Any], Any],
        m_step: Callable[[Any], Any],
        theta0: Any,
        valid: Callable[[Any], Any] | None = None,
    ):
        check_callable(e_step, "e_step", "theta -> stats")
        check_callable(m_step, "m_step", "stats -> theta")
        if valid is not None:
            check_callable(valid, "valid", "theta -> bool")
        theta = as_vector(theta0, "theta0")
        if theta.size == 0:
            raise ValueError("theta0 is empty: give at least one parameter")
        if not np.all(np.isfinite(theta)):
            raise ValueError(f"theta0 must be finite, got {theta}")
        self.e_step, self.m_step, self.valid = e_step, m_step, valid
        self.scalar = np.ndim(theta0) == 0
        self.d = theta.size
        self.theta0 = theta
        self.n_evals = 0
        if valid is not None and not self.inside(theta):
            raise ValueError(f"theta0 = {self.public(theta)} is not valid (valid(theta0) is False)")

    def public(self, vec: np.ndarray) -> float | np.ndarray:
        """The iterate in the caller's form: a float for a float ``theta0``, else a copy."""
        return float(vec[0]) if self.scalar else vec.copy()

    def __call__(self, theta: np.ndarray, t: int) -> np.ndarray:
        """:math:`M(\\theta)` for iteration ``t``: E-step, M-step, the result checked (not
        None, real, finite, ``d`` components) and copied."""
        self.n_evals += 1
        stats = self.e_step(self.public(theta))
        if stats is None:
            raise TypeError(f"EM iteration {t}: e_step returned None at theta = {theta}")
        out = self.m_step(stats)
        if out is None:
            raise TypeError(
                f"EM iteration {t}: m_step returned None (a missing `return`?) at theta = {theta}"
            )
        new = as_vector(out, f"EM iteration {t}: the step's result")
        if new.shape != (self.d,):
            raise ValueError(
                f"EM iteration {t}: m_step(e_step(theta)) returned shape {new.shape}, "
                f"expected ({self.d},); theta^({t - 1}) = {theta}, returned {new}"
            )
        if not np.all(np.isfinite(new)):
            raise ValueError(
                f"EM iteration {t}: the step returned non-finite values {new} "
                f"from theta^({t - 1}) = {theta}"
            )
        return new

    def inside(self, theta: np.ndarray) -> bool:
        """``valid(theta)`` (True without ``valid``); its result must be a single bool."""
        if self.valid is None:
            return True
        return as_bool(self.valid(self.public(theta)), "valid(theta)")

    def require_inside(self, new: np.ndarray, t: int, old: np.ndarray) -> None:
        """A ``ValueError`` when the EM step ``old -> new`` left the parameter space."""
        if not self.inside(new):
            raise ValueError(
                f"EM iteration {t} left the parameter space: valid({self.public(new)}) is False "
                f"from theta^({t - 1}) = {self.public(old)}. An EM step stays in the parameter "
                "space: either a step is wrong, or the maximiser lies on the boundary of the "
                "space (e.g. a probability of 0 where a count is 0) and valid excludes the "
                "boundary; let valid accept every point where the likelihood is positive"
            )

    def on_boundary(self, theta: np.ndarray, widths: np.ndarray, rel: float) -> list[int]:
        """Components ``j`` along which ``theta`` is on (or within :math:`\\delta_j` of) the
        boundary of the parameter space: ``valid`` holds at exactly one of
        :math:`\\theta \\pm \\delta_j e_j`, :math:`\\delta_j = \\mathrm{rel}\\cdot w_j`
        (``rel`` absolute where :math:`w_j = 0`). Failing on both sides is a constraint
        the coordinate cannot move alone under (a symmetric matrix's mirrored entry,
        weights that sum to 1), not a boundary. Empty without ``valid``."""
        if self.valid is None:
            return []
        out = []
        for j in range(self.d):
            delta = rel * widths[j] if widths[j] > 0 else rel
            inside = []
            for sign in (-1.0, 1.0):
                probe = theta.copy()
                probe[j] += sign * delta
                inside.append(self.inside(probe))
            if inside[0] != inside[1]:
                out.append(j)
        return out


# ---- the path and the ascent check ------------------------------------------------------


class Trace:
    """The accepted iterates :math:`\\theta^{(0)}, \\theta^{(1)}, \\dots` and, given the
    observed-data log-likelihood, :math:`\\ell` along them with EM's ascent check
    :math:`\\ell(\\theta^{(t+1)}) \\ge \\ell(\\theta^{(t)}) - \\text{allowed}`, where
    allowed is ``ascent_tol`` or :math:`10^{-10}(1 + |\\ell(\\theta^{(t)})|)`."""

    def __init__(self, em: EMMap, loglik: Callable[[Any], Any] | None, options: Options):
        if loglik is not None:
            check_callable(loglik, "loglik", "theta -> float")
        self.em, self.loglik, self.options = em, loglik, options
        self.path = [em.theta0]
        self.logliks: list[float] | None = None
        if loglik is not None:
            ll0 = self.loglik_at(em.theta0, "theta0")
            if ll0 == -np.inf:
                raise ValueError(
                    f"loglik(theta0) = -inf at theta0 = {em.public(em.theta0)}: the start has "
                    "zero likelihood, so the ascent check cannot work; start where the data "
                    "are possible"
                )
            self.logliks = [ll0]

    @property
    def last(self) -> np.ndarray:
        return self.path[-1]

    def loglik_at(self, theta: np.ndarray, what: str) -> float:
        """``loglik(theta)`` as a float. A size-1 array is converted (documented); None,
        other shapes and complex values raise ``TypeError``; NaN and +inf ``ValueError``."""
        value = self.loglik(self.em.public(theta))
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
            raise TypeError(
                f"loglik returned a non-numeric {value!r} at {what} = {theta}"
            ) from exc
        if np.isnan(out) or out == np.inf:
            raise ValueError(f"loglik({what}) = {out} at {what} = {theta}")
        return out

    def allowed_drop(self) -> float:
        """The largest decrease of :math:`\\ell` from the last iterate taken as round-off."""
        if self.options.ascent_tol is not None:
            return self.options.ascent_tol
        return ASCENT_RTOL * (1.0 + abs(self.logliks[-1]))

    def add(self, new: np.ndarray, t: int, ll_new: float | None = None) -> None:
        """Append ``new`` (iteration ``t``): its :math:`\\ell` (computed unless given) must
        pass the ascent check against the last iterate's."""
        if self.logliks is not None:
            if ll_new is None:
                ll_new = self.loglik_at(new, f"theta^({t})")
                self._check_ascent(ll_new, t, new)
            self.logliks.append(ll_new)
        self.path.append(new)

    def _check_ascent(self, ll_new: float, t: int, new: np.ndarray) -> None:
        ll_old, old = self.logliks[-1], self.path[-1]
        allowed = self.allowed_drop()
        drop = ll_old - ll_new
        if not self.options.check_ascent or not drop > allowed:  # passes -inf -> -inf (NaN)
            return
        hint = ""
        if np.isfinite(drop) and drop <= 1e-6 * (1.0 + abs(ll_old)):
            ulps = drop / np.spacing(abs(ll_old))
            hint = (
                f" The drop is only {drop:.3g} ({ulps:.3g} ulps of |l|): it may be round-off in "
                "loglik, e.g. a large count times the log of a probability near 1. If so, "
                "compute loglik more accurately (log1p, logsumexp) or pass ascent_tol larger "
                "than its round-off."
            )
        raise AscentError(
            f"EM iteration {t} lowered the observed log-likelihood from {ll_old!r} to "
            f"{ll_new!r} (theta {old} -> {new}); EM never does this, so the E-step, the M-step "
            f"or loglik is wrong (allowed round-off {allowed:.3g}).{hint}"
        )


# ---- the stopping rule ------------------------------------------------------------------


def _quotient(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``num`` is 0 and inf where only ``den`` is 0 (no
    warnings; ``num >= 0``, ``den >= 0``)."""
    if den.all():
        out = num / den
        if num.all():
            return out
    else:
        out = np.full(num.shape, np.inf)
        np.divide(num, den, out=out, where=den > 0)
    out[num == 0] = 0.0
    return out


def _stale(rate: np.ndarray) -> np.ndarray:
    """A remembered rate with half its distance to 1, :math:`(1 + \\lambda')/2` (a rate
    >= 1 or inf is kept)."""
    return np.where(rate < 1, (1.0 + rate) / 2, rate)


class StoppingRule:
    """The stopping rule of :func:`~em_helpers.core.loop.run_em` (formula in its Notes).

    Fed the successive EM steps :math:`\\theta^{(t-1)} \\to \\theta^{(t)}` by
    :meth:`update`; :meth:`new_cycle` says that the next step does not follow the last
    one (SQUAREM jumped in between), so no ratio is taken across it. The ratios of the
    last ``memory`` pairs of successive steps make the rate (2 for plain EM: the last two
    ratios; SQUAREM: one pair per cycle).

    After each update: ``rate`` (:math:`\\hat\\lambda`, the largest observed ratio of
    scaled step lengths), ``rates`` (:math:`\\hat\\lambda_j`, inf where unknown),
    ``error`` (:math:`e_j`), ``sublinear`` (the factor :math:`1/(1-\\hat\\kappa)`, 1
    without a sublinear trend) and ``roundoff`` (the components at round-off, when the
    stop rests on round-off; else empty).
    """

    def __init__(self, tol: float, scale: np.ndarray, memory: int = 2):
        self.tol = tol
        self.scale = scale
        self._prev: tuple[np.ndarray, float] | None = None  # last step |Δ| and its n_t
        self._glob: deque[tuple[float, float]] = deque(maxlen=memory)  # (raw, or inf)
        self._comp: deque[np.ndarray] = deque(maxlen=memory)  # rho_j, inf where unknown
        self._trend: deque[float] = deque(maxlen=3)  # 1/(1 - rho_t), consecutive steps only
        self._back: np.ndarray | None = None  # theta^(t-2) for the 2-cycle test
        # the last `memory` measured ratios (see _observe_ratios); per component a
        # (memory, d) array, NaN where fewer were measured
        self._hist_glob: deque[float] = deque(maxlen=memory)
        self._hist_comp: np.ndarray | None = None
        self.rate = float("nan")
        self.rates: np.ndarray | None = None
        self.error: np.ndarray | None = None
        self.sublinear = 1.0
        self.roundoff: list[int] = []

    def new_cycle(self) -> None:
        """The next step does not follow the last one (an extrapolation jumped)."""
        self._prev = None
        self._back = None
        self._trend.clear()

    def update(self, old: np.ndarray, new: np.ndarray) -> bool:
        """Record the EM step ``old -> new``; True when the stopping rule is met."""
        step = np.abs(new - old)
        width = np.maximum(np.abs(new), self.scale)
        norm = float(_quotient(step, width).max())
        if self._prev is not None:
            self._observe_ratios(step, width, norm, *self._prev)
        self._prev = (step, norm)
        # components in a floating-point 2-cycle, theta_j^(t) == theta_j^(t-2): their
        # progress is lost in round-off
        back, self._back = self._back, old
        if self._glob:
            used = max(u for _, u in self._glob)  # stand-ins where round-off hides a ratio
            self.rate = self._reported_rate()
            lam = np.maximum(self._comp[0], used)
            for comp in list(self._comp)[1:]:
                np.maximum(lam, comp, out=lam)
        else:  # one step: the rate is unknown
            self.rate = float("nan")
            lam = np.full(step.size, np.inf)
        self.rates = lam
        self.sublinear = self._sublinear_factor()
        # e_j = step_j * factor_j: 0 for a zero step, inf where the rate is unknown or >= 1
        known = lam < 1
        all_known = known.all()
        gap = 1.0 - lam
        if not all_known:
            gap[~known] = 1.0
        if self.sublinear > 1:  # the sublinear tail: 1/(1 - lambda) steps to go, see run_em
            factor = self.sublinear / gap
        else:
            factor = np.maximum(1.0, lam / gap)
        if not all_known:
            factor[~known] = np.inf
        if not step.all():
            factor[step == 0] = 0.0
        error = step * factor
        met = error <= self.tol * width
        self.error, self.roundoff = error, []
        if not met.all() and not np.isinf(error[~met]).all():
            return False  # a finite estimate above tol: not yet
        # round-off: a step within ROUNDOFF_ULPS of its width, or a floating-point 2-cycle
        # (theta_j^(t) == theta_j^(t-2)) with a step below tol. Where the rate is unknown
        # (e_j = inf) that is the evidence to stop on; a finite e_j is trusted.
        moved = step > 0
        at_roundoff = moved & (step <= ROUNDOFF_ULPS * np.spacing(width))
        if back is not None:
            at_roundoff |= moved & (new == back) & (step <= self.tol * width)
        saved = ~met & at_roundoff
        if not np.all(met | saved):
            return False
        error[saved] = step[saved]
        # the message says "round-off" when the stop rests on it: some rate unknown, or every
        # moving component at round-off (its ratios are then noise) with e_j not far below
        # tol (a tol near 1e-13)
        noisy = moved.any() and at_roundoff[moved].all()
        if saved.any() or (noisy and np.max(error / (self.tol * width), where=moved,
                                               initial=0.0) > ROUNDOFF_MARGIN):
            self.roundoff = [int(j) for j in np.flatnonzero(at_roundoff)]
        return True

    def _observe_ratios(
        self, step: np.ndarray, width: np.ndarray, norm: float, prev_step: np.ndarray,
        prev_norm: float,
    ) -> None:
        """Record the ratios of this step to the previous one, overall and per component.

        The overall ratio :math:`a/b` is *measured* when :math:`|a - b| > 32\\eta` and
        :math:`b > 32\\eta` for the rounding unit :math:`\\eta = \\epsilon` of a scaled
        step (each of :math:`a, b` may be off by about :math:`\\eta`, so :math:`1 - a/b`
        is then known to some 6%, and so is :math:`\\lambda/(1-\\lambda)`); a measured
        ratio :math:`\\ge 1` (steps growing) makes the rate :math:`\\ge 1`. A component's
        ratio is measured when it shrinks by more than that, :math:`a + 32\\eta < b` with
        :math:`\\eta = \\epsilon w_j`: a component whose step grows while the iterate as a
        whole converges is crossing zero (a mixture of modes changing sign) or at round-off,
        which says nothing about its rate. Two zero steps give 0. An unmeasured ratio (steps
        drowned in round-off, or a floating-point 2-cycle at the fixed point) is replaced by
        :math:`(1+\\lambda')/2`, where :math:`\\lambda'` is the largest of the last
        ``memory`` measured ratios of the same component (inf if there is none yet), taken
        halfway to 1 because they were measured farther from the fixed point: the rate of a
        step lost in round-off is about the rate it had while it could still be seen. (For
        SQUAREM the measured ratios of successive cycles alternate between the slow and
        the fast modes, so the largest of several is needed.)"""
        noise = RATIO_ULPS * EPS
        if norm == 0:
            rho = used = 0.0
        elif prev_norm > noise and abs(norm - prev_norm) > noise:
            rho = used = norm / prev_norm
            self._hist_glob.append(used)
        else:
            rho = norm / prev_norm if prev_norm > 0 else np.inf
            used = float(_stale(np.asarray(max(self._hist_glob, default=np.inf))))
        self._glob.append((rho, used))
        self._trend.append(1.0 / (1.0 - used) if used < 1 else np.inf)
        rho_j = _quotient(step, prev_step)
        noise_j = RATIO_ULPS * EPS * width
        # a component's ratio counts when it shrinks by more than round-off: a step that
        # grows (a sign change of a mixture of modes, or noise) says nothing about its rate,
        # growth of the whole iterate is caught by the overall ratio above
        unknown = (step + noise_j >= prev_step) & (step > 0)
        hist = self._hist_comp
        if hist is None:
            hist = self._hist_comp = np.full((self._glob.maxlen, step.size), np.nan)
        if unknown.any():
            fallback = np.fmax.reduce(hist)  # the largest of the last measured; NaN: none
            fallback[np.isnan(fallback)] = np.inf
            rho_j[unknown] = _stale(fallback[unknown])
        counted = ~unknown
        hist[1:, counted] = hist[:-1, counted]  # shift in the new measured ratios
        hist[0, counted] = rho_j[counted]
        self._comp.append(rho_j)

    def _reported_rate(self) -> float:
        """``rate``: the largest ratio of the window that counted, else the largest of the
        last measured ones, else the largest raw ratio (all blurred by round-off)."""
        counted = [raw for raw, used in self._glob if raw == used]
        if counted:
            return max(counted)
        if self._hist_glob:
            return max(self._hist_glob)
        return max(raw for raw, _ in self._glob)

    def _sublinear_factor(self) -> float:
        """:math:`1/(1-\\hat\\kappa)` when the last two increments of
        :math:`g_t = 1/(1-\\rho_t)` are nearly equal (within 25%) and lie in
        [:data:`SUBLINEAR_MIN`, 1), with :math:`\\hat\\kappa` the larger; else 1. (Linear
        convergence makes the increments decay geometrically, sublinear keeps them near
        :math:`1/(1+a)`.)"""
        if len(self._trend) < 3:
            return 1.0
        g0, g1, g2 = self._trend
        k1, k2 = g1 - g0, g2 - g1
        if SUBLINEAR_MIN <= min(k1, k2) and max(k1, k2) < 1 and abs(k2 - k1) <= 0.25 * max(k1, k2):
            return 1.0 / (1.0 - max(k1, k2))
        return 1.0
