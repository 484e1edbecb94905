"""The latency a reader feels: slider input -> new figure painted, in JupyterLab in Chromium.

The machinery of ``browser_tests/`` (JupyterLab on a temporary copy of the course, Debian's
headless chromium through Playwright, the in-page probe of ``browser_tests/harness.py``).
For every notebook (or those given), on its first explorer:

- *key presses*: 40 ArrowRight/ArrowLeft presses on the handles of two sliders (10 steps
  towards the farther end and 10 back, on each), one at a time: the time from the keydown
  event to the requestAnimationFrame that shows the new image (median, p90, max);
- *held key*: the key held for one second on the first slider (autorepeat at 30/s, there
  and back; released early at the slider's end, so that the last key event is one that
  moved it), and *drag*: the second slider's handle dragged by the mouse for one second
  (60 moves, there and back): the time from the last input event until the figure showing
  the final position is painted (the worse of the two runs). Latest value wins keeps it
  short: the kernel never draws a position once a newer one is known. After each gesture
  the slider is set back to where it started (from the kernel), so that every gesture
  starts from the notebook's own settings (07's held key used to leave K at 1, where the
  seed changes nothing: the drag on ``seed`` then drew the same image, which is not sent
  again, and the bench saw "no figure");
- *profile*: in the same kernel, the same 40 positions timed without the browser:
  ``update`` (the EM run and artist updates) and the render (Agg draw + PNG encode); the
  rest of the key-press median is message round trips, image decode and paint;
- *text*: the smallest text of every explorer's figure as displayed: its size in the
  image's pixels (:meth:`~em_helpers.Explorer.smallest_text_px`, from the kernel) times the
  image's displayed width over its natural width (measured in the page: JupyterLab shrinks
  an image wider than its output area). ``--text`` measures only this, for every explorer
  of every notebook (it does not depend on the machine's load).

    python bench/bench_browser.py [notebooks/03_gaussian_mixture.ipynb ...] [--no-readme]
        [--text]

Targets (issues 11, 22): key press median <= 100 ms and p90 <= 150 ms; settle <= 150 ms;
text >= 10 px as displayed in a 1280-px window. Writes ``bench/results/browser.json`` and
the table between the ``browser-latency`` markers of ``bench/README.md`` (``--text``:
``browser-text``). Needs Debian's chromium (``make browser-deps``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from benchlib import cpu_model, write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a script, not a notebook: reach the browser_tests package

from browser_tests import harness  # noqa: E402

README = ROOT / "bench" / "README.md"
TARGET_MEDIAN, TARGET_P90, TARGET_SETTLE, TARGET_TEXT = 100, 150, 150, 10
PRESSES_PER_WAY = 10  # x 2 ways x 2 sliders = 40 presses

# Runs in the notebook's kernel: time update() and the render at the slider positions the
# browser visited (the named controls stepped `n` times each way), without the browser.
PROFILE = r"""
import json as _json, time as _time
import matplotlib as _mpl
import numpy as _np
from PIL import Image as _PILImage
import io as _io
import ipywidgets as _widgets
from em_helpers.display.widgets import ROUND_LIMITS as _RL, find_explorers as _find_explorers

