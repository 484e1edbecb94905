"""EM at scale: time per E-step pass and peak memory, in one process and on Dask, with the
data drawn from seeds or read from disk.

The data are the two-normal mixture of notebook 08, N points in blocks of ``--chunk`` rows.
Where the scale comes from: *flat memory* comes from the blocks (``SeededBlocks`` draws
block b from its seed; ``NpyBlocks`` reads rows of an ``.npy`` file through a memory map)
and from statistics that are sums (``mixture_stats`` reduces a block to a few numbers), not
from Dask. So the baseline is the same reduction in one process (``chunked_e_step``); the
Dask rows run it as one ``compute`` per pass, on threads of this process or on a
``LocalCluster`` of worker processes (a fresh one per row). Every setting runs in a fresh
process (spawned), so each row's peak RSS (VmHWM) is its own; for Dask processes
it is each worker's (VmHWM). After one warm-up pass, ``--reps`` passes are timed.

Sources: ``seeded`` (drawn on the fly, every pass) and ``disk`` (one ``.npy`` file written
once from the same seeds, then streamed by ``NpyBlocks``, which reads each block at its
offset; the page cache holds it after the first pass, so
these are warm reads: the *cold* reads are measured separately, below). The file is written
under ``--tmp`` (checked for space first) and deleted at the end.

The on-disk format was chosen by measurement: one ``.npy`` read at offsets vs the same
file through a memory map vs one ``.npy`` file per block, each written once and read block by block,
cold (the file's pages dropped from the cache with ``posix_fadvise(DONTNEED)``, which
touches only these files) and warm.

    python bench/bench_dask.py [--sizes 1e6 1e7 1e8] [--chunk 250000] [--reps 2]
                               [--readme] [--from-json]

Prints the tables; writes JSON to bench/results/dask.json; with ``--readme`` replaces the
section between ``<!-- dask:start -->`` and ``<!-- dask:end -->`` in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from benchlib import cpu_model, load_average, write_section

from em_helpers.models.normal_mixture import mixture_m_step, mixture_sample, mixture_stats
from em_helpers.streaming import (
    NpyBlocks,
    SeededBlocks,
    chunked_e_step,
    dask_client,
    dask_e_step,
    write_npy,
)

ROOT = Path(__file__).resolve().parents[1]
TRUE = np.array([-2.0, 2.0, 0.35, 1.0, 0.8])
THETA = np.array([-1.5, 1.5, 0.5, 1.2, 1.2])
SEED = 2026


def _rss_mb() -> tuple[float, float, float]:  # in a worker or a spawned process
    """(peak RSS MB, current RSS MB, CPU s so far) of this process. The peak is VmHWM
    from /proc/self/status, which starts afresh with the process's address space;
    ``ru_maxrss`` would not do: Linux keeps it across ``execve``, so a spawned child
    reports its parent's peak."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    peak = int(status["VmHWM"].split()[0]) / 1024
    now = int(status["VmRSS"].split()[0]) / 1024
    return peak, now, usage.ru_utime + usage.ru_stime


def _source(kind: str, n: int, chunk: int, path: str | None):
    if kind == "seeded":
        return SeededBlocks(partial(mixture_sample, theta=TRUE), n, chunk, seed=SEED)
    return NpyBlocks(path, chunk)


def one_setting(n: int, chunk: int, reps: int, runner: str, workers: int, source: str,
                path: str | None = None) -> dict:
    """One row, in a fresh process: runner 'numpy' (chunked_e_step), 'threads' (Dask's
    threaded scheduler, ``workers`` threads) or 'processes' (a LocalCluster)."""
    data = _source(source, n, chunk, path)
    before = {"self": _rss_mb()}
    cluster = None
    if runner == "numpy":
        def one_pass(theta):
            return chunked_e_step(mixture_stats, theta, data)
    elif runner == "threads":
        arr = data.to_dask()

        def one_pass(theta):
            return dask_e_step(mixture_stats, theta, arr, scheduler="threads",
                               num_workers=workers)
    else:
        arr = data.to_dask()
        cluster = dask_client(n_workers=workers, threads_per_worker=1, processes=True,
                              memory_limit="2GiB")
        client = cluster.__enter__()
        before = client.run(_rss_mb)

        def one_pass(theta):
            return dask_e_step(mixture_stats, theta, arr)
    try:
        t0 = time.perf_counter()
        stats = one_pass(THETA)  # warm-up pass (and, from disk, the first read)
        first = time.perf_counter() - t0
        cpu0 = (sum(v[2] for v in client.run(_rss_mb).values()) if cluster
                else _rss_mb()[2])
        times = []
        for rep in range(reps):
            theta = THETA + 1e-9 * (rep + 1)  # a new theta each pass, as in EM
            t0 = time.perf_counter()
            stats = one_pass(theta)
            times.append(time.perf_counter() - t0)
        after = client.run(_rss_mb) if cluster else {"self": _rss_mb()}
        cpu_now = sum(v[2] for v in after.values()) if cluster else after["self"][2]
        cpu = (cpu_now - cpu0) / reps
    finally:
        if cluster is not None:
            cluster.__exit__(None, None, None)
    return {
        "n": n, "chunk": chunk, "blocks": len(data.sizes), "runner": runner,
        "workers": workers, "source": source,
        "first_pass_s": first, "pass_s": times, "median_pass_s": float(np.median(times)),
        "cpu_s_per_pass": cpu,
        "rss_before_mb": [v[1] for v in before.values()],
        "peak_rss_mb": [v[0] for v in after.values()],
        "theta_after_one_step": mixture_m_step(stats).tolist(),
        "load": load_average(),
    }


