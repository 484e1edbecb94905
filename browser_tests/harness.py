"""Drive the course's notebooks in a real browser: JupyterLab or Voila, headless Chromium.

Shared by the browser tests (``browser_tests/``) and the latency benchmark
(``bench/bench_browser.py``):

- :func:`start_lab` / :func:`start_voila`: a server on a free loopback port with a random
  token, in its own process group, on a temporary copy of ``notebooks/`` and ``data/`` (Run
  All never rewrites the committed notebooks); :meth:`Server.stop` kills the whole group.
- :func:`launch_chromium`: Debian's ``chromium`` through Playwright (never a downloaded
  browser).
- :func:`open_notebook` / :func:`run_all`: open a notebook in JupyterLab, run every cell,
  wait until the kernel is idle.
- :func:`find_explorers` / :func:`press`: the explorers' sliders, dropdowns and images;
  a key press on a slider handle and the time until the new figure is *painted*, measured
  in the page (keydown listener -> MutationObserver on the ``<img>`` -> ``decode()`` ->
  ``requestAnimationFrame``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}

# JupyterLab user settings for a quiet, deterministic test session: no news/update toasts,
# and every cell kept in the DOM (no virtual scrolling) so offscreen figures load too.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: Path) -> Path:
    """Copy ``notebooks/`` and ``data/`` under ``dest`` (notebooks read ``../data``)."""
    for name in ("notebooks", "data"):
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, dest / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
            )
    return dest


@dataclass
class Server:
    """A Jupyter server (JupyterLab or Voila) running in its own process group."""

    proc: subprocess.Popen
    url: str
    token: str
    root: Path
    log: Path
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def api(self, method: str, path: str) -> object:
        """Call the server's REST API; the decoded JSON reply (None when empty)."""
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every kernel session (one notebook's kernel must not slow down the next)."""
        with contextlib.suppress(OSError, ValueError):
            for session in self.api("GET", "/api/sessions") or []:
                self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> None:
        """Kill the server's whole process group, and the kernels it started in sessions of
        their own (by their ids, found before the server goes); remove its files."""
        kernels = descendants(self.proc.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid in kernels:  # a server shuts its kernels down; any left are ended here
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _spawn(argv: list[str], tmp: tempfile.TemporaryDirectory, port: int, token: str,
           ready_path: str | None, root: Path, timeout: float,
           base_env: dict[str, str] | None = None) -> Server:
    log = Path(tmp.name) / "server.log"
    env = {
        **(os.environ if base_env is None else base_env),
        "JUPYTER_CONFIG_DIR": str(Path(tmp.name) / "config"),
        "JUPYTER_RUNTIME_DIR": str(Path(tmp.name) / "runtime"),
        "IPYTHONDIR": str(Path(tmp.name) / "ipython"),
        # what `make lab` uses; the notebooks' `%matplotlib inline` sets it anyway
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", token, root, log, tmp)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready_path is None:  # listening is enough
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                return server
            req = urllib.request.Request(
                f"{server.url}{ready_path}", headers={"Authorization": f"token {token}"}
            )
            with urllib.request.urlopen(req, timeout=5):
                return server
        except (OSError, http.client.HTTPException):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"{argv[0]} did not start on port {port}:\n{tail}")
        time.sleep(0.25)


def _root_args() -> list[str]:
    return ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


def _retry(start, attempts: int = 3) -> Server:
    """``start()`` again on a fresh port when the last one was taken meanwhile."""
    for attempt in range(attempts):
        try:
            return start()
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def start_lab(timeout: float = 60) -> Server:
    """JupyterLab on a temporary copy of the course, with ``window.jupyterapp`` exposed."""
    return _retry(lambda: _start_lab(timeout))


def start_voila(notebook: Path, timeout: float = 60) -> Server:
    """Voila serving one notebook (from a temporary copy of the course)."""
    return _retry(lambda: _start_voila(notebook, timeout))


def start_app(timeout: float = 60, extra: list[str] | None = None) -> Server:
    """``make app``'s Voila (the course's explorer apps, :mod:`tools.course_app`), built into
    a temporary folder; its kernels are preheated (see :func:`wait_idle`)."""
    return _retry(lambda: _start_app(timeout, extra or []))


def _start_app(timeout: float, extra: list[str]) -> Server:
    from tools import course_app

    tmp = tempfile.TemporaryDirectory(prefix="emh-app-")
    out = course_app.build(Path(tmp.name) / "app")
    port, token = free_port(), secrets.token_hex(16)
    argv = course_app.voila_argv(out, [
        "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}", "--Voila.port_retries=0",
        f"--token={token}", *extra,
    ], voila=str(BIN / "voila"))
    env = course_app.voila_env(out)
    return _spawn(argv, tmp, port, token, None, out, timeout, env)


def _proc_stats() -> dict[int, list[str]]:
    """``/proc/<pid>/stat`` fields after the command name, for every process (Linux)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
    return stats


def descendants(pid: int) -> list[int]:
    """Every process started by ``pid``, its children's children included (Linux /proc).

    Jupyter starts each kernel in a session of its own, outside the server's process group.
    """
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for p, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(p)  # field 4 of stat: the parent
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its descendants (the kernels of a server)."""
    stats, tick = _proc_stats(), os.sysconf("SC_CLK_TCK")
    return sum((int(stats[p][11]) + int(stats[p][12])) / tick  # utime + stime
               for p in [pid, *descendants(pid)] if p in stats)


def wait_idle(server: Server, quiet: float = 0.25, every: float = 2.0,
              timeout: float = 240) -> float:
    """Wait until the server and its kernels use under ``quiet`` of a core over ``every``
    seconds, e.g. until preheated kernels have run their notebooks; the seconds waited."""
    start = time.monotonic()
    last = tree_cpu(server.proc.pid)
    while time.monotonic() - start < timeout:
        time.sleep(every)
        now = tree_cpu(server.proc.pid)
        if now - last < quiet * every:
            return time.monotonic() - start
        last = now
    raise TimeoutError(f"the server stayed busy for {timeout} s:\n{server.log_tail()}")


def _start_lab(timeout: float) -> Server:
    tmp = tempfile.TemporaryDirectory(prefix="emh-lab-")
    root = copy_course(Path(tmp.name) / "course")
    settings = Path(tmp.name) / "settings"
    for rel, value in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port, token = free_port(), secrets.token_hex(16)
    argv = [
        str(BIN / "jupyter"), "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={Path(tmp.name) / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
        *_root_args(),
    ]
    return _spawn(argv, tmp, port, token, "/api/status", root, timeout)


def _start_voila(notebook: Path, timeout: float) -> Server:
    tmp = tempfile.TemporaryDirectory(prefix="emh-voila-")
    root = copy_course(Path(tmp.name) / "course")
    port, token = free_port(), secrets.token_hex(16)
    argv = [
        str(BIN / "voila"), str(root / "notebooks" / notebook.name), "--no-browser",
        "--Voila.ip=127.0.0.1", f"--port={port}", "--Voila.port_retries=0",
        f"--token={token}", "--VoilaConfiguration.show_tracebacks=True",
    ]
    # (its only page executes the notebook: wait for the port, not for a page)
    return _spawn(argv, tmp, port, token, None, root, timeout)


def chromium_path() -> str:
    """Debian's chromium (``apt-get install -y chromium``); Playwright's own is never used."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise FileNotFoundError(
            "chromium not found: `make test-browser` installs it (apt-get install -y chromium)"
        )
    return path


def launch_chromium(playwright):
    """Headless Chromium from the system, with the flags a container needs."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


# --- in-page instrumentation --------------------------------------------------------------

#: Installed once per page (also before any script of the page, via add_init_script):
#: the time of every input event, and for every image that appears in a widget output
#: area the time it was painted: its MutationObserver sees the new <img> (or a new src),
#: waits for the image to decode, then takes requestAnimationFrame's time, the frame that
#: shows it. ``changed`` says whether the picture differs from the one shown before.
PROBE = r"""
(() => {
  if (window.__emh) return;
  const st = window.__emh = {lastInput: 0, inputs: 0, paints: [], last: {}, nextId: 0};
  const input = () => { st.lastInput = performance.now(); st.inputs += 1; };
  for (const type of ['keydown', 'pointermove', 'pointerdown', 'pointerup', 'change'])
    document.addEventListener(type, input, true);
  const outputId = (el) => {
    const out = el.closest('.widget-output');
    if (!out) return null;
    if (!out.dataset.emhId) out.dataset.emhId = String(st.nextId++);
    return out.dataset.emhId;
  };
  const seen = (img) => {
    const id = outputId(img);
    if (id === null || !img.src) return;
    const src = img.src, tInput = st.lastInput, nInputs = st.inputs;
    const done = () => requestAnimationFrame((t) => {
      const changed = st.last[id] !== undefined && st.last[id] !== src;
      const first = st.last[id] === undefined;
      st.last[id] = src;
      st.paints.push({id, t, tInput, nInputs, changed, first,
                      latency: t - tInput, w: img.naturalWidth, h: img.naturalHeight});
    });
    img.decode().then(done, done);
  };
  const scan = (node) => {
    if (node.nodeType !== 1) return;
    if (node.tagName === 'IMG') seen(node);
    else node.querySelectorAll('img').forEach(seen);
  };
  new MutationObserver((muts) => {
    for (const m of muts) {
      if (m.type === 'attributes') seen(m.target);
      else m.addedNodes.forEach(scan);
    }
  }).observe(document, {subtree: true, childList: true, attributes: true,
                        attributeFilter: ['src']});
  st.count = (id) => st.paints.filter((p) => p.id === id).length;
})();
"""


def new_page(browser, console: list[str] | None = None):
    """A page with the probe installed; console messages and page errors go to ``console``."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(PROBE)
    page = context.new_page()
    if console is not None:
        page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    return page


# --- JupyterLab --------------------------------------------------------------------------

def open_notebook(page, server: Server, notebook: Path, timeout: float = 90) -> None:
    """Open ``notebooks/<name>`` in JupyterLab and wait until its kernel is ready.

    Each notebook gets a workspace of its own, reset on load: JupyterLab would otherwise
    restore (and start kernels for) every notebook opened before in the session.
    """
    page.goto(
        f"{server.url}/lab/workspaces/emh-{notebook.stem}/tree/notebooks/{notebook.name}"
        f"?reset&token={server.token}"
    )
    page.wait_for_function(
        """() => {
          const app = window.jupyterapp, w = app && app.shell.currentWidget;
          const k = w && w.sessionContext && w.sessionContext.session
                    && w.sessionContext.session.kernel;
          return !!(w && w.content && w.context.isReady && k && k.status === 'idle');
        }""",
        timeout=timeout * 1000,
    )


def notebook_dirty(page) -> bool:
    """Whether JupyterLab shows the open notebook as modified (unsaved)."""
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")


def run_all(page, timeout: float = 180) -> dict:
    """Run All (JupyterLab's own command), then wait for every cell and an idle kernel.

    Returns the notebook as nbformat JSON, outputs included.
    """
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(
        """() => {
          const w = window.jupyterapp.shell.currentWidget;
          const k = w.sessionContext.session.kernel;
          if (!k || k.status !== 'idle') return false;
          return w.content.widgets.every((c) => c.model.type !== 'code'
              || (c.model.executionCount !== null && c.model.executionState !== 'running'));
        }""",
        timeout=timeout * 1000,
        polling=200,
    )
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.toJSON()")


def run_cells(page, indices: list[int], timeout: float = 180) -> dict:
    """Run the notebook's cells at ``indices`` in order (JupyterLab's run-cell command), then
    wait for an idle kernel; returns the notebook as nbformat JSON, outputs included."""
    page.evaluate(
        """async (indices) => {
          const app = window.jupyterapp, nb = app.shell.currentWidget.content;
          for (const i of indices) {
            nb.activeCellIndex = i;
            await app.commands.execute('notebook:run-cell');
          }
        }""",
        indices,
    )
    page.wait_for_function(
        """(indices) => {
          const w = window.jupyterapp.shell.currentWidget;
          const k = w.sessionContext.session.kernel;
          if (!k || k.status !== 'idle') return false;
          return indices.every((i) => w.content.widgets[i].model.executionState !== 'running');
        }""",
        arg=indices,
        timeout=timeout * 1000,
        polling=200,
    )
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.toJSON()")


def kernel_idle(page, timeout: float = 30) -> None:
    """Wait until the notebook's kernel is idle (JupyterLab only)."""
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   return !w || w.sessionContext.session.kernel.status === 'idle'; }""",
        timeout=timeout * 1000,
        polling=20,
    )


# --- explorers -----------------------------------------------------------------------------

#: Every explorer on the page: an output area with a widget output holding an image and at
#: least one slider or dropdown. Each gets data-emh-explorer=<index>, its widget output a
#: probe id, each slider handle data-emh-slider=<i>, each dropdown data-emh-select=<i>.
FIND_EXPLORERS = r"""
() => {
  const probe = window.__emh;
  const roots = [];
  document.querySelectorAll('.widget-output').forEach((out) => {
    if (!out.querySelector('img')) return;
    // the smallest widget box around this output that also holds controls
    let root = out.parentElement;
    while (root && !root.querySelector('.noUi-handle, .widget-dropdown select'))
      root = root.parentElement;
    if (root && !roots.includes(root)) roots.push(root);
  });
  return roots.map((root, k) => {
    root.dataset.emhExplorer = String(k);
    const out = root.querySelector('.widget-output');
    if (!out.dataset.emhId) out.dataset.emhId = String(probe.nextId++);
    const label = (el) => {
      const w = el.closest('.widget-inline-hbox, .widget-slider, .widget-dropdown');
      const d = w && w.querySelector('.widget-label');
      return d ? d.textContent.trim() : '';
    };
    const sliders = [...root.querySelectorAll('.noUi-handle')].map((h, i) => {
      h.dataset.emhSlider = String(i);
      return {index: i, label: label(h)};
    });
    const selects = [...root.querySelectorAll('.widget-dropdown select')].map((s, i) => {
      s.dataset.emhSelect = String(i);
      return {index: i, label: label(s), options: [...s.options].map((o) => o.value),
              value: s.value};
    });
    const img = out.querySelector('img');
    return {index: k, output: out.dataset.emhId, sliders, selects,
            img: img ? [img.naturalWidth, img.naturalHeight] : null};
  });
}
"""

SLIDER_STATE = r"""
([k, i]) => {
  const h = document.querySelector(
      `[data-emh-explorer="${k}"] [data-emh-slider="${i}"]`);
  const target = h.closest('.noUi-target');
  const disabled = !!(target && (target.hasAttribute('disabled')
      || target.closest('[disabled]'))) || h.closest('.widget-slider') === null
      || getComputedStyle(h).visibility === 'hidden' || h.offsetParent === null;
  return {now: parseFloat(h.getAttribute('aria-valuenow')),
          min: parseFloat(h.getAttribute('aria-valuemin')),
          max: parseFloat(h.getAttribute('aria-valuemax')), disabled};
}
"""

OUTPUT_STDERR = r"""
(k) => [...document.querySelectorAll(
    `[data-emh-explorer="${k}"] [data-mime-type="application/vnd.jupyter.stderr"]`)]
    .map((e) => e.textContent.slice(0, 2000))
"""


def find_explorers(page) -> list[dict]:
    """The page's explorers (see :data:`FIND_EXPLORERS`), indexed and tagged."""
    return page.evaluate(FIND_EXPLORERS)


def paints(page, output: str) -> list[dict]:
    """Every paint the probe recorded for one widget output (in order)."""
    return page.evaluate("(id) => window.__emh.paints.filter((p) => p.id === id)", output)


def slider_handle(page, explorer: int, slider: int):
    return page.locator(f'[data-emh-explorer="{explorer}"] [data-emh-slider="{slider}"]')


def slider_state(page, explorer: int, slider: int) -> dict:
    return page.evaluate(SLIDER_STATE, [explorer, slider])


def stderr_in(page, explorer: int) -> list[str]:
    """Text of any stderr/traceback output shown inside an explorer."""
    return page.evaluate(OUTPUT_STDERR, explorer)


def key_towards_inside(state: dict, prefer: str = "ArrowRight") -> str:
    """The arrow key that moves a slider (not pressing into the end it sits at)."""
    if prefer == "ArrowRight" and state["now"] >= state["max"]:
        return "ArrowLeft"
    if prefer == "ArrowLeft" and state["now"] <= state["min"]:
        return "ArrowRight"
    return prefer


def wait_paint(page, output: str, n_before: int, timeout: float = 30) -> dict:
    """Wait for the first paint after ``n_before`` in ``output``; return it."""
    page.wait_for_function(
        "([id, n]) => window.__emh.count(id) > n", arg=[output, n_before],
        timeout=timeout * 1000, polling="raf",
    )
    return paints(page, output)[n_before]


def press(page, explorer: dict, slider: int, key: str, timeout: float = 30) -> dict:
    """Press ``key`` on a slider handle; the paint of the new figure (latency in ms)."""
    handle = slider_handle(page, explorer["index"], slider)
    handle.focus()
    n = page.evaluate("(id) => window.__emh.count(id)", explorer["output"])
    page.keyboard.press(key)
    return wait_paint(page, explorer["output"], n, timeout)


def select(page, explorer: dict, index: int, value: str, timeout: float = 30) -> dict:
    """Choose ``value`` in a dropdown; the paint of the new figure."""
    n = page.evaluate("(id) => window.__emh.count(id)", explorer["output"])
    page.locator(
        f'[data-emh-explorer="{explorer["index"]}"] [data-emh-select="{index}"]'
    ).select_option(value)
    return wait_paint(page, explorer["output"], n, timeout)


def settle(page, output: str, quiet: float = 1.0, timeout: float = 30) -> None:
    """Wait until no new figure has been painted in ``output`` for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        m = page.evaluate("(id) => window.__emh.count(id)", output)
        if m == n:
            return
        n = m
        page.wait_for_timeout(quiet * 1000)
    raise TimeoutError(f"figure kept changing for {timeout} s")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation, as numpy's default)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
