"""em_helpers.streaming: chunked E-step == in-memory, Dask == numpy, online EM -> batch MLE."""

from collections import namedtuple
from functools import partial

import numpy as np
import pytest

from em_helpers import ConvergenceWarning
from em_helpers.models.normal_mixture import (
    mixture_loglik,
    mixture_m_step,
    mixture_sample,
    mixture_stats,
)
from em_helpers.streaming import (
    SeededBlocks,
    chunked_e_step,
    chunked_em,
    dask_client,
    dask_e_step,
    dask_em,
    online_em,
    tree_sum,
)

TRUE = np.array([-2.0, 2.0, 0.35, 1.0, 0.8])
START = np.array([-1.0, 1.0, 0.5, 1.5, 1.5])


def _data(n=3001, seed=5):
    return mixture_sample(np.random.default_rng(seed), n, TRUE)


def _vec(stats):
    """The sums in mixture_stats' SuffStats as one vector (centres must agree)."""
    return np.concatenate([stats.nk, stats.s1.ravel(), stats.s2.ravel(), [stats.loglik]])


SPLITS = {
    "one chunk": lambda x: [x],
    "even": lambda x: np.array_split(x, 10),
    "uneven": lambda x: np.split(x, [1, 2, 500, 501, 2999]),
    "single points at the ends": lambda x: [x[:1], x[1:-1], x[-1:]],
}


@pytest.mark.parametrize("split", SPLITS.values(), ids=SPLITS.keys())
def test_chunked_e_step_equals_in_memory(split):
    x = _data()
    chunks = split(x)
    assert sum(len(c) for c in chunks) == x.size
    whole = mixture_stats(START, x)
    total = chunked_e_step(mixture_stats, START, chunks)
    np.testing.assert_array_equal(total.center, whole.center)
    np.testing.assert_allclose(_vec(total), _vec(whole), rtol=1e-12)
    # and the whole run: the same iterates as the in-memory EM, to round-off
    kw = {"tol": 1e-10, "max_iter": 500}
    ref = chunked_em(mixture_stats, mixture_m_step, [x], START, **kw)
    res = chunked_em(mixture_stats, mixture_m_step, chunks, START, **kw)
    assert res.converged and res.n_iter == ref.n_iter
    np.testing.assert_allclose(res.thetas, ref.thetas, rtol=1e-10, atol=1e-13)


def test_em_fixed_point_zeroes_the_score():
    x = _data()
    res = chunked_em(mixture_stats, mixture_m_step, np.array_split(x, 4), START, tol=1e-12,
                     loglik=partial(mixture_loglik, x=x))
    h = 1e-6
    score = [(mixture_loglik(res.theta + h * e, x) - mixture_loglik(res.theta - h * e, x))
             / (2 * h) for e in np.eye(5)]
    assert np.max(np.abs(score)) < 1e-3
    assert np.all(np.diff(res.logliks) > -1e-9)


def test_pytree_statistics_add_leafwise():
    parts = [{"n": 1, "s": (np.array([1.0, 2.0]), 3.0)}, {"n": 2, "s": (np.array([4.0, 5.0]), 6.0)}]
    total = tree_sum(parts)
    assert total["n"] == 3
    np.testing.assert_array_equal(total["s"][0], [5.0, 7.0])
    assert total["s"][1] == 9.0
    with pytest.raises(ValueError, match="structure"):
        tree_sum([{"a": 1}, {"b": 1}])
    Stats = namedtuple("Stats", "n s")
    total = tree_sum([Stats(1, np.ones(2)), Stats(2, np.ones(2))])
    assert isinstance(total, Stats) and total.n == 3
    np.testing.assert_array_equal(total.s, [2.0, 2.0])


