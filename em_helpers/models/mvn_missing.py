"""The multivariate normal with values missing in any pattern, and Gaussian mixtures with
incomplete features: EM that marginalises each row's missing coordinates.

**The model.** Rows :math:`x_i \\sim N_p(\\mu, \\Sigma)`, i.i.d.; in row :math:`i` the
coordinates :math:`o = o_i` are observed and :math:`m = m_i` are missing (``NaN``), in any
pattern, missing at random. The observed-data log-likelihood sums the marginal densities of
the observed parts,

.. math:: \\ell(\\mu, \\Sigma) = \\sum_i \\log N(x_{i,o}; \\mu_o, \\Sigma_{oo}),

computed once per missingness pattern (all rows that miss the same coordinates share
:math:`\\Sigma_{oo}` and its Cholesky factor).

**E-step.** The complete-data sufficient statistics are :math:`\\sum_i x_i` and
:math:`\\sum_i x_i x_i^\\top`; their conditional expectations need, per pattern, the
regression of the missing on the observed coordinates,

.. math:: \\hat x_{i,m} = \\mu_m + B(x_{i,o} - \\mu_o),\\quad B = \\Sigma_{mo}\\Sigma_{oo}^{-1},
          \\qquad C = \\Sigma_{mm} - \\Sigma_{mo}\\Sigma_{oo}^{-1}\\Sigma_{om},

:math:`E[x_i] = \\hat x_i` and :math:`E[x_i x_i^\\top] = \\hat x_i \\hat x_i^\\top + \\tilde C_i`
(:math:`\\tilde C_i`: :math:`C` in the missing rows and columns, zero elsewhere). Leaving
:math:`\\tilde C_i` out ("regression imputation") understates :math:`\\Sigma` by
:math:`\\frac1N\\sum_i \\tilde C_i`.

**M-step.** The complete-data MLE of the expected statistics, taken about the current mean
:math:`c = \\mu^{(t)}`: :math:`\\mu = c + s/N`,
:math:`\\Sigma = S/N - (s/N)(s/N)^\\top` with :math:`s = \\sum_i(\\hat x_i - c)` and
:math:`S = \\sum_i [(\\hat x_i - c)(\\hat x_i - c)^\\top + \\tilde C_i]`.

Two ways to get :math:`B` and :math:`C` per pattern are implemented (``method``):
``"cholesky"`` factors :math:`\\Sigma_{oo} = LL^\\top` and solves; ``"sweep"`` applies the
sweep operator (:func:`sweep`) to the augmented matrix
:math:`\\begin{pmatrix}-1 & \\mu^\\top\\\\ \\mu & \\Sigma\\end{pmatrix}` on the observed
coordinates, which leaves the intercepts, :math:`B^\\top` and :math:`C` in its blocks.

Also here: :class:`MVNMissing` (the steps shaped for :func:`em_helpers.run_em` and SEM,
with the complete-data information), :func:`fit_batch` (EM on many data sets of one size
at once, vectorised), :func:`monotone_mle` (the closed-form factored-likelihood MLE of a
monotone pattern), :func:`draw_missing` and :func:`rubin` (multiple imputation), and
:class:`MissingGMM` (K-component mixtures with NaN in X, reusing
:mod:`em_helpers.models.gmm`'s parameters, statistics and M-step).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as _stats

from ..core.loop import EMResult, run_em
from . import gmm as _gmm

__all__ = [
    "METHODS",
    "BatchResult",
    "MVNMissing",
    "MVNStats",
    "MissingGMM",
    "Pattern",
    "RubinResult",
    "check_data",
    "complete_info",
    "cond_moments",
    "draw_missing",
    "e_step",
    "fit_batch",
    "impute",
    "loglik",
    "m_step",
    "mixture_impute",
    "mixture_init",
    "mixture_loglik",
    "mixture_responsibilities",
    "mixture_stats",
    "monotone_mle",
    "pack",
    "param_names",
    "patterns",
    "reverse_sweep",
    "rubin",
    "score",
    "sweep",
    "unpack",
]

_LOG_2PI = float(np.log(2 * np.pi))
METHODS = ("cholesky", "sweep")
_EMPTY = [np.zeros((k, 0)) for k in range(64)]


# ---- input ---------------------------------------------------------------------------------


def check_data(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as an (N, p) float array with ``NaN`` for missing values, or an error.

    Raises
    ------
    TypeError
        ``X`` is None, a string, complex, boolean or not numeric.
    ValueError
        ``X`` is not 2-D (a 1-D array is taken as one column) or empty; it holds an
        infinite value; a column is never observed (its mean and variance are not
        identified); a row has no observed value. Every message names the argument and
        the offending rows or columns.
    """
    arr = np.array(_gmm.real_matrix(X, name, missing=True), order="C")
    inf = np.isinf(arr)
    if inf.any():
        i, j = np.argwhere(inf)[0]
        raise ValueError(
            f"{name} contains {int(inf.sum())} infinite value(s) (first at row {i}, column "
            f"{j}); mark a missing value with NaN, not inf"
        )
    miss = np.isnan(arr)
    never = np.flatnonzero(miss.all(axis=0))
    if never.size:
        raise ValueError(
            f"column(s) {never.tolist()} of {name} are never observed (all NaN): their mean "
            "and variance are not identified; drop them"
        )
    empty = np.flatnonzero(miss.all(axis=1))
    if empty.size:
        shown = empty[:10].tolist() + (["..."] if empty.size > 10 else [])
        raise ValueError(
            f"{empty.size} row(s) of {name} have no observed value (rows {shown}): drop them "
            "(under MAR a row with nothing observed carries no information about the "
            "parameters)"
        )
    return arr


