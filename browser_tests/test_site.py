"""The course web site (``make site`` -> ``build/html``) in headless Chromium, offline.

A plain ``http.server`` serves the built site on 127.0.0.1 (its own process group, always
stopped). Every page is opened with requests to any other host aborted, and must:
load without console errors, warnings or failed requests; show every figure (natural size
> 0); typeset all its maths with the bundled MathJax, leaving no raw TeX (``$``, ``$$``,
``\\command``) in the text a reader sees; render its saved widgets with the bundled HTML
manager, every control disabled under a "this page is static" note placed above it; link
only to pages that exist (HTTP 200), every citation to an entry of the references; load
neither Font Awesome's script nor, without widgets, more than :data:`MAX_PAGE_BYTES`.
The landing page is ``index.html`` itself, with a start button and readable cards; search
snippets show no TeX; the download button gives the original notebook.

Skips when the site is not built: ``make site`` first (``make test-browser`` does).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest

from browser_tests import harness

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("EM_SITE_DIR", ROOT / "build" / "html"))
LOOPBACK = {"127.0.0.1", "localhost"}
TIMEOUT_MS = 120_000
MAX_PAGE_BYTES = 2_000_000  # a page without widgets; a widget page adds the 1.9 MB manager

if not (SITE / "index.html").is_file():
    pytest.skip(
        f"the course site is not built ({SITE / 'index.html'} is missing): run `make site`",
        allow_module_level=True,
    )

PAGES = sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
               if "_static" not in p.relative_to(SITE).parts
               and p.name not in ("genindex.html", "search.html"))
NOTEBOOKS = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
NOTEBOOK_PAGES = [p for p in PAGES if Path(p).stem in NOTEBOOKS and "solutions" not in p]
SOLUTION_PAGES = [p for p in PAGES if Path(p).stem in NOTEBOOKS and "solutions" in p]

# Each "Solution NN.k" dropdown (sphinx-togglebutton) on a page: its title and whether its
# body is hidden (the reader sees the title and a "Click to show" button only).
SOLUTIONS = r"""() => Array.from(document.querySelectorAll('div.dropdown.admonition'))
  .map(a => [a, a.querySelector('.admonition-title')])
  .filter(([a, t]) => t && t.innerText.startsWith('Solution'))
  .map(([a, t]) => ({
    title: t.innerText.split('\n')[0],
    hidden: a.classList.contains('toggle-hidden')
      && Array.from(a.children).filter(c => c !== t && !c.matches('button'))
        .every(c => getComputedStyle(c).visibility === 'hidden'
                    || getComputedStyle(c).display === 'none'),
  }))"""


@pytest.fixture(scope="module")
def site():
    """``python -m http.server`` on a free loopback port, serving the built site."""
    port = harness.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(SITE)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/index.html", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"http.server did not start on port {port}") from None
                time.sleep(0.1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_every_notebook_has_a_page():
    pages = {Path(p).stem for p in NOTEBOOK_PAGES}
    assert NOTEBOOKS <= pages, f"no page for {sorted(NOTEBOOKS - pages)}: run `make site`"
    solved = {Path(p).stem for p in SOLUTION_PAGES}
    assert NOTEBOOKS <= solved, f"no solutions page for {sorted(NOTEBOOKS - solved)}"
    assert {"index.html", "references.html"} <= set(PAGES)


def _offline(page, blocked: list[str], failed: list[str], sizes: dict[str, int]) -> None:
    def route(r):
        if urlsplit(r.request.url).hostname in LOOPBACK:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    def response(resp):
        if resp.status >= 400:
            failed.append(f"{resp.status} {resp.url}")
        with contextlib.suppress(Exception):  # a body the page no longer needs
            sizes[resp.url] = len(resp.body())

    page.route("**/*", route)
    page.on("response", response)
    page.on("requestfailed", lambda req: failed.append(f"{req.failure} {req.url}"))


@contextlib.contextmanager
def _step(path: str, what: str):
    """Name the step of a page check that timed out (a bare Playwright timeout does not)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        yield
    except PlaywrightTimeout as err:
        pytest.fail(f"{path}: {what} took over {TIMEOUT_MS / 1000:.0f} s: {err}")