def _profile(labels, n):
    ex = next(iter(_find_explorers(globals()).values()))
    out = {"update": [], "render": [], "encode": []}
    for label in labels:
        name, w = next((k, w) for k, w in ex.controls.items() if w.description == label)
        log = isinstance(w, _widgets.FloatLogSlider)
        sel = isinstance(w, _widgets.SelectionSlider)  # stepped by its index
        lo, hi, step = (0, len(w._options_values) - 1, 1) if sel else (w.min, w.max, w.step)
        x0 = w.index if sel else _np.log(w.value) / _np.log(w.base) if log else w.value
        way = 1 if hi - x0 >= x0 - lo else -1
        xs = [x0 + way * k * step for k in (*range(1, n + 1), *range(n - 1, -1, -1))]
        for x in xs:
            x = min(max(x, lo), hi)
            value = (w._options_values[int(x)] if sel
                     else w.base ** x if log else type(w.value)(x))
            values = {**ex.values(), name: value}
            t0 = _time.perf_counter()
            with _mpl.rc_context(_RL):
                fig = ex._call(values)
            t1 = _time.perf_counter()
            ex._render(fig)
            t2 = _time.perf_counter()
            buf = _io.BytesIO()
            _PILImage.fromarray(_np.asarray(ex._frames.canvas.buffer_rgba())).save(
                buf, format="png", compress_level=1)
            t3 = _time.perf_counter()
            out["update"].append(1e3 * (t1 - t0))
            out["render"].append(1e3 * (t2 - t1))
            out["encode"].append(1e3 * (t3 - t2))
    ex.redraw()  # the figure of the controls' own values again
    print("PROFILE" + _json.dumps(out))

_profile(__LABELS__, __N__)
"""

KERNEL_EXEC = r"""
async (code) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = k.requestExecute({code, silent: false, store_history: false});
  let out = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += 'ERROR ' + msg.content.ename + ': '
                                              + msg.content.evalue;
  };
  await future.done;
  return out;
}
"""


# Runs in the notebook's kernel: each explorer's image width and smallest text (image px).
TEXT_SIZES = r"""
import json as _json
from em_helpers.display.widgets import find_explorers as _find_explorers
print("TEXT" + _json.dumps([
    {"name": _k, "px": _e.smallest_text_px() if _e.figure is not None else None,
     "width": _e.width_px}
    for _k, _e in _find_explorers(globals()).items()]))
"""

# In the page: every explorer image's natural and displayed width, in page order.
IMAGE_WIDTHS = r"""
() => [...document.querySelectorAll('[data-emh-explorer]')].map((root) => {
  const img = root.querySelector('.widget-output img');
  return img ? {natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
                area: img.closest('.jp-OutputArea-output, .widget-output')
                         .getBoundingClientRect().width} : null;
})
"""

# Sets the first explorer's control labelled __LABEL__ to __VALUE__ (from the kernel).
SET_CONTROL = r"""
from em_helpers.display.widgets import find_explorers as _find_explorers
_ex = next(iter(_find_explorers(globals()).values()))
_w = next(w for w in _ex.controls.values() if w.description == __LABEL__)
if hasattr(_w, "index"):  # a selection slider: the page's position is the option's index
    _w.index = int(round(__VALUE__))
else:
    _w.value = type(_w.value)(__VALUE__)
