"""EM when the data do not fit in memory: the E-step as a reduction, and online EM.

For a complete-data model in the exponential family the E-step at :math:`\\theta` needs the
data only through expected sufficient statistics, which are **sums over observations**,

.. math:: S(\\theta) = \\sum_{i=1}^N E_\\theta[s(Y_i) \\mid x_i]
          = \\sum_{c} \\underbrace{\\sum_{i \\in c} E_\\theta[s(Y_i) \\mid x_i]}_{
          \\texttt{suff\\_stats}(\\theta,\\ \\text{chunk } c)},

and the M-step is a function of that total, :math:`\\theta' = \\bar\\theta(S)`. So one EM
iteration is a map over chunks followed by a sum. A model supplies

- ``suff_stats(theta, chunk) -> stats``: the chunk's expected sufficient statistics, an
  array or a small pytree (tuple, list, dict of arrays), **additive** over chunks;
- ``m_step(stats) -> theta``: the maximiser of Q given the total.

This module runs that protocol three ways: over an in-memory or regenerated sequence of
numpy chunks (:func:`chunked_e_step`, :func:`chunked_em`), as one Dask computation per
iteration (:func:`dask_e_step`, :func:`dask_em`, on any scheduler, e.g. a
``dask.distributed`` cluster from :func:`dask_client`), and as one pass of online EM over a
stream of mini-batches (:func:`online_em`, Cappé & Moulines 2009). :class:`SeededBlocks`
describes data drawn block by block from a seed, so that :math:`10^8` points are never in
memory at once and the numpy and Dask paths see the same numbers.

The example model: notebook 03's two normals (each with its own variance) in
exponential-family form (``mixture_stats``, ``mixture_m_step``, ``mixture_loglik``,
``mixture_sample``) lives in :mod:`em_helpers.models.normal_mixture`.
Modules: ``blocks`` (additive pytrees, :class:`SeededBlocks`), ``chunked``, ``on_dask``,
``online``. They import only numpy; Dask is imported inside the functions that use it.
"""


from .blocks import SeededBlocks, tree_map, tree_sum
from .chunked import chunked_e_step, chunked_em
from .on_dask import SCHEDULER_ENV, dask_client, dask_e_step, dask_em
from .online import OnlineEMResult, online_em

__all__ = [
    "SCHEDULER_ENV",
    "OnlineEMResult",
    "SeededBlocks",
    "chunked_e_step",
    "chunked_em",
    "dask_client",
    "dask_e_step",
    "dask_em",
    "online_em",
    "tree_map",
    "tree_sum",
]
