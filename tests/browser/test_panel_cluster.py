"""Deploying from the panel to a kubeconfig context, as a person does: the dialog offers the
test cluster's context, the run is followed live to its end in the panel (read from that
context and namespace), the history lists it under that context (and the choice is kept
across a reload), and it is deleted from there.

The k8s tier's cluster (tests/k8s/conftest.py: ``BODYWORK_TESTCLUSTER_KUBECONFIG``, else
started when root) and its fresh namespace per test; this module's own ``jupyter lab``, with
a KUBECONFIG whose context names that namespace. The project is pushed to a file:// remote
under /var/tmp: the cluster's pods share this machine's files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("kubernetes")

import yaml
from lab_helpers import BrowserLog, Lab, page_fetch, start_lab, stop_lab, wait_until_ready
from playwright.sync_api import Locator, Page, expect

from tests.engine.helpers import delete_all
from tests.k8s import conftest as k8s_tier
from tests.projects import git_commit, notebook, write_yaml

pytestmark = pytest.mark.k8s

# the k8s tier's fixtures: its cluster (started in CI, as for tests/k8s) and a fresh namespace
k8s_kubeconfig = k8s_tier.k8s_kubeconfig
k8s_api = k8s_tier.k8s_api
kube = k8s_tier.kube

FOLDER = "to-cluster"
PIPELINE = "hello-where"
GREETING = "hello from the cluster"
#: A stage pod on the test cluster starts in seconds; its kernel and first run take longer.
RUN_MS = 240_000


@pytest.fixture
def shared() -> Iterator[Path]:
    from bodywork_helpers import shared_folder  # tests/k8s, on sys.path once conftest is read

    yield from shared_folder("bodywork-browser-where-")


@pytest.fixture
def cluster_kubeconfig(k8s_kubeconfig: str, kube: object, tmp_path: Path) -> Path:
    """The test cluster's kubeconfig, its contexts in the test's namespace (configured)."""
    namespace = kube.namespace  # type: ignore[attr-defined]
    data = yaml.safe_load(Path(k8s_kubeconfig).read_text(encoding="utf-8"))
    for context in data["contexts"]:
        context["context"]["namespace"] = namespace
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {**os.environ, "KUBECONFIG": str(path), "NO_COLOR": "1",
           "BODYWORK_STATE_DIR": str(tmp_path / "cli-state")}  # fmt: skip
    configured = subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", "configure-cluster", "--namespace", namespace],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert configured.returncode == 0, configured.stdout + configured.stderr
    return path


@pytest.fixture
def lab(cluster_kubeconfig: Path, tmp_path: Path) -> Iterator[Lab]:
    """This module's lab (the ``page`` fixture opens it): it sees the cluster's context."""
    lab = start_lab(tmp_path / "lab", env={"KUBECONFIG": str(cluster_kubeconfig)})
    try:
        yield lab
    finally:
        stop_lab(lab)
        delete_all(lab.state_dir)


@pytest.fixture
def project(lab: Lab, shared: Path) -> Path:
    """One batch stage, committed and pushed to a file:// remote the pods can read."""
    folder = lab.root / FOLDER
    notebook(folder / "hello.ipynb", f"print({GREETING!r})")
    write_yaml(folder, f'version: "2.0"\npipeline: {{name: {PIPELINE}}}\n'
               "stages: {hello: {path: hello.ipynb}}\n")  # fmt: skip
    git_commit(folder, "one stage")
    remote = shared / f"{PIPELINE}.git"
    for args in (
        ["git", "init", "-q", "--bare", str(remote)],
        ["git", "-C", str(folder), "remote", "add", "origin", remote.as_uri()],
        ["git", "-C", str(folder), "push", "-q", "-u", "origin", "HEAD"],
    ):
        subprocess.run(args, check=True, capture_output=True)
    return folder


def _open_panel(page: Page, lab: Lab) -> Locator:
    page.goto(f"/lab/tree/{FOLDER}?token={lab.token}")
    wait_until_ready(page)
    tab = page.locator(".jp-SideBar.jp-mod-left").get_by_role(
        "tab", name=re.compile(r"^Bodywork\b")
    )
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(page.locator("[data-bw=folder]")).to_contain_text(FOLDER)
    expect(page.locator("[data-bw=panel]")).to_have_attribute("data-status", "ready")
    return page.locator("[data-bw=history]")