"""


def text_sizes(page) -> list[dict]:
    """The smallest text of every explorer on the page as displayed (see the module notes)."""
    text = page.evaluate(KERNEL_EXEC, TEXT_SIZES)
    if "TEXT" not in text:
        return [{"error": text[-300:]}]
    kernel = json.loads(text.split("TEXT", 1)[1])
    harness.find_explorers(page)  # (re)tag the explorers in page order
    images = [im for im in page.evaluate(IMAGE_WIDTHS) if im]
    rows = []
    for k, im in zip(kernel, images, strict=False):  # both in the notebook's order
        scale = im["shown"] / im["natural"] if im["natural"] else float("nan")
        rows.append({**k, **im, "scale": round(scale, 3),
                     "shown_px": None if k["px"] is None else round(k["px"] * scale, 2)})
    return rows


def restore(page, explorer: dict, slider: dict, value: float, quiet: float) -> None:
    """Set a slider back to ``value`` from the kernel and wait for its figure."""
    code = SET_CONTROL.replace("__LABEL__", json.dumps(slider["label"])).replace(
        "__VALUE__", repr(value)
    )
    out = page.evaluate(KERNEL_EXEC, code)
    if "ERROR" in out:
        raise RuntimeError(f"could not set {slider['label']} back: {out}")
    harness.settle(page, explorer["output"], quiet=quiet, timeout=120)


def farther_key(state: dict) -> str:
    return "ArrowRight" if state["max"] - state["now"] >= state["now"] - state["min"] else (
        "ArrowLeft"
    )


def key_presses(page, explorer: dict, sliders: list[dict]) -> list[float]:
    latencies = []
    for s in sliders:
        way = farther_key(harness.slider_state(page, explorer["index"], s["index"]))
        back = "ArrowLeft" if way == "ArrowRight" else "ArrowRight"
        for key in [way] * PRESSES_PER_WAY + [back] * PRESSES_PER_WAY:
            # a slider with few steps reaches its end: turn back there (a press into the
            # end moves nothing and draws nothing)
            state = harness.slider_state(page, explorer["index"], s["index"])
            key = harness.key_towards_inside(state, key)
            paint = harness.press(page, explorer, s["index"], key)
            latencies.append(paint["latency"])
            harness.kernel_idle(page)
            page.wait_for_timeout(50)
    return latencies


def settle_time(page, explorer: dict, quiet: float) -> tuple[float, int]:
    """After a gesture: ms from the last input event to the last new figure; figures shown.

    The kernel reports idle while a scheduled draw is still to come (latest value wins
    draws from the event loop), so "done" is: no new figure for ``quiet`` seconds.
    """
    harness.settle(page, explorer["output"], quiet=quiet, timeout=120)
    last_input = page.evaluate("() => window.__emh.lastInput")
    shown = [p for p in harness.paints(page, explorer["output"]) if p["t"] >= 0]
    after = [p["t"] for p in shown if p["t"] > last_input]
    return (max(after) - last_input if after else 0.0), len(shown)


def held_key(page, explorer: dict, slider: dict, quiet: float) -> list[dict]:
    """Hold an arrow key for a second (autorepeat 30/s), there and back; let go at the
    slider's end (a key event that moves nothing is not a position to wait for)."""
    runs = []
    handle = harness.slider_handle(page, explorer["index"], slider["index"])
    start = harness.slider_state(page, explorer["index"], slider["index"])
    way = farther_key(start)
    for key in (way, "ArrowLeft" if way == "ArrowRight" else "ArrowRight"):
        handle.focus()
        n0 = len(harness.paints(page, explorer["output"]))
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            page.keyboard.down(key)
            page.wait_for_timeout(33)
            state = harness.slider_state(page, explorer["index"], slider["index"])
            if state["now"] in (state["min"], state["max"]):
                break
        page.keyboard.up(key)
        settle, n1 = settle_time(page, explorer, quiet)
        runs.append({"key": key, "settle_ms": settle, "figures": n1 - n0})
    restore(page, explorer, slider, start["now"], quiet)
    return runs


def drag(page, explorer: dict, slider: dict, quiet: float) -> list[dict]:
    """Drag a slider's handle with the mouse for a second (60 moves), there and back."""
    runs = []
    handle = harness.slider_handle(page, explorer["index"], slider["index"])
    handle.scroll_into_view_if_needed()
    track = handle.locator("xpath=ancestor::*[contains(@class,'noUi-target')][1]")
    tb = track.bounding_box()
    state = harness.slider_state(page, explorer["index"], slider["index"])
    start = state["now"]
    way = 1 if farther_key(state) == "ArrowRight" else -1
    for sign in (way, -way):
        handle.hover()  # scrolls it into view: the box below is where the mouse is
        tb = track.bounding_box()
        hb = handle.bounding_box()
        x0, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
        x1 = min(max(x0 + sign * 0.4 * tb["width"], tb["x"] + 1), tb["x"] + tb["width"] - 1)
        n0 = len(harness.paints(page, explorer["output"]))
        page.mouse.move(x0, y)
        page.mouse.down()
        for k in range(1, 61):
            page.mouse.move(x0 + (x1 - x0) * k / 60, y)
            page.wait_for_timeout(1000 / 60)
        page.mouse.up()
        settle, n1 = settle_time(page, explorer, quiet)
        runs.append({"settle_ms": settle, "figures": n1 - n0})
    restore(page, explorer, slider, start, quiet)
    return runs


