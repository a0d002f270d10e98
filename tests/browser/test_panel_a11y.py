"""The Bodywork panel for a keyboard and a screen reader, in the light and the dark theme.

axe-core (the copy the axe-playwright-python package ships) checks the panel's DOM and any
Bodywork dialog that is open, for violations of serious or critical impact (colour
contrast included; the DAG's SVG labels, which axe cannot judge, by a check of our own):
each one fails the test with its rule id, where it is and its help. What is checked: the
example's DAG, a problem list, the deploy dialog, a live run (its stages, log and "try
it" box), the history with a deployment opened and its delete dialog, and the tag dialog.
The keyboard test goes from the Bodywork tab with Tab to Validate and to the DAG, with the
arrow keys between stages, and opens a stage's notebook with Enter.

The theme is the lab's user setting (the settings REST API), put back after each test:
the session's lab is shared.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest
from lab_helpers import PROJECT, Lab, page_fetch, wait_until_ready
from playwright.sync_api import Locator, Page, expect

from tests.projects import ROOT, free_port, git_commit, notebook, write_yaml

#: axe-core itself, as the package ships it (a dev dependency: no npm package, no download)
AXE_JS = Path(axe_playwright_python.__file__).with_name("axe.min.js")

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
THEME_SETTINGS = "/lab/api/settings/@jupyterlab/apputils-extension:themes"
#: What fails a test; "moderate" and "minor" ones are JupyterLab's own as often as ours.
FAILING = {"serious", "critical"}
#: A deploy of the small project below, to its service serving (kernels, no installs).
DEPLOYED_MS = 240_000
RUN_FOLDER = "a11y-run"

BROKEN = """\
version: "2.0"
pipeline: {name: a11y-broken}
stages:
  prepare: {path: prepare.ipynb, timeout: 10 minutes}
  train:
    path: train.ipynb
    depends_on: [prepar]
"""


# --------------------------------------------------------------------------- helpers


def _panel(page: Page, lab: Lab, folder: str) -> Locator:
    """JupyterLab with its file browser in ``folder``, and the Bodywork panel open."""
    page.goto(f"/lab/tree/{folder}?token={lab.token}")
    wait_until_ready(page)
    tab = _bodywork_tab(page)
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(page.locator("[data-bw=folder]")).to_contain_text(folder)
    panel = page.locator("[data-bw=panel]")
    expect(panel).to_have_attribute("aria-busy", "false")
    return panel


def _bodywork_tab(page: Page) -> Locator:
    return page.locator(".jp-SideBar.jp-mod-left").get_by_role(
        "tab", name=re.compile(r"^Bodywork\b")
    )


ThemeSetter = Callable[[str], None]


@pytest.fixture
def set_theme(page: Page, lab: Lab) -> Iterator[ThemeSetter]:
    """``set_theme("dark")`` makes the lab's theme dark from the next page load on; the
    setting the lab had is put back at the end."""
    page.goto(f"/lab?token={lab.token}")
    wait_until_ready(page)
    before = page_fetch(page, "GET", THEME_SETTINGS)
    assert before.status == 200, before.text
    raw = before.json().get("raw") or "{}"

    def put(text: str) -> None:
        reply = page_fetch(page, "PUT", THEME_SETTINGS, {"raw": text})
        assert reply.status in (200, 204), reply.text

    try:
        yield lambda theme: put(json.dumps({"theme": THEMES[theme]}))
    finally:
        put(raw)


def _in_theme(page: Page, theme: str) -> None:
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", THEMES[theme])


# The panel, and every dialog of ours that is open (JupyterLab's Dialog: its header and
# buttons are ours too), marked for axe's include.
_MARK = """() => {
  const scopes = [...document.querySelectorAll('[data-bw=panel]')];
  for (const content of document.querySelectorAll('.jp-Dialog-content')) {
    if (content.querySelector('[data-bw]')) { scopes.push(content); }
  }
  scopes.forEach(e => e.setAttribute('data-bw-axe', ''));
  return scopes.length;
}"""


def _axe(page: Page, where: str, found: list[str] | None = None) -> None:
    """Fail on axe-core's serious and critical violations in the panel and our dialogs
    (or add them to ``found``, for a test that checks several views before it fails)."""
    violations = [f"{where}: {v}" for v in _axe_violations(page)]
    if found is not None:
        found.extend(violations)
        return
    assert not violations, "\n".join(violations)


def _axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations, one line each."""
    assert page.evaluate(_MARK), "nothing to check: no Bodywork panel on the page"
    if not page.evaluate("typeof window.axe === 'object'"):
        # JupyterLab's page has an AMD loader: axe's UMD header would register itself there
        page.evaluate(
            "source => { const define = window.define; window.define = undefined;"
            " try { (0, eval)(source); } finally { window.define = define; } }",
            AXE_JS.read_text(encoding="utf-8"),
        )
    # JupyterLab's <body> is 0 px high (all it holds is absolutely positioned) and clips
    # its overflow, so axe takes every in-flow element for hidden and skips its contrast;
    # the viewport's height changes nothing drawn
    results = page.evaluate(
        """async () => {
          const height = document.body.style.height;
          document.body.style.height = '100vh';
          try {
            return await axe.run({include: [['[data-bw-axe]']]}, {resultTypes: ['violations']});
          } finally {
            document.body.style.height = height;
            document.querySelectorAll('[data-bw-axe]').forEach(e => e.removeAttribute('data-bw-axe'));
          }
        }"""
    )
    found = _svg_contrast(page)
    for violation in results["violations"]:
        if violation.get("impact") not in FAILING:
            continue
        for node in violation["nodes"]:
            found.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} "
                f"at {' '.join(map(str, node['target']))}: {node.get('failureSummary', '')}"
                f" [{violation['helpUrl']}]"
            )
    return found


