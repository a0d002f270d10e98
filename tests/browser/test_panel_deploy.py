"""Deploying from the Bodywork panel, as a person does: the dialog, the run live in the panel
(the DAG's stages turn green), the service's "try it" box, the executed notebook opened
read-only in JupyterLab; and a wrong override that deploys nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lab_helpers import PROJECT, Lab, page_fetch, wait_until_ready
from playwright.sync_api import Page, Request, expect

from tests.projects import ROOT

#: The first deploy installs scikit-learn and pandas (from uv's cache): minutes, not seconds.
DEPLOY_MS = 420_000
FLOWER: dict[str, Any] = json.loads(
    (ROOT / "examples" / "iris" / "flower.json").read_text(encoding="utf-8")
)
FEATURES = set(FLOWER)


def _panel(page: Page, lab: Lab, folder: str) -> None:
    """JupyterLab with its file browser in ``folder``, and the Bodywork panel open on it."""
    page.goto(f"/lab/tree/{folder}?token={lab.token}")
    wait_until_ready(page)
    tab = page.locator(".jp-SideBar.jp-mod-left").get_by_role(
        "tab", name=re.compile(r"^Bodywork\b")
    )
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(page.locator("[data-bw=folder]")).to_contain_text(folder)
    expect(page.locator("[data-bw=panel]")).to_have_attribute("data-status", "ready")


def _open_dialog(page: Page) -> Any:
    deploy = page.locator("[data-bw=deploy]")
    expect(deploy).to_be_enabled()
    deploy.click()
    dialog = page.locator(".jp-Dialog").filter(has=page.locator("[data-bw=deploy-dialog]"))
    expect(dialog).to_be_visible()
    target = dialog.locator("[data-bw=deploy-target]")
    expect(target.locator("option").first).to_have_text(re.compile("this machine", re.I))
    expect(dialog.locator("[data-bw=deploy-params]")).to_be_visible()
    # the dialog focuses its first control once attached: keys typed elsewhere before
    # then would go to it
    expect(target).to_be_focused()
    return dialog


def _deploys(page: Page) -> list[str]:
    """Every POST to the deployments endpoint the page makes from now on."""
    posts: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and re.search(
            r"/bodywork/api/deployments/?(\?|$)", request.url
        ):
            posts.append(request.url)

    page.on("request", seen)
    return posts


def test_a_wrong_override_is_a_message_and_deploys_nothing(page: Page, lab: Lab) -> None:
    _panel(page, lab, PROJECT)
    before = page_fetch(page, "GET", "/bodywork/api/runs?limit=1000", xsrf=False).json()["runs"]
    posts = _deploys(page)
    dialog = _open_dialog(page)
    field = dialog.locator("[data-bw=deploy-param][data-stage=train][data-param=n_estimators]")
    expect(field).to_have_attribute("placeholder", "50")  # the stage's own value
    field.fill("lots")
    error = dialog.locator("[data-bw=deploy-param-error]")
    expect(error).to_contain_text("not an int")
    expect(field).to_have_attribute("aria-invalid", "true")
    dialog.locator(".jp-Dialog-footer .jp-mod-accept").click()
    expect(dialog.locator("[data-bw=deploy-error]")).to_contain_text("nothing was deployed")
    expect(dialog).to_be_visible()  # still open, to fix the value
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    after = page_fetch(page, "GET", "/bodywork/api/runs?limit=1000", xsrf=False).json()["runs"]
    assert posts == [], posts
    assert len(after) == len(before), (before, after)
    expect(page.locator("[data-bw=run]")).to_have_count(0)


def test_deploy_watch_try_and_open_the_executed_notebook(page: Page, lab: Lab) -> None:
    _panel(page, lab, PROJECT)
    dialog = _open_dialog(page)
    expect(dialog.locator("[data-bw=deploy-parallel]")).to_have_value("4")
    dialog.locator(".jp-Dialog-footer .jp-mod-accept").click()
    expect(dialog).to_have_count(0, timeout=60_000)
    run = page.locator("[data-bw=run]")
    expect(run).to_have_attribute("data-run", re.compile(r"\S"))
    run_id = run.get_attribute("data-run")
    try:
        _watch(page)
        _try_it(page)
        _log_and_notebook(page, lab)
        # the live view counted every event the run has, and the last one's seq
        events = page_fetch(
            page, "GET", f"/bodywork/api/runs/{run_id}/events?after=0", xsrf=False
        ).json()["events"]
        expect(run).to_have_attribute("data-seq", str(events[-1]["seq"]))
        assert int(run.get_attribute("data-events") or 0) >= len(events)
    finally:
        # 404: a deploy that failed early left no deployment (the test says why it failed)
        reply = page_fetch(page, "DELETE", "/bodywork/api/deployments/iris")
        assert reply.status in (200, 404), reply.text
    expect(run).to_have_attribute("data-status", "stopped", timeout=60_000)
    expect(run.locator("[data-bw=run-stage][data-stage=predict]")).to_have_attribute(
        "data-status", "stopped"
    )


def _watch(page: Page) -> None:
    """The run goes live: its stages turn succeeded (batch) and ready (the service)."""
    run = page.locator("[data-bw=run]")
    expect(run).to_have_attribute("data-status", "deployed", timeout=DEPLOY_MS)
    dag = page.locator("[data-bw=dag]")
    for stage, status in [
        ("prepare", "succeeded"),
        ("train", "succeeded"),
        ("report", "succeeded"),
        ("predict", "ready"),
    ]:
        node = dag.locator(f"g[data-stage={stage}]")
        expect(node).to_have_attribute("data-status", status, timeout=30_000)
        expect(node).to_have_attribute("aria-label", re.compile(rf"status {status}"))
        row = run.locator(f"[data-bw=run-stage][data-stage={stage}]")
        expect(row).to_have_attribute("data-status", status)
        expect(row).to_have_attribute("data-attempt", "1")
    expect(run.locator("[data-bw=cancel]")).to_have_count(0)
    url = run.locator("[data-bw=service-url][data-stage=predict]")
    expect(url).to_have_text(re.compile(r"^http://127\.0\.0\.1:\d+"))


def _try_it(page: Page) -> None:
    box = page.locator("[data-bw=try][data-stage=predict]")
    body = box.locator("[data-bw=try-body]")
    expect(box.locator("[data-bw=try-path]")).to_have_value("/predict")
    prefilled = json.loads(body.input_value())
    if prefilled:  # the server sends the service's example
        assert set(prefilled) == FEATURES, prefilled
    else:  # no example known: the box starts with {}
        body.fill(json.dumps(FLOWER))
    # a body that is not JSON is a message, not a request
    body.fill("{not json")
    box.locator("[data-bw=try-send]").click()
    expect(box.locator("[data-bw=try-error]")).to_contain_text("not JSON")
    expect(box.locator("[data-bw=try-answer]")).to_have_count(0)
    body.fill(json.dumps(FLOWER))
    box.locator("[data-bw=try-send]").click()
    answer = box.locator("[data-bw=try-answer]")
    expect(answer).to_contain_text("species", timeout=30_000)
    expect(answer).to_have_attribute("data-status", "200")
    expect(answer).to_contain_text("virginica")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if ".ipynb_checkpoints" not in p.parts}


def _log_and_notebook(page: Page, lab: Lab) -> None:
    run = page.locator("[data-bw=run]")
    train = run.locator("[data-bw=run-stage][data-stage=train]")
    head = train.locator("[data-bw=run-stage-log]")
    head.click()
    expect(head).to_have_attribute("aria-pressed", "true")
    expect(run.locator("[data-bw=log][data-stage=train]")).to_contain_text("trained on")

    files = _files(lab.root)
    train.locator("[data-bw=open-notebook]").click()
    # the run's record, not an iris/train.ipynb an earlier test of the tier left open
    tab = page.locator('#jp-main-dock-panel .lm-TabBar-tab[title*="BodyworkRuns:"]').filter(
        has_text="train.ipynb"
    )
    expect(tab).to_be_visible()
    notebook = page.locator("#jp-main-dock-panel .jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-OutputArea-output").first).to_be_visible(timeout=30_000)
    expect(notebook).to_contain_text("trained on")
    # a record to read: no kernel was started for it
    sessions = page_fetch(page, "GET", "/api/sessions", xsrf=False).json()
    assert not [s for s in sessions if "BodyworkRuns" in s.get("path", "")], sessions
    # and nothing was written into the lab's folders
    assert _files(lab.root) == files, _files(lab.root) ^ files