def profile(page, labels: list[str]) -> dict:
    code = PROFILE.replace("__LABELS__", json.dumps(labels)).replace(
        "__N__", str(PRESSES_PER_WAY)
    )
    text = page.evaluate(KERNEL_EXEC, code)
    if "PROFILE" not in text:
        return {"error": text[-300:]}
    raw = json.loads(text.split("PROFILE", 1)[1])
    return {k: round(statistics.median(v), 1) for k, v in raw.items()}


def worst(runs: list[dict]) -> float | None:
    """The longer settle time of the runs; None when a gesture showed no new figure."""
    if any(r["figures"] == 0 for r in runs):
        return None
    return round(max(r["settle_ms"] for r in runs), 1)


def bench_notebook(page, server, notebook: Path) -> dict:
    harness.open_notebook(page, server, notebook)
    harness.run_all(page)
    explorers = harness.find_explorers(page)
    if not explorers:
        return {"error": "no explorer"}
    explorer = explorers[0]
    text = text_sizes(page)
    sliders = [s for s in explorer["sliders"]
               if not harness.slider_state(page, explorer["index"], s["index"])["disabled"]][:2]
    if not sliders:
        return {"error": "no enabled slider"}
    for key in ("ArrowRight", "ArrowLeft"):  # warm-up, not recorded
        state = harness.slider_state(page, explorer["index"], sliders[0]["index"])
        harness.press(page, explorer, sliders[0]["index"], harness.key_towards_inside(state, key))
        harness.kernel_idle(page)
    lat = key_presses(page, explorer, sliders)
    quiet = min(max(1.5, 3e-3 * max(lat)), 15.0)  # well over the slowest single draw
    held = held_key(page, explorer, sliders[0], quiet)
    dragged = drag(page, explorer, sliders[-1], quiet)
    prof = profile(page, [s["label"] for s in sliders])
    return {
        "sliders": [s["label"] for s in sliders],
        "presses": len(lat),
        "median_ms": round(statistics.median(lat), 1),
        "p90_ms": round(harness.percentile(lat, 90), 1),
        "max_ms": round(max(lat), 1),
        "held_key": held,
        "drag": dragged,
        "held_settle_ms": worst(held),
        "drag_settle_ms": worst(dragged),
        "kernel_ms": prof,
        "text": text,
    }


def smallest_shown(rows: list[dict]) -> float | None:
    """The smallest displayed text over a page's explorers (None when not measured)."""
    sizes = [r["shown_px"] for r in rows if r.get("shown_px") is not None]
    return min(sizes) if sizes else None