# axe cannot tell the background of SVG text (it reports it as "incomplete"): the DAG's
# labels are checked here, against their box's fill over the panel's background (WCAG 2.x
# contrast, 4.5:1 for text this small).
_SVG_CONTRAST = r"""(minimum) => {
  // any CSS colour (rgb(), color-mix()'s color(srgb ...), names) to [r, g, b, alpha]
  const ctx = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const rgba = text => {
    if (!text || text === 'none') { return null; }
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = 'rgba(0, 0, 0, 0)';
    ctx.fillStyle = text;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    return [r, g, b, a / 255];
  };
  const opacity = (element, svg) => {
    let value = 1;
    for (let e = element; e && e !== svg; e = e.parentElement) {
      value *= Number(getComputedStyle(e).opacity);
    }
    return value;
  };
  const over = (top, below) => top.slice(0, 3).map((c, i) => c * top[3] + below[i] * (1 - top[3]));
  const luminance = rgb => {
    const [r, g, b] = rgb.map(c => c / 255)
      .map(c => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const backdrop = element => {
    for (let e = element; e; e = e.parentElement) {
      const colour = rgba(getComputedStyle(e).backgroundColor);
      if (colour && colour[3] > 0) { return colour.slice(0, 3); }
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const node of document.querySelectorAll('[data-bw=dag] g[data-stage]')) {
    const box = node.querySelector('.bw-DagNode-box') || node.querySelector('rect');
    const fill = rgba(getComputedStyle(box).fill) || [0, 0, 0, 0];
    const svg = node.closest('svg');
    const ground = over(fill, backdrop(svg));
    for (const text of node.querySelectorAll('text')) {
      const style = getComputedStyle(text);
      const colour = rgba(style.fill);
      if (!colour) { failures.push(`${node.dataset.stage}: text fill ${style.fill}`); continue; }
      const ink = over([...colour.slice(0, 3), colour[3] * opacity(text, svg)], ground);
      const [hi, lo] = [luminance(ink), luminance(ground)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      if (ratio < minimum) {
        failures.push(`${node.dataset.stage} (${text.getAttribute('class')}): ` +
          `${ratio.toFixed(2)}:1, ${style.fill} on ${getComputedStyle(box).fill}`);
      }
    }
  }
  return failures;
}"""


