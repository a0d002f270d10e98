"""Exporting to Argo from the Bodywork panel, as a person does: Deploy, the target "Export to
Argo Workflows", the export's own dialog (kind, namespace, image; by keyboard), then the
written YAML open in JupyterLab's editor; and a project whose commit is on no remote, which
the dialog refuses saying why, writing nothing.

Needs deploy.tsx to open ``exportToArgo`` (exportargo.tsx) when the chosen target is argo.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from lab_helpers import Lab, page_fetch, wait_until_ready
from playwright.sync_api import Page, expect

from tests.projects import git_commit, notebook, write_yaml

PIPELINE = "exportdemo"
PUSHED = "argo-export"
UNPUSHED = "argo-export-unpushed"


def _project(folder: Path, remote: Path | None) -> Path:
    """prepare >> train, committed; pushed to a file:// remote when one is given."""
    if not (folder / ".git").exists():
        notebook(folder / "prepare.ipynb", "print('preparing')")
        notebook(folder / "train.ipynb", "print('trained')")
        write_yaml(
            folder,
            f"""\
            version: "2.0"
            pipeline: {{name: {PIPELINE}}}
            stages:
              prepare: {{path: prepare.ipynb}}
              train: {{path: train.ipynb, depends_on: [prepare]}}
            """,
        )
        git_commit(folder)
        if remote is not None:
            subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
            for args in (["branch", "-M", "main"], ["remote", "add", "origin", remote.as_uri()],
                         ["push", "-q", "origin", "main"]):  # fmt: skip
                subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def pushed(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(lab.root / PUSHED, tmp_path_factory.mktemp("argo-remote") / "r.git")


def _panel(page: Page, lab: Lab, folder: str) -> None:
    page.goto(f"/lab/tree/{folder}?token={lab.token}")
    wait_until_ready(page)
    tab = page.locator(".jp-SideBar.jp-mod-left").get_by_role(
        "tab", name=re.compile(r"^Bodywork\b")
    )
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(page.locator("[data-bw=folder]")).to_contain_text(folder)
    expect(page.locator("[data-bw=panel]")).to_have_attribute("data-status", "ready")


def _export_dialog(page: Page) -> Any:
    """Deploy, choose "Export to Argo Workflows", go on: the export's dialog."""
    page.locator("[data-bw=deploy]").click()
    deploy = page.locator(".jp-Dialog").filter(has=page.locator("[data-bw=deploy-dialog]"))
    target = deploy.locator("[data-bw=deploy-target]")
    argo = target.locator("option[data-target=argo]")
    expect(argo).to_have_text("Export to Argo Workflows (a YAML file)")
    expect(target.locator("option").first).to_have_text(re.compile("this machine", re.I))
    target.select_option(value=argo.get_attribute("value"))
    deploy.locator(".jp-Dialog-footer .jp-mod-accept").click()
    dialog = page.locator(".jp-Dialog").filter(has=page.locator("[data-bw=export-dialog]"))
    expect(dialog).to_be_visible()
    expect(deploy.locator("[data-bw=deploy-dialog]")).to_have_count(0)  # one dialog at a time
    return dialog


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def test_the_endpoint_answers_the_page(page: Page, lab: Lab, pushed: Path) -> None:
    """The lab's own session (cookie and XSRF, as the dialog sends it) gets the YAML."""
    _panel(page, lab, PUSHED)
    reply = page_fetch(page, "POST", "/bodywork/api/pipeline/export", {"folder": PUSHED})
    assert reply.status == 200, reply.text
    answer = reply.json()
    assert answer["written"] is False and answer["name"] == f"{PIPELINE}-"
    assert [d["kind"] for d in _docs(answer["yaml"])] == ["Workflow"]


def test_export_writes_the_yaml_and_opens_it(page: Page, lab: Lab, pushed: Path) -> None:
    written = pushed / f"{PIPELINE}-template.yaml"
    written.unlink(missing_ok=True)
    _panel(page, lab, PUSHED)
    dialog = _export_dialog(page)
    kind = dialog.get_by_label("Kind")
    expect(kind).to_be_focused()  # the dialog starts at its first control
    kind.select_option("template")
    # by keyboard: Tab to the namespace; a wrong one is a message in the dialog, no request
    page.keyboard.press("Tab")
    namespace = dialog.get_by_label("Namespace")
    expect(namespace).to_be_focused()
    page.keyboard.type("ML")
    expect(namespace).to_have_attribute("aria-invalid", "true")
    dialog.get_by_role("button", name=re.compile("^Export")).click()
    expect(dialog.locator("[data-bw=export-error]")).to_contain_text("nothing was exported")
    assert not written.exists()
    namespace.fill("ml")
    dialog.get_by_label("Stage image").fill("python:3.12-slim")
    dialog.get_by_role("button", name=re.compile("^Export")).click()

    expect(dialog).to_have_count(0)
    expect(page.get_by_role("tab", name=re.compile(re.escape(written.name)))).to_be_visible()
    expect(page.locator(".jp-FileEditor .cm-editor").last).to_contain_text("WorkflowTemplate")
    (template,) = _docs(written.read_text(encoding="utf-8"))
    assert template["kind"] == "WorkflowTemplate"
    assert template["metadata"] == {**template["metadata"], "name": PIPELINE, "namespace": "ml"}
    assert "python:3.12-slim" in written.read_text(encoding="utf-8")


def test_an_export_of_a_commit_on_no_remote_is_refused(
    page: Page, lab: Lab, browser_log: Any
) -> None:
    folder = _project(lab.root / UNPUSHED, None)
    browser_log.allow(r"status of 400 .*/bodywork/api/pipeline/export")
    _panel(page, lab, UNPUSHED)
    dialog = _export_dialog(page)
    dialog.get_by_role("button", name=re.compile("^Export")).click()
    error = dialog.locator("[data-bw=export-error]")
    expect(error).to_contain_text("The export was refused")
    expect(error).to_contain_text("remote")
    assert [p.name for p in folder.glob("*.yaml")] == ["bodywork.yaml"]
    page.keyboard.press("Escape")  # JupyterLab's dialog: Escape closes it
    expect(dialog).to_have_count(0)
