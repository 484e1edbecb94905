"""Hidden Markov models with Poisson emissions: Baum–Welch is EM.

The model (Zucchini, MacDonald & Langrock, *Hidden Markov Models for Time Series*, 2nd ed.,
CRC 2016): a Markov chain :math:`C_1, \\dots, C_T` on the states :math:`1, \\dots, m` with
initial distribution :math:`\\delta` and transition matrix :math:`\\Gamma`
(:math:`\\gamma_{ij} = P(C_{t+1} = j \\mid C_t = i)`, rows summing to 1), and counts
:math:`x_t \\mid C_t = j \\sim \\mathrm{Poisson}(\\lambda_j)`. The states are missing. With
them the complete-data log-likelihood is linear in the indicators
:math:`u_j(t) = [C_t = j]` and :math:`v_{ij}(t) = [C_{t-1} = i, C_t = j]`,

.. math:: \\log f(x, c) = \\sum_j u_j(1) \\log\\delta_j
          + \\sum_{i,j} \\sum_{t \\ge 2} v_{ij}(t) \\log\\gamma_{ij}
          + \\sum_j \\sum_t u_j(t)\\,(x_t\\log\\lambda_j - \\lambda_j - \\log x_t!),

so the E-step needs the posterior probabilities :math:`\\hat u_j(t) = P(C_t = j \\mid x)`
(*occupancies*, :math:`\\gamma` in Rabiner's notation) and the expected transition counts
:math:`n_{ij} = \\sum_{t\\ge2} P(C_{t-1} = i, C_t = j \\mid x)` (the sums of :math:`\\xi`), both
from the forward–backward recursions; the M-step is closed form,

.. math:: \\lambda_j = \\frac{\\sum_t \\hat u_j(t)\\, x_t}{\\sum_t \\hat u_j(t)}, \\qquad
          \\gamma_{ij} = \\frac{n_{ij}}{\\sum_k n_{ik}}, \\qquad \\delta_j = \\hat u_j(1)

(Baum–Welch). With :math:`\\delta` tied to the stationary distribution of :math:`\\Gamma`
(the book's default) the :math:`\\Gamma`-part of Q gains
:math:`\\sum_j \\hat u_j(1)\\log\\delta_j(\\Gamma)` and its maximiser is found numerically
(BFGS on the rows' logits with the analytic gradient); Q still separates into a
:math:`\\lambda`-part and a :math:`\\Gamma`-part, so this is still a full M-step.

**Forward–backward.** :func:`forward_backward` runs the scaled recursions (Rabiner 1989)
blockwise: the series is cut into :math:`B` blocks of length :math:`L`; every block's
transfer matrix :math:`\\prod_t \\Gamma\\,\\mathrm{diag}(p_t)` is built for all blocks at
once (one small matrix product per step, over the blocks), a scan over the blocks gives
each block's starting :math:`\\alpha` and final :math:`\\beta`, and the scaled recursions then
run inside all blocks together. Every vector and matrix is renormalised at every step, so
nothing underflows; the log-likelihood is the sum of the logs of the forward
normalisers. Each numpy call works on a whole slice of blocks, which brings an E-step at
:math:`T = 10^5` to the speed of hmmlearn's compiled one (``bench/bench_hmm.py``).

The parameter vector of :class:`PoissonHMM` holds only free parameters:
:math:`\\theta = (\\lambda_1, \\dots, \\lambda_m,` the off-diagonal
:math:`\\gamma_{ij}` row by row :math:`, \\delta_2, \\dots, \\delta_m)`, with
:math:`\\gamma_{ii} = 1 - \\sum_{j\\ne i}\\gamma_{ij}` and
:math:`\\delta_1 = 1 - \\sum_{j>1}\\delta_j` derived inside the steps (the last group only
when :math:`\\delta` is estimated freely), so that SEM's perturbations stay on the
constraint.
"""

from __future__ import annotations

import bisect
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize
from scipy.special import gammaln, logsumexp

from ..core.loop import EMResult, run_em

__all__ = [
    "FBResult",
    "HMMStats",
    "PoissonHMM",
    "check_counts",
    "check_transition_matrix",
    "forward_backward",
    "simulate",
    "stationary_distribution",
    "viterbi",
]

#: Rows of a transition matrix (and an initial distribution) must sum to 1 within this.
SUM_TOL = 1e-8


# ---- validation ----------------------------------------------------------------------------


def check_counts(x: Any, what: str = "x") -> np.ndarray:
    """``x`` as a 1-D int64 array of non-negative integer counts, or a clear error.

    Raises
    ------
    TypeError
        None, strings, booleans, complex values.
    ValueError
        Empty, not 1-D, non-finite, negative or non-integer values (``2.5``).
    """
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{what} must be a 1-D sequence of counts, got {x!r}")
    arr = np.asarray(x)
    if arr.dtype == bool:
        raise TypeError(f"{what} is boolean; expected integer counts")
    if np.iscomplexobj(arr):
        raise TypeError(f"{what} is complex; expected integer counts")
    try:
        val = np.asarray(arr, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not numeric: {x!r}") from exc
    if val.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one series), got shape {val.shape}")
    if val.size == 0:
        raise ValueError(f"{what} is empty: an HMM needs at least one observation")
    if not np.all(np.isfinite(val)):
        raise ValueError(
            f"{what} has non-finite values at positions {np.flatnonzero(~np.isfinite(val))[:5]}"
        )
    if np.any(val < 0):
        bad = np.flatnonzero(val < 0)
        raise ValueError(f"{what} has negative counts (first at position {bad[0]}: {val[bad[0]]})")
    if np.any(val != np.round(val)):
        bad = np.flatnonzero(val != np.round(val))
        raise ValueError(
            f"{what} has non-integer counts (first at position {bad[0]}: {val[bad[0]]}); "
            "Poisson emissions are counts 0, 1, 2, ..."
        )
    if np.any(val > 2**53):
        raise ValueError(f"{what} has counts above 2**53, which floats cannot represent exactly")
    return val.astype(np.int64)


