"""Checks for the exercises of notebook 08 (EM at scale: statistics as reductions, online EM).

- 08.1 the additive block statistics of a two-component Poisson mixture (a function);
- 08.2 the weight of each mini-batch in online EM's running statistics (a function);
- 08.3 break EM: a split of the data (chunks of at least 100 points) for which averaging
  the blocks' M-steps moves the MLE, unlike a random split of the same sizes (a list of
  chunks);
- 08.4 add two sets of statistics taken about different centres, exactly (a function);
- 08.5 the block statistics of a mixture of two exponentials with right-censored
  lifetimes (a function).

References are computed here: 08.1 from the course's grouped-count model
(:class:`em_helpers.models.poisson_mixture.PoissonMixture` on Hasselblad's counts) and a
direct maximisation of its likelihood; 08.2 by running the online-EM recursion on
indicator statistics; 08.3 from the notebook's model (``mixture_stats``,
``mixture_m_step``) and a run of chunked EM; 08.4 by summing over the data directly; 08.5
from densities, survival functions and quadrature, and a direct maximisation of the
censored likelihood.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy import integrate, optimize, stats
from scipy.special import expit

from ..models.normal_mixture import (
    mixture_loglik,
    mixture_m_step,
    mixture_sample,
    mixture_stats,
)
from ..models.poisson_mixture import HASSELBLAD, PoissonMixture
from ..streaming import SeededBlocks, chunked_em
from .base import Wrong, as_array, call, compare, exercise

__all__ = [
    "averaged_m_step",
    "censored_data",
    "censored_mle",
    "censored_reference_stats",
    "hasselblad_counts",
    "hasselblad_mle",
    "notebook_data",
    "notebook_mle",
    "online_weights",
    "poisson_reference_stats",
]

#: The notebook's mixture: (mu1, mu2, pi, sigma1, sigma2), and its start value.
TRUE = np.array([-2.0, 2.0, 0.35, 1.0, 0.8])
START = np.array([-1.0, 1.0, 0.5, 1.5, 1.5])


# --- 08.1 the block statistics of a Poisson mixture ----------------------------------------


def hasselblad_counts() -> np.ndarray:
    """Hasselblad's 1096 daily death counts as a raw series (one entry per day)."""
    return np.repeat(np.arange(HASSELBLAD.size), HASSELBLAD.astype(int)).astype(float)


def poisson_reference_stats(theta: Any, x: np.ndarray) -> np.ndarray:
    """(n1, n2, s1, s2) from the course's grouped-count model: the responsibilities of
    ``PoissonMixture.e_step`` at each distinct count, times how often it occurs."""
    x = np.asarray(x, dtype=float)
    freq = np.bincount(x.astype(int), minlength=1).astype(float)
    w = PoissonMixture(freq).e_step(np.asarray(theta, dtype=float))
    k = np.arange(freq.size)
    return np.array([freq @ w, freq @ (1 - w), freq @ (w * k), freq @ ((1 - w) * k)])


def _poisson_m_step(stats: np.ndarray) -> np.ndarray:
    n1, n2, s1, s2 = stats
    return np.array([n1 / (n1 + n2), s1 / n1, s2 / n2])


@functools.lru_cache(maxsize=1)
def hasselblad_mle() -> tuple[float, float, float]:
    """The MLE of (pi, lam1, lam2) for Hasselblad's counts, by direct maximisation of the
    grouped likelihood (logit/log coordinates, Nelder-Mead then BFGS)."""
    model = PoissonMixture(HASSELBLAD)

    def theta_of(w: np.ndarray) -> np.ndarray:
        return np.array([expit(w[0]), np.exp(w[1]), np.exp(w[2])])

    best = None
    for w0 in ([0.0, np.log(1.0), np.log(3.0)], [0.5, np.log(1.5), np.log(4.0)]):
        res = optimize.minimize(lambda w: -model.loglik(theta_of(w)), w0,
                                method="Nelder-Mead",
                                options={"xatol": 1e-12, "fatol": 1e-13, "maxiter": 20_000})
        res = optimize.minimize(lambda w: -model.loglik(theta_of(w)), res.x, method="BFGS",
                                options={"gtol": 1e-10})
        if best is None or res.fun < best.fun:
            best = res
    th = theta_of(best.x)
    if th[1] > th[2]:  # component 1: the smaller rate
        th = np.array([1 - th[0], th[2], th[1]])
    return tuple(float(v) for v in th)


