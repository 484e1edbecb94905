"""Kernel time of every explorer update at many positions a reader can reach (issue 22).

Each notebook's explorer cells and the cells they need (found as the course's app mode
finds them, :func:`tools.course_app.needed_cells`; ``--all-cells``: the whole notebook) are
executed in a fresh kernel (:func:`benchlib.run_in_notebook`); then, in that kernel, every
``em_helpers.Explorer`` the notebook made (:func:`em_helpers.display.widgets.find_explorers`)
draws every control at each end of its range (:meth:`~em_helpers.Explorer.end_positions`)
and ``--positions`` seeded random combinations of all its controls
(:meth:`~em_helpers.Explorer.random_positions`: half of the draws of each control are one
of its ends, where things are slowest), timed by :meth:`~em_helpers.Explorer.timed_draws`:
``update`` (the EM run and the artists) and the
render (Agg draw + PNG encode), both wall clock and CPU (``time.process_time``). The
machine is shared, so CPU time is the figure that carries over to a quiet machine; the load
average is recorded at the start and at the end of each notebook.

    python bench/bench_sweep.py [notebooks/03_gaussian_mixture.ipynb ...]
        [--positions 300] [--seed 22] [--slowest 3] [--jobs 2] [--all-cells] [--readme]

Prints, and with ``--readme`` writes into bench/README.md (between the ``sweep`` markers),
per explorer: positions drawn, CPU p50 / p99 / max ms, wall p50 / p99 / max ms, and the
slowest positions with their control values and what the figure said there; the JSON goes
to ``bench/results/sweep.json``. Targets (issue 22): p99 <= 250 ms and max <= 500 ms per
explorer. The kernels run with ``OPENBLAS_NUM_THREADS=1`` (two BLAS threads would double
the CPU time of a draw on a two-core machine without making it faster under load).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import cpu_model, run_in_notebook, write_section

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS, TARGET_MAX_MS = 250, 500


def sweep_explorers(n_random, seed, n_slowest):  # runs inside the notebook's kernel
    import json
    import os

    import numpy as np

    from em_helpers.display.widgets import find_explorers

    def plain(v):
        if isinstance(v, (tuple, list)):
            return [plain(u) for u in v]
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            return v.item()
        return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)

    load0 = os.getloadavg()[0]
    report = {}
    for name, ex in find_explorers(globals()).items():
        positions = [*ex.end_positions(), *ex.random_positions(n_random, seed)]
        ex.timed_draws(positions[:2])  # warm-up: first-use imports and caches
        recs = ex.timed_draws(positions)
        ex.redraw()  # back to the controls' values
        cpu = 1e3 * np.array([r["cpu_s"] for r in recs])
        wall = 1e3 * np.array([r["wall_s"] for r in recs])
        order = np.argsort(cpu)[::-1][:n_slowest]
        report[name] = {
            "positions": len(recs),
            "ends": len(positions) - n_random,
            "cpu_ms": {
                q: float(np.percentile(cpu, p)) for q, p in (("p50", 50), ("p99", 99), ("max", 100))
            },
            "wall_ms": {
                q: float(np.percentile(wall, p))
                for q, p in (("p50", 50), ("p99", 99), ("max", 100))
            },
            "over_250_ms": int((cpu > 250).sum()),
            "slowest": [
                {
                    "cpu_ms": float(cpu[i]),
                    "wall_ms": float(wall[i]),
                    "update_ms": None if recs[i]["update_s"] is None else 1e3 * recs[i]["update_s"],
                    "render_ms": None if recs[i]["render_s"] is None else 1e3 * recs[i]["render_s"],
                    "values": {k: plain(v) for k, v in recs[i]["values"].items()},
                    "message": recs[i]["message"],
                }
                for i in order
            ],
            "defects": sorted({d for r in recs for d in r["defects"]})[:10],
        }
    out = {"explorers": report, "load": [load0, os.getloadavg()[0]]}
    print("BENCH" + json.dumps(out))


def controls_text(values: dict) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, list):
            return "(" + ", ".join(fmt(u) for u in v) + ")"
        return str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in values.items())


def mark(x: float, target: float) -> str:
    return f"{x:.0f}" + ("" if x <= target else " ✗")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--positions", type=int, default=300, help="random positions")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--slowest", type=int, default=3, help="slowest positions listed")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks at once (kernels)")
    parser.add_argument(
        "--all-cells", action="store_true", help="execute whole notebooks (default: the cells "
        "the explorers need, as the app mode does)"
    )  # fmt: skip
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(
        p for p in (ROOT / "notebooks").glob("[0-9]*.ipynb")
    )
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # inherited by the kernels
    t0, loads = time.perf_counter(), [os.getloadavg()]

    cells = "all" if args.all_cells else "needed"

    def one(path: Path) -> tuple[str, dict]:
        r = run_in_notebook(
            path, sweep_explorers, args.positions, args.seed, args.slowest, cells=cells
        )
        print(f"{path.stem}: notebook {r['_notebook_s']:.0f} s, load {r['load']}", flush=True)
        return path.stem, r

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = dict(pool.map(one, paths))
    loads.append(os.getloadavg())
    minutes = (time.perf_counter() - t0) / 60

    rows = [
        "| notebook / explorer | positions | CPU p50 ms | CPU p99 ms | CPU max ms | "
        "wall p50 ms | wall p99 ms | wall max ms | > 250 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    slow = []
    for stem, r in results.items():
        for name, e in r["explorers"].items():
            c, w = e["cpu_ms"], e["wall_ms"]
            rows.append(
                f"| {stem} / {name} | {e['positions']} | {c['p50']:.0f} | "
                f"{mark(c['p99'], TARGET_P99_MS)} | {mark(c['max'], TARGET_MAX_MS)} | "
                f"{w['p50']:.0f} | {w['p99']:.0f} | {w['max']:.0f} | {e['over_250_ms']} |"
            )
            for s in e["slowest"]:
                parts = (
                    f"update {s['update_ms']:.0f} + render {s['render_ms']:.0f}"
                    if s["update_ms"] is not None and s["render_ms"] is not None
                    else "no figure"
                )
                said = f"; figure says: “{s['message']}”" if s["message"] else ""
                slow.append(
                    f"- {stem} / {name}: {s['cpu_ms']:.0f} ms CPU ({parts}; wall "
                    f"{s['wall_ms']:.0f}) at {controls_text(s['values'])}{said}"
                )
            if e["defects"]:
                slow.append(f"- {stem} / {name}: DEFECTS {e['defects']}")
    load_text = ", ".join(f"{x:.1f}" for x in loads[0])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    md = [
        "## Explorer updates at random positions (`bench/bench_sweep.py`, issue 22)",
        "",
        f"Machine: {os.cpu_count()} cores, {cpu_model()}; load average {load_text} at the "
        f"start, {loads[1][0]:.1f} at the end; {stamp}; "
        f"{minutes:.1f} min in all (`--jobs {args.jobs}`; "
        + (
            "whole notebooks executed"
            if args.all_cells
            else "each notebook's explorer cells "
            "and the cells they need executed, as `make app` serves them"
        )
        + "). Per explorer: every control at each "
        f"end of its range, then {args.positions} seeded random positions of all controls "
        f"(seed {args.seed}); one update = `update` (EM + artists) + the render (Agg + PNG), "
        "CPU time (`time.process_time`, honest under load) and wall time. ✗ = target "
        f"missed (p99 ≤ {TARGET_P99_MS} ms, max ≤ {TARGET_MAX_MS} ms, CPU).",
        "",
        *rows,
        "",
        f"The {args.slowest} slowest positions of each explorer (CPU ms):",
        "",
        *slow,
    ]
    text = "\n".join(md)
    print(text)
    out = ROOT / "bench" / "results" / "sweep.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"load": loads, "results": results}, indent=1))
    if args.readme:
        write_section("sweep", text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