def _check_m(m: Any) -> int:
    if isinstance(m, bool) or not isinstance(m, numbers.Integral):
        raise TypeError(f"m (the number of states) must be an integer, got {m!r}")
    if m < 1:
        raise ValueError(f"m (the number of states) must be at least 1, got {m}")
    return int(m)


def check_transition_matrix(gamma: Any, m: int | None = None, what: str = "Gamma") -> np.ndarray:
    """``gamma`` as an (m, m) float array whose rows are probability distributions.

    Raises
    ------
    ValueError
        Not square (or not m x m), non-finite, entries outside [0, 1], or a row whose sum
        differs from 1 by more than :data:`SUM_TOL` (the message names the row).
    """
    arr = np.asarray(gamma, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{what} must be a square matrix, got shape {arr.shape}")
    if m is not None and arr.shape != (m, m):
        raise ValueError(f"{what} must be {m} x {m} for {m} states, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} has non-finite entries")
    if np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{what} has entries outside [0, 1]: {arr}")
    sums = arr.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > SUM_TOL)
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"row {i} of {what} sums to {sums[i]!r}, not 1: each row is the distribution of "
            f"the next state given state {i}"
        )
    return arr


def _check_distribution(delta: Any, m: int, what: str = "delta") -> np.ndarray:
    arr = np.asarray(delta, dtype=float)
    if arr.shape != (m,):
        raise ValueError(f"{what} must have one probability per state ({m}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{what} must hold probabilities in [0, 1], got {arr}")
    if abs(arr.sum() - 1) > SUM_TOL:
        raise ValueError(f"{what} sums to {arr.sum()!r}, not 1")
    return arr


def stationary_distribution(gamma: Any) -> np.ndarray:
    """The stationary distribution :math:`\\delta = \\delta\\Gamma`, :math:`\\sum_j\\delta_j = 1`.

    Solved as :math:`\\delta(I - \\Gamma + U) = \\mathbf 1` with :math:`U` the matrix of ones
    (as the book's R function ``pois.HMM.pw2pn`` does).

    Raises
    ------
    ValueError
        ``gamma`` is not a transition matrix, or the chain has no unique stationary
        distribution (:math:`I - \\Gamma + U` singular: a reducible chain, e.g.
        :math:`\\Gamma = I`).
    """
    g = check_transition_matrix(gamma)
    m = g.shape[0]
    a = np.eye(m) - g + 1.0
    try:
        delta = np.linalg.solve(a.T, np.ones(m))
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "Gamma has no unique stationary distribution (the chain is reducible, e.g. a "
            "state that is never left); give delta explicitly"
        ) from exc
    if np.linalg.cond(a) > 1e12:
        raise ValueError(
            "Gamma has no unique stationary distribution (the chain is reducible or nearly so, "
            f"condition number {np.linalg.cond(a):.3g}); give delta explicitly"
        )
    return np.clip(delta, 0.0, 1.0) / np.clip(delta, 0.0, 1.0).sum()


# ---- forward–backward ----------------------------------------------------------------------


@dataclass
class FBResult:
    """What :func:`forward_backward` returns.

    Attributes
    ----------
    loglik : float
        :math:`\\log L = \\log P(x_1, \\dots, x_T)`.
    posteriors : ndarray, shape (T, m)
        :math:`P(C_t = j \\mid x)`, the occupancies :math:`\\hat u_j(t)` (Rabiner's
        :math:`\\gamma`).
    xi_sum : ndarray, shape (m, m)
        :math:`n_{ij} = \\sum_{t=2}^T P(C_{t-1} = i, C_t = j \\mid x)` (the summed :math:`\\xi_t`).
    """

    loglik: float
    posteriors: np.ndarray
    xi_sum: np.ndarray


def _block_length(n: int) -> int:
    """Block length L for n transitions (measured in ``bench/bench_hmm.py``)."""
    return max(1, int(round(BLOCK_FACTOR * np.sqrt(n))))


#: Block length L = BLOCK_FACTOR * sqrt(n): each step inside the blocks costs about 13
#: numpy calls on arrays of B columns, the scans over the blocks about 10 calls per
#: doubling on (B, m, m) stacks, log2(B) doublings.
BLOCK_FACTOR = 0.5


