"""Time slider moves in every notebook's explorers (kernel-side compute per move).

Each notebook is executed in a fresh kernel with nbclient; then, in that kernel, every
control of every ``em_helpers.Explorer`` is moved, one control at a time, and each move is
timed: setting ``widget.value`` and :meth:`~em_helpers.Explorer.flush` (the explorer draws
on the kernel's event loop, see "latest value wins") run the callback: EM run, artist
update, PNG render, display. Two kinds of moves:

- *jumps*: ``--positions`` evenly spaced values across the control's whole range;
- *drag*: ``--positions`` consecutive single slider steps from the default value, as a
  mouse drag produces them.

    python bench/bench_widgets.py [notebooks/03_gaussian_mixture.ipynb ...] [--positions 15]
        [--width-px 820] [--encode] [--burst] [--needed-cells] [--readme]

``--width-px`` renders at that image width (0: the figure's own dpi, as before issue 11).
``--encode`` also times, per explorer figure, the PNG encode of one frame: PIL as before
(RGBA, compress_level=1, at the figure's 72 dpi) against
:func:`em_helpers.display.widgets.encode_png` at the explorer's width. ``--burst`` sends a
burst of slider messages to a real kernel, as a frontend would (20 ``comm_msg`` updates
20 ms apart to an explorer whose ``update`` takes
100 ms) and reports which values were drawn and how long after the last message the final
one was. ``--readme`` writes the tables into bench/README.md (between the widgets markers).

Prints a table (median, 90th percentile and max milliseconds per move, wall clock and CPU:
``time.process_time``, the honest figure on a loaded machine) and writes it as
JSON to bench/results/widgets.json. The target (issues): median well under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchlib import cpu_model, load_average, run_in_notebook, write_section

ROOT = Path(__file__).resolve().parents[1]


def time_moves(n_positions, width_px, encode):  # runs inside the notebook's kernel
    import io
    import json
    import time

    import ipywidgets as widgets
    import numpy as np

    from em_helpers.display.widgets import find_explorers

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
        if hasattr(w, "options"):  # every option's value (dict, pairs or plain options)
            return list(w._options_values)
        return [not w.value, w.value]

    def encode_times(explorer):
        from PIL import Image

        from em_helpers.display.widgets import encode_png

        fig, out = explorer._frames.fig, {}
        for label, width in (("before", None), ("after", explorer.width_px)):
            fig.set_dpi(72 if width is None else width / fig.get_figwidth())
            explorer._frames.png()
            rgba = np.asarray(explorer._frames.canvas.buffer_rgba()).copy()

            def pil(a=rgba):
                buf = io.BytesIO()
                Image.fromarray(a).save(buf, format="png", compress_level=1)
                return buf.getvalue()

            def ours(a=rgba):
                return encode_png(a)

            encoder = pil if label == "before" else ours
            ts = []
            for _ in range(30):
                t0 = time.process_time()
                png = encoder()
                ts.append(time.process_time() - t0)
            out[label] = {
                "size": f"{rgba.shape[1]}x{rgba.shape[0]}",
                "encode_ms": 1e3 * float(np.percentile(ts, 25)),
                "kB": len(png) / 1024,
                "text_px": None,
            }
        explorer.redraw()
        out["after"]["text_px"] = explorer.smallest_text_px()
        out["before"]["text_px"] = out["after"]["text_px"] * 72 / fig.dpi
        return out

    report = {}
    for name, explorer in find_explorers(globals()).items():
        explorer.width_px = width_px or None
        explorer.redraw()
        if encode:
            report[f"{name} (encode)"] = encode_times(explorer)
        for mode, moves in (("jumps", positions), ("drag", drag)):
            times, cpus, per_control = [], [], {}
            for control, w in explorer.controls.items():
                start, mine = w.value, []
                for value in moves(w):
                    if value == w.value:
                        continue  # not a move: no callback runs
                    t0, c0 = time.perf_counter(), time.process_time()
                    w.value = value
                    explorer.flush()
                    mine.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                w.value = start
                explorer.flush()
                if mine:
                    per_control[control] = 1e3 * float(np.median(mine))
                times += mine
            ms, cpu = 1e3 * np.array(times), 1e3 * np.array(cpus)
            report[f"{name} ({mode})"] = {
                "moves": int(ms.size),
                "median_ms": float(np.median(ms)),
                "p90_ms": float(np.percentile(ms, 90)),
                "max_ms": float(ms.max()),
                "cpu_median_ms": float(np.median(cpu)),
                "cpu_p90_ms": float(np.percentile(cpu, 90)),
                "cpu_max_ms": float(cpu.max()),
                "median_ms_per_control": per_control,
            }
    print("BENCH" + json.dumps(report))


def run(path: Path, n_positions: int, width_px: int, encode: bool, cells: str = "all") -> dict:
    report = run_in_notebook(path, time_moves, n_positions, width_px, encode, cells=cells)
    del report["_notebook_s"]
    return report


BURST_SETUP = """
import json, time, ipywidgets as widgets, em_helpers as emh
fig, ax = emh.new_figure(3, width=3.6, height=3.0, fast=True)
(line,) = ax[0].plot([0, 1], [0, 1])
drawn = []
def update(a):
    time.sleep(0.1)  # the cost of an EM run
    line.set_ydata([0, a])
    drawn.append((a, time.time()))
    return fig