def test_chunk_input_errors():
    x = _data(100)
    with pytest.raises(TypeError, match="iterator"):
        chunked_e_step(mixture_stats, START, iter([x]))
    with pytest.raises(TypeError, match="one array"):
        chunked_e_step(mixture_stats, START, x)
    with pytest.raises(ValueError, match="empty"):
        chunked_e_step(mixture_stats, START, [])
    with pytest.raises(ValueError, match="chunk"):
        SeededBlocks(partial(mixture_sample, theta=TRUE), 10, 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        SeededBlocks(partial(mixture_sample, theta=TRUE), 1e6, 10)


def test_seeded_blocks_reproducible_and_shaped():
    blocks = SeededBlocks(partial(mixture_sample, theta=TRUE), 1050, 200, seed=3)
    assert blocks.sizes == (200,) * 5 + (50,) and len(blocks) == 6
    first, again = list(blocks), list(blocks)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(blocks.block(5), first[5])


def test_dask_path_equals_numpy_path():
    blocks = SeededBlocks(partial(mixture_sample, theta=TRUE), 5_000, 700, seed=9)
    data = blocks.to_dask()
    assert data.shape == (5_000,) and data.numblocks == (8,)
    np.testing.assert_array_equal(data.compute(scheduler="synchronous"),
                                  np.concatenate(list(blocks)))
    np.testing.assert_allclose(
        _vec(dask_e_step(mixture_stats, START, data, scheduler="threads", split_every=2)),
        _vec(chunked_e_step(mixture_stats, START, blocks)), rtol=1e-12)
    kw = {"tol": 1e-6, "max_iter": 200}
    ref = chunked_em(mixture_stats, mixture_m_step, blocks, START, **kw)
    res = dask_em(mixture_stats, mixture_m_step, data, START, scheduler="synchronous", **kw)
    assert res.n_iter == ref.n_iter
    np.testing.assert_allclose(res.thetas, ref.thetas, rtol=1e-10, atol=1e-13)


def test_dask_input_errors():
    import dask.array as da

    with pytest.raises(ValueError, match="rows only"):
        dask_e_step(mixture_stats, START, da.ones((10, 4), chunks=(5, 2)))
    with pytest.raises(TypeError, match="dask.array"):
        dask_e_step(mixture_stats, START, np.ones(10))


def test_client_closed_even_after_an_error(monkeypatch):
    monkeypatch.delenv("EM_DASK_SCHEDULER", raising=False)
    seen = {}
    with pytest.raises(RuntimeError, match="inside"), dask_client(n_workers=1) as client:
        seen["client"] = client
        assert client.submit(sum, [1, 2]).result() == 3
        raise RuntimeError("inside the block")
    assert seen["client"].status == "closed"


def test_online_em_recursion_is_a_running_mean_with_alpha_one():
    # gamma_t = 1/t and theta held at theta0: s_T is the average of the batch statistics
    x = _data(1000)
    batches = np.split(x, 10)
    with pytest.warns(ConvergenceWarning, match="no M-step"):
        res = online_em(mixture_stats, mixture_m_step, batches, START, alpha=1.0, burn_in=10)
    np.testing.assert_allclose(_vec(res.stats), _vec(mixture_stats(START, x) / x.size),
                               rtol=1e-12)
    np.testing.assert_array_equal(res.theta, START)
    assert res.n_seen[-1] == 1000


def test_online_em_approaches_the_batch_mle():
    """Error of one online pass (and of its Polyak average) to the batch MLE of the same
    stream falls as the stream grows."""
    errors = []
    for n in (1_000, 10_000, 100_000):
        x = _data(n, seed=11)
        mle = chunked_em(mixture_stats, mixture_m_step, [x], START, tol=1e-10).theta
        batches = np.array_split(x, n // 100)
        res = online_em(mixture_stats, mixture_m_step, batches, START, alpha=0.6,
                        burn_in=5, average_from=len(batches) // 10)
        errors.append((np.abs(res.theta - mle).max(), np.abs(res.theta_avg - mle).max()))
    errors = np.array(errors)
    assert np.all(np.diff(errors[:, 1]) < 0), errors  # the average: steadily
    assert errors[-1, 0] < errors[0, 0] / 5, errors  # the last iterate: noisier
    assert errors[-1, 1] < errors[0, 1] / 10 and errors[-1, 1] < 0.01, errors


def test_online_em_input_errors():
    x = _data(500)
    batches = np.array_split(x, 5)
    for alpha in (0.5, 1.2, True, "0.6"):
        with pytest.raises(ValueError, match="alpha"):
            online_em(mixture_stats, mixture_m_step, batches, START, alpha=alpha)
    with pytest.raises(ValueError, match="batches is empty"):
        online_em(mixture_stats, mixture_m_step, [], START)
    with pytest.raises(ValueError, match="batch 2 is empty"):
        online_em(mixture_stats, mixture_m_step, [x, x[:0]], START)

    def m_step_totals(s):  # uses the raw count: not scale-invariant
        return np.r_[mixture_m_step(s)[:2], s.nk[0] / 500, mixture_m_step(s)[3:]]

    with pytest.raises(ValueError, match="invariant"):
        online_em(mixture_stats, m_step_totals, batches, START)


def test_scheduler_address_from_the_environment(monkeypatch):
    import dask.array as da
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as remote:
        monkeypatch.setenv("EM_DASK_SCHEDULER", remote.scheduler_address)
        with dask_client() as client:  # connects, starts no cluster of its own
            assert client.scheduler.address == remote.scheduler_address
            x = _data(2_000)
            data = da.from_array(x, chunks=500)
            np.testing.assert_allclose(_vec(dask_e_step(mixture_stats, START, data)),
                                       _vec(mixture_stats(START, x)), rtol=1e-12)
        assert remote.status.name == "running"  # the client closed, the cluster is not ours


def test_additive_objects_from_gmm():
    """em_helpers.models.gmm's SuffStats add with +: the chunked and Dask E-steps sum them."""
    import dask.array as da

    from em_helpers.models import gmm

    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(3, 0.5, (200, 2))])
    params = gmm.GMMParams(np.array([0.5, 0.5]), np.array([[0.0, 0.0], [2.0, 2.0]]),
                           np.array([np.eye(2)] * 2))
    theta = params.pack()

    def stats(th, chunk):
        return gmm.suff_stats(chunk, gmm.GMMParams.unpack(th, 2, 2, "full"))

    whole = gmm.m_step(gmm.suff_stats(X, params)).pack()
    chunked = gmm.m_step(chunked_e_step(stats, theta, np.array_split(X, 7))).pack()
    on_dask = gmm.m_step(dask_e_step(stats, theta, da.from_array(X, chunks=(120, 2)),
                                     scheduler="synchronous")).pack()
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(on_dask, whole, rtol=1e-12, atol=1e-14)