def _fb_scaled(
    p: np.ndarray,
    gamma: np.ndarray,
    delta: np.ndarray,
    posteriors: bool = True,
    block: int | None = None,
) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """Blockwise scaled forward–backward on state-major emission weights.

    ``p`` is (m, T), positive up to underflow, each column scaled by a positive constant
    (its log is added to the log-likelihood by the caller). Returns the log of the
    likelihood of the scaled weights, the posteriors (m, T) and the expected transition
    counts (m, m) (None, None with ``posteriors=False``: the forward pass only). ``block``
    overrides the block length (``bench/bench_hmm.py`` compares them; ``T - 1`` is the
    plain one-step-at-a-time recursion).
    """
    m, T = p.shape
    a0 = delta * p[:, 0]
    c0 = a0.sum()
    n = T - 1
    if not c0 > 0:
        raise FloatingPointError("zero likelihood at t = 1")
    a0 = a0 / c0
    if n == 0:
        gam = a0[:, None].copy() if posteriors else None
        return float(np.log(c0)), gam, np.zeros((m, m)) if posteriors else None
    L = _block_length(n) if block is None else max(1, min(int(block), n))
    B = -(-n // L)
    pad = B * L - n
    # emission weights of steps t = 1 .. T-1 (0-based), padded with ones: a padded step
    # multiplies by Gamma diag(1), so beta at T stays 1 (Gamma 1 = 1) and alpha before T is
    # untouched. ps[:, b, s] belongs to t = 1 + b L + s.
    pp = p[:, 1:] if pad == 0 else np.concatenate([p[:, 1:], np.ones((m, pad))], axis=1)
    ps = pp.reshape(m, B, L)
    gt = np.ascontiguousarray(gamma.T)
    g = np.ascontiguousarray(gamma)
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        if B > 1:
            # pass 1: transfer matrix of every block, stored column-first, mt[k, i, b] =
            # (prod_{t in block b} Gamma diag(p_t))[i, k], normalised to sum 1 each step
            mt = np.zeros((m, m, B))
            for k in range(m):
                mt[k, k] = 1.0
            for s in range(L):
                mt = (gt @ mt.reshape(m, m * B)).reshape(m, m, B)
                mt *= ps[:, None, :, s]
                mt /= mt.reshape(m * m, B).sum(axis=0)
            blocks = np.ascontiguousarray(mt.transpose(2, 1, 0))  # (B, i, k)
            # scans over the blocks by doubling (Hillis & Steele): after the level with
            # shift k, pre[b] = M_{b-2k+1} ... M_b (clipped at 0) and suf[b] = M_b ...
            # M_{b+2k-1}; every product renormalised to sum 1 (only directions matter)
            pre = blocks
            suf = blocks if posteriors else None
            k = 1
            while k < B:
                pre = np.concatenate([pre[:k], pre[:-k] @ pre[k:]])
                pre /= pre.sum(axis=(1, 2), keepdims=True)
                if posteriors:
                    suf = np.concatenate([suf[:-k] @ suf[k:], suf[-k:]])
                    suf /= suf.sum(axis=(1, 2), keepdims=True)
                k *= 2
            # block b starts from alpha_0 M_0 ... M_{b-1}; it ends at M_{b+1} ... M_{B-1} 1
            starts = np.empty((m, B))
            starts[:, 0] = a0
            v = a0 @ pre[:-1]  # (B-1, m)
            starts[:, 1:] = (v / v.sum(axis=1, keepdims=True)).T
            if posteriors:
                ends = np.ones((m, B))
                w = suf[1:].sum(axis=2)  # M_{b+1} ... M_{B-1} 1
                ends[:, :-1] = (w / w.sum(axis=1, keepdims=True)).T
        else:
            starts = a0[:, None]
            ends = np.ones((m, 1))
        # pass 2: scaled forward inside all blocks at once
        alpha = np.empty((m, B, L)) if posteriors else None
        c = np.empty((B, L))
        v = starts
        for s in range(L):
            v = (gt @ v) * ps[:, :, s]
            cs = v.sum(axis=0)
            v /= cs
            c[:, s] = cs
            if posteriors:
                alpha[:, :, s] = v
    cc = c.reshape(-1)[:n]
    if not np.all(cc > 0):
        raise FloatingPointError("zero likelihood")
    ll = float(np.log(c0) + np.log(cc).sum())
    if not posteriors:
        return ll, None, None
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        # pass 3: backward inside all blocks (each beta_t scaled to sum 1; the posteriors
        # are normalised per t, so any positive scale per t cancels)
        beta = np.empty((m, B, L))
        w = ends
        for s in range(L - 1, -1, -1):
            beta[:, :, s] = w
            w = g @ (w * ps[:, :, s])
            w /= w.sum(axis=0)
        b0 = w[:, 0]
    alpha_t = np.concatenate([a0[:, None], alpha.reshape(m, B * L)[:, :n]], axis=1)
    beta_t = np.concatenate([b0[:, None], beta.reshape(m, B * L)[:, :n]], axis=1)
    ab = alpha_t * beta_t
    nt = ab.sum(axis=0)
    gam = ab / nt
    # xi_t(i, j) = alpha_{t-1,i} gamma_ij p_tj beta_tj / (c_t n_t) in these scalings
    xi = g * (alpha_t[:, :-1] @ (p[:, 1:] * (beta_t[:, 1:] / (cc * nt[1:]))).T)
    return ll, gam, xi


def _fb_log(
    log_b: np.ndarray, gamma: np.ndarray, delta: np.ndarray, posteriors: bool = True
) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """The same recursions in log space, one step at a time (``log_b`` is (m, T)).

    The fallback when a scaled pass meets a zero normaliser: an emission weight that
    underflowed relative to the best state's (a ratio below :math:`e^{-745}`) while the
    transitions forbid every other route. Slow (a Python loop over T) but exact.
    """
    m, T = log_b.shape
    with np.errstate(divide="ignore"):
        lg, ld = np.log(gamma), np.log(delta)
    la = np.empty((m, T))
    la[:, 0] = ld + log_b[:, 0]
    for t in range(1, T):
        la[:, t] = logsumexp(la[:, t - 1][:, None] + lg, axis=0) + log_b[:, t]
    ll = float(logsumexp(la[:, -1]))
    if not posteriors:
        return ll, None, None
    if not np.isfinite(ll):
        raise FloatingPointError("zero likelihood")
    lbeta = np.zeros((m, T))
    for t in range(T - 2, -1, -1):
        lbeta[:, t] = logsumexp(lg + (log_b[:, t + 1] + lbeta[:, t + 1])[None, :], axis=1)
    gam = np.exp(la + lbeta - ll)
    xi = np.zeros((m, m))
    if T > 1:
        lxi = la[:, :-1].T[:, :, None] + lg[None] + (log_b[:, 1:] + lbeta[:, 1:]).T[:, None, :]
        xi = np.exp(logsumexp(lxi - ll, axis=0))
    return ll, gam, xi


def _scaled_emissions(log_b: np.ndarray) -> tuple[np.ndarray, float]:
    """(m, T) weights exp(log_b - max_j log_b) and the sum of the maxima."""
    lmax = log_b.max(axis=0)
    if not np.all(np.isfinite(lmax)):
        raise ValueError("an observation has probability 0 (or NaN) under every state")
    return np.exp(log_b - lmax), float(lmax.sum())


def forward_backward(log_b: Any, gamma: Any, delta: Any) -> FBResult:
    """Scaled forward–backward: log-likelihood, state posteriors and expected transitions.

    Parameters
    ----------
    log_b : array, shape (T, m)
        :math:`\\log p_j(x_t)`, the log emission probability (or density) of observation
        :math:`t` in state :math:`j`.
    gamma : array, shape (m, m)
        Transition matrix, rows summing to 1.
    delta : array, shape (m,)
        Distribution of the first state.

    Returns
    -------
    FBResult
        ``loglik`` :math:`=\\log\\sum_{c}\\delta_{c_1}p_{c_1}(x_1)\\prod_{t\\ge2}
        \\gamma_{c_{t-1}c_t}p_{c_t}(x_t)`, ``posteriors`` (T, m) and ``xi_sum`` (m, m).

    Notes
    -----
    With :math:`\\tilde p_{tj} = p_j(x_t)/\\max_k p_k(x_t)` the forward recursion
    :math:`\\alpha_t = \\alpha_{t-1}\\Gamma\\,\\mathrm{diag}(\\tilde p_t)` is run normalised,
    :math:`\\hat\\alpha_t = \\alpha_t / c_t`, so :math:`\\log L = \\sum_t \\log c_t +
    \\sum_t \\max_k\\log p_k(x_t)`; the backward one likewise. See the module notes for
    the blockwise evaluation.
    """
    lb = np.asarray(log_b, dtype=float)
    if lb.ndim != 2:
        raise ValueError(f"log_b must be (T, m), got shape {lb.shape}")
    T, m = lb.shape
    if T == 0:
        raise ValueError("log_b is empty: no observations")
    g = check_transition_matrix(gamma, m)
    d = _check_distribution(delta, m)
    lbt = np.ascontiguousarray(lb.T)
    p, lsum = _scaled_emissions(lbt)
    try:
        ll, gam, xi = _fb_scaled(p, g, d)
        ll += lsum
    except FloatingPointError:
        try:
            ll, gam, xi = _fb_log(lbt, g, d)
        except FloatingPointError as exc:
            raise ValueError(
                "the observations have probability 0 under these parameters (a transition "
                "or an emission the data need has probability 0)"
            ) from exc
    return FBResult(ll, np.ascontiguousarray(gam.T), xi)


def viterbi(log_b: Any, gamma: Any, delta: Any) -> np.ndarray:
    """Most probable state sequence :math:`\\arg\\max_c P(c \\mid x)` (Viterbi, in log space).

    :math:`\\nu_1 = \\log\\delta + \\log p(x_1)`,
    :math:`\\nu_t(j) = \\max_i [\\nu_{t-1}(i) + \\log\\gamma_{ij}] + \\log p_j(x_t)`, then the
    argmaxes traced back from :math:`\\arg\\max_j \\nu_T(j)`. Ties go to the lower state.

    Returns
    -------
    ndarray of int, shape (T,)
        States numbered 0 .. m-1.
    """
    lb = np.asarray(log_b, dtype=float)
    if lb.ndim != 2 or lb.shape[0] == 0:
        raise ValueError(f"log_b must be a non-empty (T, m) array, got shape {lb.shape}")
    T, m = lb.shape
    g = check_transition_matrix(gamma, m)
    d = _check_distribution(delta, m)
    with np.errstate(divide="ignore"):
        lg, ld = np.log(g), np.log(d)
    back = np.empty((T, m), dtype=np.int64)
    nu = ld + lb[0]
    for t in range(1, T):
        scores = nu[:, None] + lg
        back[t] = np.argmax(scores, axis=0)
        nu = scores[back[t], np.arange(m)] + lb[t]
    states = np.empty(T, dtype=np.int64)
    states[-1] = int(np.argmax(nu))
    for t in range(T - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return states


def simulate(
    lambdas: Any, gamma: Any, delta: Any, T: int, seed: int | np.random.Generator = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate a Poisson HMM: ``(states, counts)``, each of length ``T`` (states 0 .. m-1)."""
    lam = np.asarray(lambdas, dtype=float)
    m = lam.size
    if lam.ndim != 1 or not np.all(np.isfinite(lam) & (lam > 0)):
        raise ValueError(f"lambdas must be positive and finite, got {lambdas!r}")
    g = check_transition_matrix(gamma, m)
    d = _check_distribution(delta, m)
    if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    u = rng.random(T)
    cum = np.cumsum(g, axis=1)
    cum[:, -1] = 1.0
    rows = [list(r) for r in cum]
    states = np.empty(T, dtype=np.int64)
    s = int(np.searchsorted(np.cumsum(d), u[0], side="right"))
    s = min(s, m - 1)
    states[0] = s
    for t in range(1, T):
        s = min(bisect.bisect_right(rows[s], u[t]), m - 1)
        states[t] = s
    return states, rng.poisson(lam[states])


# ---- the model -----------------------------------------------------------------------------


@dataclass
class HMMStats:
    """The E-step's expected sufficient statistics at ``theta``.

    Attributes
    ----------
    loglik : float
        :math:`\\ell(\\theta)`, a by-product of the forward pass.
    start : ndarray, shape (m,)
        :math:`\\hat u_j(1) = P(C_1 = j \\mid x)`.
    trans : ndarray, shape (m, m)
        :math:`n_{ij}`, the expected numbers of transitions.
    occupancy : ndarray, shape (m,)
        :math:`\\sum_t \\hat u_j(t)`, the expected time spent in each state.
    weighted_x : ndarray, shape (m,)
        :math:`\\sum_t \\hat u_j(t)\\,x_t`.
    theta : ndarray
        The parameters at which they were computed (the M-step keeps a state's values when
        the data give it no weight).
    """

    loglik: float
    start: np.ndarray
    trans: np.ndarray
    occupancy: np.ndarray
    weighted_x: np.ndarray
    theta: np.ndarray


DELTA_MODES = ("free", "stationary")


@dataclass(frozen=True, eq=False)
class PoissonHMM:
    """EM (Baum–Welch) for an m-state Poisson HMM of one series of counts ``x``.

    Parameters
    ----------
    x : 1-D sequence of non-negative integers
        The counts :math:`x_1, \\dots, x_T`.
    m : int >= 1
        Number of states.
    delta : {"free", "stationary"} or array of shape (m,)
        The initial distribution: estimated freely (Baum–Welch; its MLE is a vertex, one
        state with probability 1), the stationary distribution of :math:`\\Gamma` (the
        book's choice; a numerical M-step for :math:`\\Gamma`), or a fixed, known vector.

    The parameter vector ``theta`` is :meth:`pack` ed as described in the module notes;
    :attr:`names` labels it.
    """

    x: Any
    m: int
    delta: Any = "free"
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        x = check_counts(self.x)
        m = _check_m(self.m)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "m", m)
        if isinstance(self.delta, str):
            if self.delta not in DELTA_MODES:
                raise ValueError(
                    "delta must be 'free', 'stationary' or a probability vector, "
                    f"got {self.delta!r}"
                )
        else:
            object.__setattr__(self, "delta", _check_distribution(self.delta, m))
        # the counts take few distinct values: emission weights are gathered from a table
        values, inverse = np.unique(x, return_inverse=True)
        object.__setattr__(self, "_values", values.astype(float))
        object.__setattr__(self, "_inverse", inverse.reshape(-1))
        object.__setattr__(self, "_log_fact", float(gammaln(x + 1.0).sum()))

    # -- parameters ----------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``"free"``, ``"stationary"`` or ``"fixed"`` (how :math:`\\delta` is handled)."""
        return self.delta if isinstance(self.delta, str) else "fixed"

    @property
    def T(self) -> int:
        return int(self.x.size)

    @property
    def d(self) -> int:
        """Number of free parameters in ``theta``."""
        return self.m + self.m * (self.m - 1) + (self.m - 1 if self.mode == "free" else 0)

    @property
    def n_params(self) -> int:
        """Parameters counted by AIC/BIC: :math:`m^2 + (m-1)` with a free :math:`\\delta`,
        :math:`m^2` with a stationary or fixed one (the book's :math:`k`)."""
        return self.d

    @property
    def names(self) -> list[str]:
        sub = "₀₁₂₃₄₅₆₇₈₉"

        def s(k: int) -> str:
            return "".join(sub[int(c)] for c in str(k))

        names = [f"λ{s(j + 1)}" for j in range(self.m)]
        names += [f"γ{s(i + 1)}{s(j + 1)}" for i in range(self.m) for j in range(self.m) if i != j]
        if self.mode == "free":
            names += [f"δ{s(j + 1)}" for j in range(1, self.m)]
        return names

    def pack(self, lambdas: Any, gamma: Any, delta: Any = None) -> np.ndarray:
        """``theta`` from :math:`\\lambda`, :math:`\\Gamma` and (free mode) :math:`\\delta`.

        Raises
        ------
        ValueError
            Non-positive rates, a transition matrix whose rows do not sum to 1, a
            :math:`\\delta` that is not a distribution (or missing in free mode).
        """
        lam = np.asarray(lambdas, dtype=float)
        if lam.shape != (self.m,) or not np.all(np.isfinite(lam) & (lam > 0)):
            raise ValueError(f"lambdas must be {self.m} positive finite rates, got {lambdas!r}")
        g = check_transition_matrix(gamma, self.m)
        off = g[~np.eye(self.m, dtype=bool)]
        parts = [lam, off]
        if self.mode == "free":
            if delta is None:
                raise ValueError("delta is estimated (delta='free'): give a starting delta")
            parts.append(_check_distribution(delta, self.m)[1:])
        return np.concatenate(parts)

    def unpack(self, theta: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lambdas, Gamma, delta)`` from ``theta`` (``delta`` derived in the stationary
        and fixed modes)."""
        th = np.asarray(theta, dtype=float)
        if th.shape != (self.d,):
            raise ValueError(
                f"theta must have {self.d} entries ({self.names}), got shape {th.shape}"
            )
        m = self.m
        lam = th[:m]
        g = np.zeros((m, m))
        g[~np.eye(m, dtype=bool)] = th[m : m * m]
        g[np.diag_indices(m)] = np.clip(1.0 - g.sum(axis=1), 0.0, 1.0)  # round-off: -1e-16
        if self.mode == "free":
            rest = np.clip(th[m * m :], 0.0, 1.0)
            delta = np.concatenate([[max(1.0 - rest.sum(), 0.0)], rest])
            delta /= delta.sum()
        elif self.mode == "stationary":
            delta = stationary_distribution(np.clip(g, 0.0, 1.0))
        else:
            delta = self.delta
        return lam, g, delta

    def valid(self, theta: Any) -> bool:
        """Inside the parameter space: rates > 0, every :math:`\\gamma_{ij}` and
        :math:`\\delta_j` in [0, 1] (boundary values allowed: a fitted :math:`\\gamma_{31}`
        can be 0), up to :data:`SUM_TOL` for the derived :math:`\\gamma_{ii}` and
        :math:`\\delta_1` (a row of probabilities that sums to 1 in exact arithmetic can leave
        :math:`1 - \\sum_{j\\ne i}\\gamma_{ij}` at :math:`-10^{-16}`)."""
        th = np.asarray(theta, dtype=float)
        if th.shape != (self.d,) or not np.all(np.isfinite(th)):
            return False
        m = self.m
        lam = th[:m]
        g = np.zeros((m, m))
        g[~np.eye(m, dtype=bool)] = th[m : m * m]
        g[np.diag_indices(m)] = 1.0 - g.sum(axis=1)
        ok = bool(np.all(lam > 0) and np.all(g >= -SUM_TOL) and np.all(g <= 1 + SUM_TOL))
        if self.mode == "free":
            dl = th[m * m :]
            ok = ok and bool(np.all(dl >= -SUM_TOL) and dl.sum() <= 1 + SUM_TOL)
        if ok and self.mode == "stationary":
            try:
                stationary_distribution(g)
            except ValueError:
                return False
        return ok

    # -- E-step ----------------------------------------------------------------------------

    def log_emissions(self, lambdas: Any) -> np.ndarray:
        """:math:`\\log p_j(x_t) = x_t\\log\\lambda_j - \\lambda_j - \\log x_t!`, shape (T, m)."""
        lam = np.asarray(lambdas, dtype=float)
        return (self.x[:, None] * np.log(lam) - lam) - gammaln(self.x + 1.0)[:, None]

    def _weights(self, lam: np.ndarray) -> tuple[np.ndarray, float]:
        """(m, T) emission weights scaled to max 1 per t, and the log-likelihood offset
        (the sum of the scale logs minus the log x! terms), by a table over the distinct
        counts."""
        with np.errstate(divide="ignore"):
            table = self._values[None, :] * np.log(lam)[:, None] - lam[:, None]
        tmax = table.max(axis=0)
        w = np.exp(table - tmax)
        return np.take(w, self._inverse, axis=1), float(
            np.take(tmax, self._inverse).sum()
        ) - self._log_fact

    def _run(self, theta: Any, posteriors: bool) -> tuple[float, Any, Any]:
        th = np.asarray(theta, dtype=float)
        key = (th.tobytes(), posteriors)
        hit = self._cache.get(key) or (
            self._cache.get((th.tobytes(), True)) if not posteriors else None
        )
        if hit is not None:
            return hit
        lam, g, delta = self.unpack(th)
        if not np.all(lam > 0):
            raise ValueError(f"the rates must be positive, got lambdas = {lam}")
        g = check_transition_matrix(np.clip(g, 0.0, 1.0), self.m)
        p, offset = self._weights(lam)
        try:
            ll, gam, xi = _fb_scaled(p, g, delta, posteriors=posteriors)
            ll += offset
        except FloatingPointError:  # an emission weight underflowed: redo it in log space
            try:
                ll, gam, xi = _fb_log(self.log_emissions(lam).T, g, delta, posteriors)
            except FloatingPointError:
                raise ValueError(
                    f"the counts have probability 0 under theta = {th} (a transition they need "
                    "has probability 0)"
                ) from None
        out = (ll, gam, xi)
        self._cache.clear()
        self._cache[key] = out
        return out

    def e_step(self, theta: Any) -> HMMStats:
        """Forward–backward at ``theta``: the expected sufficient statistics."""
        ll, gam, xi = self._run(theta, True)
        return HMMStats(
            loglik=ll,
            start=gam[:, 0].copy(),
            trans=xi,
            occupancy=gam.sum(axis=1),
            weighted_x=gam @ self.x.astype(float),
            theta=np.array(theta, dtype=float),
        )

    def loglik(self, theta: Any) -> float:
        """Observed-data log-likelihood :math:`\\ell(\\theta)` (forward pass, with the
        :math:`-\\log x_t!` terms); :math:`-\\infty` where the data are impossible."""
        return self._run(theta, False)[0]

    def loglik_with_posteriors(self, theta: Any) -> float:
        """:meth:`loglik` by the full forward–backward pass, kept for the next
        :meth:`e_step` at the same ``theta`` (what :func:`~em_helpers.run_em` calls next):
        one pass per EM iteration instead of a forward pass and a full one."""
        try:
            return self._run(theta, True)[0]
        except ValueError:
            return -np.inf

    def posteriors(self, theta: Any) -> np.ndarray:
        """:math:`P(C_t = j \\mid x)`, shape (T, m)."""
        return self._run(theta, True)[1].T.copy()

    def viterbi(self, theta: Any) -> np.ndarray:
        """The most probable state path at ``theta`` (states 0 .. m-1)."""
        lam, g, delta = self.unpack(theta)
        return viterbi(self.log_emissions(lam), np.clip(g, 0, 1), delta)

    # -- M-step ----------------------------------------------------------------------------

    def m_step(self, stats: HMMStats) -> np.ndarray:
        """Maximiser of :math:`Q(\\cdot \\mid \\theta^{(t)})` given the E-step's statistics.

        Closed form for :math:`\\lambda`, for :math:`\\Gamma` (free or fixed :math:`\\delta`)
        and for a free :math:`\\delta`; numerical for :math:`\\Gamma` with the stationary
        :math:`\\delta` (see :meth:`gamma_step_stationary`). A state the data give no weight
        (:math:`\\sum_t \\hat u_j(t) = 0`, or no expected transition out of it) does not
        enter Q, so every value maximises it: it keeps its current rate or row.
        """
        lam0, g0, _ = self.unpack(stats.theta)
        occ = stats.occupancy
        tiny = np.finfo(float).tiny
        # a state whose weighted counts are all 0 has its maximiser at lambda = 0, outside
        # the parameter space: a tiny positive rate (Q still rises towards it)
        floor = 1e-12 * max(float(self.x.mean()), 1.0)
        mean = stats.weighted_x / np.where(occ > tiny, occ, 1.0)
        lam = np.where(occ > tiny, np.maximum(mean, floor), lam0)
        out_n = stats.trans.sum(axis=1)
        safe = np.where(out_n > tiny, out_n, 1.0)
        g = np.where((out_n > tiny)[:, None], stats.trans / safe[:, None], g0)
        if self.mode == "stationary":
            g = self.gamma_step_stationary(stats.trans, stats.start, g)
        parts = [lam, g[~np.eye(self.m, dtype=bool)]]
        if self.mode == "free":
            parts.append(stats.start[1:] / stats.start.sum())
        return np.concatenate(parts)

    def gamma_step_stationary(
        self, trans: np.ndarray, start: np.ndarray, gamma0: np.ndarray, gtol: float = 1e-10
    ) -> np.ndarray:
        """:math:`\\arg\\max_\\Gamma \\sum_{ij} n_{ij}\\log\\gamma_{ij} + \\sum_j \\hat u_j(1)
        \\log\\delta_j(\\Gamma)` with :math:`\\delta(\\Gamma)` stationary.

        BFGS on the logits :math:`\\tau_{ij} = \\log(\\gamma_{ij}/\\gamma_{ii})` (:math:`j\\ne i`)
        with the analytic gradient: :math:`\\partial\\delta = \\delta\\,\\partial\\Gamma\\,
        A^{-1}` with :math:`A = I - \\Gamma + U`, so
        :math:`\\partial/\\partial\\gamma_{kl}\\sum_j w_j\\log\\delta_j = \\delta_k
        (A^{-1} r)_l`, :math:`r_j = w_j/\\delta_j`; through the softmax of row :math:`k`,
        :math:`\\partial/\\partial\\tau_{ki} = \\gamma_{ki}(D_{ki} - \\sum_l\\gamma_{kl}D_{kl})`.
        Started at ``gamma0`` (the free-:math:`\\delta` maximiser is close).
        """
        m = self.m
        if m == 1:
            return np.ones((1, 1))
        off = ~np.eye(m, dtype=bool)
        eps = 1e-300
        g0 = np.clip(gamma0, 1e-12, 1.0)
        tau0 = np.log(g0 / np.diag(g0)[:, None])[off]
        n_row = trans.sum(axis=1)

        def unpack_tau(tau: np.ndarray) -> np.ndarray:
            z = np.zeros((m, m))
            z[off] = tau
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)

        def negq(tau: np.ndarray) -> tuple[float, np.ndarray]:
            g = unpack_tau(tau)
            a = np.eye(m) - g + 1.0
            delta = np.linalg.solve(a.T, np.ones(m))
            delta = np.maximum(delta, eps)
            with np.errstate(divide="ignore"):
                lg = np.log(np.maximum(g, eps))
            val = float(np.sum(trans * lg) + np.sum(start * np.log(delta)))
            r = start / delta
            dmat = delta[:, None] * np.linalg.solve(a, r)[None, :]  # D_kl
            grad = (trans - n_row[:, None] * g) + g * (
                dmat - np.sum(g * dmat, axis=1, keepdims=True)
            )
            return -val, -grad[off]

        res = optimize.minimize(
            negq, tau0, jac=True, method="BFGS", options={"gtol": gtol, "maxiter": 500}
        )
        return unpack_tau(res.x)

    def Q(self, theta: Any, stats: HMMStats) -> float:
        """:math:`Q(\\theta \\mid \\theta^{(t)}) = \\sum_j \\hat u_j(1)\\log\\delta_j +
        \\sum_{ij} n_{ij}\\log\\gamma_{ij} + \\sum_j (\\sum_t\\hat u_j(t)x_t\\log\\lambda_j -
        \\lambda_j\\sum_t\\hat u_j(t)) - \\sum_t\\log x_t!` with the statistics of
        :math:`\\theta^{(t)}`."""
        lam, g, delta = self.unpack(theta)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_delta = np.where(stats.start > 0, stats.start * np.log(delta), 0.0).sum()
            t_gamma = np.where(stats.trans > 0, stats.trans * np.log(g), 0.0).sum()
        t_lam = float(stats.weighted_x @ np.log(lam) - stats.occupancy @ lam)
        return float(t_delta + t_gamma + t_lam - self._log_fact)

    # -- information -----------------------------------------------------------------------

    def complete_info(self, theta: Any) -> np.ndarray:
        """Expected complete-data information :math:`I_{oc}(\\theta)` given the data.

        For a fixed :math:`\\delta` (block diagonal):
        :math:`\\sum_t\\hat u_j(t)x_t/\\lambda_j^2` for each rate, and for row :math:`i` of
        :math:`\\Gamma` in its free entries :math:`\\mathrm{diag}(n_{ij}/\\gamma_{ij}^2) +
        (n_{ii}/\\gamma_{ii}^2)\\mathbf 1\\mathbf 1^\\top`
        (the diagonal entry :math:`\\gamma_{ii} = 1 - \\sum_{j\\ne i}\\gamma_{ij}` depends on
        every free one).

        Raises
        ------
        ValueError
            With a free or stationary :math:`\\delta`: the free :math:`\\delta`'s MLE is a
            vertex of the simplex (its information is infinite there), and the stationary
            one ties :math:`\\delta` to :math:`\\Gamma`; condition on the first state instead
            (``delta=`` the fitted vertex).
        """
        if self.mode != "fixed":
            raise ValueError(
                "complete_info is for a fixed delta: the free delta's MLE is a vertex of the "
                "simplex (a boundary point), the stationary one is not a free parameter; "
                "refit with delta=<the fitted vertex> to condition on the first state"
            )
        st = self.e_step(theta)
        lam, g, _ = self.unpack(theta)
        m = self.m
        blocks = [np.diag(st.weighted_x / lam**2)]
        for i in range(m):
            js = [j for j in range(m) if j != i]
            blk = np.diag(st.trans[i, js] / g[i, js] ** 2) + st.trans[i, i] / g[i, i] ** 2
            blocks.append(np.atleast_2d(blk))
        size = sum(b.shape[0] for b in blocks)
        out = np.zeros((size, size))
        k = 0
        for b in blocks:
            out[k : k + b.shape[0], k : k + b.shape[0]] = b
            k += b.shape[0]
        return out

    # -- fitting helpers -------------------------------------------------------------------

    def fit(self, theta0: Any, **kwargs: Any) -> EMResult:
        """:func:`~em_helpers.run_em` with this model's steps, ``loglik``, ``valid``,
        :attr:`names` and ``scale`` (1 for the probabilities: they may converge to 0)."""
        scale = np.concatenate([np.zeros(self.m), np.ones(self.d - self.m)])
        opts = {
            "loglik": self.loglik_with_posteriors,
            "names": self.names,
            "scale": scale,
            "valid": self.valid,
        }
        opts.update(kwargs)
        return run_em(self.e_step, self.m_step, theta0, **opts)

    def random_start(self, rng: np.random.Generator, concentration: float = 5.0) -> np.ndarray:
        """A random starting ``theta``: rates drawn uniformly between the smallest and the
        largest count (unsorted, so labels come out in any order), rows of :math:`\\Gamma`
        from a Dirichlet weighted towards staying (``concentration`` on the diagonal, 1 off
        it), and (free mode) a uniform Dirichlet :math:`\\delta`."""
        lo, hi = float(self.x.min()), float(self.x.max())
        lam = rng.uniform(max(lo, 0.5), max(hi, lo + 1.0), size=self.m)
        alpha = np.ones((self.m, self.m)) + (concentration - 1) * np.eye(self.m)
        g = np.array([rng.dirichlet(a) for a in alpha])
        delta = rng.dirichlet(np.ones(self.m)) if self.mode == "free" else None
        return self.pack(lam, g, delta)

    def information_criteria(self, loglik: float) -> tuple[float, float]:
        """``(AIC, BIC)`` :math:`= (-2\\ell + 2k,\\ -2\\ell + k\\log T)` with :math:`k` =
        :attr:`n_params`."""
        k = self.n_params
        return -2 * loglik + 2 * k, -2 * loglik + k * np.log(self.T)

    def sort_states(self, theta: Any) -> np.ndarray:
        """``theta`` with the states relabelled by increasing rate (label switching)."""
        lam, g, delta = self.unpack(theta)
        order = np.argsort(lam, kind="stable")
        g2 = g[np.ix_(order, order)]
        return self.pack(lam[order], g2, delta[order] if self.mode == "free" else None)