def _svg_contrast(page: Page) -> list[str]:
    """The DAG's stage labels whose contrast is below 4.5:1, one line each."""
    failures: list[str] = page.evaluate(_SVG_CONTRAST, 4.5)
    return [f"svg-text-contrast (serious): {failure}" for failure in failures]


def _broken_folder(lab: Lab) -> str:
    folder = lab.root / "a11y-broken"
    folder.mkdir(exist_ok=True)
    (folder / "bodywork.yaml").write_text(BROKEN, encoding="utf-8")
    for name in ("prepare", "train"):
        (folder / f"{name}.ipynb").write_text(
            '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            encoding="utf-8",
        )
    return folder.name


def _run_project(lab: Lab) -> None:
    """prepare >> train >> serve (a notebook service on a free port): kernels, no installs."""
    folder = lab.root / RUN_FOLDER
    if folder.exists():
        return
    notebook(folder / "prepare.ipynb", "print('prepared', rows)", params="rows = 10")
    notebook(folder / "train.ipynb", "print('trained on', rows)", params="rows = 10")
    notebook(folder / "serve.ipynb", "def predict(request):\n    return {'echo': request}")
    write_yaml(
        folder,
        f"""\
        version: "2.0"
        pipeline: {{name: {RUN_FOLDER}}}
        stages:
          prepare: {{path: prepare.ipynb}}
          train: {{path: train.ipynb, depends_on: [prepare]}}
          serve: {{path: serve.ipynb, kind: service, depends_on: [train], service: {{port: {free_port()}}}}}
        """,
    )
    git_commit(folder, "the a11y project")


def _focused(page: Page) -> dict[str, str | None]:
    focused: dict[str, str | None] = page.evaluate(
        """() => {
          const e = document.activeElement;
          return e ? {bw: e.getAttribute('data-bw'), stage: e.getAttribute('data-stage'),
                      tag: e.tagName.toLowerCase(), label: e.getAttribute('aria-label')} : {};
        }"""
    )
    return focused


# --------------------------------------------------------------------------- axe


@pytest.mark.parametrize("theme", list(THEMES))
def test_the_panel_passes_axe(page: Page, lab: Lab, set_theme: ThemeSetter, theme: str) -> None:
    set_theme(theme)
    panel = _panel(page, lab, PROJECT)
    _in_theme(page, theme)
    expect(panel).to_have_attribute("data-status", "ready")
    expect(panel.locator("[data-bw=dag] g[data-stage]")).to_have_count(4)
    expect(panel.locator("[data-bw=git]")).to_be_visible()
    _axe(page, f"{THEMES[theme]}, the example")


@pytest.mark.parametrize("theme", list(THEMES))
def test_the_problem_list_passes_axe(
    page: Page, lab: Lab, set_theme: ThemeSetter, theme: str
) -> None:
    folder = _broken_folder(lab)
    set_theme(theme)
    panel = _panel(page, lab, folder)
    _in_theme(page, theme)
    panel.locator("[data-bw=validate]").click()
    expect(panel).to_have_attribute("data-status", "invalid")
    expect(panel.locator("li[data-bw=problem]").first).to_be_visible()
    _axe(page, f"{THEMES[theme]}, a broken file")