slider = widgets.IntSlider(value=0, min=0, max=100)
ex = emh.explore(update, {"a": slider})
if OLD:  # before issue 11: every message drew at once
    slider.unobserve_all("value")
    slider.observe(lambda change: ex.redraw(), "value")
print(slider.model_id)
"""


def burst(old: bool, n: int = 20, gap_s: float = 0.02) -> dict:
    """Slider messages sent straight to a kernel; which values were drawn, and when."""
    import time

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:

        def execute(code: str) -> str:
            msg_id, out = kc.execute(code), []
            while True:
                msg = kc.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                if msg["msg_type"] == "error":
                    raise RuntimeError("\n".join(msg["content"]["traceback"]))
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return "".join(out)

        model_id = execute(f"OLD = {old}\n" + BURST_SETUP).strip()
        for value in range(1, n + 1):
            state = {"method": "update", "state": {"value": value}, "buffer_paths": []}
            kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": model_id, "data": state}))
            time.sleep(gap_s)
        last = time.time()
        time.sleep(1.0)  # the last draws are done by then (a backlog is drawn in order)
        drawn = json.loads(execute("print(json.dumps(drawn))"))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    values = [a for a, _ in drawn[1:]]  # drawn[0]: the first draw
    return {
        "values drawn": values,
        "draws": len(values),
        "final drawn": values[-1] == n,
        "ms after last message": 1e3 * (drawn[-1][1] - last),
    }


def machine() -> str:
    import os
    import platform

    return (
        f"{os.cpu_count()} cores, {cpu_model()}, Python "
        f"{platform.python_version()}, load average {load_average():.1f} at the start"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--positions", type=int, default=15)
    parser.add_argument("--width-px", type=int, default=820)
    parser.add_argument("--encode", action="store_true")
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--readme", action="store_true")
    parser.add_argument(
        "--needed-cells", action="store_true",
        help="execute only the explorer cells and the cells they need (as make app does)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    cells = "needed" if args.needed_cells else "all"
    results = {}
    md = [
        "## Explorer moves in the kernel (`bench/bench_widgets.py`)",
        "",
        f"Machine: {machine()}. Image width {args.width_px or 'figure dpi'} px; "
        f"{args.positions} positions per control.",
        "",
    ]
    enc_md = [
        "| notebook / explorer | before: size | encode ms | kB | text px "
        "| after: size | encode ms | kB | text px |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    move_md = [
        "| notebook / explorer (kind of move) | moves | median ms | p90 ms | max ms | "
        "CPU median ms | CPU p90 ms | CPU max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    header = ("notebook / explorer (kind of move)", "n", "median", "p90", "max")
    print(f"{header[0]:52s} {header[1]:>5s} {header[2]:>8s} {header[3]:>8s} {header[4]:>8s}  (ms)")
    for path in paths:
        for name, r in run(path, args.positions, args.width_px, args.encode, cells).items():
            key = f"{path.stem} / {name}"
            results[key] = r
            if name.endswith("(encode)"):
                b, a = r["before"], r["after"]
                line = (
                    f"| {key[: -len(' (encode)')]} | {b['size']} | {b['encode_ms']:.2f} | "
                    f"{b['kB']:.0f} | {b['text_px']:.1f} | {a['size']} | {a['encode_ms']:.2f} | "
                    f"{a['kB']:.0f} | {a['text_px']:.1f} |"
                )
                enc_md.append(line)
                print(line)
                continue
            print(
                f"{key:52s} {r['moves']:5d} {r['median_ms']:8.1f} {r['p90_ms']:8.1f} "
                f"{r['max_ms']:8.1f}"
            )
            move_md.append(
                f"| {key} | {r['moves']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
                f"{r['max_ms']:.1f} | {r['cpu_median_ms']:.1f} | {r['cpu_p90_ms']:.1f} | "
                f"{r['cpu_max_ms']:.1f} |"
            )
            for control, med in r["median_ms_per_control"].items():
                print(f"    {control:46s}       {med:8.1f}")
    md += move_md
    if args.encode:
        md += [
            "",
            "PNG encode of one frame (25th percentile of 30, CPU ms): before = PIL, RGBA, "
            "compress_level=1 at the figure's 72 dpi; after = `encode_png` (opaque RGB, "
            "filter 0, zlib 1) at the explorer's width. Text px: the smallest text.",
            "",
            *enc_md,
        ]
    if args.burst:
        md += [
            "",
            "Latest value wins: 20 slider messages 20 ms apart sent straight to a kernel "
            "(no frontend throttle), `update` takes 100 ms. In a browser the ipywidgets "
            "frontend already keeps one update message per widget in flight and merges newer "
            "values into the next one; an explorer now also answers a message at once and "
            "draws on the kernel's event loop, once the messages that queued during the last "
            "draw (other widgets, or a client without that throttle) have all been applied:",
            "",
            "| explorer | draws after the first | last value drawn | final figure after the "
            "last message (ms) | values drawn |",
            "|---|---:|---|---:|---|",
        ]
        for label, old in (("every message draws (before)", True), ("latest wins (now)", False)):
            r = burst(old)
            results[f"burst: {label}"] = r
            md.append(
                f"| {label} | {r['draws']} | {r['final drawn']} | "
                f"{r['ms after last message']:.0f} | {r['values drawn']} |"
            )
            print(label, r)
    out = ROOT / "bench" / "results" / "widgets.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    if args.readme:
        write_section("widgets", "\n".join(md).strip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