@dataclass(frozen=True, eq=False)
class Pattern:
    """The rows of ``X`` that miss the same coordinates.

    Attributes
    ----------
    observed, missing : ndarray of int
        Column indices :math:`o` and :math:`m`.
    rows : ndarray of int
        Row indices of ``X`` with this pattern.
    Xo : ndarray, shape (len(rows), len(observed))
        Their observed values.
    """

    observed: np.ndarray
    missing: np.ndarray
    rows: np.ndarray
    Xo: np.ndarray

    @property
    def n(self) -> int:
        return self.rows.size

    @functools.cached_property
    def ix(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Index grids ``"oo"``, ``"om"``, ``"mo"``, ``"mm"`` for the blocks of a (p, p)
        matrix (computed once per pattern)."""
        o, m = self.observed, self.missing
        return {"oo": np.ix_(o, o), "om": np.ix_(o, m), "mo": np.ix_(m, o), "mm": np.ix_(m, m)}


def _unique_masks(miss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a boolean (n, p) array and each row's index among them (an
    integer code per row when p <= 62: sorting integers is much faster than rows)."""
    p = miss.shape[1]
    if p <= 62:
        codes = miss.astype(np.int64) @ (np.int64(1) << np.arange(p, dtype=np.int64))
        uniq, inverse = np.unique(codes, return_inverse=True)
        masks = ((uniq[:, None] >> np.arange(p, dtype=np.int64)) & 1).astype(bool)
        return masks, inverse.reshape(-1)
    masks, inverse = np.unique(miss, axis=0, return_inverse=True)
    return masks, inverse.reshape(-1)


def patterns(X: np.ndarray) -> list[Pattern]:
    """Group the rows of a checked ``X`` (:func:`check_data`) by missingness pattern,
    most frequent pattern first (ties: fewest missing first)."""
    miss = np.isnan(X)
    masks, inverse = _unique_masks(miss)
    counts = np.bincount(inverse, minlength=len(masks))
    order = sorted(range(len(masks)), key=lambda k: (-counts[k], int(masks[k].sum())))
    out = []
    for k in order:
        rows = np.flatnonzero(inverse == k)
        o, m = np.flatnonzero(~masks[k]), np.flatnonzero(masks[k])
        out.append(Pattern(o, m, rows, np.ascontiguousarray(X[np.ix_(rows, o)])))
    return out


# ---- parameters ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _tril(p: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.tril_indices(p)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def pack(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """:math:`\\theta = (\\mu_1, \\dots, \\mu_p, \\sigma_{11}, \\sigma_{21}, \\sigma_{22},
    \\sigma_{31}, \\dots)`: the mean, then the lower triangle of :math:`\\Sigma` by rows."""
    mu = np.asarray(mu, dtype=float).reshape(-1)
    sigma = np.asarray(sigma, dtype=float)
    p = mu.size
    if sigma.shape != (p, p):
        raise ValueError(f"sigma must have shape ({p}, {p}), got {sigma.shape}")
    return np.concatenate([mu, sigma[_tril(p)]])


def unpack(theta: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack`: ``(mu, sigma)`` with ``sigma`` symmetric."""
    theta = np.asarray(theta, dtype=float)
    d = p + p * (p + 1) // 2
    if theta.shape != (d,):
        raise ValueError(f"theta must have {d} entries for p = {p}, got shape {theta.shape}")
    sigma = np.zeros((p, p))
    sigma[_tril(p)] = theta[p:]
    sigma = sigma + np.tril(sigma, -1).T
    return theta[:p].copy(), sigma


def param_names(columns: Sequence[str] | int) -> list[str]:
    """Labels of :func:`pack`'s entries: ``μ[a]``, then ``σ[a,a]``, ``σ[b,a]``, ...
    (``columns``: the variables' names, or their number p for ``μ1``, ``σ11``, ...)."""
    if isinstance(columns, (int, np.integer)):
        names = [str(j + 1) for j in range(int(columns))]
        mu = [f"μ{a}" for a in names]
        sig = [f"σ{names[i]}{names[j]}" for i, j in zip(*_tril(len(names)), strict=True)]
        return mu + sig
    names = [str(c) for c in columns]
    return [f"μ[{a}]" for a in names] + [
        f"σ[{names[i]},{names[j]}]" for i, j in zip(*_tril(len(names)), strict=True)
    ]


def _chol(a: np.ndarray, what: str) -> np.ndarray:
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"{what} is not positive definite") from exc


# ---- the sweep operator --------------------------------------------------------------------


def sweep(G: np.ndarray, ks: Sequence[int] | np.ndarray) -> np.ndarray:
    """The sweep operator SWP[k] (Beaton 1964; Little & Rubin, Sect. 7.4) applied on each
    index of ``ks`` in turn, to a copy of the symmetric matrix ``G``:

    .. math:: h_{kk} = -\\frac{1}{g_{kk}},\\quad h_{jk} = h_{kj} = \\frac{g_{jk}}{g_{kk}},
              \\quad h_{jl} = g_{jl} - \\frac{g_{jk}g_{kl}}{g_{kk}}\\ (j, l \\ne k).

    Sweeping a set :math:`S` replaces :math:`G_{SS}` by :math:`-G_{SS}^{-1}`, :math:`G_{SR}`
    by :math:`G_{SS}^{-1}G_{SR}` and :math:`G_{RR}` by the Schur complement
    :math:`G_{RR} - G_{RS}G_{SS}^{-1}G_{SR}`, whatever the order. :func:`reverse_sweep`
    undoes it.
    """
    H = np.array(G, dtype=float)
    for k in np.atleast_1d(ks):
        d = H[k, k]
        if not (np.isfinite(d) and d > 0):
            raise ValueError(f"sweep: pivot {k} is {d}, not positive (singular covariance?)")
        row = H[k].copy()
        H -= np.outer(row, row) / d
        H[k, :] = row / d
        H[:, k] = row / d
        H[k, k] = -1.0 / d
    return H


def reverse_sweep(G: np.ndarray, ks: Sequence[int] | np.ndarray) -> np.ndarray:
    """RSW[k], the inverse of :func:`sweep`: :math:`h_{kk} = -1/g_{kk}`,
    :math:`h_{jk} = -g_{jk}/g_{kk}`, :math:`h_{jl} = g_{jl} - g_{jk}g_{kl}/g_{kk}`."""
    H = np.array(G, dtype=float)
    for k in np.atleast_1d(ks):
        d = H[k, k]
        if not (np.isfinite(d) and d != 0):
            raise ValueError(f"reverse_sweep: pivot {k} is {d}")
        row = H[k].copy()
        H -= np.outer(row, row) / d
        H[k, :] = -row / d
        H[:, k] = -row / d
        H[k, k] = -1.0 / d
    return H


# ---- conditional moments per pattern -------------------------------------------------------