def in_fresh_process(fn, *args) -> dict:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _drop_cache(path: Path) -> None:
    """Drop this file's pages from the page cache (only this file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def formats(n: int, chunk: int, tmp: Path) -> list[dict]:
    """Write n points once per format and read them block by block, cold and warm; the
    growth of this process's resident memory during a read (a memory map's touched pages
    count, and stay while the map is open)."""
    seeded = _source("seeded", n, chunk, None)
    rows = []
    d = Path(tempfile.mkdtemp(dir=tmp))
    try:
        t0 = time.perf_counter()
        one = write_npy(d / "x.npy", seeded)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        per_block = []
        for b, block in enumerate(seeded):
            np.save(d / f"b{b:05d}.npy", block)
            per_block.append(d / f"b{b:05d}.npy")
        t_write_blocks = time.perf_counter() - t0

        def read_offsets():  # NpyBlocks: np.fromfile at each block's offset
            return sum(float(b[0]) for b in one)

        def read_mmap():
            mm = np.load(one.path, mmap_mode="r")
            total = sum(float(np.array(mm[s:s + chunk])[0]) for s in range(0, n, chunk))
            grown = _rss_mb()[1]
            del mm
            return total, grown

        def read_blocks():
            return sum(float(np.load(q)[0]) for q in per_block)

        for name, reader, paths, tw in (
                ("one .npy, read at offsets (`NpyBlocks`)", read_offsets, [one.path], t_write),
                ("one .npy, memory-mapped", read_mmap, [one.path], t_write),
                ("one .npy per block", read_blocks, per_block, t_write_blocks)):
            cold, warm, grow = [], [], []
            for _ in range(2):
                for q in paths:
                    _drop_cache(q)
                base = _rss_mb()[1]
                t0 = time.perf_counter()
                out = reader()
                cold.append(time.perf_counter() - t0)
                grow.append((out[1] if isinstance(out, tuple) else _rss_mb()[1]) - base)
                t0 = time.perf_counter()
                reader()
                warm.append(time.perf_counter() - t0)
            rows.append({"format": name, "n": n, "chunk": chunk, "files": len(paths),
                         "write_s": tw, "cold_read_s": min(cold), "warm_read_s": min(warm),
                         "rss_growth_mb": max(grow), "load": load_average()})
    finally:
        shutil.rmtree(d)
    return rows

def machine() -> str:
    return (f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
            f"load average {load_average():.1f} at the start")


RUNNER = {"numpy": "in-process numpy (`chunked_e_step`)", "threads": "Dask threads",
          "processes": "Dask `LocalCluster`, processes"}


def table(rows: list[dict]) -> str:
    lines = [
        "| N | source | runner | workers | blocks | s per pass (median) | CPU s per pass | "
        "N/s | peak RSS (MB) | RSS before (MB) | load |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for r in rows:
        cpu = r["cpu_s_per_pass"]
        lines.append(
            f"| {r['n']:.0e} | {r['source']} | {RUNNER[r['runner']]} | {r['workers']} | "
            f"{r['blocks']} | {r['median_pass_s']:.2f} | "
            f"{'—' if cpu is None or np.isnan(cpu) else format(cpu, '.2f')} | "
            f"{r['n'] / r['median_pass_s']:.2e} | "
            f"{', '.join(f'{m:.0f}' for m in r['peak_rss_mb'])} | "
            f"{', '.join(f'{m:.0f}' for m in r['rss_before_mb'])} | {r['load']:.1f} |"
        )
    return "\n".join(lines)


def format_table(rows: list[dict]) -> str:
    lines = ["| format | N | files | write s | cold read s | warm read s | cold MB/s | "
             "RSS growth during a read (MB) | load |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        mb = r["n"] * 8 / 1e6
        lines.append(f"| {r['format']} | {r['n']:.0e} | {r['files']} | {r['write_s']:.2f} | "
                     f"{r['cold_read_s']:.3f} | {r['warm_read_s']:.3f} | "
                     f"{mb / r['cold_read_s']:.0f} | {r['rss_growth_mb']:.0f} | "
                     f"{r['load']:.1f} |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Computed reading of the main table: memory flat in N, the baseline vs Dask."""
    def get(n, runner, workers, source="seeded"):
        for r in rows:
            if (r["n"], r["runner"], r["workers"], r["source"]) == (n, runner, workers, source):
                return r["median_pass_s"]
        return None
    sizes = sorted({r["n"] for r in rows})
    lo, hi = sizes[0], sizes[-1]
    peak = {n: max(max(r["peak_rss_mb"]) for r in rows if r["n"] == n) for n in sizes}
    parts = [f"From N = {lo:.0e} to {hi:.0e} ({hi / lo:.0f}x the data, "
             f"{hi * 8 / 1e6:,.0f} MB if held at once) the largest peak RSS of any process "
             f"goes from {peak[lo]:.0f} to {peak[hi]:.0f} MB, in every runner, the "
             "in-process one included: the blocks and the summed statistics keep memory "
             "flat, not Dask."]
    for n in sizes:
        for source in ("seeded", "disk"):
            base = get(n, "numpy", 1, source)
            cmp = [(f"Dask threads x{w}", get(n, "threads", w, source)) for w in (1, 2)]
            cmp += [(f"LocalCluster x{w}", get(n, "processes", w, source)) for w in (1, 2)]
            cmp = [(name, t) for name, t in cmp if t is not None]
            if base and cmp:
                parts.append(f"N = {n:.0e}, {source}: in-process {base:.2f} s per pass; "
                             + ", ".join(f"{name} {t / base:.2f}x" for name, t in cmp)
                             + ".")
    return " ".join(parts)