def _stats_wrong_means() -> Any:
    def f(theta, x):  # per-block averages instead of sums
        n1, n2, s1, s2 = poisson_reference_stats(theta, x)
        return np.array([n1, n2, s1 / n1, s2 / n2])
    return f


def _stats_wrong_hard() -> Any:
    def f(theta, x):  # hard assignments to the more probable component
        pi, l1, l2 = theta
        x = np.asarray(x, dtype=float)
        a = np.log(pi) + x * np.log(l1) - l1
        b = np.log1p(-pi) + x * np.log(l2) - l2
        g = (a > b).astype(float)
        return np.array([g.sum(), (1 - g).sum(), g @ x, (1 - g) @ x])
    return f


def _stats_wrong_no_pi() -> Any:
    def f(theta, x):  # responsibilities without the weights pi, 1 - pi
        pi, l1, l2 = theta
        x = np.asarray(x, dtype=float)
        g = expit((x * np.log(l1) - l1) - (x * np.log(l2) - l2))
        return np.array([g.sum(), (1 - g).sum(), g @ x, (1 - g) @ x])
    return f


def _stats_wrong_swapped() -> Any:
    def f(theta, x):
        n1, n2, s1, s2 = poisson_reference_stats(theta, x)
        return np.array([n2, n1, s2, s1])
    return f


def _stats_wrong_fractions() -> Any:
    def f(theta, x):  # counts as fractions of the block: not a sum over the block
        n1, n2, s1, s2 = poisson_reference_stats(theta, x)
        return np.array([n1 / (n1 + n2), n2 / (n1 + n2), s1, s2])
    return f


def _stats_of(answer: Any, theta: Any, x: np.ndarray) -> np.ndarray:
    return as_array(call(answer, np.array(theta, dtype=float), x, name="poisson_stats"),
                    (4,), f"poisson_stats(theta, chunk of {x.size} counts)")


@exercise("08.1", wrong=[_stats_wrong_means, _stats_wrong_hard, _stats_wrong_no_pi,
                         _stats_wrong_swapped, _stats_wrong_fractions])
def _poisson_stats(answer: Any) -> str:
    x = hasselblad_counts()
    x = x[np.random.default_rng(8).permutation(x.size)]  # a series, not sorted
    thetas = [(0.5, 1.0, 3.0), (0.3, 1.2, 2.8), (0.8, 0.5, 4.0), (0.1, 2.5, 0.7)]
    for theta in thetas:
        whole = _stats_of(answer, theta, x)
        if abs(whole[0] + whole[1] - x.size) > 1e-8 * x.size:
            raise Wrong(f"at theta = {theta}, n1 + n2 is not the number of counts in the "
                        "chunk: every count is split between the two components, so the "
                        "expected counts must add up to the chunk's size")
        for name, split in (("10 equal blocks", np.array_split(x, 10)),
                            ("uneven blocks, some of one count",
                             np.split(x, [1, 2, 500, 501, 1095]))):
            parts = sum(_stats_of(answer, theta, c) for c in split)
            if not np.allclose(parts, whole, rtol=1e-10, atol=1e-10):
                raise Wrong(f"your statistics do not add up over blocks ({name}, theta = "
                            f"{theta}): the sum over the blocks differs from the statistics "
                            "of the whole series. They must be sums over the points (not "
                            "averages or fractions), so that a pass is a reduction")
    for theta in thetas:
        want = poisson_reference_stats(theta, x)
        got = _stats_of(answer, theta, x)
        if not np.allclose(got, want, rtol=1e-8) and np.allclose(got, want[[1, 0, 3, 2]],
                                                                 rtol=1e-8):
            raise Wrong(f"at theta = {theta} your components are swapped: entry 0 and 2 "
                        "must belong to component 1 (weight pi, rate lam1)")
        if theta[0] == 0.5:
            compare(got, want, rtol=1e-8, what=f"poisson_stats at theta = {theta}")
        elif not np.allclose(got, want, rtol=1e-8):
            at_half = np.allclose(_stats_of(answer, (0.5, 1.0, 3.0), x),
                                  poisson_reference_stats((0.5, 1.0, 3.0), x), rtol=1e-8)
            if at_half:
                raise Wrong(f"right at pi = 1/2 but not at theta = {theta}: the "
                            "responsibilities must weigh the two Poisson probabilities by "
                            "pi and 1 - pi")
            compare(got, want, rtol=1e-8, what=f"poisson_stats at theta = {theta}")
    mle = np.array(hasselblad_mle())
    step = _poisson_m_step(_stats_of(answer, mle, x))
    if np.max(np.abs(step - mle) / mle) > 1e-6:
        raise Wrong("the MLE is not a fixed point of the M-step applied to your statistics")
    return ("right: sums over the points, so blocks add up; they equal the grouped model's "
            "expected counts, and the MLE is a fixed point of the M-step on them.")


