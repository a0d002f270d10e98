"""What a person sees in the Bodywork panel: the folder's DAG, and Validate's problems, one
click away from their line in the editor."""

from __future__ import annotations

import re
import textwrap

from lab_helpers import PROJECT, Lab, wait_until_ready
from playwright.sync_api import Page, expect

BROKEN = """\
version: "2.0"
pipeline: {name: broken}
stages:
  prepare: {path: prepare.ipynb}
  train:
    path: train.ipynb
    depends_on: [prepar]
"""


def _panel(page: Page, lab: Lab, folder: str) -> None:
    """JupyterLab with its file browser in ``folder``, and the Bodywork panel open."""
    page.goto(f"/lab/tree/{folder}?token={lab.token}")
    wait_until_ready(page)
    tab = page.locator(".jp-SideBar.jp-mod-left").get_by_role(
        "tab", name=re.compile(r"^Bodywork\b")
    )
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(page.locator("[data-bw=folder]")).to_contain_text(folder)


def test_the_example_is_drawn_as_its_dag(page: Page, lab: Lab) -> None:
    _panel(page, lab, PROJECT)
    expect(page.locator("[data-bw=panel]")).to_have_attribute("data-status", "ready")
    stages = page.locator("[data-bw=dag] g[data-stage]")
    expect(stages).to_have_count(4)
    kinds = {
        stages.nth(i).get_attribute("data-stage"): stages.nth(i).get_attribute("data-kind")
        for i in range(4)
    }
    assert kinds == {
        "prepare": "batch", "train": "batch", "predict": "service", "report": "batch"
    }, kinds  # fmt: skip
    edges = page.locator("[data-bw=dag] path[data-from]")
    pairs = {(edges.nth(i).get_attribute("data-from"), edges.nth(i).get_attribute("data-to"))
             for i in range(edges.count())}  # fmt: skip
    assert pairs == {("prepare", "train"), ("train", "predict"), ("train", "report")}, pairs
    git = page.locator("[data-bw=git]")
    expect(git).to_have_attribute("data-commit", re.compile(lab.commit[:7]))


def test_a_problem_opens_its_file_at_its_line(page: Page, lab: Lab) -> None:
    folder = lab.root / "broken"
    folder.mkdir(exist_ok=True)
    (folder / "bodywork.yaml").write_text(textwrap.dedent(BROKEN), encoding="utf-8")
    for name in ("prepare", "train"):
        (folder / f"{name}.ipynb").write_text(
            '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            encoding="utf-8",
        )
    _panel(page, lab, "broken")
    page.locator("[data-bw=validate]").click()
    problem = page.locator("li[data-bw=problem]").filter(has_text="prepar")
    expect(problem).to_have_count(1)
    assert problem.get_attribute("data-line") == "7", problem.inner_text()
    problem.get_by_role("button").click()
    expect(page.get_by_role("tab", name=re.compile(r"bodywork\.yaml"))).to_be_visible()
    expect(page.locator(".jp-FileEditor .cm-editor").last).to_be_visible()
    # the cursor is on the problem's line: the status bar's position of the editor
    expect(page.locator(".jp-StatusBar-Widget")).to_contain_text(re.compile(r"Ln 7, Col"))
