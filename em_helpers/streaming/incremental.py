"""Incremental EM (Neal & Hinton 1998): an M-step after every chunk, with that chunk's old
statistics swapped for new ones."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .blocks import _chunk_source, tree_copy, tree_map, tree_sum

__all__ = ['IncrementalEMResult', 'incremental_em']


@dataclass
class IncrementalEMResult:
    """What :func:`incremental_em` returns.

    Attributes
    ----------
    theta : ndarray
        The last iterate.
    thetas : ndarray, shape (n_passes + 1, d)
        ``theta0`` and the iterate after each pass over the data (row ``j`` after ``j``
        passes; the first pass is the batch E-step at ``theta0``).
    n_passes : int
        Passes over the data: one chunk visit per chunk is one pass.
    converged : bool
        Whether a whole pass changed no entry of :math:`\\theta` by more than ``tol``
        (relative, or absolute below ``scale``).
    stats : pytree
        The summed statistics the last M-step used.
    """

    theta: np.ndarray
    thetas: np.ndarray
    n_passes: int
    converged: bool
    stats: Any


def _neg(leaf: Any) -> Any:
    if isinstance(leaf, (numbers.Number, np.ndarray, np.generic)):
        return -np.asarray(leaf, dtype=float)
    return leaf * -1.0


def incremental_em(suff_stats: Callable[[Any, np.ndarray], Any], m_step: Callable[[Any], Any],
                   chunks: Any, theta0: Any, *, tol: float = 1e-8, max_passes: int = 500,
                   scale: Any = None) -> IncrementalEMResult:
    """Incremental EM (Neal & Hinton 1998) over chunks of rows.

    Keep every chunk's statistics :math:`S_c` and their total :math:`S = \\sum_c S_c`. The
    first pass is a batch E-step at ``theta0`` (all :math:`S_c`, then one M-step). Each
    later pass visits the chunks in order and, for chunk :math:`c`, recomputes its
    statistics at the current :math:`\\theta`, swaps them into the total and maximises at
    once:

    .. math:: S \\leftarrow S - S_c + S_c(\\theta), \\qquad S_c \\leftarrow S_c(\\theta),
              \\qquad \\theta \\leftarrow \\texttt{m\\_step}(S).

    Each swap is a partial E-step on the chunk's responsibilities, and the M-step the
    maximum over :math:`\\theta`, so every step raises Neal & Hinton's free energy
    :math:`F(q, \\theta) = \\ell(\\theta) - \\mathrm{KL}(q \\,\\|\\, p(z \\mid x, \\theta))`; a
    fixed point has every :math:`S_c` at the same :math:`\\theta`, so it is a fixed point of
    EM itself. With B chunks a pass makes B M-steps instead of one, which is why it needs
    fewer passes than batch EM; it costs memory for B sets of statistics (small: they are
    sums) and B M-steps per pass.

    ``chunks`` is anything :func:`chunked_em` takes (a sequence of arrays, a
    :class:`SeededBlocks`, an :class:`NpyBlocks`, a function returning a fresh iterable);
    it is read in the same order every pass. The statistics must add with ``+`` and scale
    by -1 (arrays, or :class:`em_helpers.models.gmm.SuffStats`, which moves statistics
    taken about other centres onto its own). The total is re-summed from the stored
    statistics at the start of every pass, so round-off from the swaps does not build up.

    Stops when a whole pass changes no entry of :math:`\\theta` by more than ``tol``
    relative to its size (absolute ``tol * scale`` for entries below ``scale``, as
    :func:`~em_helpers.run_em`), or after ``max_passes``.
    """
    if not callable(suff_stats):
        raise TypeError(f"suff_stats must be a callable suff_stats(theta, chunk), "
                        f"got {suff_stats!r}")
    if not callable(m_step):
        raise TypeError(f"m_step must be a callable m_step(stats) -> theta, got {m_step!r}")
    if isinstance(max_passes, bool) or not isinstance(max_passes, numbers.Integral) \
            or max_passes < 1:
        raise ValueError(f"max_passes must be an integer >= 1, got {max_passes!r}")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol > 0:
        raise ValueError(f"tol must be a number > 0, got {tol!r}")
    source = _chunk_source(chunks)
    theta = np.array(theta0, dtype=float, ndmin=1)
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"theta0 must be finite, got {theta0!r}")
    floor = np.zeros_like(theta) if scale is None else np.broadcast_to(
        np.asarray(scale, dtype=float), theta.shape)

    def new_theta(total: Any) -> np.ndarray:
        out = np.array(m_step(tree_copy(total)), dtype=float, ndmin=1)
        if out.shape != theta.shape or not np.all(np.isfinite(out)):
            raise ValueError(f"incremental EM: m_step returned {out} (left the parameter "
                             "space?)")
        return out

    stored = [suff_stats(theta, c) for c in source()]
    if not stored:
        raise ValueError("chunks is empty: there are no data to sum over")
    total = tree_sum(stored)
    theta = new_theta(total)
    thetas = [np.array(theta0, dtype=float, ndmin=1), theta.copy()]
    converged = False
    for _ in range(max_passes - 1):
        start = theta.copy()
        total = tree_sum(stored)
        seen = 0
        for b, chunk in enumerate(source()):
            if b >= len(stored):
                raise ValueError("chunks yielded more chunks than on the first pass")
            fresh = suff_stats(theta, chunk)
            total = tree_map(lambda t, n, o: t + n + _neg(o), total, fresh, stored[b])
            stored[b] = fresh
            theta = new_theta(total)
            seen += 1
        if seen != len(stored):
            raise ValueError("chunks yielded fewer chunks than on the first pass")
        thetas.append(theta.copy())
        change = np.abs(theta - start)
        size = np.maximum(np.abs(theta), floor)
        if np.all(change <= tol * size):
            converged = True
            break
    return IncrementalEMResult(theta=theta, thetas=np.array(thetas), n_passes=len(thetas) - 1,
                               converged=converged, stats=total)