def text_table(results: dict, machine: dict) -> str:
    lines = [
        f"Machine: {machine['browser']}, window {harness.VIEWPORT['width']} x "
        f"{harness.VIEWPORT['height']} px, JupyterLab's default layout (file browser open); "
        f"{machine['date']}.",
        "",
        "Smallest text of each explorer's figure: in the image (px, "
        "`Explorer.smallest_text_px`), the image's natural and displayed width (px, "
        "measured in the page) and the text as displayed (px). ✗ = under "
        f"{TARGET_TEXT} px.",
        "",
        "| notebook / explorer | text in the image | image width | displayed width | "
        "text as displayed |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rows in results.items():
        if isinstance(rows, dict):  # an error
            lines.append(f"| {name} | {rows.get('error', '')[:80]} | | | |")
            continue
        for r in rows:
            if "error" in r:
                lines.append(f"| {name} | {r['error'][:80]} | | | |")
                continue
            shown = r["shown_px"]
            mark = "" if shown is not None and shown >= TARGET_TEXT else " ✗"
            px = "—" if r["px"] is None else f"{r['px']:.1f}"
            lines.append(
                f"| {name} / {r['name']} | {px} | {r['natural']} | {r['shown']:.0f} | "
                f"{'—' if shown is None else f'{shown:.1f}'}{mark} |"
            )
    return "\n".join(lines)


def table(results: dict, machine: dict) -> str:
    def ok(x: float | None, target: float) -> str:
        if x is None:
            return "no figure ✗"
        return f"{x:.0f}" + ("" if x <= target else " ✗")

    lines = [
        f"Machine: {machine['cores']} cores, {machine['cpu']}; {machine['browser']}; load "
        f"average at start {machine['load']}; {machine['date']}.",
        "",
        "Key press -> painted figure over 40 presses on two sliders; *settle*: last input "
        "event of a one-second held key / mouse drag -> final figure painted (worse of "
        "there and back). Kernel: median ms per position of `update` (EM + artists) and "
        "of the render (Agg draw + PNG encode; of which encode). ✗ = target missed "
        f"(median ≤ {TARGET_MEDIAN}, p90 ≤ {TARGET_P90}, settle ≤ {TARGET_SETTLE} ms).",
        "",
        "| notebook | sliders | median ms | p90 ms | max ms | held-key settle ms | "
        "drag settle ms | kernel update / render (encode) ms | text px as shown |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | {r['error']} | | | | | | | |")
            continue
        small = smallest_shown(r.get("text", []))
        text = "—" if small is None else f"{small:.1f}" + ("" if small >= TARGET_TEXT else " ✗")
        k = r["kernel_ms"]
        kern = (f"{k['update']:.0f} / {k['render']:.0f} ({k['encode']:.0f})"
                if "update" in k else k.get("error", "")[:60])
        lines.append(
            f"| {name} | {', '.join(r['sliders'])} | {ok(r['median_ms'], TARGET_MEDIAN)} | "
            f"{ok(r['p90_ms'], TARGET_P90)} | {r['max_ms']:.0f} | "
            f"{ok(r['held_settle_ms'], TARGET_SETTLE)} | "
            f"{ok(r['drag_settle_ms'], TARGET_SETTLE)} | {kern} | {text} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--no-readme", action="store_true", help="only print and write JSON")
    parser.add_argument("--text", action="store_true", help="only the text sizes, all explorers")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or harness.NOTEBOOKS
    from playwright.sync_api import sync_playwright

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results: dict = {}
    server = harness.start_lab()
    try:
        with sync_playwright() as p:
            browser = harness.launch_chromium(p)
            try:
                machine = {"cores": os.cpu_count(), "cpu": cpu_model(), "load": load,
                           "browser": f"Chromium {browser.version} (headless)",
                           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
                for path in paths:
                    page = harness.new_page(browser)
                    try:
                        if args.text:
                            harness.open_notebook(page, server, path)
                            harness.run_all(page)
                            results[path.stem] = text_sizes(page)
                        else:
                            results[path.stem] = bench_notebook(page, server, path)
                    except Exception as exc:  # one broken notebook must not hide the others
                        results[path.stem] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
                    finally:
                        page.context.close()
                        server.shutdown_kernels()
                    print(path.stem, json.dumps(results[path.stem]), flush=True)
            finally:
                browser.close()
    finally:
        server.stop()
    out = ROOT / "bench" / "results" / ("browser_text.json" if args.text else "browser.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=1))
    if args.text:
        text = text_table(results, machine)
        print(text)
        if not args.no_readme:
            head = "## Explorer text as displayed (bench/bench_browser.py --text)"
            write_section("browser-text", f"{head}\n\n{text}")
        return 0
    text = table(results, machine)
    print(text)
    if not args.no_readme:
        write_section("browser-latency", f"## Browser latency (bench/bench_browser.py)\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
