"""The browser tier's parts: a real ``jupyter lab``, chromium's launch, a page's console.

Named ``lab_helpers`` (not ``jupyterlab``/``playwright``): pytest puts this folder first
on ``sys.path``, so a module here named like a package would hide that package.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Error, Page, expect

from tests.projects import example_copy, free_port, git_commit

#: What works on these machines (root, no GPU, no display, a small /dev/shm).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
#: The one project the session serves: examples/iris, as a git repository.
PROJECT = "iris"


@dataclass
class Lab:
    """One ``jupyter lab`` for the session: its URL, token, root folder and project."""

    url: str
    token: str
    root: Path
    state_dir: Path
    commit: str
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: more of the server's environment (start_lab's ``env``), kept for a restart
    extra_env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def project(self) -> Path:
        return self.root / PROJECT


def start_lab(work: Path, timeout: float = 120, env: dict[str, str] | None = None) -> Lab:
    """``jupyter lab`` from this venv on a free port, with its own config, data and state.

    Every folder jupyter writes to is under ``work``; ``HOME`` stays, for what a deploy
    needs from it (uv's cache). ``env``: more of the server's environment (a KUBECONFIG).
    """
    root = work / "root"  # its config, data and runtime folders: work / "home" (_launch)
    root.mkdir(parents=True)
    project, port = example_copy(PROJECT, root / PROJECT)
    # its service's port is a free one in bodywork.yaml: the stage's tag says the same
    tagged = project / "predict.ipynb"
    text = tagged.read_text(encoding="utf-8")
    assert '"port": 5000' in text, "examples/iris/predict.ipynb no longer tags port 5000"
    tagged.write_text(text.replace('"port": 5000', f'"port": {port}'), encoding="utf-8")
    commit = git_commit(project, "the iris example")
    lab = Lab(
        url=f"http://127.0.0.1:{free_port()}",
        token=secrets.token_hex(16),
        root=root,
        state_dir=work / "state",
        commit=commit,
        log=work / "jupyter-lab.log",
        extra_env=dict(env or {}),
    )
    _launch(lab, timeout, "wb", "")
    return lab


def _launch(lab: Lab, timeout: float, mode: str, when: str) -> None:
    """Start the lab's ``jupyter lab`` (its folders beside its root) and wait until it
    answers; ``mode`` "ab" appends to its log (a restart)."""
    home = lab.root.parent / "home"
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "BODYWORK_STATE_DIR": str(lab.state_dir),
        **lab.extra_env,
    }
    args = [
        str(bin_dir / "jupyter"),
        "lab",
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--port={lab.url.rsplit(':', 1)[1]}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={lab.token}",
        f"--ServerApp.root_dir={lab.root}",
        "--LabApp.news_url=None",
        # the update check asks PyPI; a test must not depend on the network
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with lab.log.open(mode) as log:
        if mode == "ab":
            log.write(b"\n--- restart_lab ---\n")
            log.flush()
        # its own process group: kernels it starts go with it if it must be killed
        lab.process = subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited{when}:\n{log_tail(lab)}")
        if answers(lab):
            return
        time.sleep(0.3)
    stop_lab(lab)
    raise TimeoutError(f"jupyter lab did not answer in {timeout:.0f} s{when}:\n{log_tail(lab)}")


def answers(lab: Lab) -> bool:
    request = urllib.request.Request(
        f"{lab.url}/api/status", headers={"Authorization": f"token {lab.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def stop_lab(lab: Lab, timeout: float = 30) -> None:
    process = lab.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def log_tail(lab: Lab, chars: int = 4000) -> str:
    text = lab.log.read_text(errors="replace") if lab.log.exists() else ""
    return text[-chars:].replace(lab.token, "<token>")


@dataclass
class BrowserLog:
    """A page's console errors and uncaught exceptions; a test allows some by pattern."""

    entries: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def allow(self, pattern: str) -> None:
        """Errors matching ``pattern`` (a regular expression) do not fail the test."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.entries if not any(p.search(e) for p in self.allowed)]

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            url = message.location.get("url")
            where = f" ({url}:{message.location.get('lineNumber')})" if url else ""
            self.entries.append(f"console.error: {message.text}{where}")

    def _page_error(self, error: Error) -> None:
        self.entries.append(f"uncaught: {error.name}: {error.message}")


def open_lab(page: Page, lab: Lab, timeout_ms: float = 60_000) -> None:
    """Open JupyterLab (the token logs the page's session in) and wait for its shell."""
    page.goto(f"/lab?token={lab.token}", timeout=timeout_ms)
    wait_until_ready(page, timeout_ms)


def wait_until_ready(page: Page, timeout_ms: float = 60_000) -> None:
    """The shell is attached, the splash screen gone and the main area shown."""
    page.wait_for_function("document.querySelector('.jp-LabShell') !== null", timeout=timeout_ms)
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=timeout_ms)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=timeout_ms)


# A request from inside the page, as an extension makes one: the login cookie JupyterLab's
# token set, plus the XSRF header from the _xsrf cookie (what ServerConnection sends).
_FETCH = """async ([method, path, body, xsrf]) => {
  const headers = {'Content-Type': 'application/json'};
  if (xsrf) {
    const found = document.cookie.match(/(?:^|;\\s*)_xsrf=([^;]*)/);
    if (!found) { throw new Error('the page has no _xsrf cookie'); }
    headers['X-XSRFToken'] = found[1];
  }
  const init = {method, headers, credentials: 'same-origin'};
  if (body !== null) { init.body = JSON.stringify(body); }
  const response = await fetch(path, init);
  return {status: response.status, text: await response.text()};
}"""


@dataclass
class PageReply:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def page_fetch(
    page: Page, method: str, path: str, body: Any = None, *, xsrf: bool = True
) -> PageReply:
    """``fetch(path)`` in the page's own session (no token), with the XSRF header unless told."""
    reply = page.evaluate(_FETCH, [method, path, body, xsrf])
    return PageReply(status=int(reply["status"]), text=str(reply["text"]))


def lab_extensions(page: Page) -> list[str]:
    """The prebuilt (federated) lab extensions the page was told to load."""
    names: list[str] = page.evaluate(
        """() => JSON.parse(document.getElementById('jupyter-config-data').textContent)
                 .federated_extensions.map(e => e.name)"""
    )
    return names


# -- restarting a lab (tests/browser/test_panel_history.py) ------------------------------------


def restart_lab(lab: Lab, timeout: float = 120) -> None:
    """Stop the lab's ``jupyter lab`` and start it again on the same port, root, token and
    state folder (its config, data and runtime folders too: the login cookie stays valid).

    What runs is left alone: runs are driven by their own supervisors, not by the server.
    """
    stop_lab(lab)
    _launch(lab, timeout, "ab", " after a restart")
