"""EM at scale on Dask: time per EM pass and peak memory per worker vs N and workers.

The data are the two-normal mixture of notebook 08, drawn block by block from a seed on
the workers (``em_helpers.streaming.SeededBlocks.to_dask``): no process ever holds all N
points. For each N and number of workers a fresh ``distributed.LocalCluster`` (one
process per worker, one thread each) is started; after one warm-up pass, ``--reps``
E-step passes (one ``compute`` each: draw the block, its responsibilities and sufficient
statistics, a tree sum) are timed, and each worker process reports its peak resident
memory (``ru_maxrss``) and its memory before the first pass. The memory must stay flat as
N grows: a worker holds a few blocks at a time, not its share of the data.

    python bench/bench_dask.py [--sizes 1e6 1e7 1e8] [--workers 1 2] [--chunk 250000]
                               [--reps 2] [--readme]

Prints a table; writes JSON to bench/results/dask.json; with ``--readme`` replaces the
section between ``<!-- dask:start -->`` and ``<!-- dask:end -->`` in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from functools import partial
from pathlib import Path

import numpy as np
from benchlib import cpu_model, load_average, write_section

from em_helpers.models.normal_mixture import mixture_m_step, mixture_sample, mixture_stats
from em_helpers.streaming import (
    SeededBlocks,
    dask_client,
    dask_e_step,
)

ROOT = Path(__file__).resolve().parents[1]
TRUE = np.array([-2.0, 2.0, 0.35, 1.0, 0.8])
THETA = np.array([-1.5, 1.5, 0.5, 1.2, 1.2])


def _rss_mb() -> tuple[float, float, float]:  # runs on a worker
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/statm") as f:
        now = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    # peak RSS (kB on Linux) in MB, current RSS in MB, CPU seconds used so far
    return usage.ru_maxrss / 1024, now, usage.ru_utime + usage.ru_stime


def one_setting(n: int, workers: int, chunk: int, reps: int, processes: bool = True) -> dict:
    data = SeededBlocks(partial(mixture_sample, theta=TRUE), n, chunk, seed=2026).to_dask()
    with dask_client(n_workers=workers, threads_per_worker=1, processes=processes,
                     memory_limit="2GiB") as client:
        before = client.run(_rss_mb)
        t0 = time.perf_counter()
        stats = dask_e_step(mixture_stats, THETA, data)  # warm-up pass
        first = time.perf_counter() - t0
        cpu0 = sum(v[2] for v in client.run(_rss_mb).values())
        times = []
        for rep in range(reps):
            # a new theta each pass, as in EM: identical task keys could reuse results
            # the cluster still holds from the previous pass
            theta = THETA + 1e-9 * (rep + 1)
            t0 = time.perf_counter()
            stats = dask_e_step(mixture_stats, theta, data)
            times.append(time.perf_counter() - t0)
        after = client.run(_rss_mb)
        cpu = (sum(v[2] for v in after.values()) - cpu0) / reps
    theta1 = mixture_m_step(stats)
    if not processes:  # threads share this process: no per-worker memory or CPU to report
        before, after, cpu = {}, {}, float("nan")
    return {
        "n": n, "workers": workers, "kind": "processes" if processes else "threads",
        "chunk": chunk, "blocks": data.numblocks[0],
        "first_pass_s": first, "pass_s": times, "median_pass_s": float(np.median(times)),
        "worker_cpu_s_per_pass": cpu,
        "rss_before_mb": [v[1] for v in before.values()],
        "peak_rss_mb": [v[0] for v in after.values()],
        "theta_after_one_step": theta1.tolist(),
    }


def machine() -> str:
    return (f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
            f"load average {load_average():.1f} at the start")


def table(rows: list[dict]) -> str:
    lines = [
        "| N | workers | blocks | s per EM pass (median) | worker CPU s per pass | "
        "N/s per pass | peak RSS per worker (MB) | RSS before (MB) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        cpu = r["worker_cpu_s_per_pass"]
        lines.append(
            f"| {r['n']:.0e} | {r['workers']} {r['kind']} | {r['blocks']} | "
            f"{r['median_pass_s']:.2f} | "
            f"{'—' if np.isnan(cpu) else format(cpu, '.2f')} | "
            f"{r['n'] / r['median_pass_s']:.2e} | "
            f"{', '.join(f'{m:.0f}' for m in r['peak_rss_mb']) or '—'} | "
            f"{', '.join(f'{m:.0f}' for m in r['rss_before_mb']) or '—'} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict], end_load: float) -> str:
    """One computed paragraph: how memory and time grow with N (process rows)."""
    procs = [r for r in rows if r["kind"] == "processes"]
    if not procs:
        return ""
    lo, hi = min(procs, key=lambda r: r["n"]), max(procs, key=lambda r: r["n"])
    peak = lambda r: max(r["peak_rss_mb"])  # noqa: E731
    by_w = {r["workers"]: r["median_pass_s"] for r in procs if r["n"] == hi["n"]}
    workers = ""
    if 1 in by_w and 2 in by_w:
        workers = (f"At N = {hi['n']:.0e} two workers take {by_w[2] / by_w[1]:.2f} of one "
                   "worker's wall time (0.5 would be a perfect split of the work over the two "
                   "cores; other jobs were using them too).")
    return (
        f"Reading: from N = {lo['n']:.0e} to {hi['n']:.0e} ({hi['n'] / lo['n']:.0f}x the data, "
        f"{hi['n'] * 8 / 1e6:,.0f} MB if held at once) the largest worker peak RSS goes "
        f"from {peak(lo):.0f} to {peak(hi):.0f} MB: memory is set by the block, not by N. "
        f"The worker CPU time per pass grows with N; wall times are upper bounds, since the "
        f"machine was shared with other jobs (load average {end_load:.1f} at the end). "
        + workers
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--thread-sizes", type=float, nargs="*", default=[1e7],
                        help="also time these N with thread workers (processes=False)")
    parser.add_argument("--readme", action="store_true")
    parser.add_argument("--from-json", action="store_true",
                        help="rewrite the README section from bench/results/dask.json, no runs")
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / "dask.json"
    if args.from_json:
        saved = json.loads(out.read_text())
        args.chunk, args.reps = saved["rows"][0]["chunk"], len(saved["rows"][0]["pass_s"])
        report(saved["machine"], saved["rows"], saved["end_load"], args)
        return
    host = machine()
    print(host)
    rows = []
    for n in (int(s) for s in args.sizes):
        for w in args.workers:
            r = one_setting(n, w, args.chunk, args.reps)
            rows.append(r)
            print(f"N={n:.0e} workers={w}: {r['median_pass_s']:.2f} s/pass "
                  f"(first {r['first_pass_s']:.2f} s), peak RSS {r['peak_rss_mb']} MB",
                  flush=True)
    for n in (int(s) for s in args.thread_sizes):
        for w in args.workers:
            r = one_setting(n, w, args.chunk, args.reps, processes=False)
            rows.append(r)
            print(f"N={n:.0e} threads={w}: {r['median_pass_s']:.2f} s/pass", flush=True)
    end_load = load_average()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": host, "rows": rows, "end_load": end_load}, indent=2))
    report(host, rows, end_load, args)


def report(host: str, rows: list[dict], end_load: float, args: argparse.Namespace) -> None:
    text = table(rows) + "\n\n" + summary(rows, end_load)
    print(text)
    if args.readme:
        write_section(
            "dask",
            "## EM at scale on Dask (`bench/bench_dask.py`, notebook 08)\n\n"
            f"Machine: {host}. One E-step pass = one `compute`: each block of "
            f"{args.chunk:,} points is drawn from its seed on a worker, reduced to its "
            "(2, 3) sufficient statistics, and the statistics are tree-summed. "
            "`LocalCluster` with one process per worker, one thread each (rows "
            "marked threads: workers are threads of one process, whose memory is not "
            "per worker); a fresh cluster per row; median of "
            f"{args.reps} passes after a warm-up pass. Peak RSS is each worker "
            "process's `ru_maxrss`.\n\n" + text
        )


if __name__ == "__main__":
    main()
