"""Fixtures for browser tests: the real server (uvicorn, in a thread) and Chromium.

The app runs for real on 127.0.0.1 (a socket bound to a free port before the server
starts, so no other process can take the port in between); Playwright drives the
Debian chromium (``/usr/bin/chromium``). Screenshots go to ``LABELWISE_SCREENSHOTS``
when it is set, else to a temporary folder.
"""

import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "web"))  # webutil: the shared project

from webutil import PASSWORDS, make_project  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
HOME = {"ann": "/label", "ann2": "/label", "rev": "/review", "boss": "/dashboard"}


@pytest.fixture(scope="session")
def _template(tmp_path_factory):
    """One project built per session (users' argon2 hashes are slow); tests get copies."""
    path = tmp_path_factory.mktemp("template") / "proj"
    p, truth = make_project(path)
    p.close()
    return path, {f"d{i}": str(t) for i, t in enumerate(truth)}


@pytest.fixture()
def project(_template, tmp_path):
    """(project, truth): a fresh copy of the digits project (uid -> digit as a class name)."""
    from labelwise.store import Project

    src, truth = _template
    dst = tmp_path / "proj"
    shutil.copytree(src, dst)  # SQLite file beside the config: the copy is self-contained
    p = Project.open(dst)
    yield p, truth
    p.close()


@pytest.fixture()
def server(project):
    """Base URL of the app served for real by uvicorn; always stopped afterwards."""
    import uvicorn

    from labelwise.web import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(project[0]), log_level="warning", lifespan="off", access_log=False
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not srv.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the web server did not start", pytrace=False)
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "the web server did not stop"


@pytest.fixture(scope="session")
def browser():
    # fail, never skip: a browser test that cannot run must not pass quietly
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("pip install playwright (the 'dev' extra), or -m 'not browser'", pytrace=False)
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: apt-get install chromium, or deselect with "
            "-m 'not browser'",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    """The folder screenshots are written to."""
    env = os.environ.get("LABELWISE_SCREENSHOTS")
    if env:
        path = Path(env)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


class Session:
    """One logged-in browser context; collects script errors and dialogs of its page."""

    def __init__(self, browser, base: str, name: str):
        self.base = base
        self.name = name
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.context.set_default_timeout(10_000)
        # the dashboard's random replay fits two dozen models on its first view after a
        # label changed: seconds on a loaded machine
        self.context.set_default_navigation_timeout(30_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)

    def _console(self, msg):
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} ({msg.location.get('url')})")

    def _dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def login(self):
        """Log in through the /login form; lands on the role's home page."""
        page = self.page
        page.goto(self.base + "/login")
        page.fill("input[name=username]", self.name)
        page.fill("input[name=password]", PASSWORDS[self.name])
        page.click("button[type=submit]", no_wait_after=True)
        page.wait_for_url(self.base + HOME[self.name])  # the navigation timeout
        return self

    def goto(self, path: str):
        self.page.goto(self.base + path)
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture()
def as_user(browser, server):
    """Factory: ``as_user("ann")`` is a Session logged in through the form.

    At teardown every page must have been free of script errors (CSP violations
    included) and of dialogs.
    """
    sessions: list[Session] = []

    def make(name: str) -> Session:
        s = Session(browser, server, name).login()
        sessions.append(s)
        return s

    yield make
    problems = [f"{s.name}: {e}" for s in sessions for e in s.errors + s.dialogs]
    for s in sessions:
        s.close()
    assert not problems, problems
