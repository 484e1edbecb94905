"""Every notebook in JupyterLab, in headless Chromium: Run All, then every control moved.

For each ``notebooks/*.ipynb`` (new notebooks join by the glob): open it (it must not open
"modified"), run the cells its explorers need and the explorers' cells (the slice
``make app`` serves, :func:`tools.course_app.needed_cells`; nbval runs every cell in
``make test``), wait for the idle kernel; no error or stderr output anywhere, every
``<img>`` loaded with a non-zero size, at least one explorer with controls and a figure.
Then, in every explorer, the first enabled slider is moved one step by keyboard (ArrowRight
or ArrowLeft on its focused handle) and each dropdown is switched to another option (and a
slider it enables moved there); each move must repaint a *different* figure with no
traceback or warning in the explorer. (A few moves per explorer: the front end's wiring is
what this test checks; every control at its ends and in random combinations is
``make test``'s slider sweep, in the kernel, and the browser tests must stay within five
minutes.)

The key-press -> painted-figure latency (measured in the page, see ``harness.PROBE``) is
written per notebook to ``browser_tests/_results/latency.json``. The test fails only on a
gross regression (median > 500 ms); the real targets are ``bench/bench_browser.py``'s.
"""

from __future__ import annotations

import json
import statistics

import nbformat
import pytest

from browser_tests import harness
from browser_tests.conftest import RESULTS
from tools import course_app

GROSS_MEDIAN_MS = 500
NO_FIGURE_S = 10  # a move that paints nothing within this time is reported as such

ALL_IMAGES = r"""
() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img')].map(
    (img) => ({complete: img.complete, w: img.naturalWidth, h: img.naturalHeight}))
"""
STDERR_ANYWHERE = r"""
() => [...document.querySelectorAll(
    '.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]')]
    .map((e) => e.textContent.slice(0, 1500))
"""


def output_problems(nb: dict) -> list[str]:
    """Error and stderr outputs stored in the notebook model after Run All."""
    problems = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                problems.append(f"cell {i}: {out['ename']}: {out['evalue']}")
            elif out["output_type"] == "stream" and out["name"] == "stderr":
                text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
                problems.append(f"cell {i} stderr: {text[:500]}")
    return problems


def record_latency(name: str, latencies: list[float]) -> dict:
    path = RESULTS / "latency.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    entry = {
        "presses": len(latencies),
        "median_ms": round(statistics.median(latencies), 1),
        "p90_ms": round(harness.percentile(latencies, 90), 1),
        "max_ms": round(max(latencies), 1),
    }
    data[name] = entry
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return entry


class Mover:
    """Moves controls of one explorer, collecting latencies and problems."""

    def __init__(self, page, explorer: dict, problems: list[str]):
        self.page, self.explorer, self.problems = page, explorer, problems
        self.latencies: list[float] = []
        self.moved: set[int] = set()
        self.budget = 1  # sliders moved so far allowed; a dropdown option allows one more

    def where(self, what: str) -> str:
        return f"explorer {self.explorer['index']}, {what}"

    def check(self, paint: dict, what: str) -> None:
        harness.kernel_idle(self.page)
        if not paint["changed"]:
            self.problems.append(f"{self.where(what)}: the figure did not change")
        if paint["w"] == 0:
            self.problems.append(f"{self.where(what)}: the new figure is empty")
        errors = harness.stderr_in(self.page, self.explorer["index"])
        if errors:
            self.problems.append(f"{self.where(what)}: shows {errors[0][:600]}")

    def sliders(self) -> None:
        """Move the first enabled slider not moved yet, one step (away from an end)."""
        for s in self.explorer["sliders"]:
            if s["index"] in self.moved:
                continue
            if len(self.moved) >= self.budget:
                return
            state = harness.slider_state(self.page, self.explorer["index"], s["index"])
            if state["disabled"]:
                continue
            self.moved.add(s["index"])
            key = harness.key_towards_inside(state)
            for k in (key,):
                what = f"slider {s['label']!r} {k}"
                try:
                    paint = harness.press(self.page, self.explorer, s["index"], k, NO_FIGURE_S)
                except Exception as exc:  # playwright's TimeoutError
                    self.problems.append(f"{self.where(what)}: no new figure ({exc!r:.200})")
                    break
                self.latencies.append(paint["latency"])
                self.check(paint, what)

    def dropdowns(self) -> None:
        """Choose another option of every dropdown (moving the sliders it enables)."""
        for d in self.explorer["selects"]:
            others = [v for v in d["options"] if v != d["value"]]
            for value in others[:1]:
                what = f"dropdown {d['label']!r} = {value!r}"
                try:
                    paint = harness.select(
                        self.page, self.explorer, d["index"], value, NO_FIGURE_S
                    )
                except Exception as exc:
                    self.problems.append(f"{self.where(what)}: no new figure ({exc!r:.200})")
                    continue
                self.check(paint, what)
                self.budget += 1
                self.sliders()