# --- 08.2 the weights in online EM's running statistics -------------------------------------


def online_weights(alpha: float, T: int) -> np.ndarray:
    """The weight of batch k's statistics in s_hat_T, by running the recursion
    s_t = s_{t-1} + gamma_t (e_t - s_{t-1}), gamma_t = t^-alpha, on indicator vectors."""
    s = np.zeros(T)
    for t in range(1, T + 1):
        e = np.zeros(T)
        e[t - 1] = 1.0
        s = s + t ** -float(alpha) * (e - s)
    return s


def _weights_wrong_uniform() -> Any:
    return lambda alpha, T: np.full(int(T), 1.0 / T)


def _weights_wrong_gamma() -> Any:
    return lambda alpha, T: np.arange(1, T + 1) ** -float(alpha)


def _weights_wrong_off_by_one() -> Any:
    def f(alpha, T):  # the product includes j = k
        g = np.arange(1, T + 1) ** -float(alpha)
        return np.array([g[k] * np.prod(1 - g[k:]) for k in range(T)])
    return f


def _weights_wrong_reversed() -> Any:
    def f(alpha, T):  # the product over the earlier steps
        g = np.arange(1, T + 1) ** -float(alpha)
        w = np.array([g[k] * np.prod(1 - g[1:k]) for k in range(T)])
        return w / w.sum()
    return f


@exercise("08.2", wrong=[_weights_wrong_uniform, _weights_wrong_gamma,
                         _weights_wrong_off_by_one, _weights_wrong_reversed])
def _weights(answer: Any) -> str:
    cases = [(1.0, 1), (1.0, 10), (0.6, 10), (0.75, 200), (0.51, 1000), (0.9, 3)]
    for alpha, T in cases:
        what = f"batch_weights({alpha}, {T})"
        got = as_array(call(answer, alpha, T, name="batch_weights"), (T,), what)
        if np.any(got < -1e-12):
            raise Wrong(f"{what} has a negative weight: with 0 < gamma_t <= 1 every "
                        "batch enters s_hat_T with a weight >= 0")
        if abs(got.sum() - 1) > 1e-9:
            raise Wrong(f"{what} does not add up to 1: since gamma_1 = 1, s_hat_T is a "
                        "weighted average of the batches' statistics")
        compare(got, online_weights(alpha, T), rtol=1e-8, atol=1e-14, what=what)
    return ("right: w_k = gamma_k times the product of (1 - gamma_j) over the later "
            "batches; uniform for alpha = 1, tilted towards recent batches for alpha < 1.")


# --- 08.3 break EM: average the blocks' M-steps ---------------------------------------------


@functools.lru_cache(maxsize=1)
def _notebook_data() -> np.ndarray:
    x = SeededBlocks(functools.partial(mixture_sample, theta=TRUE), 20_000, 20_000,
                     seed=1).block(0)
    x.flags.writeable = False
    return x


def notebook_data() -> np.ndarray:
    """The notebook's ``x_small``: 20,000 points of the mixture, seed 1 (read-only)."""
    return _notebook_data()


@functools.lru_cache(maxsize=1)
def _notebook_mle() -> np.ndarray:
    res = chunked_em(mixture_stats, mixture_m_step, [notebook_data()], START, tol=1e-12)
    out = np.array(res.theta, dtype=float)
    out.flags.writeable = False
    return out


def notebook_mle() -> np.ndarray:
    """The MLE for ``x_small``, by a run of the (correct) chunked EM."""
    return _notebook_mle()


def averaged_m_step(theta: Any, chunks: list[np.ndarray]) -> np.ndarray:
    """The broken map: every block's own M-step, then the mean of the blocks' thetas."""
    return np.mean([mixture_m_step(mixture_stats(theta, c)) for c in chunks], axis=0)