def cond_moments(
    mu: np.ndarray, sigma: np.ndarray, pat: Pattern, method: str = "cholesky"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Everything a pattern needs at :math:`(\\mu, \\Sigma)`.

    Returns
    -------
    D : ndarray, shape (n, |o|)
        :math:`x_{i,o} - \\mu_o` for the pattern's rows.
    Dm : ndarray, shape (n, |m|)
        :math:`\\hat x_{i,m} - \\mu_m = (x_{i,o} - \\mu_o) B^\\top`.
    C : ndarray, shape (|m|, |m|)
        Conditional covariance :math:`\\Sigma_{mm} - \\Sigma_{mo}\\Sigma_{oo}^{-1}\\Sigma_{om}`.
    quad : ndarray, shape (n,)
        :math:`(x_{i,o} - \\mu_o)^\\top \\Sigma_{oo}^{-1} (x_{i,o} - \\mu_o)`.
    logdet : float
        :math:`\\log|\\Sigma_{oo}|`.

    ``method="cholesky"``: :math:`\\Sigma_{oo} = LL^\\top`, :math:`W = L^{-1}`,
    :math:`B^\\top = W^\\top W \\Sigma_{om}`, quad :math:`= \\lVert W(x_o - \\mu_o)\\rVert^2`,
    :math:`\\log|\\Sigma_{oo}| = 2\\sum\\log L_{jj}`. ``method="sweep"``: SWP on the observed
    coordinates of :math:`\\Sigma`, whose :math:`(o, m)` block is then :math:`B^\\top`, its
    :math:`(m, m)` block :math:`C` and its :math:`(o, o)` block :math:`-\\Sigma_{oo}^{-1}`;
    :math:`\\log|\\Sigma_{oo}|` is the sum of the logs of the pivots. (With the augmented
    matrix the intercepts :math:`\\mu_m - B\\mu_o` come out too; centring the rows at
    :math:`\\mu` makes them unnecessary here.)
    """
    o, m = pat.observed, pat.missing
    ix = pat.ix
    D = pat.Xo - mu[o]
    if method == "cholesky":
        L = _chol(sigma[ix["oo"]], "Σ_oo of a missingness pattern")
        W = np.linalg.inv(L)  # L^{-1}: triangular, small
        Z = D @ W.T
        quad = (Z * Z).sum(axis=1)
        logdet = 2.0 * float(np.log(L.diagonal()).sum())
        if m.size:
            Bt = W.T @ (W @ sigma[ix["om"]])
            C = sigma[ix["mm"]] - sigma[ix["mo"]] @ Bt
        else:
            Bt, C = _EMPTY[o.size], _EMPTY[0]
    elif method == "sweep":
        H = np.array(sigma, dtype=float)
        logdet = 0.0
        for k in o:  # sweep on the observed coordinates, keeping the pivots
            d = H[k, k]
            if not d > 0:
                raise ValueError("Σ_oo of a missingness pattern is not positive definite")
            logdet += float(np.log(d))
            row = H[k].copy()
            H -= np.outer(row, row) / d
            H[k, :] = row / d
            H[:, k] = row / d
            H[k, k] = -1.0 / d
        quad = -((D @ H[ix["oo"]]) * D).sum(axis=1)
        Bt = H[ix["om"]]
        C = H[ix["mm"]]
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return D, D @ Bt, C, quad, logdet


# ---- E-step, M-step, log-likelihood --------------------------------------------------------


@dataclass
class MVNStats:
    """Expected complete-data statistics about the centre :math:`c = \\mu^{(t)}`.

    Attributes
    ----------
    n : int
        Rows :math:`N`.
    s1 : ndarray, shape (p,)
        :math:`\\sum_i (\\hat x_i - c)`.
    s2 : ndarray, shape (p, p)
        :math:`\\sum_i [(\\hat x_i - c)(\\hat x_i - c)^\\top + \\tilde C_i]` (without the
        :math:`\\tilde C_i` when computed with ``correction=False``).
    correction : ndarray, shape (p, p)
        :math:`\\sum_i \\tilde C_i`, the conditional-covariance term.
    center : ndarray, shape (p,)
    loglik : float
        :math:`\\ell(\\mu^{(t)}, \\Sigma^{(t)})`.
    """

    n: int
    s1: np.ndarray
    s2: np.ndarray
    correction: np.ndarray
    center: np.ndarray
    loglik: float


def _pats(X: np.ndarray | Sequence[Pattern]) -> tuple[list[Pattern], int, int]:
    if isinstance(X, (list, tuple)) and X and isinstance(X[0], Pattern):
        pats = list(X)
        n = sum(p.n for p in pats)
        p = int(pats[0].observed.size + pats[0].missing.size)
        return pats, n, p
    Xc = check_data(X)
    return patterns(Xc), Xc.shape[0], Xc.shape[1]


def e_step(
    X: np.ndarray | Sequence[Pattern],
    theta: np.ndarray,
    *,
    method: str = "cholesky",
    correction: bool = True,
) -> MVNStats:
    """E-step: :class:`MVNStats` at :math:`\\theta = ` :func:`pack` :math:`(\\mu, \\Sigma)`.

    ``X`` is the data (NaN for missing) or its :func:`patterns`. ``correction=False`` leaves
    out the conditional covariance :math:`\\tilde C_i` (regression imputation: biased).
    """
    pats, N, p = _pats(X)
    mu, sigma = unpack(theta, p)
    s1 = np.zeros(p)
    s2 = np.zeros((p, p))
    corr = np.zeros((p, p))
    ll = 0.0
    for pat in pats:
        D, Dm, C, quad, logdet = cond_moments(mu, sigma, pat, method)
        o, m = pat.observed, pat.missing
        E = np.empty((pat.n, p))
        E[:, o] = D
        E[:, m] = Dm
        s1 += E.sum(axis=0)
        s2 += E.T @ E
        if m.size:
            corr[pat.ix["mm"]] += pat.n * C
        ll -= 0.5 * (pat.n * (o.size * _LOG_2PI + logdet) + float(quad.sum()))
    if correction:
        s2 = s2 + corr
    return MVNStats(N, s1, s2, corr, mu, ll)


def m_step(stats: MVNStats) -> np.ndarray:
    """M-step: :math:`\\mu = c + s/N`, :math:`\\Sigma = S/N - (s/N)(s/N)^\\top`, packed."""
    d = stats.s1 / stats.n
    sigma = stats.s2 / stats.n - np.outer(d, d)
    return pack(stats.center + d, (sigma + sigma.T) / 2)


def loglik(X: np.ndarray | Sequence[Pattern], theta: np.ndarray) -> float:
    """Observed-data log-likelihood :math:`\\sum_i \\log N(x_{i,o}; \\mu_o, \\Sigma_{oo})`."""
    pats, _, p = _pats(X)
    mu, sigma = unpack(theta, p)
    ll = 0.0
    for pat in pats:
        o = pat.observed
        L = _chol(sigma[np.ix_(o, o)], "Σ_oo of a missingness pattern")
        Z = np.linalg.solve(L, (pat.Xo - mu[o]).T)
        ll -= 0.5 * (pat.n * (o.size * _LOG_2PI + 2 * np.log(np.diagonal(L)).sum())
                     + float(np.einsum("ij,ij->", Z, Z)))
    return float(ll)


def score(X: np.ndarray | Sequence[Pattern], theta: np.ndarray) -> np.ndarray:
    """Gradient of :func:`loglik` in :math:`\\theta` (:func:`pack` order).

    With :math:`\\Lambda = \\Sigma_{oo}^{-1}` and :math:`d_i = x_{i,o} - \\mu_o` per row,
    :math:`\\partial\\ell/\\partial\\mu_o = \\sum_i \\Lambda d_i` and, as a symmetric matrix,
    :math:`G_{oo} = \\frac12\\sum_i(\\Lambda d_i d_i^\\top\\Lambda - \\Lambda)`; then
    :math:`\\partial\\ell/\\partial\\sigma_{jj} = G_{jj}` and
    :math:`\\partial\\ell/\\partial\\sigma_{jk} = 2G_{jk}` (:math:`j \\ne k`: both
    :math:`\\sigma_{jk}` and :math:`\\sigma_{kj}` move).
    """
    pats, _, p = _pats(X)
    mu, sigma = unpack(theta, p)
    g_mu = np.zeros(p)
    G = np.zeros((p, p))
    for pat in pats:
        o = pat.observed
        lam = np.linalg.inv(sigma[np.ix_(o, o)])
        A = (pat.Xo - mu[o]) @ lam
        g_mu[o] += A.sum(axis=0)
        G[np.ix_(o, o)] += 0.5 * (A.T @ A - pat.n * lam)
    factor = np.where(np.eye(p, dtype=bool), 1.0, 2.0)
    return np.concatenate([g_mu, (G * factor)[_tril(p)]])


def complete_info(theta: np.ndarray, n: int) -> np.ndarray:
    """Expected complete-data information of :math:`n` rows at :math:`\\theta`
    (:func:`pack` order), for SEM:

    .. math:: I_{oc} = n\\begin{pmatrix}\\Sigma^{-1} & 0\\\\ 0 &
              \\tfrac12 D^\\top(\\Sigma^{-1}\\otimes\\Sigma^{-1})D\\end{pmatrix},

    with :math:`D` the duplication matrix (:math:`\\operatorname{vec}\\Sigma = D\\,
    \\operatorname{vech}\\Sigma`, in the lower-triangle-by-rows order of :func:`pack`).
    For the normal, an exponential family, this is also the conditional expectation of the
    complete-data information given the observed data at the MLE.
    """
    d = np.asarray(theta).size
    p = int(round((-3 + np.sqrt(9 + 8 * d)) / 2))
    mu, sigma = unpack(theta, p)
    lam = np.linalg.inv(sigma)
    rows, cols = _tril(p)
    dup = np.zeros((p * p, rows.size))
    for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
        dup[i * p + j, k] = 1.0
        dup[j * p + i, k] = 1.0
    q = rows.size
    out = np.zeros((p + q, p + q))
    out[:p, :p] = n * lam
    out[p:, p:] = 0.5 * n * dup.T @ np.kron(lam, lam) @ dup
    return out


def impute(X: np.ndarray, theta: np.ndarray, *, method: str = "cholesky") -> np.ndarray:
    """``X`` with each missing value replaced by its conditional mean
    :math:`\\hat x_{i,m} = \\mu_m + B(x_{i,o} - \\mu_o)` (a single regression imputation)."""
    Xc = check_data(X)
    p = Xc.shape[1]
    mu, sigma = unpack(theta, p)
    out = Xc.copy()
    for pat in patterns(Xc):
        if pat.missing.size:
            _, Dm, _, _, _ = cond_moments(mu, sigma, pat, method)
            out[np.ix_(pat.rows, pat.missing)] = mu[pat.missing] + Dm
    return out


def draw_missing(
    X: np.ndarray, theta: np.ndarray, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """``X`` with each row's missing values drawn from their conditional normal
    :math:`N(\\hat x_{i,m}, C)` at :math:`\\theta` (one stochastic imputation)."""
    rng = np.random.default_rng(rng)
    Xc = check_data(X)
    p = Xc.shape[1]
    mu, sigma = unpack(theta, p)
    out = Xc.copy()
    for pat in patterns(Xc):
        if not pat.missing.size:
            continue
        _, Dm, C, _, _ = cond_moments(mu, sigma, pat)
        vals, vecs = np.linalg.eigh((C + C.T) / 2)  # C is PSD; eigh copes when singular
        L = vecs * np.sqrt(np.clip(vals, 0.0, None))
        z = rng.standard_normal((pat.n, pat.missing.size))
        out[np.ix_(pat.rows, pat.missing)] = mu[pat.missing] + Dm + z @ L.T
    return out


# ---- the model object ----------------------------------------------------------------------


class MVNMissing:
    """EM for :math:`N_p(\\mu, \\Sigma)` with values missing in any pattern, shaped for
    :func:`em_helpers.run_em` and :func:`em_helpers.sem_covariance`.

    ``e_step(theta) -> MVNStats``, ``m_step(stats) -> theta`` and ``loglik(theta)`` work on
    :math:`\\theta` = :func:`pack` :math:`(\\mu, \\Sigma)`; the E-step's pass also gives
    :math:`\\ell(\\theta)`, which is cached for the next call at the same point.

    Parameters
    ----------
    X : array, shape (N, p)
        The data, ``NaN`` where missing (checked by :func:`check_data`).
    method : {"cholesky", "sweep"}
        How :func:`cond_moments` gets each pattern's regression.
    columns : sequence of str, optional
        Variable names for :meth:`names`.
    """

    def __init__(
        self, X: Any, *, method: str = "cholesky", columns: Sequence[str] | None = None
    ):
        self.X = check_data(X)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method
        self.patterns = patterns(self.X)
        self.N, self.p = self.X.shape
        if columns is not None and len(columns) != self.p:
            raise ValueError(f"columns must name the {self.p} variables, got {list(columns)}")
        self.columns = list(columns) if columns is not None else None
        self._cache: tuple[bytes, MVNStats] | None = None

    @property
    def n_params(self) -> int:
        return self.p + self.p * (self.p + 1) // 2

    def _stats(self, theta: np.ndarray) -> MVNStats:
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, e_step(self.patterns, theta, method=self.method))
        return self._cache[1]

    def e_step(self, theta: np.ndarray, *, correction: bool = True) -> MVNStats:
        """:func:`e_step` on the model's patterns (``correction=False``: regression
        imputation, for comparison only)."""
        if correction:
            return self._stats(theta)
        return e_step(self.patterns, theta, method=self.method, correction=False)

    def m_step(self, stats: MVNStats) -> np.ndarray:
        return m_step(stats)

    def loglik(self, theta: np.ndarray) -> float:
        return self._stats(theta).loglik

    def score(self, theta: np.ndarray) -> np.ndarray:
        return score(self.patterns, theta)

    def complete_info(self, theta: np.ndarray) -> np.ndarray:
        """:func:`complete_info` for the model's :math:`N` rows."""
        return complete_info(theta, self.N)

    def valid(self, theta: np.ndarray) -> bool:
        """Finite, with :math:`\\Sigma` positive definite."""
        try:
            _, sigma = unpack(theta, self.p)
            np.linalg.cholesky(sigma)
        except (ValueError, np.linalg.LinAlgError):
            return False
        return bool(np.all(np.isfinite(theta)))

    def names(self) -> list[str]:
        return param_names(self.columns if self.columns is not None else self.p)

    def start(self) -> np.ndarray:
        """A start: the observed means and variances, zero covariances."""
        return pack(np.nanmean(self.X, axis=0), np.diag(np.nanvar(self.X, axis=0)))

    def fit(
        self, theta0: np.ndarray | None = None, *, tol: float = 1e-10, max_iter: int = 10_000,
        **kwargs: Any,
    ) -> EMResult:
        """:func:`em_helpers.run_em` from ``theta0`` (default :meth:`start`), with ``scale``
        (unless given) the data unit of each entry: the observed SD of a variable for its
        mean, :math:`s_j s_k` for :math:`\\sigma_{jk}`."""
        theta0 = self.start() if theta0 is None else np.asarray(theta0, dtype=float)
        if not self.valid(theta0):
            raise ValueError("theta0 must be finite with Σ positive definite")
        sd = np.nanstd(self.X, axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        rows, cols = _tril(self.p)
        # each entry's data unit: an SD for a mean, a product of SDs for a covariance (an
        # entry near 0, such as a covariance that vanishes, is then judged in that unit)
        kwargs.setdefault("scale", np.concatenate([sd, sd[rows] * sd[cols]]))
        return run_em(self.e_step, self.m_step, theta0, loglik=self.loglik, tol=tol,
                      max_iter=max_iter, names=self.names(), **kwargs)

    def impute(self, theta: np.ndarray) -> np.ndarray:
        """:func:`impute` (conditional means) at ``theta``."""
        return impute(self.X, theta, method=self.method)

    def draw(self, theta: np.ndarray, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """:func:`draw_missing` at ``theta``."""
        return draw_missing(self.X, theta, rng)


# ---- the monotone closed form ---------------------------------------------------------------


def monotone_mle(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """The MLE :math:`(\\hat\\mu, \\hat\\Sigma)` of a monotone pattern in closed form
    (factored likelihood: Anderson 1957; Little & Rubin, Ch. 7).

    Order the variables by how often they are observed. The pattern is monotone when every
    row observes a leading run of them. Then the likelihood factors into the marginal of the
    always-observed block :math:`Y_1` (all :math:`N` rows) and, for each later block
    :math:`Y_b`, its regression on all earlier ones :math:`Y_{<b}` (the rows where
    :math:`Y_b` is observed), with distinct parameters; each factor is maximised by its
    complete-data MLE (sample mean and covariance with divisor :math:`N`; least squares
    :math:`\\hat\\alpha, \\hat\\beta` and residual covariance :math:`\\hat\\Psi` with divisor
    the block's row count). Back to :math:`(\\mu, \\Sigma)`:

    .. math:: \\mu_b = \\hat\\alpha + \\hat\\beta^\\top\\mu_{<b},\\quad
              \\Sigma_{b,<b} = \\hat\\beta^\\top\\Sigma_{<b},\\quad
              \\Sigma_{bb} = \\hat\\Psi + \\hat\\beta^\\top\\Sigma_{<b}\\hat\\beta.

    Raises
    ------
    ValueError
        When the pattern is not monotone (or as :func:`check_data`).
    """
    Xc = check_data(X)
    N, p = Xc.shape
    miss = np.isnan(Xc)
    order = np.argsort(miss.sum(axis=0), kind="stable")
    ms = miss[:, order]
    if np.any(np.diff(ms.astype(int), axis=1) < 0):
        raise ValueError(
            "X's missingness pattern is not monotone (some row observes a variable that is "
            "missing where a more often observed one is missing): use EM"
        )
    counts = (~ms).sum(axis=0)
    mu = np.zeros(p)
    sigma = np.zeros((p, p))
    starts = np.flatnonzero(np.r_[True, np.diff(counts) != 0])
    ends = np.r_[starts[1:], p]
    for b, (s, e) in enumerate(zip(starts, ends, strict=True)):
        rows = ~ms[:, s]
        Y = Xc[np.ix_(rows, order[s:e])]
        n_b = Y.shape[0]
        if b == 0:
            mu[s:e] = Y.mean(axis=0)
            R = Y - mu[s:e]
            sigma[s:e, s:e] = R.T @ R / n_b
            continue
        P = Xc[np.ix_(rows, order[:s])]
        Pbar = P.mean(axis=0)
        Yb = Y.mean(axis=0)
        Pc, Yc = P - Pbar, Y - Yb
        beta, *_ = np.linalg.lstsq(Pc, Yc, rcond=None)  # (s, e - s)
        resid = Yc - Pc @ beta
        psi = resid.T @ resid / n_b
        alpha = Yb - Pbar @ beta
        mu[s:e] = alpha + mu[:s] @ beta
        sigma[s:e, :s] = beta.T @ sigma[:s, :s]
        sigma[:s, s:e] = sigma[s:e, :s].T
        sigma[s:e, s:e] = psi + beta.T @ sigma[:s, :s] @ beta
    inv = np.argsort(order)
    return mu[inv], sigma[np.ix_(inv, inv)]


# ---- many data sets at once -----------------------------------------------------------------


@dataclass
class BatchResult:
    """What :func:`fit_batch` returns, one entry per data set.

    Attributes
    ----------
    mu : ndarray, shape (R, p)
    sigma : ndarray, shape (R, p, p)
    loglik : ndarray, shape (R,)
        :math:`\\ell` at the returned estimates' predecessor (the last E-step).
    n_iter : ndarray of int, shape (R,)
        Iterations until each data set met the stopping rule.
    converged : ndarray of bool, shape (R,)
    rate : ndarray, shape (R,)
        The last ratio of successive step lengths (EM's observed linear rate).
    """

    mu: np.ndarray
    sigma: np.ndarray
    loglik: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    rate: np.ndarray

    @property
    def theta(self) -> np.ndarray:
        """:func:`pack` of every data set's estimate, shape (R, d)."""
        rows, cols = _tril(self.mu.shape[1])
        return np.concatenate([self.mu, self.sigma[:, rows, cols]], axis=1)


def fit_batch(
    X: Any, *, tol: float = 1e-10, max_iter: int = 5000, correction: bool = True
) -> BatchResult:
    """EM for R data sets of the same shape at once: ``X`` of shape (R, N, p), NaN missing.

    Each iteration is the E- and M-step of :class:`MVNMissing` for every data set, with the
    patterns taken over all R x N rows: per pattern, one batched solve gives every data
    set's :math:`B` and :math:`C`, and the rows of that pattern (masked) are filled in. The
    stopping rule is :func:`em_helpers.run_em`'s: with step :math:`\\Delta^{(t)}` (largest
    change over :math:`\\theta`, relative to :math:`1 + |\\theta|`) and observed rate
    :math:`\\hat\\lambda = \\Delta^{(t)}/\\Delta^{(t-1)}`, a data set has converged when
    :math:`\\Delta^{(t)}\\max(1, \\hat\\lambda/(1-\\hat\\lambda)) \\le` ``tol``; it is then
    no longer updated.

    Raises
    ------
    ValueError
        As :func:`check_data` for any data set (naming it), or a non-positive-definite
        :math:`\\Sigma` along the way.
    """
    if X is None or isinstance(X, (str, bytes)):
        raise TypeError(f"X must be an (R, N, p) array, got {X!r}")
    arr = np.asarray(X, dtype=float)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"X must have shape (R, N, p), got {arr.shape}")
    R, N, p = arr.shape
    if np.iscomplexobj(arr):
        raise TypeError("X must be real")
    miss = np.isnan(arr)
    bad = np.flatnonzero(np.isinf(arr).any(axis=(1, 2)) | miss.all(axis=1).any(axis=1)
                         | miss.all(axis=2).any(axis=1))
    if bad.size:
        check_data(arr[bad[0]], f"X[{bad[0]}]")  # raises, naming the data set
    if arr.size == 0:
        raise ValueError(f"X is empty (shape {arr.shape})")
    masks, inverse = _unique_masks(miss.reshape(-1, p))
    inverse = inverse.reshape(R, N)
    Xz = np.where(miss, 0.0, arr)
    mu = np.nanmean(arr, axis=1)
    sigma = np.zeros((R, p, p))
    sigma[:, np.arange(p), np.arange(p)] = np.nanvar(arr, axis=1)
    active = np.ones(R, dtype=bool)
    n_iter = np.zeros(R, dtype=int)
    rate = np.full(R, np.nan)
    prev_step = np.full(R, np.nan)
    ll = np.zeros(R)
    specs = [(np.flatnonzero(~mk), np.flatnonzero(mk), k) for k, mk in enumerate(masks)]

    def compact(idx: np.ndarray) -> list:
        """Per pattern: observed values (zero off the pattern) and row weights of the data
        sets ``idx`` (recomputed only when the working set shrinks)."""
        out = []
        for o, m, k in specs:
            w = (inverse[idx] == k).astype(float)
            if w.any():
                out.append((o, m, Xz[idx][:, :, o] * w[:, :, None], w[:, :, None],
                            w.sum(axis=1)))
        return out

    work = np.arange(R)
    data = compact(work)
    for _ in range(max_iter):
        live = active[work]
        if not live.any():
            break
        if live.sum() < 0.75 * work.size:  # drop the converged from the working arrays
            keep = np.flatnonzero(live)
            work = work[keep]
            data = compact(work)
        Ra = work.size
        mu_a, sig_a = mu[work], sigma[work]
        E = np.zeros((Ra, N, p))
        corr = np.zeros((Ra, p, p))
        ll_a = np.zeros(Ra)
        for o, m, Xo, w, cnt in data:
            S_oo = sig_a[:, o[:, None], o]
            try:
                L = np.linalg.cholesky(S_oo)
            except np.linalg.LinAlgError as exc:
                raise ValueError("fit_batch: Σ_oo lost positive definiteness") from exc
            W = np.linalg.inv(L)  # L^{-1}, batched
            D = Xo - mu_a[:, None, o] * w
            Z = D @ W.transpose(0, 2, 1)
            ll_a -= 0.5 * (cnt * (o.size * _LOG_2PI
                                  + 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1))
                           + (Z * Z).sum(axis=(1, 2)))
            E[:, :, o] += D
            if m.size:
                Bt = W.transpose(0, 2, 1) @ (W @ sig_a[:, o[:, None], m])
                E[:, :, m] += D @ Bt
                if correction:
                    C = sig_a[:, m[:, None], m] - sig_a[:, m[:, None], o] @ Bt
                    corr[:, m[:, None], m] += cnt[:, None, None] * C
        s1 = E.sum(axis=1)
        s2 = E.transpose(0, 2, 1) @ E + corr
        dlt = s1 / N
        new_mu = mu_a + dlt
        new_sig = s2 / N - dlt[:, :, None] * dlt[:, None, :]
        new_sig = (new_sig + new_sig.transpose(0, 2, 1)) / 2
        old = np.concatenate([mu_a, sig_a.reshape(Ra, -1)], axis=1)
        new = np.concatenate([new_mu, new_sig.reshape(Ra, -1)], axis=1)
        step = np.max(np.abs(new - old) / (1 + np.abs(new)), axis=1)
        upd = active[work]  # converged sets still in the working arrays are not updated
        tgt = work[upd]
        lam = step[upd] / prev_step[tgt]
        rate[tgt] = lam
        lam_c = np.where(np.isfinite(lam), np.clip(lam, 0, 1 - 1e-12), 0.0)
        err = step[upd] * np.maximum(1.0, lam_c / (1 - lam_c))
        mu[tgt], sigma[tgt], ll[tgt] = new_mu[upd], new_sig[upd], ll_a[upd]
        n_iter[tgt] += 1
        prev_step[tgt] = step[upd]
        done = (err <= tol) & (n_iter[tgt] >= 2)
        active[tgt[done]] = False
    return BatchResult(mu, sigma, ll, n_iter, ~active, rate)


# ---- multiple imputation -------------------------------------------------------------------


@dataclass
class RubinResult:
    """Rubin's (1987) rules for :math:`m` completed-data estimates.

    Attributes
    ----------
    estimate : ndarray
        :math:`\\bar Q = \\frac1m\\sum_l \\hat Q_l`.
    within, between, total : ndarray
        :math:`\\bar U = \\frac1m\\sum_l U_l`, :math:`B = \\frac{1}{m-1}\\sum_l(\\hat Q_l -
        \\bar Q)^2`, :math:`T = \\bar U + (1 + 1/m)B`.
    se : ndarray
        :math:`\\sqrt T`.
    df : ndarray
        :math:`\\nu = (m-1)(1 + 1/r)^2` with :math:`r = (1 + 1/m)B/\\bar U` (inf when
        :math:`B = 0`).
    fmi : ndarray
        Fraction of missing information :math:`\\hat\\lambda = (1 + 1/m)B/T`.
    m : int
    """

    estimate: np.ndarray
    within: np.ndarray
    between: np.ndarray
    total: np.ndarray
    se: np.ndarray
    df: np.ndarray
    fmi: np.ndarray
    m: int

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """:math:`\\bar Q \\mp t_{\\nu, (1+\\text{level})/2}\\sqrt T`."""
        q = _stats.t.ppf(0.5 + level / 2, self.df)
        return self.estimate - q * self.se, self.estimate + q * self.se


def rubin(estimates: Any, variances: Any) -> RubinResult:
    """Combine :math:`m \\ge 2` completed-data estimates (rows of ``estimates``) and their
    completed-data variances (same shape) by Rubin's rules (:class:`RubinResult`)."""
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.shape != u.shape or q.ndim not in (1, 2) or q.shape[0] < 2:
        raise ValueError(
            f"estimates and variances must have the same shape (m >= 2 rows), got {q.shape} "
            f"and {u.shape}"
        )
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u)) and np.all(u >= 0)):
        raise ValueError("estimates must be finite and variances finite and >= 0")
    m = q.shape[0]
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (1 + 1 / m) * b / ubar
        df = np.where(b > 0, (m - 1) * (1 + 1 / r) ** 2, np.inf)
        fmi = np.where(t > 0, (1 + 1 / m) * b / t, 0.0)
    return RubinResult(qbar, ubar, b, t, np.sqrt(t), df, fmi, m)


