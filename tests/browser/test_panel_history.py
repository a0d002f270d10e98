"""The history in the Bodywork panel: a deployment and its runs (status, commit, who, when)
stay there through a page reload and a server restart; Re-run, Cancel and Delete work from
the panel. This module has a lab of its own: restarting it leaves the session's alone."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import Lab, page_fetch, restart_lab, start_lab, stop_lab, wait_until_ready
from playwright.sync_api import Locator, Page, expect

from tests.engine.helpers import delete_all
from tests.projects import free_port, git_commit, notebook, write_yaml

FOLDER = "history"  # under the lab's root; the pipeline (and deployment) has the same name
#: A run from deploy to serving: three stages, each a kernel of its own.
DEPLOYED_MS = 180_000


def write_project(folder: Path, port: int) -> str:
    """quick >> slow (sleeps ``seconds``, 0 unless told) >> serve; committed: its commit."""
    notebook(folder / "quick.ipynb", "print('quick')")
    notebook(
        folder / "slow.ipynb",
        "import time\ntime.sleep(seconds)\nprint('slept', seconds)",
        params="seconds = 0",
    )
    notebook(folder / "serve.ipynb", "def predict(request):\n    return {'echo': request}")
    write_yaml(
        folder,
        f"""\
        version: "2.0"
        pipeline: {{name: {FOLDER}}}
        stages:
          quick: {{path: quick.ipynb}}
          slow: {{path: slow.ipynb, depends_on: [quick]}}
          serve: {{path: serve.ipynb, kind: service, depends_on: [slow], service: {{port: {port}}}}}
        """,
    )
    return git_commit(folder, "the history project")


class Project:
    def __init__(self, commit: str, port: int) -> None:
        self.commit, self.port = commit, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """This module's own ``jupyter lab`` (in place of the session's), stopped at its end."""
    lab = start_lab(tmp_path_factory.mktemp("history-lab"))
    try:
        yield lab
    finally:
        stop_lab(lab)
        delete_all(lab.state_dir)


@pytest.fixture(scope="module")
def project(lab: Lab) -> Project:
    port = free_port()
    return Project(write_project(lab.root / FOLDER, port), port)


# -- the API from here (the server's token), and the service ------------------------------------


def api(lab: Lab, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
    request = urllib.request.Request(
        f"{lab.url}/bodywork/api/{path}",
        data=data,
        method=method,
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def wait_for(lab: Lab, run_id: str, statuses: set[str], timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = api(lab, "GET", f"runs/{run_id}")
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run still {run['status']}: {run}"
        time.sleep(0.5)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=3) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


# -- the panel ---------------------------------------------------------------------------------


def open_panel(page: Page, lab: Lab) -> Locator:
    """JupyterLab on the project's folder with the Bodywork panel open: its history."""
    page.goto(f"/lab/tree/{FOLDER}?token={lab.token}")
    wait_until_ready(page)
    tab = page.locator(".jp-SideBar.jp-mod-left").get_by_role(
        "tab", name=re.compile(r"^Bodywork\b")
    )
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(page.locator("[data-bw=folder]")).to_contain_text(FOLDER)
    history = page.locator("[data-bw=history]")
    expect(history).to_have_attribute("data-loaded", "true")
    return history


def deployment_of(history: Locator) -> Locator:
    return history.locator(f"[data-bw=deployment][data-name={FOLDER}]")


def expand(deployment: Locator) -> None:
    """Open its runs with the keyboard (the toggle is a button: Tab reaches it)."""
    toggle = deployment.locator("[data-bw=deployment-toggle]")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    toggle.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")


def run_row(deployment: Locator, run_id: str) -> Locator:
    return deployment.locator(f"[data-bw=history-run][data-run='{run_id}']")


def assert_run_shown(row: Locator, project: Project, status: str) -> None:
    expect(row).to_have_attribute("data-status", status, timeout=DEPLOYED_MS)
    expect(row.locator("[data-bw=status-badge]")).to_have_text(status)
    expect(row.locator("[data-bw=run-commit]")).to_have_text(project.commit[:8])
    expect(row.locator("[data-bw=run-commit]")).to_have_attribute(
        "title", re.compile(project.commit)
    )
    expect(row.locator("[data-bw=run-duration]")).to_have_text(re.compile(r"\d s$"))
    # who started it: the page's Jupyter user (a token login: JupyterLab's "Anonymous" name)
    expect(row.locator("[data-bw=run-started-by]")).to_have_text(re.compile(r"\S"))
    when = row.locator("time")
    expect(when).to_have_text(re.compile(r"ago$|^just now$"))
    expect(when).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))


# -- the tests ---------------------------------------------------------------------------------