def _as_chunks(answer: Any) -> list[np.ndarray]:
    if isinstance(answer, np.ndarray) and answer.ndim == 1:
        raise Wrong("give a list of chunks (arrays), not one array: e.g. np.split(...)")
    try:
        chunks = [np.asarray(c, dtype=float).reshape(-1) for c in answer]
    except (TypeError, ValueError):
        raise Wrong(f"give a list of arrays (the chunks), got {type(answer).__name__}") from None
    if not chunks:
        raise Wrong("the split has no chunks")
    return chunks


#: The smallest chunk 08.3 accepts: below it a block's own M-step is biased by its size
#: alone (and the check, one M-step per chunk, would be slow).
MIN_CHUNK = 100


def _shuffled(n_chunks: int) -> list[np.ndarray]:
    """x_small in random order, cut into n_chunks (blocks alike, but small if many)."""
    return np.array_split(np.random.default_rng(0).permutation(notebook_data()), n_chunks)


@exercise("08.3", wrong=[lambda: [np.array(notebook_data())],
                         lambda: np.array_split(notebook_data(), 10),
                         lambda: np.array_split(np.sort(notebook_data())[:-5], 2),
                         lambda: np.split(np.sort(notebook_data()), [1]),
                         lambda: _shuffled(2000),
                         lambda: _shuffled(10_000)])
def _averaged(answer: Any) -> str:
    x = notebook_data()
    chunks = _as_chunks(answer)
    sizes = [c.size for c in chunks]
    if sum(sizes) != x.size or not np.array_equal(np.sort(np.concatenate(chunks)),
                                                  np.sort(x)):
        raise Wrong(f"the chunks are not a split of x_small: together they must hold its "
                    f"{x.size:,} points, each once (they hold {sum(sizes):,})")
    if min(sizes) < MIN_CHUNK:
        raise Wrong(f"a chunk has fewer than {MIN_CHUNK} points (the smallest has "
                    f"{min(sizes)}): the M-step of so small a block is biased on its own "
                    "(its sigmas shrink; one point gives sigma = 0), so averaging such "
                    "blocks moves the MLE even when the blocks are alike, a failure of "
                    f"another kind. Use chunks of at least {MIN_CHUNK} points that differ "
                    "from one another")
    mle = notebook_mle()
    with np.errstate(all="ignore"):
        moved = averaged_m_step(mle, chunks)
    if not np.all(np.isfinite(moved)):
        raise Wrong("averaging the blocks' M-steps gave nan or inf here (a block's own "
                    "M-step left the parameter space); find a split where it stays finite")
    shift = float(np.max(np.abs(moved - mle)))
    if shift <= 0.1:
        raise Wrong(f"with this split, averaging the blocks' M-steps moves the MLE by "
                    f"{shift:.2g} at most: still nearly a fixed point. Make the blocks "
                    "differ more from one another")
    # the same sizes, but blocks alike: a random permutation of x_small cut the same way
    alike = np.split(np.random.default_rng(83).permutation(x), np.cumsum(sizes)[:-1])
    with np.errstate(all="ignore"):
        base = float(np.max(np.abs(averaged_m_step(mle, alike) - mle)))
    if not base < shift / 2:
        raise Wrong(f"a random split into chunks of the same sizes moves the MLE about as "
                    f"much ({base:.2g} against your {shift:.2g}): the move comes from the "
                    "size of the chunks, not from blocks that differ. Make the blocks "
                    "differ more from one another")
    drop = mixture_loglik(mle, x) - mixture_loglik(moved, x)
    return (f"right: at the MLE the averaged map moves a parameter by {shift:.2f} (a "
            f"random split into chunks of the same sizes: {base:.2g}) and lowers the "
            f"log-likelihood by {drop:.3g}: the MLE is not its fixed point, and it is not "
            "an EM step; summing the statistics keeps the MLE fixed.")


# --- 08.4 add statistics about different centres -------------------------------------------