# ---- Gaussian mixtures with incomplete features ---------------------------------------------


def _mixture_pass(
    X: np.ndarray, pats: list[Pattern], params: _gmm.GMMParams, want_stats: bool
) -> tuple[np.ndarray, np.ndarray, list]:
    """Log joint (K, N) per pattern, and per pattern the pieces for the statistics:
    (pattern, D (K, n, |o|), Dm (K, n, |m|), C (K, |m|, |m|))."""
    full = params.full_covariances()
    means = params.means
    K = means.shape[0]
    N = X.shape[0]
    with np.errstate(divide="ignore"):
        log_w = np.log(params.weights)
    lj = np.empty((K, N))
    pieces = []
    for pat in pats:
        o, m = pat.observed, pat.missing
        S_oo = full[:, o[:, None], o]
        try:
            L = np.linalg.cholesky(S_oo)
        except np.linalg.LinAlgError as exc:
            bad = [k for k in range(K)
                   if np.any(np.linalg.eigvalsh(S_oo[k]) <= 0)]
            raise ValueError(
                f"the covariance of component {bad[0] if bad else '?'} is not positive "
                "definite on the observed coordinates of a missingness pattern (a "
                "component collapsed?): use reg_covar > 0 or a prior"
            ) from exc
        W = np.linalg.solve(L, np.broadcast_to(np.eye(o.size), S_oo.shape))
        D = pat.Xo[None] - means[:, None, o]  # (K, n, |o|)
        Z = D @ W.transpose(0, 2, 1)
        logdet = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        lj[:, pat.rows] = (log_w - 0.5 * (o.size * _LOG_2PI + logdet))[:, None] - 0.5 * (
            np.einsum("knj,knj->kn", Z, Z)
        )
        if want_stats:
            if m.size:
                Bt = W.transpose(0, 2, 1) @ (W @ full[:, o[:, None], m])
                C = full[:, m[:, None], m] - full[:, m[:, None], o] @ Bt
                Dm = D @ Bt
            else:
                C, Dm = np.zeros((K, 0, 0)), np.zeros((K, pat.n, 0))
            pieces.append((pat, D, Dm, C))
    return lj, log_w, pieces


