"""Checks for the exercises of notebook 06 (when EM is slow: Hasselblad's Poisson mixture).

- 06.1 predict how many plain EM iterations cut the error a millionfold (a number);
- 06.2 a setting of the explorer where plain EM hits its cap and SQUAREM does not (its
  controls);
- 06.3 Aitken's Δ² extrapolation of a sequence, coordinate by coordinate, safe where
  Δ²x = 0 (a sequence that has stopped moving or moves in a straight line) (a function);
- 06.4 a stopping rule's estimate of the distance to the MLE from the rate (a function);
- 06.5 one SQUAREM cycle: S3 step length, clamp, stabilising EM step (a function).

References are computed here: the rate as the largest eigenvalue of the EM map's Jacobian
at the MLE (central differences of :class:`~em_helpers.models.poisson_mixture.PoissonMixture`'s
map, the MLE from a SQUAREM run), Aitken's limit and SQUAREM's step on sequences and linear
maps whose limits are known exactly, the actual error along a run of EM, and the explorer's
behaviour from runs of :func:`em_helpers.run_em` on the explorer's data.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np

from ..core.loop import run_em
from ..core.stopping import ConvergenceWarning
from ..models.examples import TwoGaussians, simulate_gaussians
from ..models.poisson_mixture import HASSELBLAD, PoissonMixture
from .base import Wrong, as_array, call, compare, exercise, settings_of

__all__ = [
    "em_path",
    "explorer_runs",
    "hasselblad_mle",
    "hasselblad_rate",
]

MODEL = PoissonMixture(HASSELBLAD)
START = np.array([0.5, 1.0, 3.0])


def _em_map(theta: np.ndarray) -> np.ndarray:
    return MODEL.m_step(MODEL.e_step(np.asarray(theta, dtype=float)))


@lru_cache(maxsize=1)
def hasselblad_mle() -> np.ndarray:
    """θ̂ for Hasselblad's data from (0.5, 1, 3): SQUAREM to a tolerance of 1e-13."""
    res = run_em(MODEL.e_step, MODEL.m_step, START, loglik=MODEL.loglik, tol=1e-13,
                 accelerate="squarem", valid=MODEL.valid, max_iter=500)
    return res.theta.copy()


@lru_cache(maxsize=1)
def hasselblad_rate() -> float:
    """EM's rate: the largest eigenvalue of DM at θ̂, by central differences of the map."""
    theta = hasselblad_mle()
    h = 1e-5 * np.abs(theta)
    jac = np.column_stack([(_em_map(theta + h[j] * e) - _em_map(theta - h[j] * e)) / (2 * h[j])
                           for j, e in enumerate(np.eye(3))])
    return float(np.max(np.real(np.linalg.eigvals(jac))))


@lru_cache(maxsize=1)
def em_path(n: int = 2000) -> np.ndarray:
    """The plain EM path θ^(0..n) from (0.5, 1, 3), shape (n + 1, 3)."""
    path = np.empty((n + 1, 3))
    path[0] = START
    for t in range(n):
        path[t + 1] = _em_map(path[t])
    path.flags.writeable = False
    return path


# --- 06.1 -------------------------------------------------------------------------------


@exercise("06.1", wrong=[lambda: 6 / (1 - 0.9957),   # log10 where ln is needed
                         lambda: 3 * 530,            # the gap in l: rate rho^2
                         lambda: 6 * 230,            # the error/step ratio, per digit
                         lambda: 1e6 * 0.9957])
def _iterations(answer: Any) -> str:
    rho = hasselblad_rate()
    want = np.log(1e6) / -np.log(rho)
    got = float(as_array(answer, (), "your number of iterations"))
    if got < 1:
        raise Wrong("an iteration count is at least 1")
    compare(got, want, rtol=0.05, what="your number of iterations")
    return ("right: t = ln(10^6) / (-ln ρ) ≈ ln(10^6) / (1 - ρ): one digit per "
            "-1/log10(ρ) iterations, six digits six times that.")


# --- 06.3 -------------------------------------------------------------------------------


def _aitken_reference(x: np.ndarray) -> np.ndarray:
    """x_t - (Δx_t)² / Δ²x_t along axis 0, for t = 0 .. T-2; x_{t+2} where Δ²x_t = 0
    (a sequence that has stopped moving, 0/0, or whose three terms lie on a line)."""
    x = np.asarray(x, dtype=float)
    d1, d2 = x[1:-1] - x[:-2], x[2:] - 2 * x[1:-1] + x[:-2]
    zero = d2 == 0
    return np.where(zero, x[2:], x[:-2] - d1**2 / np.where(zero, 1.0, d2))