_STATUS: dict[str, int] = {}  # a link's HTTP status, checked once for all pages


def _status(page, url: str) -> int:
    if url not in _STATUS:
        _STATUS[url] = page.request.get(url).status
    return _STATUS[url]


IMAGES = """() => Array.from(document.images).map(img => ({
    src: img.currentSrc || img.src, complete: img.complete,
    width: img.naturalWidth, height: img.naturalHeight}))"""

MATH = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise)
        await MathJax.startup.promise;
    const math = Array.from(document.querySelectorAll('.math'));
    return {math: math.length, mathjax: !!window.MathJax,
            untypeset: math.filter(el => !el.querySelector('mjx-container')).length,
            containers: document.querySelectorAll('mjx-container').length};
}"""

#: The text a reader sees outside typeset maths, code and scripts, where it still looks like
#: TeX: a ``$`` (an unpaired or unparsed delimiter) or a ``\\command``. The site's MyST
#: parser reads block structure before maths, so a line inside $...$ that starts with "+" or
#: "-" becomes a list item and the maths falls apart into raw TeX; this finds it.
RAW_TEX = r"""() => {
    const root = document.querySelector('article') || document.body;
    const skip = 'mjx-container, pre, code, script, style, .headerlink, .sd-card-img-top';
    const tex = /\$|\\[A-Za-z]+/;
    const found = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (!el || el.closest(skip) || !tex.test(n.textContent)) continue;
        if (el.checkVisibility && !el.checkVisibility()) continue;
        found.push(n.textContent.trim().slice(0, 160));
    }
    return found;
}"""

#: Display formulas and tables wider than the page column that do not sit in a scroll
#: container: the part beyond the column's edge is cut off (or runs under the sidebar).
CUT_OFF = r"""() => {
    const article = document.querySelector('article');
    if (!article) return [];
    const edge = article.getBoundingClientRect().right + 1;
    const scrolls = (el) => {
        for (let a = el; a && a !== article; a = a.parentElement) {
            const o = getComputedStyle(a).overflowX;
            if ((o === 'auto' || o === 'scroll') && a.getBoundingClientRect().right <= edge)
                return true;
        }
        return false;
    };
    return [...article.querySelectorAll('mjx-container[display="true"], table')]
        .filter(el => el.scrollWidth > el.clientWidth + 1
                      || el.getBoundingClientRect().right > edge)
        .filter(el => !scrolls(el))
        .map(el => el.textContent.trim().slice(0, 60));
}"""

#: Every saved control on the page: disabled? and is a "This page is static" note above
#: the widget it belongs to (earlier in the document, after the previous widget)?
STATIC_WIDGETS = r"""() => {
    const outputs = [...document.querySelectorAll('.cell_output')]
        .filter(o => o.querySelector('.widget-slider, .widget-dropdown, .widget-toggle-buttons'));
    const notes = [...document.querySelectorAll('.admonition')]
        .filter(a => a.textContent.includes('This page is static.'));
    const before = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
    return outputs.map((out, k) => {
        const prev = k > 0 ? outputs[k - 1] : null;
        const noteAbove = notes.some(n => before(n, out) && (!prev || before(prev, n)));
        const sliders = [...out.querySelectorAll('.widget-slider .noUi-target, .widget-slider')];
        const enabledSliders = [...out.querySelectorAll('.noUi-target')]
            .filter(t => !t.hasAttribute('disabled')).length;
        const enabledInputs = [...out.querySelectorAll('select, input, button')]
            .filter(el => !el.disabled && !el.closest('.copybtn')).length;
        return {noteAbove, controls: sliders.length, enabledSliders, enabledInputs};
    });
}"""


@pytest.mark.parametrize("path", PAGES)
def test_page(site, page, console, path):
    blocked: list[str] = []
    failed: list[str] = []
    sizes: dict[str, int] = {}
    _offline(page, blocked, failed, sizes)
    # generous: the machine may be busy (2 cores); a healthy page takes about a second
    page.set_default_timeout(TIMEOUT_MS)
    with _step(path, "loading the page"):
        page.goto(f"{site}/{path}", wait_until="load")
        page.wait_for_load_state("networkidle")
    with _step(path, "typesetting the maths"):
        math = page.evaluate(MATH)
    widgets = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    if widgets:
        # the bundled HTML manager replaces each view script with the widget and its output
        with _step(path, f"rendering {widgets} saved widget(s)"):
            page.wait_for_function(
                f"document.querySelectorAll('.widget-output img').length >= {widgets}"
            )
        assert page.locator(".widget-slider, .widget-dropdown, .widget-toggle-buttons").count()
        for k, w in enumerate(page.evaluate(STATIC_WIDGETS)):
            assert w["noteAbove"], f"{path}: widget {k} has no 'This page is static' note above"
            assert w["enabledSliders"] == 0 and w["enabledInputs"] == 0, (
                f"{path}: widget {k} has controls a reader can move on a static page: {w}")
    with _step(path, "loading the images"):
        page.wait_for_function("Array.from(document.images).every(img => img.complete)")
    images = page.evaluate(IMAGES)

    assert not blocked, f"{path} requested other hosts: {blocked}"
    assert not failed, f"{path}: failed requests {failed}"
    problems = [m for m in console if m.startswith(("[error]", "[pageerror]", "[warning]"))]
    assert not problems, f"{path}: console errors or warnings {problems}"
    empty = [img["src"] for img in images if not (img["width"] > 0 and img["height"] > 0)]
    assert not empty, f"{path}: images without a size {empty}"
    if path in NOTEBOOK_PAGES:
        assert images, f"{path}: a notebook page with no figure"
        assert math["math"] > 0, f"{path}: no maths found"
    if math["math"]:
        assert math["mathjax"], f"{path}: MathJax did not load"
        assert math["untypeset"] == 0 and math["containers"] >= math["math"], (path, math)
    shown = page.evaluate("() => (document.querySelector('article') || document.body).innerText")
    assert "NBVAL" not in shown, f"{path} shows test markers (# NBVAL_...)"
    drops = page.evaluate(SOLUTIONS)
    if drops:  # what a reader sees once a solution is opened: typeset, nothing cut off
        assert all(d["hidden"] for d in drops), f"{path}: a solution shown open {drops}"
        for button in page.locator("div.dropdown.admonition button.toggle-button").all():
            button.click()
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('div.dropdown.admonition'))"
            ".every(a => !a.classList.contains('toggle-hidden'))")
        page.wait_for_timeout(400)  # the opening transition (0.3 s)
    raw = page.evaluate(RAW_TEX)
    assert not raw, f"{path}: raw TeX in the text a reader sees: {raw[:12]}"
    cut = page.evaluate(CUT_OFF)
    assert not cut, f"{path}: formulas or tables cut off at the column's edge: {cut}"

    loaded = sorted(urlsplit(u).path for u in sizes)
    assert not [u for u in loaded if "fontawesome" in u and u.endswith(".js")], loaded
    total = sum(sizes.values())
    if not widgets:
        assert not [u for u in loaded if u.endswith("embed.js")], f"{path} loads the widgets"
        assert total <= MAX_PAGE_BYTES, (
            f"{path} loads {total / 1e6:.2f} MB (> {MAX_PAGE_BYTES / 1e6:.0f} MB): "
            + ", ".join(f"{urlsplit(u).path} {n // 1000} kB"
                        for u, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:5]))
    print(f"{path}: {total / 1e6:.2f} MB in {len(sizes)} requests")

    links = page.evaluate(
        "() => Array.from(document.querySelectorAll('a[href]'), a => a.href)")
    internal = sorted({urldefrag(u).url for u in links if urlsplit(u).hostname in LOOPBACK})
    assert internal, f"{path}: no links"
    bad = [u for u in internal if _status(page, u) != 200]
    assert not bad, f"{path}: links that do not resolve {bad}"
    generic = [u for u in links if urlsplit(u).hostname in ("mybinder.org", "github.com")
               and urlsplit(u).path.strip("/").count("/") < 1]
    assert not generic, f"{path}: links to a generic home page {generic}"
    cited = page.evaluate(
        "() => Array.from(document.querySelectorAll('a.citation-link'), a => a.href)")
    if cited:
        refs = page.request.get(urldefrag(cited[0]).url).text()
        missing = sorted({u for u in cited if f'id="{urldefrag(u).fragment}"' not in refs})
        assert not missing, f"{path}: citations without a bibliography entry {missing}"
    if path in NOTEBOOK_PAGES:
        # the exercises, each followed by its worked solution, collapsed
        exercises = page.locator("h3", has_text=re.compile(r"^Exercise \d\d\.\d")).count()
        assert exercises >= 3 and len(drops) == exercises, (
            f"{path}: {exercises} exercises, {len(drops)} solution dropdowns")
        solutions = page.locator("a.reference.internal[href*='solutions/']")
        assert solutions.count() >= 1, f"{path}: no link to its solutions page"
        here = f"{site}/{path}"
        nav = page.locator("a.reference.internal", has_text="Course index")
        assert nav.count() >= 1, f"{path}: no 'Course index' link (make nav)"
        assert urldefrag(nav.first.evaluate("a => a.href")).url == f"{site}/index.html"
        assert urldefrag(nav.first.evaluate("a => a.href")).url != here


def test_landing_page_is_the_index_with_readable_cards(site, browser):
    html = (SITE / "index.html").read_text()
    assert 'http-equiv="Refresh"' not in html, "index.html is a redirect, not the landing page"
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = context.new_page()
            page.goto(f"{site}/index.html", wait_until="load")
            start = page.get_by_role("link", name="Start with notebook 1")
            assert start.count() == 1 and start.is_visible()
            first = "notebooks/01_exponential_missing_value.html"
            assert start.evaluate("a => a.href").endswith(first)
            cards = page.evaluate("""() => [...document.querySelectorAll('.course-card')].map(c => {
                const img = c.querySelector('img'); const r = img && img.getBoundingClientRect();
                return {title: c.querySelector('.sd-card-title').textContent.trim(),
                        w: r ? r.width : 0, h: r ? r.height : 0};
            })""")
            assert len(cards) == len(NOTEBOOK_PAGES)
            small = [c for c in cards if c["w"] and (c["w"] < 240 or c["h"] < 120)]
            assert not small, f"thumbnails too small to read at {width} px: {small}"
            for text in ("Who it is for", "What you need", "What you will be able to do",
                         "How long", "min"):
                assert page.get_by_text(text).count(), f"the landing page does not say {text!r}"
        finally:
            context.close()


def test_search_finds_and_shows_no_tex(site, page):
    page.goto(f"{site}/search.html?q=likelihood", wait_until="load")
    page.wait_for_function(
        "document.querySelectorAll('#search-results li p.context').length >= 3",
        timeout=60_000)
    snippets = page.evaluate(
        "() => [...document.querySelectorAll('#search-results li p.context')]"
        ".map(p => p.textContent)")
    tex = [s[:200] for s in snippets if "$" in s or re.search(r"\\[A-Za-z]+", s)]
    assert not tex, f"search snippets show raw TeX: {tex}"


def test_one_search_box_one_title(site, page):
    page.goto(f"{site}/notebooks/01_exponential_missing_value.html", wait_until="load")
    boxes = page.locator("form.bd-search:visible, .search-button-field:visible").count()
    assert boxes == 1, f"{boxes} search boxes on a page"
    title = "The EM algorithm, executed"
    sidebar = page.locator(".bd-sidebar-primary")
    assert sidebar.get_by_text(title, exact=True).count() == 1, "the title is in the sidebar twice"


def test_download_gives_the_original_notebook(site, page):
    page.goto(f"{site}/notebooks/03_gaussian_mixture.html", wait_until="load")
    href = page.locator('a[href$=".ipynb"]').first.evaluate("a => a.href")
    body = page.request.get(href).body()
    assert body == (ROOT / "notebooks" / "03_gaussian_mixture.ipynb").read_bytes(), (
        f"{href} is not the repository's notebook")