@pytest.mark.parametrize("notebook", harness.NOTEBOOKS, ids=[p.stem for p in harness.NOTEBOOKS])
def test_notebook_in_jupyterlab(notebook, lab, page, console):
    problems: list[str] = []
    harness.open_notebook(page, lab, notebook)
    if harness.notebook_dirty(page):
        problems.append(
            "opens modified (unsaved) before anything is done: its stored metadata "
            "(kernelspec display_name?) differs from what JupyterLab writes"
        )
    # the cells its explorers need and the explorers (make app's slice of the notebook):
    # the whole notebook is run by nbval in make test, and the stored outputs of the other
    # cells are shown here as a reader opens them
    stored = nbformat.read(notebook, as_version=4)
    targets = course_app.explorer_cells(stored)
    nb = harness.run_cells(page, sorted(course_app.needed_cells(stored, targets) + targets))
    problems += output_problems(nb)
    problems += [f"stderr shown: {t[:600]}" for t in page.evaluate(STDERR_ANYWHERE)]
    # every figure loaded (images decode asynchronously: give them a moment)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img')]"
        ".every((img) => img.complete)", timeout=30_000,
    )
    images = page.evaluate(ALL_IMAGES)
    assert images, "no figure rendered at all"
    problems += [f"image {i} not rendered: {im}" for i, im in enumerate(images)
                 if not (im["complete"] and im["w"] > 0 and im["h"] > 0)]

    explorers = harness.find_explorers(page)
    assert explorers, "no explorer rendered (widget controls above a figure)"
    latencies = []
    for explorer in explorers:
        if not explorer["sliders"] and not explorer["selects"]:
            problems.append(f"explorer {explorer['index']} has no slider or dropdown")
        mover = Mover(page, explorer, problems)
        mover.sliders()
        mover.dropdowns()
        latencies += mover.latencies
        if explorer["sliders"] and not mover.moved:
            problems.append(f"explorer {explorer['index']}: no slider could be moved")

    assert not problems, f"{notebook.name}:\n  " + "\n  ".join(problems)
    assert latencies, "no slider was moved"
    entry = record_latency(notebook.stem, latencies)
    print(f"{notebook.stem}: key press -> painted figure {entry}")
    assert entry["median_ms"] <= GROSS_MEDIAN_MS, (
        f"median latency {entry['median_ms']} ms > {GROSS_MEDIAN_MS} ms (gross regression)"
    )


CURRENT = r"""() => { const w = window.jupyterapp.shell.currentWidget;
    return w ? {path: w.context ? w.context.path : null, label: w.title.label,
                factory: w.context ? (w.constructor.name || '') : '',
                text: w.node.innerText.slice(0, 3000)} : null; }"""


def test_course_links_in_jupyterlab(lab, page):
    """The navigation line's links open the course index and the neighbours in JupyterLab,
    whose file browser (``make lab``) shows the notebooks folder only: the index is
    ``notebooks/README.md``, opened rendered, and its links open the notebooks."""
    second, third = harness.NOTEBOOKS[1], harness.NOTEBOOKS[2]
    harness.open_notebook(page, lab, second)
    header = page.locator(".jp-Notebook .jp-MarkdownCell").first
    index = header.get_by_role("link", name="Course index")
    assert not index.get_attribute("href").startswith("../"), "a link out of notebooks/"
    index.click()
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return w && w.context && w.context.path === 'notebooks/README.md'"
        " && w.node.querySelector('.jp-RenderedMarkdown a'); }", timeout=30_000)
    shown = page.evaluate(CURRENT)
    assert "Start with" in shown["text"], f"the index is not shown rendered: {shown}"
    # the index's link to the third notebook opens it
    page.locator(".jp-MainAreaWidget:visible .jp-RenderedMarkdown a",
                 has_text=third.stem.split("_")[0].lstrip("0") + ".").first.click()
    page.wait_for_function(
        f"() => {{ const w = window.jupyterapp.shell.currentWidget;"
        f" return w && w.context && w.context.path === 'notebooks/{third.name}'; }}",
        timeout=60_000)
    # and the second notebook's "Next" link too
    harness.open_notebook(page, lab, second)
    page.locator(".jp-Notebook .jp-MarkdownCell").first.locator(
        "a", has_text=third.stem.split("_")[0].lstrip("0") + ".").click()
    page.wait_for_function(
        f"() => {{ const w = window.jupyterapp.shell.currentWidget;"
        f" return w && w.context && w.context.path === 'notebooks/{third.name}'; }}",
        timeout=60_000)


SCROLL_TO_EXERCISES = r"""async () => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    const i = nb.widgets.findIndex(
        c => c.model.sharedModel.getSource().startsWith('## Exercises'));
    if (i < 0) return -1;
    await nb.scrollToItem(i, 'start');
    return i; }"""


def test_solutions_links_in_jupyterlab(lab, page):
    """A notebook's Exercises section links its solutions notebook, which opens in
    JupyterLab, and the solutions notebook's first line links back to the notebook."""
    second = harness.NOTEBOOKS[1]
    harness.open_notebook(page, lab, second)
    assert page.evaluate(SCROLL_TO_EXERCISES) >= 0, f"{second.name} has no Exercises section"
    link = page.locator(".jp-MainAreaWidget:visible .jp-RenderedMarkdown a",
                        has_text=f"solutions/{second.name}").first
    link.wait_for(timeout=30_000)
    link.click()
    page.wait_for_function(
        f"() => {{ const w = window.jupyterapp.shell.currentWidget;"
        f" return w && w.context && w.context.path === 'notebooks/solutions/{second.name}'"
        f" && w.node.querySelector('.jp-RenderedMarkdown a'); }}", timeout=60_000)
    back = page.locator(".jp-MainAreaWidget:visible .jp-Notebook .jp-MarkdownCell").first
    back.locator("a", has_text="back to the notebook").click()
    page.wait_for_function(
        f"() => {{ const w = window.jupyterapp.shell.currentWidget;"
        f" return w && w.context && w.context.path === 'notebooks/{second.name}'; }}",
        timeout=60_000)