def _normalise(lj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mx = lj.max(axis=0)
    if not np.all(np.isfinite(mx)):
        raise ValueError("a point has zero density under every component (all weights 0?)")
    g = np.exp(lj - mx)
    tot = g.sum(axis=0)
    g /= tot
    return g, np.log(tot) + mx


def _check_params(X: np.ndarray, params: _gmm.GMMParams) -> None:
    if not isinstance(params, _gmm.GMMParams):
        raise TypeError(f"params must be a gmm.GMMParams, got {type(params).__name__}")
    if params.n_features != X.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features but the parameters have p={params.n_features}"
        )


def mixture_stats(X: Any, params: _gmm.GMMParams) -> _gmm.SuffStats:
    """E-step of a mixture on incomplete rows: :class:`em_helpers.models.gmm.SuffStats`.

    Per pattern and component, the row's observed part has density
    :math:`N(x_{i,o}; \\mu_{k,o}, \\Sigma_{k,oo})`, which gives the responsibility
    :math:`\\gamma_{ik} \\propto w_k N(x_{i,o}; \\mu_{k,o}, \\Sigma_{k,oo})` (log space);
    given the component, the missing part is filled in by that component's regression,
    :math:`\\hat x_{ik,m} = \\mu_{k,m} + B_k(x_{i,o} - \\mu_{k,o})`, with conditional
    covariance :math:`C_k`. The statistics about :math:`c_k = \\mu_k` are

    .. math:: n_k = \\sum_i\\gamma_{ik},\\quad s_k = \\sum_i\\gamma_{ik}(\\hat x_{ik} - c_k),
              \\quad S_k = \\sum_i\\gamma_{ik}[(\\hat x_{ik} - c_k)(\\hat x_{ik} - c_k)^\\top
              + \\tilde C_{ik}],

    exactly the expectations of the complete-data statistics (labels and missing values
    both unknown), so :func:`em_helpers.models.gmm.m_step` applies unchanged, for every
    covariance type (its diagonal for ``"diag"``/``"spherical"``).
    """
    Xc = check_data(X)
    _check_params(Xc, params)
    return _mixture_stats(Xc, patterns(Xc), params)