def _aitken_wrong_unguarded() -> Any:  # the notebook's formula as it stands: 0/0 = nan
    def f(x):
        x = np.asarray(x, dtype=float)
        d1, d2 = x[1:-1] - x[:-2], x[2:] - 2 * x[1:-1] + x[:-2]
        with np.errstate(divide="ignore", invalid="ignore"):
            return x[:-2] - d1**2 / d2
    return f


def _aitken_wrong_sign() -> Any:
    def f(x):
        x = np.asarray(x, dtype=float)
        d1, d2 = x[1:-1] - x[:-2], x[2:] - 2 * x[1:-1] + x[:-2]
        return x[:-2] + d1**2 / d2
    return f


def _aitken_wrong_anchor() -> Any:  # subtracts x_t's correction from x_{t+2}
    def f(x):
        x = np.asarray(x, dtype=float)
        d1, d2 = x[1:-1] - x[:-2], x[2:] - 2 * x[1:-1] + x[:-2]
        return x[2:] - d1**2 / d2
    return f


def _aitken_wrong_second_difference() -> Any:  # x_{t+2} - x_t in the denominator
    def f(x):
        x = np.asarray(x, dtype=float)
        return x[:-2] - (x[1:-1] - x[:-2]) ** 2 / (x[2:] - x[:-2])
    return f


def _aitken_wrong_1d_only() -> Any:  # flattens a (T+1, p) path
    def f(x):
        return _aitken_reference(np.asarray(x, dtype=float).ravel())
    return f


def _aitken_wrong_guard_on_step() -> Any:  # guards Δx_t = 0, not Δ²x_t = 0
    def f(x):
        x = np.asarray(x, dtype=float)
        d1, d2 = x[1:-1] - x[:-2], x[2:] - 2 * x[1:-1] + x[:-2]
        zero = d1 == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(zero, x[2:], x[:-2] - d1**2 / np.where(zero, 1.0, d2))
    return f


def _aitken_wrong_oldest() -> Any:  # where Δ²x_t = 0, the oldest term x_t
    def f(x):
        x = np.asarray(x, dtype=float)
        d1, d2 = x[1:-1] - x[:-2], x[2:] - 2 * x[1:-1] + x[:-2]
        zero = d2 == 0
        return np.where(zero, x[:-2], x[:-2] - d1**2 / np.where(zero, 1.0, d2))
    return f


def _aitken_special(answer: Any, x: np.ndarray, what: str) -> None:
    """Where Δ²x_t = 0 the answer must be finite and the newest term x_{t+2}."""
    want = _aitken_reference(x)
    d1, d2 = x[1:-1] - x[:-2], x[2:] - 2 * x[1:-1] + x[:-2]
    zero = d2 == 0

    def where(idx: tuple[int, ...]) -> str:
        t = f"{idx[0]}" + (f", coordinate {idx[1]}" if x.ndim > 1 else "")
        kind = ("the sequence has stopped moving (Δx_t = Δ²x_t = 0)" if d1[idx] == 0 else
                "its three terms lie on a straight line (Δ²x_t = 0, Δx_t ≠ 0)")
        return f"at t = {t}, where {kind}"

    raw = call(answer, x.copy(), name="aitken")
    try:  # a nan or inf where Δ²x_t = 0: say where, before as_array's general message
        with np.errstate(all="ignore"):
            arr = np.asarray(raw, dtype=float)
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is not None and arr.shape == want.shape and np.any(zero & ~np.isfinite(arr)):
        idx = tuple(int(i) for i in np.argwhere(zero & ~np.isfinite(arr))[0])
        raise Wrong(f"aitken(x) for {what} is not finite {where(idx)}: guard the "
                    f"division by Δ²x_t and return the newest term x_{{t+2}} there")
    got = as_array(raw, want.shape, f"aitken(x) for {what}")
    bad = zero & ~np.isclose(got, x[2:], rtol=1e-12, atol=1e-12)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        for term, name in [(x[:-2][idx], "the oldest term x_t"),
                           (x[1:-1][idx], "the middle term x_{t+1}")]:
            if np.isclose(got[idx], term, rtol=1e-12, atol=1e-12):
                raise Wrong(f"aitken(x) for {what} {where(idx)}: you return {name}, not "
                            f"the newest term x_{{t+2}}")
        raise Wrong(f"aitken(x) for {what} {where(idx)}: return the newest term x_{{t+2}} "
                    f"there")
    compare(got, want, rtol=1e-10, atol=1e-12, what=f"aitken(x) for {what}")


