"""Fixtures for the browser tests: one JupyterLab server and one headless Chromium per run.

The server runs in its own process group on a temporary copy of the course and is killed
in the fixture's finalizer (also when a test fails); the browser is closed there too. When
a test fails, a screenshot, the browser console and the server log go to
``browser_tests/_results/failures/<test>/``, a path the failure report prints.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from browser_tests import harness

RESULTS = Path(__file__).resolve().parent / "_results"


def failure_folder(item) -> Path:
    """Where a failing test's screenshot, console log and server log go."""
    return RESULTS / "failures" / re.sub(r"[^\w.-]+", "_", item.name)


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = harness.launch_chromium(playwright_instance)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def lab():
    server = harness.start_lab()
    try:
        yield server
    finally:
        server.stop()


_EARLY_APP = pytest.StashKey()


def pytest_collection_finish(session):
    """Start ``make app``'s server as soon as its tests are collected: its kernels preheat
    (run every app's cells) while the other browser tests run, not while its own wait."""
    if any(item.nodeid.startswith("browser_tests/test_voila_apps.py") for item in session.items):
        try:
            server = harness.start_app()
        except Exception as exc:  # the app tests will fail with it; the others need not
            session.config.stash[_EARLY_APP] = exc
            return
        session.config.stash[_EARLY_APP] = server
        session.config.add_cleanup(server.stop)


@pytest.fixture(scope="session")
def app(request):
    """The app server started at collection (see above), once its kernels are idle."""
    server = request.config.stash.get(_EARLY_APP, None)
    if server is None:
        server = harness.start_app()
        request.addfinalizer(server.stop)
    elif isinstance(server, Exception):
        raise server
    harness.wait_idle(server)
    return server


@pytest.fixture
def console() -> list[str]:
    """Browser console messages and page errors of the test's page."""
    return []


@pytest.fixture
def page(browser, console, request):
    shutil.rmtree(failure_folder(request.node), ignore_errors=True)  # a stale one misleads
    page = harness.new_page(browser, console)
    request.node._emh_page = page
    try:
        yield page
    finally:
        page.context.close()
        server = request.node.funcargs.get("lab") or request.node.funcargs.get("voila")
        if server is not None:
            server.shutdown_kernels()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    page = getattr(item, "_emh_page", None)
    folder = failure_folder(item)
    folder.mkdir(parents=True, exist_ok=True)
    notes = []
    if page is not None and not page.is_closed():
        try:
            page.screenshot(path=str(folder / "screenshot.png"), full_page=True)
        except Exception as exc:  # a dead page must not hide the test's own failure
            notes.append(f"no screenshot: {exc!r}")
    console = item.funcargs.get("console") or []
    (folder / "console.log").write_text("\n".join(console) + "\n")
    for name in ("lab", "voila", "app"):
        server = item.funcargs.get(name)
        if server is not None:
            (folder / "server.log").write_text(server.log_tail(400) + "\n")
    text = f"screenshot, console log and server log in {folder}"
    if notes:
        text += "\n" + "\n".join(notes)
    report.sections.append(("browser artifacts", text))
    print(f"\nbrowser artifacts: {folder}", file=sys.stderr)
