"""Gaussian-mixture EM speed: em_helpers.models.gmm against scikit-learn's GaussianMixture.

Two tables, same data, same start, fixed iterations, time per EM iteration:

1. notebook 03's model (1-D, 2 components, shared variance): the fast path
   ``em_helpers.models.gmm.TwoGaussiansSharedVariance`` under ``em_helpers.run_em`` (with its
   log-likelihood, which comes from the same pass) vs ``GaussianMixture(covariance_type=
   "tied")``, N = 1e4, 1e5, 1e6, and the ratio to a floor: one ``np.exp`` over an N x 2
   float64 array. Target: <= 4x the floor at N = 1e6.
2. full covariances, p = 2..10, K = 3..8, N = 1e5: ``em_helpers.models.gmm.GMM.fit`` (run_em, with
   the log-likelihood per iteration, as scikit-learn computes its lower bound) vs
   ``GaussianMixture(covariance_type="full")``. Target: ratio <= 1.0.

Per-iteration times are differences, (T(1 + n) - T(1)) / n, so that set-up (scikit-learn
runs k-means inside ``fit`` even when every initial parameter is given) is not counted; each
is the best of ``--repeat`` runs. BLAS runs on one thread for both (threadpoolctl), so that
a shared machine gives stable numbers.

    python bench/bench_gmm.py [--repeat 3] [--quick] [--write]

``--write`` replaces the section between ``<!-- gmm:start -->`` and ``<!-- gmm:end -->`` of
bench/README.md with the tables and the machine description.
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings

import numpy as np
from benchlib import best_of, cpu_model, load_average, write_section
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

import em_helpers as emh
import em_helpers.models.gmm as g


def per_iter(run, n: int, repeat: int) -> float:
    """(T(1 + n) - T(1)) / (m - 1) for ``run(iterations) -> iterations done`` (m done of
    1 + n asked: run_em stops early when the iterate is at round-off)."""
    done = run(1 + n)
    return (best_of(lambda: run(1 + n), repeat) - best_of(lambda: run(1), repeat)) / (done - 1)


def sklearn_runner(X, start: g.GMMParams, reg_covar: float = 1e-6):
    ct = start.covariance_type
    prec = np.linalg.inv(start.covariances) if ct in ("full", "tied") else 1 / start.covariances

    def run(iters):
        gm = GaussianMixture(
            start.n_components, covariance_type=ct, weights_init=start.weights,
            means_init=start.means, precisions_init=prec, reg_covar=reg_covar, tol=0,
            max_iter=iters,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X)
        assert gm.n_iter_ == iters
        return gm

    return run


def count(run):
    """``run`` returning the number of iterations (scikit-learn always does them all)."""
    return lambda iters: run(iters).n_iter_


def one_d(N: int, n: int, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    z = rng.random(N) < 0.36
    x = np.where(z, rng.normal(54.6, 5.87, N), rng.normal(80.1, 5.87, N))
    theta0 = np.array([50.0, 85.0, 0.5, 10.0])

    def ours(iters):
        fast = g.TwoGaussiansSharedVariance(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", emh.ConvergenceWarning)
            res = emh.run_em(fast.e_step, fast.m_step, theta0, loglik=fast.loglik,
                             tol=1e-15, max_iter=iters, scale=1.0)
        return res.n_iter

    start = g.GMMParams([0.5, 0.5], [[50.0], [85.0]], [[100.0]], "tied")
    sk = sklearn_runner(x[:, None], start, reg_covar=0.0)  # the fast path has no floor
    A = np.ones((N, 2))
    floor = best_of(lambda: np.exp(A), max(repeat, 5))
    t_ours, t_sk = per_iter(ours, n, repeat), per_iter(count(sk), n, repeat)
    # the same estimates after 1 + n iterations from the same start
    fast = g.TwoGaussiansSharedVariance(x)
    a = theta0
    for _ in range(1 + n):
        a = fast.m_step(fast.e_step(a))
    b = sk(1 + n)
    agree = max(abs(a[0] - b.means_[0, 0]), abs(a[1] - b.means_[1, 0]),
                abs(a[2] - b.weights_[0]), abs(a[3] ** 2 - b.covariances_[0, 0]))
    return {"N": N, "ours": t_ours, "sklearn": t_sk, "floor": floor, "agree": agree}


def full_cov(p: int, K: int, N: int, n: int, repeat: int) -> dict:
    rng = np.random.default_rng(p * 100 + K)
    centres = rng.normal(0, 4, (K, p))
    labels = rng.integers(K, size=N)
    X = centres[labels] + rng.normal(size=(N, p)) @ np.diag(rng.uniform(0.5, 1.5, p))
    start = g.init_params(X, K, method="random", seed=1)
    model = g.GMM(X, K, "full", reg_covar=1e-6)

    def ours(iters):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", emh.ConvergenceWarning)
            params, res = model.fit(start, tol=1e-15, max_iter=iters, check_ascent=False)
        return res.n_iter

    sk = sklearn_runner(X, start)
    t_ours, t_sk = per_iter(ours, n, repeat), per_iter(count(sk), n, repeat)
    params = start
    for _ in range(1 + n):
        params = model.step(params)
    diff = np.abs(params.means - sk(1 + n).means_).max()
    return {"p": p, "K": K, "N": N, "ours": t_ours, "sklearn": t_sk, "agree": diff}


def machine() -> str:
    load = load_average()
    model = cpu_model()
    import scipy
    import sklearn

    return (
        f"{os.cpu_count()} cores, {model}; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}, scikit-learn {sklearn.__version__}; "
        f"BLAS limited to 1 thread; load average at start {load:.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke test)")
    ap.add_argument("--write", action="store_true", help="write the tables to bench/README.md")
    args = ap.parse_args()
    desc = machine()
    lines = ["## Gaussian mixtures (`bench/bench_gmm.py`, issue 13)", "", desc, ""]
    with threadpool_limits(1):
        sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
        lines += [
            "Notebook 03's model (1-D, 2 components, shared variance): the fast path "
            "`TwoGaussiansSharedVariance` under `run_em` (with the log-likelihood) vs "
            '`GaussianMixture(covariance_type="tied", reg_covar=0)`, 50 iterations from the '
            "same start (ours stops earlier when the iterate reaches round-off; time per "
            "iteration either way); "
            "floor = one `np.exp` over an N x 2 float64 array. Target: <= 4x floor at N = 1e6.",
            "",
            "| N | ours ms/iter | sklearn ms/iter | ours/sklearn | ours/floor | max abs diff |",
            "|---|---|---|---|---|---|",
        ]
        for N in sizes:
            r = one_d(N, 50, args.repeat)
            row = (
                f"| {N:.0e} | {1e3 * r['ours']:.3f} | {1e3 * r['sklearn']:.3f} | "
                f"{r['ours'] / r['sklearn']:.3f} | {r['ours'] / r['floor']:.2f} | "
                f"{r['agree']:.1e} |"
            )
            print(row, flush=True)
            lines.append(row)
        lines += [
            "",
            "Full covariances, N = 1e5 (1e4 with --quick), `GMM.fit` (run_em, with the "
            'log-likelihood) vs `GaussianMixture(covariance_type="full")`, 20 iterations from '
            "the same start. Target: ours/sklearn <= 1.0.",
            "",
            "| p | K | ours ms/iter | sklearn ms/iter | ours/sklearn | max abs diff of means |",
            "|---|---|---|---|---|---|",
        ]
        grid = [(2, 3), (5, 5)] if args.quick else [
            (p, K) for p in (2, 5, 10) for K in (3, 5, 8)
        ]
        for p, K in grid:
            r = full_cov(p, K, 10_000 if args.quick else 100_000, 20, args.repeat)
            row = (
                f"| {p} | {K} | {1e3 * r['ours']:.2f} | {1e3 * r['sklearn']:.2f} | "
                f"{r['ours'] / r['sklearn']:.2f} | {r['agree']:.1e} |"
            )
            print(row, flush=True)
            lines.append(row)
    lines += [
        "",
        "Notes (profiles on this machine, `python -m cProfile`):",
        "- The fast path's pass is one `exp`, one `log` and about eight light sweeps over N "
        "floats (multiply, subtract, +1, reciprocal, one BLAS gemv for both sums); the clip of "
        "the log-odds and the sum of the log-odds are skipped when the affine bound shows them "
        "unneeded, and NumPy's SIMD `log` replaces `log1p` (2x slower). At N = 1e4 the floor "
        "is ~20 us and the fixed Python cost of a `run_em` iteration (~0.1 ms: checks, "
        "stopping rule, path) dominates, so the floor ratio is large there by construction.",
        "- scikit-learn 1.9's time per iteration is dominated by its array-API `_logsumexp` "
        "over the (N, K) log-probabilities (~90 ms per call at N = 1e5, K = 2 here), which "
        "ours replaces by one max-shifted `exp` pass shared with the responsibilities on a "
        "(K, N) array whose rows are contiguous.",
        "- Full covariances: ours applies L^-1 with one BLAS gemm per component (like "
        "scikit-learn's precisions_cholesky_), computes the statistics about the current means "
        "(no second pass to centre), and keeps every LAPACK call in NumPy's OpenBLAS: SciPy's "
        "wheel carries a second OpenBLAS, and alternating the two thread pools cost 0.1-10 ms "
        "per switch on this loaded machine.",
        "- The machine was shared with other jobs (load average 2 to 13 on 2 cores): absolute "
        "times are inflated and noisy, ratios less so (best of --repeat runs).",
    ]
    if args.write:
        readme = write_section("gmm", "\n".join(lines))
        print(f"wrote {readme}")


if __name__ == "__main__":
    main()
