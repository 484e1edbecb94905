"""Time slider moves in every notebook's explorers (kernel-side compute per move).

Each notebook is executed in a fresh kernel with nbclient; then, in that kernel, every
control of every ``em_helpers.Explorer`` is moved, one control at a time, and each move is
timed: setting ``widget.value`` runs the explorer's callback synchronously (EM run, artist
update, PNG render, display). Two kinds of moves:

- *jumps*: ``--positions`` evenly spaced values across the control's whole range;
- *drag*: ``--positions`` consecutive single slider steps from the default value, as a
  mouse drag produces them.

    python bench/bench_widgets.py [notebooks/03_gaussian_mixture.ipynb ...] [--positions 15]

Prints a table (median, 90th percentile and max milliseconds per move) and writes it as
JSON to bench/results/widgets.json. The target (issues): median well under 100 ms.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def time_moves(n_positions):  # runs inside the notebook's kernel
    import json
    import time

    import ipywidgets as widgets
    import numpy as np

    import em_helpers as emh

    def drag(w):  # consecutive single steps from the current value, as a mouse drag sends
        if not hasattr(w, "step") or not hasattr(w, "min"):
            return positions(w)
        if isinstance(w, widgets.FloatLogSlider):
            lo, hi, x = w.min, w.max, np.log10(w.value) / np.log10(w.base)
        else:
            lo, hi, x = w.min, w.max, w.value
        sign = 1 if x + n_positions * w.step <= hi else -1
        xs = [x + sign * k * w.step for k in range(1, n_positions + 1)]
        xs = [min(max(v, lo), hi) for v in xs]
        if isinstance(w, widgets.FloatLogSlider):
            return [w.base**v for v in xs]
        return [type(w.value)(v) for v in xs]

    def positions(w):
        if isinstance(w, widgets.FloatLogSlider):
            return list(w.base ** np.linspace(w.min, w.max, n_positions))
        if isinstance(w, widgets.IntSlider):
            return sorted({int(v) for v in np.linspace(w.min, w.max, n_positions).round()})
        if hasattr(w, "min"):
            return list(np.linspace(w.min, w.max, n_positions))
        if hasattr(w, "options"):
            return [o[1] if isinstance(o, tuple) else o for o in w.options]
        return [not w.value, w.value]

    report = {}
    for name, explorer in list(globals().items()):
        if name.startswith("_") or not isinstance(explorer, emh.Explorer):
            continue
        for mode, moves in (("jumps", positions), ("drag", drag)):
            times, per_control = [], {}
            for control, w in explorer.controls.items():
                start, mine = w.value, []
                for value in moves(w):
                    if value == w.value:
                        continue  # not a move: no callback runs
                    t0 = time.perf_counter()
                    w.value = value
                    mine.append(time.perf_counter() - t0)
                w.value = start
                per_control[control] = 1e3 * float(np.median(mine))
                times += mine
            ms = 1e3 * np.array(times)
            report[f"{name} ({mode})"] = {
                "moves": int(ms.size),
                "median_ms": float(np.median(ms)),
                "p90_ms": float(np.percentile(ms, 90)),
                "max_ms": float(ms.max()),
                "median_ms_per_control": per_control,
            }
    print("BENCH" + json.dumps(report))


def run(path: Path, n_positions: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    call = inspect.getsource(time_moves) + f"\ntime_moves({n_positions})\n"
    nb.cells.append(nbformat.v4.new_code_cell(call))
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    return json.loads(text.split("BENCH", 1)[1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--positions", type=int, default=15)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    results = {}
    header = ("notebook / explorer (kind of move)", "n", "median", "p90", "max")
    print(f"{header[0]:52s} {header[1]:>5s} {header[2]:>8s} {header[3]:>8s} {header[4]:>8s}  (ms)")
    for path in paths:
        for name, r in run(path, args.positions).items():
            key = f"{path.stem} / {name}"
            results[key] = r
            print(
                f"{key:52s} {r['moves']:5d} {r['median_ms']:8.1f} {r['p90_ms']:8.1f} "
                f"{r['max_ms']:8.1f}"
            )
            for control, med in r["median_ms_per_control"].items():
                print(f"    {control:46s}       {med:8.1f}")
    out = ROOT / "bench" / "results" / "widgets.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