def _mixture_stats(X: np.ndarray, pats: list[Pattern], params: _gmm.GMMParams):
    lj, log_w, pieces = _mixture_pass(X, pats, params, True)
    finite = np.isfinite(lj)
    gamma, norm = _normalise(lj)
    entropy = float(norm.sum()) - float(np.sum(gamma * np.where(finite, lj, 0.0)))
    K, p = params.means.shape
    diag = params.covariance_type in ("diag", "spherical")
    nk = gamma.sum(axis=1)
    s1 = np.zeros((K, p))
    S2 = np.zeros((K, p, p))
    for pat, D, Dm, C in pieces:
        o, m = pat.observed, pat.missing
        g = gamma[:, pat.rows]  # (K, n)
        E = np.empty((K, pat.n, p))
        E[:, :, o] = D
        E[:, :, m] = Dm
        s1 += np.einsum("kn,knj->kj", g, E)
        S2 += np.einsum("kn,kni,knj->kij", g, E, E)
        if m.size:
            S2[:, m[:, None], m] += g.sum(axis=1)[:, None, None] * C
    s2 = np.einsum("kjj->kj", S2).copy() if diag else S2
    return _gmm.SuffStats(
        nk=nk, s1=s1, s2=s2, loglik=float(norm.sum()), n=X.shape[0],
        center=params.means.copy(), covariance_type=params.covariance_type, entropy=entropy,
    )