@exercise("06.3", wrong=[_aitken_wrong_unguarded, _aitken_wrong_sign, _aitken_wrong_anchor,
                         _aitken_wrong_second_difference, _aitken_wrong_1d_only,
                         _aitken_wrong_guard_on_step, _aitken_wrong_oldest])
def _aitken(answer: Any) -> str:
    t = np.arange(12.0)
    for limit, c, rho in [(2.0, 1.0, 0.5), (-1.0, 3.0, 0.99), (0.3, -0.2, -0.6),
                          (5.0, 1e-3, 0.9)]:
        x = limit + c * rho**t
        got = as_array(call(answer, x.copy(), name="aitken"), (10,),
                       f"aitken(x) for x_t = {limit:g} + {c:g}·({rho:g})^t, t = 0..11")
        if not np.allclose(got, limit, rtol=1e-8, atol=1e-10):
            raise Wrong(f"on the geometric sequence x_t = {limit:g} + {c:g}·({rho:g})^t "
                        f"your extrapolation is not the limit {limit:g}: three terms of a "
                        f"geometric sequence determine it exactly")
    # Δ²x_t = 0 in both ways: the sequence stops moving (0/0), or moves in a straight
    # line (Δx_t ≠ 0: a division of a nonzero number by 0); one case per kind and a path
    _aitken_special(answer, np.array([3.0, 1.0, 2.5, 2.0, 2.0, 2.0, 2.0]),
                    "x = (3, 1, 2.5, 2, 2, 2, 2)")
    _aitken_special(answer, np.array([0.0, 1.0, 2.0, 2.5]), "x = (0, 1, 2, 2.5)")
    _aitken_special(answer, np.column_stack([np.arange(5.0), [4.0, 1.0, 0.5, 0.5, 0.5]]),
                    "the path with columns (0, 1, 2, 3, 4) and (4, 1, 0.5, 0.5, 0.5)")
    path = em_path()[:301]
    got = as_array(call(answer, path.copy(), name="aitken"), (299, 3),
                   "aitken(path) for the EM path of shape (301, 3)")
    compare(got, _aitken_reference(path), rtol=1e-8, atol=1e-12,
            what="aitken(path) on the EM path")
    theta_hat = hasselblad_mle()
    e_em = np.abs(path[-1] - theta_hat).max()
    e_ait = np.abs(got[-1] - theta_hat).max()
    return (f"right: exact on geometric sequences, the newest term where Δ²x = 0; on "
            f"the EM path at t = 298 the extrapolation is {e_em / e_ait:.0f} times closer "
            f"to θ̂ than θ^(300).")


# --- 06.4 -------------------------------------------------------------------------------


