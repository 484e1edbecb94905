"""The E-step as a reduction over numpy chunks, in one process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.loop import EMResult, run_em
from .blocks import _chunk_source, tree_sum

__all__ = ['chunked_e_step', 'chunked_em']


def chunked_e_step(suff_stats: Callable[[Any, np.ndarray], Any], theta: Any,
                   chunks: Any) -> Any:
    """The E-step as a reduction: :math:`S(\\theta) = \\sum_c \\texttt{suff\\_stats}(\\theta, c)`.

    ``chunks`` is a sequence of arrays (``np.array_split(x, k)``), a :class:`SeededBlocks`,
    or a function returning a fresh iterable of chunks. One chunk is the in-memory E-step.
    """
    source = _chunk_source(chunks)
    return tree_sum(suff_stats(theta, c) for c in source())


def chunked_em(suff_stats: Callable[[Any, np.ndarray], Any], m_step: Callable[[Any], Any],
               chunks: Any, theta0: Any, **run_em_kwargs: Any) -> EMResult:
    """:func:`~em_helpers.run_em` with :func:`chunked_e_step` as the E-step.

    Every EM map evaluation is one pass over the chunks: ``res.n_evals`` passes in all
    (plus one per iteration for ``loglik`` if it, too, reads the data).
    """
    source = _chunk_source(chunks)
    return run_em(lambda th: tree_sum(suff_stats(th, c) for c in source()), m_step, theta0,
                  **run_em_kwargs)