def mixture_loglik(X: Any, params: _gmm.GMMParams) -> float:
    """:math:`\\sum_i \\log\\sum_k w_k N(x_{i,o}; \\mu_{k,o}, \\Sigma_{k,oo})`."""
    Xc = check_data(X)
    _check_params(Xc, params)
    lj, _, _ = _mixture_pass(Xc, patterns(Xc), params, False)
    return float(_normalise(lj)[1].sum())


def mixture_responsibilities(X: Any, params: _gmm.GMMParams) -> np.ndarray:
    """:math:`\\gamma_{ik}` given each row's observed coordinates, shape (N, K)."""
    Xc = check_data(X)
    _check_params(Xc, params)
    lj, _, _ = _mixture_pass(Xc, patterns(Xc), params, False)
    return _normalise(lj)[0].T


def mixture_impute(X: Any, params: _gmm.GMMParams) -> np.ndarray:
    """``X`` with missing values replaced by their conditional mean under the mixture,
    :math:`E[x_{i,m} \\mid x_{i,o}] = \\sum_k \\gamma_{ik}\\hat x_{ik,m}`."""
    Xc = check_data(X)
    _check_params(Xc, params)
    pats = patterns(Xc)
    lj, _, pieces = _mixture_pass(Xc, pats, params, True)
    gamma, _ = _normalise(lj)
    out = Xc.copy()
    for pat, _D, Dm, _C in pieces:
        if pat.missing.size:
            xm = params.means[:, None, pat.missing] + Dm  # (K, n, |m|)
            out[np.ix_(pat.rows, pat.missing)] = np.einsum("kn,knj->nj", gamma[:, pat.rows], xm)
    return out