def test_a_run_stays_through_a_reload_and_a_restart_and_runs_again(
    page: Page, lab: Lab, project: Project
) -> None:
    history = open_panel(page, lab)
    expect(history.locator("[data-bw=history-empty]")).to_be_visible()
    reply = page_fetch(page, "POST", "/bodywork/api/deployments", {"path": FOLDER})
    assert reply.status == 201, reply.text
    first = reply.json()["id"]
    # the deploy dialog asks the history to read again; a request of our own does not
    history.get_by_role("button", name="Refresh the history").click()
    deployment = deployment_of(history)
    expand(deployment)
    assert_run_shown(run_row(deployment, first), project, "deployed")
    expect(deployment).to_have_attribute("data-status", "serving")
    expect(deployment.locator("[data-bw=deployment-url]")).to_have_text(project.url)

    page.reload()
    wait_until_ready(page)
    history = open_panel(page, lab)
    deployment = deployment_of(history)
    expect(deployment).to_have_attribute("data-status", "serving")
    expand(deployment)
    assert_run_shown(run_row(deployment, first), project, "deployed")

    page.goto("about:blank")  # nothing asks a server that is not there
    restart_lab(lab)
    assert answers(project.url), "the service stopped with the Jupyter server"
    history = open_panel(page, lab)
    deployment = deployment_of(history)
    expect(deployment).to_have_attribute("data-status", "serving")
    expand(deployment)
    row = run_row(deployment, first)
    assert_run_shown(row, project, "deployed")

    row.locator("[data-bw=run-rerun]").click()
    runs = deployment.locator("[data-bw=history-run]")
    expect(runs).to_have_count(2)
    second = runs.first.get_attribute("data-run")
    assert second and second != first
    # the new run is the live view's, and the history follows it to the end
    expect(runs.first).to_have_attribute("data-following", "true")
    expect(page.locator(f"[data-bw=run][data-run='{second}']")).to_be_visible()
    assert_run_shown(runs.first, project, "deployed")
    expect(row).to_have_attribute("data-status", "stopped", timeout=30_000)  # replaced
    assert api(lab, "GET", f"runs/{second}")["source"]["commit"] == project.commit


def test_a_long_run_is_followed_after_a_reload_then_cancelled_and_the_deployment_deleted(
    page: Page, lab: Lab, project: Project
) -> None:
    if api(lab, "GET", "deployments")["deployments"] == []:  # alone: something serving first
        wait_for(lab, api(lab, "POST", "deployments", {"path": FOLDER})["id"], {"deployed"})
    history = open_panel(page, lab)
    body = {"path": FOLDER, "params": {"slow.seconds": 600}}
    reply = page_fetch(page, "POST", "/bodywork/api/deployments", body)
    assert reply.status == 201, reply.text
    long = reply.json()["id"]
    wait_for(lab, long, {"running"})

    # a reload: the panel follows the folder's run that still goes, in the live view
    page.reload()
    wait_until_ready(page)
    history = open_panel(page, lab)
    expect(page.locator(f"[data-bw=run][data-run='{long}']")).to_be_visible(timeout=30_000)
    deployment = deployment_of(history)
    expand(deployment)
    row = run_row(deployment, long)
    expect(row).to_have_attribute("data-status", "running")
    expect(row).to_have_attribute("data-following", "true")
    expect(row.locator("[data-bw=run-rerun]")).to_have_count(0)  # cancel it first

    row.locator("[data-bw=run-cancel]").click()
    expect(row).to_have_attribute("data-status", "cancelled", timeout=60_000)
    expect(row.locator("[data-bw=run-cancel]")).to_have_count(0)
    expect(row.locator("[data-bw=run-rerun]")).to_be_visible()
    assert answers(project.url), "cancelling a new run stopped the version that serves"

    # Delete asks first, naming what stops; Escape keeps it
    deployment.locator("[data-bw=deployment-delete]").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(f"Delete deployment {FOLDER}?")
    expect(dialog.locator("[data-bw=delete-confirm]")).to_contain_text(
        f"Service serve stops answering at {project.url}."
    )
    # the focus moves into the dialog, onto "Keep it" (Enter keeps it too); then Escape
    page.wait_for_function(
        "() => document.activeElement?.closest('.jp-Dialog')?.contains(document.activeElement)"
        " && document.activeElement.textContent === 'Keep it'"
    )
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(deployment.locator("[data-bw=deployment-delete]")).to_be_visible()
    assert answers(project.url)

    deployment.locator("[data-bw=deployment-delete]").click()
    dialog.get_by_role("button", name=f"Delete deployment {FOLDER}").click()
    # it leaves the list, as it leaves `bodywork get deployments`; its service is stopped
    expect(deployment).to_have_count(0, timeout=60_000)
    expect(history.locator("[data-bw=history-empty]")).to_be_visible()
    deadline = time.monotonic() + 10
    while answers(project.url):
        assert time.monotonic() < deadline, "the deleted deployment's service still answers"
        time.sleep(0.3)
    gone = api(lab, "GET", "deployments?all=true")["deployments"]
    assert [(d["name"], d["status"]) for d in gone] == [(FOLDER, "deleted")]

    # its history is kept: "Show deleted" lists it again, without Delete
    history.locator("[data-bw=history-show-deleted]").check()
    expect(deployment).to_have_attribute("data-status", "deleted")
    expect(deployment.locator("[data-bw=deployment-delete]")).to_have_count(0)
    expand(deployment)
    expect(run_row(deployment, long)).to_have_attribute("data-status", "cancelled")