def _linear_path(rates: list[float], coefs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """θ̂ + Σ_j coefs_j ρ_j^t v_j for an orthonormal basis v (seeded), and θ̂."""
    rng = np.random.default_rng(6)
    basis, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    theta_hat = np.array([0.4, 1.3, 2.7])
    t = np.arange(n + 1.0)[:, None]
    path = theta_hat + sum(c * np.asarray(r) ** t * basis[:, j]
                           for j, (r, c) in enumerate(zip(rates, coefs, strict=True)))
    return path, theta_hat


def _estimate_wrong_step() -> Any:
    return lambda thetas: float(np.linalg.norm(np.diff(thetas, axis=0)[-1]))


def _estimate_wrong_one_over() -> Any:  # 1/(1 - ρ): the error before the last step
    def f(thetas):
        s = np.linalg.norm(np.diff(thetas, axis=0), axis=1)
        rho = s[-1] / s[-2]
        return float(s[-1] / (1 - rho))
    return f


def _estimate_wrong_first_steps() -> Any:  # the rate from the first two steps
    def f(thetas):
        s = np.linalg.norm(np.diff(thetas, axis=0), axis=1)
        rho = s[1] / s[0]
        return float(rho / (1 - rho) * s[-1])
    return f


@exercise("06.4", wrong=[_estimate_wrong_step, _estimate_wrong_one_over,
                         _estimate_wrong_first_steps])
def _estimate(answer: Any) -> str:
    # every answer gets copies (em_path() is read-only; an answer may work in place),
    # and every reference is computed before the answer is called
    for rho, n in [(0.5, 12), (0.9, 30), (0.99, 50)]:
        path, theta_hat = _linear_path([rho], [0.8], n)
        want = np.linalg.norm(path[-1] - theta_hat)
        got = as_array(call(answer, path.copy(), name="estimated_error"), (),
                       f"estimated_error on a path of shape {path.shape}")
        compare(got, want, rtol=1e-6,
                what=f"your estimate on a path θ̂ + c ρ^t v with one rate ρ = {rho}")
    path, theta_hat = _linear_path([0.8, 0.3, 0.0], [1.0, 1.0, 1.0], 40)
    want = np.linalg.norm(path[-1] - theta_hat)
    compare(as_array(call(answer, path.copy(), name="estimated_error"), (), "your estimate"),
            want, rtol=1e-4,
            what="your estimate on a path with rates 0.8, 0.3 and 0, after 40 steps")
    full, theta_hat = em_path(), hasselblad_mle()
    for t in (1000, 2000):
        want = np.linalg.norm(full[t] - theta_hat)
        got = as_array(call(answer, full[: t + 1].copy(), name="estimated_error"), (),
                       f"estimated_error on the EM path θ^(0..{t})")
        compare(got, want, rtol=0.05,
                what=f"your estimate of ‖θ^({t}) − θ̂‖ on Hasselblad's EM path")
    return ("right: exact when one rate remains, and within 5% of the actual error on "
            "Hasselblad's path, where the step is 230 times smaller than the error.")


# --- 06.5 -------------------------------------------------------------------------------


def _squarem_reference(em_map: Any, theta: np.ndarray) -> np.ndarray:
    """One S3 cycle: two EM steps, α = -‖r‖/‖v‖ clamped to ≤ -1, jump, one EM step."""
    theta = np.asarray(theta, dtype=float)
    t1 = np.asarray(em_map(theta), dtype=float)
    t2 = np.asarray(em_map(t1), dtype=float)
    r, v = t1 - theta, t2 - 2 * t1 + theta
    alpha = min(-np.linalg.norm(r) / np.linalg.norm(v), -1.0)
    return np.asarray(em_map(theta - 2 * alpha * r + alpha**2 * v), dtype=float)


def _linear_map(rates: list[float]) -> tuple[Any, np.ndarray]:
    rng = np.random.default_rng(4)
    basis, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a = basis @ np.diag(rates) @ basis.T
    fixed = np.array([0.4, 1.3, 2.7])
    return (lambda th: fixed + a @ (np.asarray(th, dtype=float) - fixed)), fixed


def _squarem_variant(
    alpha_of: Any, second: str = "change", stabilise: bool = True
) -> Any:
    """A SQUAREM cycle with one piece changed: the steplength rule ``alpha_of(r, v)``,
    ``v`` as the second step's change (right) or the second step itself, the stabilising
    EM step after the jump or not."""
    def f(em_map, theta):
        t1 = em_map(theta)
        t2 = em_map(t1)
        r = t1 - theta
        v = t2 - 2 * t1 + theta if second == "change" else t2 - t1
        alpha = alpha_of(r, v)
        jump = theta - 2 * alpha * r + alpha**2 * v
        return em_map(jump) if stabilise else jump
    return f


def _ratio(r: np.ndarray, v: np.ndarray) -> float:
    return float(np.linalg.norm(r) / np.linalg.norm(v))


def _squarem_wrong_no_clamp() -> Any:
    return _squarem_variant(lambda r, v: -_ratio(r, v))


def _squarem_wrong_sign() -> Any:
    return _squarem_variant(lambda r, v: max(_ratio(r, v), 1.0))


def _squarem_wrong_no_stabilising() -> Any:
    return _squarem_variant(lambda r, v: min(-_ratio(r, v), -1.0), stabilise=False)


def _squarem_wrong_v() -> Any:  # v = θ2 − θ1: the second step instead of its change
    return _squarem_variant(lambda r, v: min(-_ratio(r, v), -1.0), second="step")


@exercise("06.5", wrong=[_squarem_wrong_no_clamp, _squarem_wrong_sign,
                         _squarem_wrong_no_stabilising, _squarem_wrong_v])
def _squarem(answer: Any) -> str:
    start = np.array([0.9, 0.2, 3.5])
    for rho in (0.5, 0.95):
        em_map, fixed = _linear_map([rho] * 3)
        got = as_array(call(answer, em_map, start.copy(), name="squarem_step"), (3,),
                       "squarem_step(em_map, theta)")
        if not np.allclose(got, fixed, rtol=1e-8, atol=1e-10):
            raise Wrong(f"for a linear map with the single rate {rho}, one SQUAREM cycle "
                        f"must land on its fixed point; yours does not")
    cases = [("a linear map with rate -0.5, where ‖r‖ < ‖v‖", *_linear_map([-0.5] * 3)),
             ("a linear map with rates 0.9, 0.5, 0.1", *_linear_map([0.9, 0.5, 0.1]))]
    for what, em_map, _ in cases:
        got = as_array(call(answer, em_map, start.copy(), name="squarem_step"), (3,),
                       f"squarem_step on {what}")
        compare(got, _squarem_reference(em_map, start), rtol=1e-8, atol=1e-12,
                what=f"squarem_step on {what}")
    theta_hat = hasselblad_mle()
    for t in (10, 200):
        theta = em_path()[t].copy()
        got = as_array(call(answer, _em_map, theta.copy(), name="squarem_step"), (3,),
                       f"squarem_step on Hasselblad's EM map from θ^({t})")
        if not MODEL.valid(got):
            raise Wrong(f"from θ^({t}) on Hasselblad's data your cycle leaves the "
                        f"parameter space")
        compare(got, _squarem_reference(_em_map, theta), rtol=1e-8, atol=1e-12,
                what=f"squarem_step on Hasselblad's EM map from θ^({t})")
    theta = em_path()[200]
    gain = (np.abs(theta - theta_hat).max()
            / np.abs(_squarem_reference(_em_map, theta) - theta_hat).max())
    return (f"right: exact on one-rate linear maps, clamped where ‖r‖ < ‖v‖; from "
            f"θ^(200) one cycle (3 evaluations) cuts the error {gain:.0f}-fold.")


# --- 06.2 -------------------------------------------------------------------------------

MAX_EVALS = 450  # the explorer's cap
# the explorer's controls: a FloatSlider 0.5 .. 4.0 in steps of 0.1, and a Dropdown
SLIDERS = {"separation": (0.5, 4.0), "method": {"SQUAREM", "fixed_point del2"}}


@lru_cache(maxsize=64)
def explorer_runs(separation: float) -> tuple[bool, int, bool, int]:
    """(plain EM converged, its evaluations, SQUAREM converged, its evaluations), with the
    explorer's data, start, tolerances and caps."""
    gauss = TwoGaussians(x=simulate_gaussians(0.0, separation, 0.35, 1.0, 400, seed=11))
    theta0 = np.array([-1.0, separation + 1.0, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = run_em(gauss.e_step, gauss.m_step, theta0, tol=1e-12, accelerate="squarem",
                      valid=gauss.valid, max_iter=MAX_EVALS // 3)
        plain = run_em(gauss.e_step, gauss.m_step, theta0, tol=1e-10, max_iter=MAX_EVALS)
    return plain.converged, plain.n_evals, fast.converged, fast.n_evals


def _capped(answer: Any) -> str:
    s = settings_of(answer, ("separation", "method"), ranges=SLIDERS)
    sep = round(s["separation"], 1)  # the slider's values, up to rounding
    if abs(s["separation"] - sep) > 1e-6:
        raise Wrong(f"separation = {s['separation']!r}: the explorer's slider moves in "
                    f"steps of 0.1")
    if s["method"] != "SQUAREM":
        raise Wrong("choose the method SQUAREM: the behaviour asked for is SQUAREM's")
    plain_ok, plain_n, fast_ok, fast_n = explorer_runs(sep)
    if plain_ok:
        raise Wrong(f"at μ₂ − μ₁ = {sep:g} plain EM converges within the cap "
                    f"({plain_n} evaluations): move the means closer")
    if not fast_ok or fast_n > 100:
        raise Wrong(f"at μ₂ − μ₁ = {sep:g} SQUAREM does not converge within 100 "
                    f"evaluations: the means are too close even for it")
    return (f"right: plain EM stops at its cap of {MAX_EVALS} evaluations, SQUAREM "
            f"converges in {fast_n}.")


exercise("06.2", wrong=[lambda: {"separation": 3.0, "method": "SQUAREM"},
                        lambda: {"separation": 1.5, "method": "fixed_point del2"},
                        lambda: {"separation": 0.5, "method": "SQUAREM"},
                        lambda: {"separation": "abc", "method": "SQUAREM"},
                        lambda: {"separation": float("nan"), "method": "SQUAREM"},
                        lambda: {"separation": 1.24, "method": "SQUAREM"},
                        lambda: {"separation": 1.2, "method": "squarem"}])(_capped)