def mixture_init(
    X: Any, n_components: int, *, method: str = "kmeans++", covariance_type: str = "full",
    seed: int | np.random.Generator | None = 0, reg_covar: float = 1e-6,
) -> _gmm.GMMParams:
    """A start for :class:`MissingGMM`: :func:`em_helpers.models.gmm.init_params` on ``X``
    with each missing value replaced by its column's observed mean (a start only; EM then
    uses the observed values alone)."""
    Xc = check_data(X)
    filled = np.where(np.isnan(Xc), np.nanmean(Xc, axis=0), Xc)
    return _gmm.init_params(filled, n_components, method=method,
                            covariance_type=covariance_type, seed=seed, reg_covar=reg_covar)


class MissingGMM:
    """EM for a K-component Gaussian mixture on data with missing values (NaN in ``X``),
    shaped like :class:`em_helpers.models.gmm.GMM` for :func:`em_helpers.run_em`.

    The E-step (:func:`mixture_stats`) marginalises each row's missing coordinates
    (responsibilities from the observed part) and fills in the expected complete-data
    statistics with each component's regression and conditional covariance; the M-step is
    :func:`em_helpers.models.gmm.m_step`. With no value missing it is ``gmm.GMM``'s EM; with
    :math:`K = 1` it is :class:`MVNMissing`'s. ``gmm.GMM(X, ...)`` returns one of these
    when ``X`` has a NaN.

    Parameters
    ----------
    X : array, shape (N, p), NaN where missing
    n_components : int
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        :math:`\\varepsilon \\ge 0` added to the covariance diagonals in the M-step.
    prior : gmm.GMMPrior, optional
        MAP-EM (``"full"`` only); ``loglik`` then adds the log prior.
    """

    def __init__(
        self, X: Any, n_components: int, covariance_type: str = "full", *,
        reg_covar: float = 1e-6, prior: Any = None,
    ):
        self.X = check_data(X)
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
            raise TypeError(f"n_components must be an integer, got {n_components!r}")
        if not 1 <= n_components <= self.X.shape[0]:
            raise ValueError(
                f"n_components must be in 1..N={self.X.shape[0]}, got {n_components}"
            )
        if covariance_type not in _gmm.COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {_gmm.COVARIANCE_TYPES}, got "
                f"{covariance_type!r}"
            )
        if isinstance(reg_covar, bool) or not np.isscalar(reg_covar) or not (
            np.isfinite(reg_covar) and reg_covar >= 0
        ):
            raise ValueError(f"reg_covar must be a finite float >= 0, got {reg_covar!r}")
        if prior is not None and covariance_type != "full":
            raise ValueError("prior (MAP-EM) is implemented for covariance_type='full' only")
        self.K = int(n_components)
        self.covariance_type = covariance_type
        self.reg_covar = float(reg_covar)
        self.prior = prior
        self.patterns = patterns(self.X)
        self._cache: tuple[bytes, Any] | None = None

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def params(self, theta: np.ndarray) -> _gmm.GMMParams:
        return _gmm.GMMParams.unpack(theta, self.K, self.p, self.covariance_type)

    def _stats(self, theta: np.ndarray):
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, _mixture_stats(self.X, self.patterns, self.params(theta)))
        return self._cache[1]

    def e_step(self, theta: np.ndarray):
        return self._stats(theta)

    def m_step(self, stats: Any) -> np.ndarray:
        return _gmm.m_step(stats, reg_covar=self.reg_covar, prior=self.prior).pack()

    def step(self, params: _gmm.GMMParams) -> _gmm.GMMParams:
        """One EM iteration on :class:`~em_helpers.models.gmm.GMMParams`."""
        stats = _mixture_stats(self.X, self.patterns, params)
        return _gmm.m_step(stats, reg_covar=self.reg_covar, prior=self.prior)

    def loglik(self, theta: np.ndarray) -> float:
        ll = self._stats(theta).loglik
        if self.prior is not None:
            ll += _gmm.log_prior(self.params(theta), self.prior)
        return ll

    def valid(self, theta: np.ndarray) -> bool:
        """Weights positive, covariances positive definite."""
        try:
            params = self.params(theta)
            if np.any(params.weights <= 0):
                return False
            np.linalg.cholesky(params.full_covariances())
            return True
        except (ValueError, np.linalg.LinAlgError):
            return False

    def names(self) -> list[str]:
        """Labels of the entries of the flat vector, as :func:`gmm.param_names`."""
        return _gmm.param_names(self.K, self.p, self.covariance_type)

    def scale(self) -> np.ndarray:
        """Absolute scales of the flat vector's entries for ``run_em(scale=...)``, as
        ``gmm.GMM.scale``: a thousandth of each entry's data unit (weights 1, means the
        observed SD :math:`s_j`, covariances :math:`s_is_j`), so that an entry near 0 is
        judged in absolute terms."""
        sd = np.nanstd(self.X, axis=0)
        return _gmm.entry_scales(np.where(sd > 0, sd, 1.0), self.K, self.covariance_type)

    def init(self, method: str = "kmeans++", seed: int | None = 0) -> _gmm.GMMParams:
        """:func:`mixture_init` with the model's settings."""
        return mixture_init(self.X, self.K, method=method,
                            covariance_type=self.covariance_type, seed=seed,
                            reg_covar=max(self.reg_covar, 1e-6))

    def fit(
        self, start: _gmm.GMMParams | None = None, *, tol: float = 1e-8, max_iter: int = 1000,
        check_ascent: bool | None = None, **kwargs: Any,
    ) -> tuple[_gmm.GMMParams, EMResult]:
        """:func:`em_helpers.run_em` from ``start`` (default :meth:`init`); returns the final
        parameters and the result. The ascent check is on by default only when the M-step
        is an exact argmax (``reg_covar == 0`` or MAP-EM)."""
        start = self.init() if start is None else start
        if (start.covariance_type != self.covariance_type
                or start.means.shape != (self.K, self.p)):
            raise ValueError(
                f"start must be a {self.covariance_type!r} mixture with K={self.K}, p={self.p}"
            )
        if check_ascent is None:
            check_ascent = self.reg_covar == 0 or self.prior is not None
        kwargs.setdefault("scale", self.scale())
        res = run_em(self.e_step, self.m_step, start.pack(), loglik=self.loglik, tol=tol,
                     max_iter=max_iter, names=self.names(), check_ascent=check_ascent,
                     **kwargs)
        return self.params(res.theta), res