def cpu_reading(rows: list[dict]) -> str:
    """CPU seconds per pass relative to the in-process row of the same N and source
    (less sensitive to the machine's load than wall times)."""
    ratios: dict[str, list[float]] = {"threads": [], "processes": []}
    for r in rows:
        if r["runner"] == "numpy":
            continue
        base = [b for b in rows if b["runner"] == "numpy" and b["n"] == r["n"]
                and b["source"] == r["source"]]
        if base and r["cpu_s_per_pass"] and base[0]["cpu_s_per_pass"]:
            ratios[r["runner"]].append(r["cpu_s_per_pass"] / base[0]["cpu_s_per_pass"])
    th, pr = ratios["threads"], ratios["processes"]
    return (f"CPU seconds per pass, which the load inflates less than wall time: Dask "
            f"threads {min(th):.2f}-{max(th):.2f}x the in-process loop's, a "
            f"`LocalCluster`'s workers together {min(pr):.2f}-{max(pr):.2f}x.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--format-n", type=float, default=2e7)
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--readme", action="store_true")
    parser.add_argument("--from-json", action="store_true",
                        help="rewrite the README section from bench/results/dask.json, no runs")
    parser.add_argument("--merge", action="store_true",
                        help="keep the saved rows of other sizes (and the format table) and "
                             "replace those of --sizes")
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / "dask.json"
    if args.from_json:
        saved = json.loads(out.read_text())
        report(saved, args)
        return
    need = 2 * max(args.sizes) * 8 / 1e9 + 1
    free = shutil.disk_usage(args.tmp).free / 1e9
    if free < need:
        raise SystemExit(f"{args.tmp} has {free:.1f} GB free, the bench needs {need:.1f} GB")
    host = machine()
    print(host, f"; {free:.0f} GB free under {args.tmp}", flush=True)
    saved_before = json.loads(out.read_text()) if args.merge else None
    if saved_before is None:
        fmt = formats(int(args.format_n), args.chunk, args.tmp)
    else:
        fmt = saved_before["formats"]
    print(format_table(fmt), flush=True)
    rows = []
    tmpdir = Path(tempfile.mkdtemp(dir=args.tmp))
    try:
        for n in (int(s) for s in args.sizes):
            path = tmpdir / f"mixture_{n:.0e}.npy"
            t0 = time.perf_counter()
            write_npy(path, _source("seeded", n, args.chunk, None))
            t_write = time.perf_counter() - t0
            print(f"N={n:.0e}: wrote {path.stat().st_size / 1e6:.0f} MB in {t_write:.1f} s",
                  flush=True)
            settings = [("numpy", 1, "seeded"), ("numpy", 1, "disk"), ("threads", 2, "seeded"),
                        ("threads", 2, "disk"), ("processes", 1, "seeded"),
                        ("processes", 2, "seeded"), ("processes", 2, "disk")]
            for runner, workers, source in settings:
                reps = args.reps if (runner != "processes" or n < 1e8) else 1
                r = in_fresh_process(one_setting, n, args.chunk, reps, runner, workers,
                                     source, str(path))
                r["write_s"] = t_write if source == "disk" else None
                rows.append(r)
                print(f"N={n:.0e} {source} {runner} x{workers}: "
                      f"{r['median_pass_s']:.2f} s/pass (first {r['first_pass_s']:.2f} s), "
                      f"peak RSS {[round(m) for m in r['peak_rss_mb']]} MB, "
                      f"load {r['load']:.1f}", flush=True)
            path.unlink()
    finally:
        shutil.rmtree(tmpdir)
    if saved_before is not None:
        keep = [r for r in saved_before["rows"] if r["n"] not in {r2["n"] for r2 in rows}]
        rows = sorted(keep + rows, key=lambda r: r["n"])
        host = f"{saved_before['machine']}; rows at N = " + ", ".join(
            f"{s:.0e}" for s in args.sizes) + f" re-run later ({host})"
    saved = {"machine": host, "rows": rows, "formats": fmt, "end_load": load_average(),
             "chunk": args.chunk, "reps": args.reps}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(saved, indent=2))
    report(saved, args)