@pytest.mark.parametrize("theme", list(THEMES))
def test_the_deploy_dialog_passes_axe(
    page: Page, lab: Lab, set_theme: ThemeSetter, theme: str
) -> None:
    set_theme(theme)
    panel = _panel(page, lab, PROJECT)
    _in_theme(page, theme)
    expect(panel).to_have_attribute("data-status", "ready")
    panel.locator("[data-bw=deploy]").click()
    dialog = page.locator(".jp-Dialog").filter(has=page.locator("[data-bw=deploy-dialog]"))
    expect(dialog.locator("[data-bw=deploy-params]")).to_be_visible()
    expect(dialog.locator("[data-bw=deploy-dialog]")).to_have_attribute("aria-busy", "false")
    _axe(page, f"{THEMES[theme]}, the deploy dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def test_a_live_run_and_the_history_pass_axe(page: Page, lab: Lab, set_theme: ThemeSetter) -> None:
    _run_project(lab)
    set_theme("light")
    panel = _panel(page, lab, RUN_FOLDER)
    expect(panel).to_have_attribute("data-status", "ready")
    panel.locator("[data-bw=deploy]").click()
    dialog = page.locator(".jp-Dialog").filter(has=page.locator("[data-bw=deploy-dialog]"))
    expect(dialog.locator("[data-bw=deploy-params]")).to_be_visible()
    dialog.locator(".jp-Dialog-footer .jp-mod-accept").click()
    expect(dialog).to_have_count(0, timeout=60_000)
    run = panel.locator("[data-bw=run]")
    expect(run).to_have_attribute("data-run", re.compile(r"\S"))
    run_id = run.get_attribute("data-run")
    found: list[str] = []
    try:
        for theme in THEMES:
            if theme != "light":
                set_theme(theme)
                panel = _panel(page, lab, RUN_FOLDER)
                _follow(panel, str(run_id))
            _in_theme(page, theme)
            _live_run(panel)
            _axe(page, f"{THEMES[theme]}, a live run", found)
            _history(page, panel, theme, found)
    finally:
        reply = page_fetch(page, "DELETE", f"/bodywork/api/deployments/{RUN_FOLDER}")
        assert reply.status in (200, 404), reply.text
    assert not found, "\n".join(found)


def _follow(panel: Locator, run_id: str) -> None:
    """After a page load: the run picked in the history is the one the live view shows."""
    deployment = panel.locator(f"[data-bw=deployment][data-name={RUN_FOLDER}]")
    row = deployment.locator(f"[data-bw=history-run][data-run='{run_id}']")
    if row.count() == 0:
        deployment.locator("[data-bw=deployment-toggle]").click()
    row.locator("[data-bw=run-show]").click()
    expect(panel.locator(f"[data-bw=run][data-run='{run_id}']")).to_be_visible()


def _live_run(panel: Locator) -> None:
    """The run serving: its stages coloured, a stage's log open, the "try it" box."""
    run = panel.locator("[data-bw=run]")
    expect(run).to_have_attribute("data-status", "deployed", timeout=DEPLOYED_MS)
    dag = panel.locator("[data-bw=dag]")
    for stage, status in [("prepare", "succeeded"), ("train", "succeeded"), ("serve", "ready")]:
        expect(dag.locator(f"g[data-stage={stage}]")).to_have_attribute("data-status", status)
    head = run.locator("[data-bw=run-stage][data-stage=train] [data-bw=run-stage-log]")
    if head.get_attribute("aria-pressed") != "true":
        head.click()
    expect(run.locator("[data-bw=log][data-stage=train]")).to_contain_text("trained on")
    expect(run.locator("[data-bw=try][data-stage=serve] [data-bw=try-body]")).to_be_visible()


def _history(page: Page, panel: Locator, theme: str, found: list[str]) -> None:
    """The history with the deployment opened, then its delete dialog (cancelled)."""
    deployment = panel.locator(f"[data-bw=deployment][data-name={RUN_FOLDER}]")
    expect(deployment).to_be_visible()
    if deployment.locator("[data-bw=history-run]").count() == 0:
        deployment.locator("[data-bw=deployment-toggle]").click()
    expect(deployment.locator("[data-bw=history-run]").first).to_be_visible()
    _axe(page, f"{THEMES[theme]}, the history", found)
    deployment.locator("[data-bw=deployment-delete]").click()
    dialog = page.locator(".jp-Dialog").filter(has=page.locator("[data-bw=delete-confirm]"))
    expect(dialog).to_be_visible()
    _axe(page, f"{THEMES[theme]}, the delete dialog", found)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


@pytest.mark.parametrize("theme", list(THEMES))
def test_the_tag_dialog_passes_axe(
    page: Page, lab: Lab, set_theme: ThemeSetter, theme: str
) -> None:
    folder = lab.root / "a11y-tag"
    if not folder.exists():
        folder.mkdir()
        shutil.copy(ROOT / "examples" / "iris" / "train.ipynb", folder / "train.ipynb")
    set_theme(theme)
    # a workspace of its own: what other tests left open is not restored here
    page.goto(f"/lab/workspaces/{folder.name}/tree/{folder.name}/train.ipynb?token={lab.token}")
    wait_until_ready(page)
    _in_theme(page, theme)
    notebook_panel = page.locator(".jp-NotebookPanel:visible")
    expect(notebook_panel.locator(".jp-Cell").nth(2)).to_be_visible()
    button = notebook_panel.locator("[data-bw=tag-button]").get_by_role("button")
    button.click()
    dialog = page.locator("[data-bw=tag-dialog]")
    expect(dialog.locator("[data-bw=tag-form]")).to_be_visible()
    expect(dialog.locator("[data-bw=tag-param]").first).to_be_visible()
    try:
        _axe(page, f"{THEMES[theme]}, the tag dialog")
    finally:
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        _shut_down(page, f"{folder.name}/train.ipynb")


# --------------------------------------------------------------------------- keyboard


def test_the_keyboard_reaches_validate_the_dag_and_a_notebook(page: Page, lab: Lab) -> None:
    _panel(page, lab, PROJECT)
    expect(page.locator("[data-bw=dag] g[data-stage]")).to_have_count(4)
    _bodywork_tab(page).focus()
    seen: list[dict[str, str | None]] = []

    def tab_until(what: str, test: Any, limit: int = 30) -> dict[str, str | None]:
        for _ in range(limit):
            page.keyboard.press("Tab")
            focused = _focused(page)
            seen.append(focused)
            if test(focused):
                return focused
        pytest.fail(f"Tab from the Bodywork tab never reached {what}; focus went: {seen}")

    tab_until("Validate", lambda f: f.get("bw") == "validate")
    first = tab_until("the DAG", lambda f: f.get("stage") is not None)
    # one tab stop for the drawing: the first stage in reading order (the top layer)
    assert first["stage"] == "prepare", seen
    assert first["label"] and first["label"].startswith("prepare: batch stage"), first

    order = page.locator("[data-bw=dag] g[data-stage]").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('data-stage'))"
    )
    page.keyboard.press("ArrowRight")
    assert _focused(page)["stage"] == order[1], order
    page.keyboard.press("ArrowDown")
    assert _focused(page)["stage"] == order[2], order
    page.keyboard.press("ArrowLeft")
    assert _focused(page)["stage"] == order[1], order
    page.keyboard.press("End")
    assert _focused(page)["stage"] == order[-1], order
    page.keyboard.press("Home")
    assert _focused(page)["stage"] == order[0], order
    # Tab leaves the drawing (one stop), Shift+Tab comes back to the stage last focused
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")
    assert _focused(page)["stage"] is None
    page.keyboard.press("Shift+Tab")
    assert _focused(page)["stage"] == order[1], order

    stage = order[1]
    path = page.locator(f"[data-bw=dag] g[data-stage='{stage}']").get_attribute("data-path")
    assert path, stage
    page.keyboard.press("Enter")
    name = path.rsplit("/", 1)[-1]
    tab = page.locator("#jp-main-dock-panel").get_by_role("tab", name=re.compile(re.escape(name)))
    expect(tab).to_be_visible()
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(page.locator(".jp-NotebookPanel:visible")).to_have_count(1)
    _shut_down(page, path)


def _shut_down(page: Page, path: str, timeout_ms: float = 20_000) -> None:
    """The kernel the opened notebook started (once it has): the session lab is shared."""
    waited = 0.0
    while True:
        sessions = page_fetch(page, "GET", "/api/sessions").json()
        mine = [session for session in sessions if session.get("path") == path]
        if mine or waited >= timeout_ms:
            break
        page.wait_for_timeout(250)
        waited += 250
    for session in mine:
        page_fetch(page, "DELETE", f"/api/sessions/{session['id']}")
