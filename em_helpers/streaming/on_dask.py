"""The E-step as one Dask computation per EM map evaluation (a tree reduction over
blocks), on any scheduler; :func:`dask_client` gives a local or remote ``distributed``
cluster that always closes. Dask is imported inside the functions that use it."""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .blocks import StreamingEMResult, _em_with_passes, _pairwise_sum, _Passes

__all__ = ['SCHEDULER_ENV', 'dask_client', 'dask_e_step', 'dask_em']


#: Environment variable holding a remote ``dask.distributed`` scheduler address.
SCHEDULER_ENV = "EM_DASK_SCHEDULER"


def dask_e_step(suff_stats: Callable[[Any, np.ndarray], Any], theta: Any, data: Any, *,
                split_every: int = 8, scheduler: Any = None,
                num_workers: int | None = None) -> Any:
    """The E-step over a row-chunked ``dask.array`` in one ``compute``.

    A task per block computes ``suff_stats(theta, block)``; the results are summed by a
    tree of tasks (``split_every`` at a time), so a worker holds one block at a time and
    only the small statistics travel. Runs on the active scheduler (a
    ``distributed.Client`` if one exists, else Dask's default) unless ``scheduler`` is
    given (``"threads"``, ``"synchronous"``, ``"processes"`` or a client); ``num_workers``
    sizes the pool of the ``"threads"`` and ``"processes"`` schedulers.
    """
    import dask

    if getattr(data, "ndim", 0) not in (1, 2) or not hasattr(data, "to_delayed"):
        raise TypeError(f"data must be a 1-D or 2-D dask.array, got {type(data).__name__}")
    if any(k != 1 for k in data.numblocks[1:]):
        raise ValueError(
            f"data must be chunked by rows only (numblocks {data.numblocks}); "
            "use data.rechunk({1: -1})"
        )
    if isinstance(split_every, bool) or not isinstance(split_every, numbers.Integral) \
            or split_every < 2:
        raise ValueError(f"split_every must be an integer >= 2, got {split_every!r}")
    stats = dask.delayed(suff_stats, pure=False)
    level = [stats(theta, block) for block in data.to_delayed().ravel()]
    add = dask.delayed(_pairwise_sum, pure=False)
    while len(level) > 1:
        level = [add(level[i:i + split_every]) for i in range(0, len(level), split_every)]
    extra = {} if num_workers is None else {"num_workers": int(num_workers)}
    (total,) = dask.compute(level[0], scheduler=scheduler, **extra)
    return total


def dask_em(suff_stats: Callable[[Any, np.ndarray], Any], m_step: Callable[[Any], Any],
            data: Any, theta0: Any, *, scheduler: Any = None, num_workers: int | None = None,
            split_every: int = 8, **run_em_kwargs: Any) -> StreamingEMResult:
    """:func:`~em_helpers.run_em` with :func:`dask_e_step`: one ``compute`` (one pass over
    ``data``) per EM map evaluation.

    When the statistics carry the log-likelihood (:func:`~em_helpers.streaming.stats_loglik`:
    each block's :math:`\\ell_b(\\theta)` travels in the same reduction), :math:`\\ell(\\theta)`
    comes from the ``compute`` at :math:`\\theta` that the next E-step uses anyway: plain EM
    and SQUAREM keep the ascent check and ``res.logliks`` for one extra ``compute`` in all
    (:math:`\\ell` at the final iterate), ``n_evals + 1`` for plain EM. SQUAREM adds one
    for each extrapolation it rejects (:math:`\\ell` at a point it does not step from).
    Pass ``loglik=`` to use your own function instead (``loglik=None``: none).
    """
    if not callable(suff_stats):
        raise TypeError(f"suff_stats must be a callable suff_stats(theta, block), "
                        f"got {suff_stats!r}")
    passes = _Passes(lambda th: dask_e_step(suff_stats, th, data, split_every=split_every,
                                            scheduler=scheduler, num_workers=num_workers))
    return _em_with_passes(passes, m_step, theta0, run_em_kwargs)


#: Keywords that only describe the LocalCluster :func:`dask_client` starts itself.
_CLUSTER_ONLY = ("n_workers", "threads_per_worker", "processes")


@contextmanager
def dask_client(address: str | None = None, *, n_workers: int | None = None,
                threads_per_worker: int | None = None, processes: bool | None = None,
                timeout: float | None = None, **cluster_kwargs: Any) -> Iterator[Any]:
    """A ``distributed.Client``, closed (with its cluster) on exit, even after an error.

    ``address`` (or else the environment variable ``EM_DASK_SCHEDULER``) names a running
    scheduler, e.g. ``"tcp://10.0.0.5:8786"``: the client connects to it and the same code
    runs there. Without one, a ``LocalCluster`` of ``n_workers`` workers (default 2) with
    ``threads_per_worker`` threads (default 1) is started (threads in this process with
    ``processes=False``, the default, separate processes otherwise); ``cluster_kwargs`` go
    to ``LocalCluster``. The client is the default scheduler inside the ``with`` block.

    ``timeout`` (seconds) bounds the wait for the scheduler (``distributed``'s default,
    30 s, otherwise). With an explicit ``address`` the cluster keywords describe nothing
    and are refused; with the address from the environment they are ignored, so that a
    notebook written for a local cluster runs unchanged on a remote one.

    While the client is open the ``distributed.batched`` logger is at ``WARNING`` (a normal
    close logs "Batched Comm Closed" at INFO with a traceback); its level is restored on
    exit.

    Raises
    ------
    ValueError
        Cluster keywords with an explicit ``address``; a negative or zero ``timeout``.
    OSError
        The scheduler at ``address`` did not answer within ``timeout``.
    """
    from distributed import Client, LocalCluster

    if timeout is not None and (isinstance(timeout, bool) or not isinstance(
            timeout, numbers.Real) or not timeout > 0):
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    given = {name: value for name, value in (("n_workers", n_workers),
                                             ("threads_per_worker", threads_per_worker),
                                             ("processes", processes)) if value is not None}
    if address is not None and (given or cluster_kwargs):
        raise ValueError(
            f"address={address!r} connects to a running scheduler; the cluster keywords "
            f"{sorted([*given, *cluster_kwargs])} would start a LocalCluster and mean nothing "
            "there: drop them (or drop address)"
        )
    address = address or os.environ.get(SCHEDULER_ENV) or None
    timeout_kw = {} if timeout is None else {"timeout": float(timeout)}
    logger = logging.getLogger("distributed.batched")
    old_level = logger.level
    logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    cluster = client = None
    try:
        if address is None:
            cluster_kwargs.setdefault("dashboard_address", ":0")  # any free port
            cluster = LocalCluster(
                n_workers=2 if n_workers is None else n_workers,
                threads_per_worker=1 if threads_per_worker is None else threads_per_worker,
                processes=False if processes is None else processes, **cluster_kwargs)
            client = Client(cluster, **timeout_kw)
        else:
            client = Client(address, **timeout_kw)
        yield client
    finally:
        try:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        finally:
            logger.setLevel(old_level)