def report(saved: dict, args: argparse.Namespace) -> None:
    rows, fmt = saved["rows"], saved["formats"]
    text = (table(rows) + "\n\n" + summary(rows) + "\n\nOn-disk format (one pass reading "
            f"{fmt[0]['n']:.0e} points block by block):\n\n" + format_table(fmt))
    print(text)
    if args.readme:
        write_section(
            "dask",
            "## EM at scale: in one process, on Dask, from seeds or from disk "
            "(`bench/bench_dask.py`, notebook 08)\n\n"
            f"Machine: {saved['machine']} (load average {saved['end_load']:.1f} at the end; "
            "the machine was shared with other jobs, so every time is an upper bound, and "
            "the load column gives the load when each row finished). One pass = one E-step "
            f"over N points in blocks of {saved['chunk']:,}: each block drawn from its seed "
            "(`seeded`) or read from one `.npy` file (`disk`, written once from the same "
            "seeds; warm page cache after the warm-up pass), reduced to its "
            "statistics (`mixture_stats`: sums about the current means and the block's "
            "log-likelihood, about 30 ms per million points), summed. Every row runs in a "
            "fresh process; peak RSS is that process's VmHWM (for `LocalCluster`, each "
            "worker's). Median of "
            f"{saved['reps']} passes after a warm-up pass (1 pass for `LocalCluster` at "
            "N = 1e8).\n\n" + text + "\n\n" + READING.format(formats=format_reading(fmt),
                                                     cpu=cpu_reading(rows))
        )


def format_reading(fmt: list[dict]) -> str:
    """Computed sentences: the three formats' read times and memory."""
    off, mm, per = fmt
    return (f"Reading {off['n']:.0e} points ({off['n'] * 8 / 1e6:.0f} MB) block by block: "
            f"one `.npy` read at offsets took {off['cold_read_s']:.3f} s cold and "
            f"{off['warm_read_s']:.3f} s warm, the same file memory-mapped "
            f"{mm['cold_read_s']:.3f} s and {mm['warm_read_s']:.3f} s, one `.npy` per block "
            f"({per['files']} files, an open and a header parse each) "
            f"{per['cold_read_s']:.3f} s and {per['warm_read_s']:.3f} s. But the memory "
            f"map's resident memory grew by {mm['rss_growth_mb']:.0f} MB during the read "
            f"(every touched page stays mapped while the map is open), the offset reads' by "
            f"{off['rss_growth_mb']:.0f} MB (one block).")


READING = """**Where the scale comes from, and when Dask pays.** The in-process rows hold the
same flat memory as the Dask rows: flat memory is the work of the blocks (seeded or on
disk) and of statistics that are sums, which `chunked_e_step` exploits in one process.
On one 2-core machine Dask brings no speed-up beyond the noise of a shared machine: its
threads run the same numpy kernels (which release the GIL, so two threads can overlap,
at best 2x on 2 cores, and only when the other jobs leave a core free), and a
`LocalCluster` of processes adds task scheduling and serialisation on every pass. {cpu}
Dask pays off when the data are not on this machine (a cluster whose workers
hold or read their own blocks: only θ and the statistics travel), when one machine's cores
are too few (many machines), or when the source is I/O-bound (cold reads from a network
or object store, where many blocks in flight hide latency). For data that fit in one
machine's memory or stream from its local disk, the in-process loop is the baseline to
beat.

**The on-disk format.** {formats} So `NpyBlocks` reads one file at offsets: memory
flat like the seeded blocks, no directory of thousands of files. zarr was not measured: it is
not a dependency here, and its advantage, compression, buys nothing on random floats
(simulated data do not compress); its chunked layout is what one file read at offsets
already gives a reader of contiguous rows."""


if __name__ == "__main__":
    main()
