"""EM when the data do not fit in memory: the E-step as a reduction, and online EM.

For a complete-data model in the exponential family the E-step at :math:`\\theta` needs the
data only through expected sufficient statistics, which are **sums over observations**,

.. math:: S(\\theta) = \\sum_{i=1}^N E_\\theta[s(Y_i) \\mid x_i]
          = \\sum_{c} \\underbrace{\\sum_{i \\in c} E_\\theta[s(Y_i) \\mid x_i]}_{
          \\texttt{suff\\_stats}(\\theta,\\ \\text{chunk } c)},

and the M-step is a function of that total, :math:`\\theta' = \\bar\\theta(S)`. So one EM
iteration is a map over chunks followed by a sum.

The protocol
------------
A model supplies two functions (plain functions, or the bound methods of a model object):

- ``suff_stats(theta, chunk) -> stats``: the chunk's expected sufficient statistics at the
  flat parameter vector ``theta`` (the vector :func:`~em_helpers.run_em` iterates), where
  ``chunk`` is a block of rows (an array of shape ``(n,)`` or ``(n, p)``). ``stats`` is a
  *pytree* that is **additive** over chunks at one :math:`\\theta`:
  :math:`\\texttt{suff\\_stats}(\\theta, A \\cup B) = \\texttt{suff\\_stats}(\\theta, A) +
  \\texttt{suff\\_stats}(\\theta, B)`. Its leaves are numbers, arrays, or objects with ``+``
  (tuples, lists, namedtuples and dicts of them are summed leaf by leaf). For online EM
  every leaf must also scale by a number (``a * leaf``).
- ``m_step(stats) -> theta``: the maximiser of :math:`Q(\\cdot \\mid \\theta)` given the total,
  as a flat vector. For online EM it must be invariant to scaling the statistics,
  :math:`\\bar\\theta(aS) = \\bar\\theta(S)` (the counts travel with the sums).

Optionally the statistics carry each chunk's observed-data log-likelihood
:math:`\\ell_c(\\theta) = \\sum_{i\\in c} \\log p(x_i \\mid \\theta)`, additive like the rest, as an
attribute or dict key ``loglik`` (plus, on an object, a ``log_prior`` kept once for MAP-EM;
:func:`stats_loglik` reads it). :func:`chunked_em` and :func:`dask_em` then give
:func:`~em_helpers.run_em` the total :math:`\\ell(\\theta)` from the same pass the E-step
makes, so the ascent check and ``res.logliks`` cost no extra pass over the data.

Statistics far from 0 lose digits as raw moments (:math:`S_2/n - \\bar x^2` cancels when
:math:`|\\bar x| \\gg \\sigma`); the models here take their sums about the current means,
which are the same for every chunk at one :math:`\\theta`, so they stay additive and exact.
:class:`em_helpers.models.gmm.SuffStats` holds such sums, and moves sums taken about other
centres onto its own when online EM combines statistics from successive :math:`\\theta`.

Models that follow it
---------------------
- :mod:`em_helpers.models.normal_mixture`: notebook 03's two normals with their own
  variances (``mixture_stats``, ``mixture_m_step``, ``mixture_loglik``, ``mixture_sample``),
  :math:`\\theta = (\\mu_1, \\mu_2, \\pi, \\sigma_1, \\sigma_2)`;
- :class:`em_helpers.models.gmm.GMMSteps`: K-component mixtures in p dimensions
  (``steps.suff_stats``, ``steps.m_step``, ``steps.valid`` on :meth:`GMMParams.pack`).

For example::

    steps = gmm.GMMSteps(3, 2, "full")
    res = dask_em(steps.suff_stats, steps.m_step, data, start.pack(),
                  accelerate="squarem", valid=steps.valid)

The runners
-----------
This package runs the protocol three ways: over an in-memory or regenerated sequence of
numpy chunks (:func:`chunked_e_step`, :func:`chunked_em`), as one Dask computation per
iteration (:func:`dask_e_step`, :func:`dask_em`, on any scheduler, e.g. a
``dask.distributed`` cluster from :func:`dask_client`), and as one pass of online EM over a
stream of mini-batches (:func:`online_em`, Cappé & Moulines 2009). :class:`SeededBlocks`
describes data drawn block by block from a seed, so that :math:`10^8` points are never in
memory at once and the numpy and Dask paths see the same numbers.

Two more runners: incremental EM (:func:`incremental_em`, Neal & Hinton 1998), an M-step
after each chunk with that chunk's statistics swapped, exact and with fewer passes than
batch EM; and data on disk (:func:`write_npy`, :class:`NpyBlocks`: one ``.npy`` file read
block by block through a memory map, in this process or on Dask workers).

Modules: ``blocks`` (additive pytrees, :func:`stats_loglik`, :class:`SeededBlocks`),
``chunked``, ``on_dask``, ``online``, ``incremental``, ``disk``. They import only numpy
and the core; Dask is imported inside the functions that use it.
"""


from .blocks import SeededBlocks, StreamingEMResult, stats_loglik, tree_map, tree_sum
from .chunked import chunked_e_step, chunked_em
from .disk import NpyBlocks, write_npy
from .incremental import IncrementalEMResult, incremental_em
from .on_dask import SCHEDULER_ENV, dask_client, dask_e_step, dask_em
from .online import OnlineEMResult, online_em

__all__ = [
    "SCHEDULER_ENV",
    "IncrementalEMResult",
    "NpyBlocks",
    "OnlineEMResult",
    "SeededBlocks",
    "StreamingEMResult",
    "chunked_e_step",
    "chunked_em",
    "dask_client",
    "dask_e_step",
    "dask_em",
    "incremental_em",
    "online_em",
    "stats_loglik",
    "tree_map",
    "tree_sum",
    "write_npy",
]