def _status(lab: Lab, path: str) -> int:
    """The status of ``GET /bodywork/api/PATH``, asked from here with the lab's token."""
    request = urllib.request.Request(
        f"{lab.url}/bodywork/api/{path}", headers={"Authorization": f"token {lab.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _choose(history: Locator, context: str) -> None:
    """Pick ``context`` ("" : this machine) in the history's Where selector."""
    select = history.locator("[data-bw=history-where]")
    option = select.locator(f"option[data-context='{context}']")
    expect(option).to_have_count(1)
    select.select_option(value=option.get_attribute("value"))


def test_deploy_to_a_context_follow_it_live_and_delete_it_from_its_history(
    page: Page,
    lab: Lab,
    project: Path,
    kube: object,
    cluster_kubeconfig: Path,
    browser_log: BrowserLog,
) -> None:
    namespace = kube.namespace  # type: ignore[attr-defined]
    context = yaml.safe_load(cluster_kubeconfig.read_text(encoding="utf-8"))["current-context"]
    where = f"target=kubernetes&context={context}&namespace={namespace}"
    history = _open_panel(page, lab)

    # the dialog offers the context (in the test's namespace): deploy there
    page.locator("[data-bw=deploy]").click()
    dialog = page.locator(".jp-Dialog").filter(has=page.locator("[data-bw=deploy-dialog]"))
    target = dialog.locator("[data-bw=deploy-target]")
    option = target.locator(f"option[data-target=kubernetes][data-context='{context}']")
    expect(option).to_have_text(re.compile(re.escape(f"namespace {namespace}")))
    target.select_option(value=option.get_attribute("value"))
    dialog.locator(".jp-Dialog-footer .jp-mod-accept").click()
    expect(dialog).to_have_count(0, timeout=120_000)

    run = page.locator("[data-bw=run]")
    expect(run).to_have_attribute("data-run", re.compile(r"\S"))
    run_id = run.get_attribute("data-run")
    try:
        # followed live, on the cluster: the stream ends with the run, its log is read there
        expect(run.locator("[data-bw=run-where]")).to_contain_text(context)
        expect(run.locator("[data-bw=run-notice]")).to_have_count(0)
        expect(run).to_have_attribute("data-status", "succeeded", timeout=RUN_MS)
        expect(run).to_have_attribute("data-stream", "ended", timeout=30_000)
        row = run.locator("[data-bw=run-stage][data-stage=hello]")
        expect(row).to_have_attribute("data-status", "succeeded")
        row.locator("[data-bw=run-stage-log]").click()
        expect(run.locator("[data-bw=log][data-stage=hello]")).to_contain_text(
            GREETING, timeout=30_000
        )
        # this machine has no such run: the panel read the cluster's
        assert _status(lab, f"runs/{run_id}") == 404
        there = page_fetch(page, "GET", f"/bodywork/api/runs/{run_id}?{where}", xsrf=False)
        assert there.status == 200 and there.json()["status"] == "succeeded", there.text

        # the history shows where the deploy went; this machine has nothing
        select = history.locator("[data-bw=history-where]")
        expect(select.locator("option:checked")).to_have_attribute("data-context", context)
        deployment = history.locator(f"[data-bw=deployment][data-name={PIPELINE}]")
        expect(deployment).to_be_visible(timeout=30_000)
        _choose(history, "")
        expect(history.locator("[data-bw=history-empty]")).to_be_visible(timeout=30_000)
        _choose(history, context)
        expect(deployment).to_be_visible(timeout=30_000)

        # the choice is kept across a reload
        page.reload()
        wait_until_ready(page)
        history = _open_panel(page, lab)
        select = history.locator("[data-bw=history-where]")
        expect(select.locator("option:checked")).to_have_attribute("data-context", context)
        deployment = history.locator(f"[data-bw=deployment][data-name={PIPELINE}]")
        toggle = deployment.locator("[data-bw=deployment-toggle]")
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        history_row = deployment.locator(f"[data-bw=history-run][data-run='{run_id}']")
        expect(history_row).to_have_attribute("data-status", "succeeded", timeout=30_000)

        # delete it from there; on a cluster a deleted deployment is gone, so a read of it
        # under way meanwhile (the history's poll) is a 404 the history handles
        browser_log.allow(rf"404 \(Not Found\) \(\S*/bodywork/api/deployments/{PIPELINE}\?")
        deployment.locator("[data-bw=deployment-delete]").click()
        page.locator(".jp-Dialog").get_by_role(
            "button", name=f"Delete deployment {PIPELINE}"
        ).click()
        expect(deployment).to_have_count(0, timeout=60_000)
    finally:
        reply = page_fetch(page, "DELETE", f"/bodywork/api/deployments/{PIPELINE}?{where}")
        assert reply.status in (200, 404), reply.text
    # gone from the cluster's deployments, as from `bodywork get deployments --context ...`
    left = page_fetch(page, "GET", f"/bodywork/api/deployments?{where}", xsrf=False)
    assert [d["name"] for d in left.json()["deployments"]] == [], left.text
