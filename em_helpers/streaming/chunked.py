"""The E-step as a reduction over numpy chunks, in one process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .blocks import StreamingEMResult, _chunk_source, _em_with_passes, _Passes, tree_sum

__all__ = ['chunked_e_step', 'chunked_em']


def chunked_e_step(suff_stats: Callable[[Any, np.ndarray], Any], theta: Any,
                   chunks: Any) -> Any:
    """The E-step as a reduction: :math:`S(\\theta) = \\sum_c \\texttt{suff\\_stats}(\\theta, c)`.

    ``chunks`` is a sequence of arrays (``np.array_split(x, k)``), a :class:`SeededBlocks`,
    or a function returning a fresh iterable of chunks. One chunk is the in-memory E-step.
    """
    if not callable(suff_stats):
        raise TypeError(f"suff_stats must be a callable suff_stats(theta, chunk), "
                        f"got {suff_stats!r}")
    source = _chunk_source(chunks)
    return tree_sum(suff_stats(theta, c) for c in source())


def chunked_em(suff_stats: Callable[[Any, np.ndarray], Any], m_step: Callable[[Any], Any],
               chunks: Any, theta0: Any, **run_em_kwargs: Any) -> StreamingEMResult:
    """:func:`~em_helpers.run_em` with :func:`chunked_e_step` as the E-step.

    Every EM map evaluation is one pass over the chunks. When the statistics carry the
    log-likelihood (:func:`~em_helpers.streaming.stats_loglik`: a ``loglik`` attribute or
    key), :math:`\\ell(\\theta)` is read from the pass at :math:`\\theta` that the next E-step
    uses anyway, so the ascent check and ``res.logliks`` cost no extra pass: ``n_evals + 1``
    passes in all for plain EM (the last for :math:`\\ell` at the final iterate). Pass
    ``loglik=`` to use your own function instead (``loglik=None``: none).
    """
    if not callable(suff_stats):
        raise TypeError(f"suff_stats must be a callable suff_stats(theta, chunk), "
                        f"got {suff_stats!r}")
    source = _chunk_source(chunks)
    passes = _Passes(lambda th: tree_sum(suff_stats(th, c) for c in source()))
    return _em_with_passes(passes, m_step, theta0, run_em_kwargs)
