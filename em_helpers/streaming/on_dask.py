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

from ..core.loop import EMResult, run_em
from .blocks import _pairwise_sum

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
            **run_em_kwargs: Any) -> EMResult:
    """:func:`~em_helpers.run_em` with :func:`dask_e_step`: one ``compute`` (one pass over
    ``data``) per EM map evaluation; ``res.n_evals`` passes in all."""
    return run_em(lambda th: dask_e_step(suff_stats, th, data, scheduler=scheduler,
                                         num_workers=num_workers),
                  m_step, theta0, **run_em_kwargs)


@contextmanager
def dask_client(address: str | None = None, *, n_workers: int = 2,
                threads_per_worker: int = 1, processes: bool = False,
                **cluster_kwargs: Any) -> Iterator[Any]:
    """A ``distributed.Client``, closed (with its cluster) on exit, even after an error.

    ``address`` (or else the environment variable ``EM_DASK_SCHEDULER``) names a running
    scheduler, e.g. ``"tcp://10.0.0.5:8786"``: the client connects to it and the same code
    runs there. Without one, a ``LocalCluster`` of ``n_workers`` workers is started
    (threads in this process with ``processes=False``, separate processes otherwise);
    ``cluster_kwargs`` go to ``LocalCluster``. The client is the default scheduler inside
    the ``with`` block.
    """
    from distributed import Client, LocalCluster

    # A normal close sometimes logs "Batched Comm Closed" (INFO, with a traceback) from the
    # event loop after the cluster's own log silencing has ended: in a notebook that lands on
    # stderr. It reports nothing wrong; warnings and errors of this logger still show.
    logging.getLogger("distributed.batched").setLevel(logging.WARNING)
    address = address or os.environ.get(SCHEDULER_ENV) or None
    cluster = None
    if address is None:
        cluster_kwargs.setdefault("dashboard_address", ":0")  # any free port
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                               processes=processes, **cluster_kwargs)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