def _resp(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Responsibilities (n, 2) of the two normals, directly from the densities."""
    mu1, mu2, pi, s1, s2 = theta
    la = np.log(pi) - np.log(s1) - 0.5 * ((x - mu1) / s1) ** 2
    lb = np.log1p(-pi) - np.log(s2) - 0.5 * ((x - mu2) / s2) ** 2
    g = expit(la - lb)
    return np.column_stack([g, 1 - g])


def _direct(theta: np.ndarray, x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n, s, S) of the block x at theta, summed directly about the centres c (2,)."""
    r = _resp(theta, x)
    d = x[:, None] - c[None, :]
    return np.array([r.sum(0), (r * d).sum(0), (r * d * d).sum(0)])


def _tuple(stats: Any) -> tuple[np.ndarray, ...]:
    return (stats.nk.copy(), stats.s1[:, 0].copy(), stats.s2[:, 0].copy(),
            stats.center[:, 0].copy())


def _add_wrong_plain() -> Any:
    return lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _add_wrong_no_cross() -> Any:
    def f(a, b):
        d = np.asarray(a[3]) - np.asarray(b[3])
        return (a[0] + b[0], a[1] + a[0] * d + b[1], a[2] + a[0] * d**2 + b[2])
    return f


def _add_wrong_sign() -> Any:
    def f(a, b):
        d = np.asarray(b[3]) - np.asarray(a[3])
        return (a[0] + b[0], a[1] + a[0] * d + b[1],
                a[2] + 2 * d * a[1] + a[0] * d**2 + b[2])
    return f


def _add_wrong_raw() -> Any:
    def f(a, b):  # through raw moments about 0: right in exact arithmetic
        n_a, s_a, S_a, c_a = (np.asarray(v, dtype=float) for v in a)
        n_b, s_b, S_b, c_b = (np.asarray(v, dtype=float) for v in b)
        m1 = s_a + n_a * c_a + s_b + n_b * c_b
        m2 = (S_a + 2 * c_a * s_a + n_a * c_a**2) + (S_b + 2 * c_b * s_b + n_b * c_b**2)
        n = n_a + n_b
        return (n, m1 - n * c_b, m2 - 2 * c_b * m1 + n * c_b**2)
    return f


def _add_case(theta_a: np.ndarray, theta_b: np.ndarray, x_a: np.ndarray,
              x_b: np.ndarray) -> tuple[tuple, tuple, np.ndarray]:
    a = _tuple(mixture_stats(theta_a, x_a))
    b = _tuple(mixture_stats(theta_b, x_b))
    c_b = theta_b[:2]
    want = _direct(theta_a, x_a, c_b) + _direct(theta_b, x_b, c_b)
    return a, b, want


@exercise("08.4", wrong=[_add_wrong_plain, _add_wrong_no_cross, _add_wrong_sign,
                         _add_wrong_raw])
def _add(answer: Any) -> str:
    rng = np.random.default_rng(84)
    x_a, x_b = mixture_sample(rng, 300, TRUE), mixture_sample(rng, 200, TRUE)
    theta_a, theta_b = np.array([-1.5, 1.5, 0.4, 1.2, 1.1]), START.copy()
    cases = [("at one theta (equal centres)", theta_b, theta_b, x_a, x_b),
             ("about different centres", theta_a, theta_b, x_a, x_b),
             ("about different centres, the other way", theta_b, theta_a, x_b, x_a)]
    far = 1e8  # the same, shifted far from 0 (|mu| / sigma = 10^8)
    shift = np.array([far, far, 0, 0, 0])
    cases.append(("far from 0 (data near 10^8)", theta_a + shift, theta_b + shift,
                  x_a + far, x_b + far))
    ok_near = False
    for name, ta, tb, xa, xb in cases:
        a, b, want = _add_case(ta, tb, xa, xb)
        got = call(answer, a, b, name="add_stats")
        try:
            arr = np.array([np.asarray(v, dtype=float) for v in got])
        except (TypeError, ValueError):
            raise Wrong(f"add_stats ({name}) should return (n, s, S), got "
                        f"{type(got).__name__}") from None
        arr = as_array(arr, (3, 2), f"add_stats(a, b) {name} (n, s, S), two components")
        # near 10^8 the data carry ~1e-8 of relative rounding and valid routes (through
        # the blocks' means, Chan's update) lose ~5e-9; raw moments miss S by ~40%
        rtol = 1e-6 if "far" in name else 1e-8
        if "far" in name and ok_near and not np.allclose(arr, want, rtol=rtol, atol=1e-6):
            raise Wrong("right for data near 0, but far from 0 (data near 10^8, spread 1) "
                        "the result has lost its digits: going through raw moments about 0 "
                        "cancels catastrophically. Move the sums from c_a to c_b directly")
        if not np.allclose(arr, want, rtol=rtol, atol=1e-6):
            def close(v: Any, arr: np.ndarray = arr, rtol: float = rtol) -> bool:
                return bool(np.allclose(arr, np.array(v), rtol=rtol, atol=1e-6))
            if close(_add_wrong_plain()(a, b)):
                raise Wrong(f"add_stats(a, b) {name}: you added the sums as they are, but "
                            "a's are about c_a and b's about c_b; move a's onto c_b first")
            if close(_add_wrong_sign()(a, b)):
                raise Wrong(f"add_stats(a, b) {name}: the shift has the wrong sign; "
                            "x - c_b = (x - c_a) + (c_a - c_b)")
        for k, part in enumerate(("n", "s", "S")):
            compare(arr[k], want[k], rtol=rtol, atol=rtol * np.abs(want[k]).max(),
                    what=f"{part} of add_stats(a, b) {name}")
        ok_near = True
    return ("right: exact about the new centres, near 0 and at 10^8 alike (the shift "
            "delta = c_a - c_b is small, so nothing cancels).")


# --- 08.5 block statistics for a mixture of exponentials with censored lifetimes ---------------


def censored_data() -> np.ndarray:
    """600 lifetimes from 0.4 Exp(2) + 0.6 Exp(0.25), censored at times in {1, 2, 4, 8}:
    column 0 the time, column 1 1 for an observed failure, 0 for a censored unit."""
    rng = np.random.default_rng(85)
    n = 600
    first = rng.random(n) < 0.4
    y = np.where(first, rng.exponential(1 / 2.0, n), rng.exponential(1 / 0.25, n))
    c = rng.choice([1.0, 2.0, 4.0, 8.0], size=n)
    return np.column_stack([np.minimum(y, c), (y < c).astype(float)])


def _tail_mean(rate: float, c: float) -> float:
    """E[Y | Y > c] for Y ~ Exp(rate), by quadrature."""
    num = integrate.quad(lambda y: y * rate * np.exp(-rate * y), c, np.inf,
                         epsabs=0, epsrel=1e-12)[0]
    den = integrate.quad(lambda y: rate * np.exp(-rate * y), c, np.inf,
                         epsabs=0, epsrel=1e-12)[0]
    return num / den


def censored_reference_stats(theta: Any, data: np.ndarray) -> np.ndarray:
    """(n1, n2, t1, t2): responsibilities from densities (failures) or survival functions
    (censored units), expected lifetimes by quadrature."""
    pi, l1, l2 = (float(v) for v in theta)
    t, obs = data[:, 0], data[:, 1] > 0.5
    rates, weights = (l1, l2), (pi, 1 - pi)
    joint = np.column_stack([
        np.where(obs, w * stats.expon.pdf(t, scale=1 / r), w * stats.expon.sf(t, scale=1 / r))
        for w, r in zip(weights, rates, strict=True)])
    g = joint / joint.sum(axis=1, keepdims=True)
    ey = np.empty_like(joint)
    for k, r in enumerate(rates):
        tails = {c: _tail_mean(r, c) for c in np.unique(t[~obs])}
        ey[:, k] = np.where(obs, t, [tails.get(c, np.nan) if not o else 0.0
                                     for c, o in zip(t, obs, strict=True)])
    return np.array([g[:, 0].sum(), g[:, 1].sum(), g[:, 0] @ ey[:, 0], g[:, 1] @ ey[:, 1]])


def _censored_m_step(s: np.ndarray) -> np.ndarray:
    n1, n2, t1, t2 = s
    return np.array([n1 / (n1 + n2), n1 / t1, n2 / t2])


def _censored_loglik(theta: np.ndarray, data: np.ndarray) -> float:
    pi, l1, l2 = theta
    t, obs = data[:, 0], data[:, 1] > 0.5
    a = np.log(pi) - l1 * t + np.where(obs, np.log(l1), 0.0)
    b = np.log1p(-pi) - l2 * t + np.where(obs, np.log(l2), 0.0)
    return float(np.logaddexp(a, b).sum())


@functools.lru_cache(maxsize=1)
def censored_mle() -> tuple[float, float, float]:
    """The MLE of (pi, lam1, lam2) for :func:`censored_data`, by direct maximisation."""
    data = censored_data()

    def theta_of(w: np.ndarray) -> np.ndarray:
        return np.array([expit(w[0]), np.exp(w[1]), np.exp(w[2])])

    res = optimize.minimize(lambda w: -_censored_loglik(theta_of(w), data),
                            [0.0, np.log(1.5), np.log(0.3)], method="Nelder-Mead",
                            options={"xatol": 1e-12, "fatol": 1e-13, "maxiter": 20_000})
    res = optimize.minimize(lambda w: -_censored_loglik(theta_of(w), data), res.x,
                            method="BFGS", options={"gtol": 1e-10})
    return tuple(float(v) for v in theta_of(res.x))


def _cens_variant(survival: bool = True, tail: str = "right", count_censored: bool = True,
                  means: bool = False) -> Any:
    """The E-step, right or with one of the plausible mistakes."""
    def f(theta, data):
        pi, l1, l2 = theta
        data = np.asarray(data, dtype=float)
        t, obs = data[:, 0], data[:, 1] > 0.5
        joint = []
        for w, r in ((pi, l1), (1 - pi, l2)):
            dens, surv = w * r * np.exp(-r * t), w * np.exp(-r * t)
            joint.append(np.where(obs, dens, surv if survival else dens))
        g1 = joint[0] / (joint[0] + joint[1])
        keep = np.ones_like(t) if count_censored else obs.astype(float)
        out = np.zeros(4)
        for k, (g, r) in enumerate(((g1, l1), (1 - g1, l2))):
            if tail == "right":
                ey = t + 1 / r
            elif tail == "at c":
                ey = t
            else:  # the mixture's mean added to c
                ey = t + pi / l1 + (1 - pi) / l2
            out[k] = (keep * g).sum()
            out[2 + k] = (keep * g) @ np.where(obs, t, ey)
        if means:
            out[2:] = out[2:] / out[:2]
        return out
    return f


@exercise("08.5", wrong=[lambda: _cens_variant(survival=False),
                         lambda: _cens_variant(tail="at c"),
                         lambda: _cens_variant(tail="mixture"),
                         lambda: _cens_variant(count_censored=False),
                         lambda: _cens_variant(means=True)])
def _censored(answer: Any) -> str:
    data = censored_data()
    obs = data[:, 1] > 0.5
    thetas = [(0.5, 1.0, 0.2), (0.3, 2.5, 0.4), (0.7, 0.8, 0.1)]

    def stats_of(theta: Any, chunk: np.ndarray) -> np.ndarray:
        return as_array(call(answer, np.array(theta, dtype=float), chunk.copy(),
                             name="censored_stats"),
                        (4,), f"censored_stats(theta, chunk of {len(chunk)} units)")

    for theta in thetas:
        whole = stats_of(theta, data)
        if abs(whole[0] + whole[1] - len(data)) > 1e-8 * len(data):
            raise Wrong(f"at theta = {theta}, n1 + n2 is not the number of units in the "
                        "chunk: a censored unit also belongs to a component (its z_i is "
                        "missing, not absent), so it counts in n_k")
        parts = sum(stats_of(theta, c) for c in np.array_split(data, 7))
        if not np.allclose(parts, whole, rtol=1e-10, atol=1e-10):
            raise Wrong(f"your statistics do not add up over blocks (7 blocks, theta = "
                        f"{theta}): they must be sums over the units")
    for theta in thetas:
        what = f"censored_stats at theta = {theta}"
        for name, chunk in (("failures only", data[obs]), ("censored units only",
                                                           data[~obs])):
            got, want = stats_of(theta, chunk), censored_reference_stats(theta, chunk)
            if np.allclose(got, want, rtol=1e-8):
                continue
            if name == "failures only":
                compare(got, want, rtol=1e-8, what=f"{what}, {name}")
            if not np.allclose(got[:2], want[:2], rtol=1e-8):
                raise Wrong(f"{what}: right for failures, but the censored units' "
                            "responsibilities are wrong. What is known of a unit censored "
                            "at c is Y > c: its likelihood under component k is "
                            "pi_k P(Y > c), not a density")
            raise Wrong(f"{what}: right for failures, and the censored units' "
                        "responsibilities are right, but not their expected lifetimes: "
                        "given component k and Y > c, what is E[Y]?")
    mle = np.array(censored_mle())
    step = _censored_m_step(stats_of(mle, data))
    if np.max(np.abs(step - mle) / mle) > 1e-6:
        raise Wrong("the MLE is not a fixed point of the M-step on your statistics")
    return ("right: failures weigh by densities, censored units by survival functions and "
            "enter with c + 1/lam_k; the MLE (by direct maximisation) is a fixed point.")
