"""Tagging notebooks as stages from JupyterLab and generating bodywork.yaml, as a person
does it: the notebook toolbar's "Bodywork stage" form, then the panel's Generate, its
diff, and the DAG it draws. A tag writes only the notebook's metadata: unsaved edits in
the open notebook stay unsaved (and are kept), and a bad value writes nothing."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from lab_helpers import BrowserLog, Lab, wait_until_ready
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.projects import ROOT, git_commit

EXAMPLE = ROOT / "examples" / "iris"


def _project(lab: Lab, name: str) -> Path:
    """A new folder under the lab's root: iris's prepare and train notebooks, untagged."""
    folder = lab.root / name
    folder.mkdir()
    for notebook in ("prepare.ipynb", "train.ipynb"):
        data = json.loads((EXAMPLE / notebook).read_text(encoding="utf-8"))
        data["metadata"].pop("bodywork")
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        (folder / notebook).write_text(text, encoding="utf-8")
    shutil.copy(EXAMPLE / "requirements.txt", folder / "requirements.txt")
    git_commit(folder, "two untagged notebooks")
    return folder


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _without_tag(notebook: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in notebook["metadata"].items() if k != "bodywork"}
    return {**notebook, "metadata": metadata}


def _goto(page: Page, lab: Lab, path: str) -> None:
    """JupyterLab on ``path``, in a workspace of the test's own (its first folder's name):
    what other tests left open in theirs is not restored here."""
    workspace = path.split("/", 1)[0]
    page.goto(f"/lab/workspaces/{workspace}/tree/{path}?token={lab.token}")
    wait_until_ready(page)


def _open_notebook(page: Page, lab: Lab, path: str) -> Locator:
    """JupyterLab with ``path`` open; its "Bodywork stage" toolbar button."""
    _goto(page, lab, path)
    return _tag_button(page, path.rsplit("/", 1)[-1])


def _open_from_file_browser(page: Page, name: str) -> Locator:
    """Open ``name`` from the file browser (no page load: open notebooks stay as they are)."""
    sidebar = page.locator(".jp-SideBar.jp-mod-left")
    tab = sidebar.get_by_role("tab", name=re.compile(r"^File Browser"))
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    page.locator(".jp-DirListing-item", has_text=name).dblclick()
    return _tag_button(page, name)


def _tag_button(page: Page, name: str) -> Locator:
    expect(page.get_by_role("tab", name=re.compile(re.escape(name)))).to_be_visible()
    panel = page.locator(".jp-NotebookPanel:visible")
    expect(panel).to_have_count(1)
    # loaded: its cells drawn (a notebook takes the focus once it is, closing a palette)
    expect(panel.locator(".jp-Cell").nth(3)).to_be_visible()
    # JupyterLab's toolbar button is a web component: data-bw is on it, the role inside
    host = panel.locator("[data-bw=tag-button]")
    expect(host).to_have_count(1)
    button = host.get_by_role("button", name="Bodywork stage")
    expect(button).to_be_visible()
    return button


def _run_from_palette(page: Page, label: str) -> None:
    """Run the command ``label`` from the command palette (View > Activate Command Palette;
    chromium keeps Ctrl+Shift+C for itself). The modal palette closes when something else
    takes the focus, as a notebook does once its kernel is up: then open it again."""
    expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle")).to_have_count(1)
    palette = page.locator("#modal-command-palette")
    for _ in range(3):
        page.locator("#jp-menu-panel").get_by_role("menuitem", name="View").click()
        page.get_by_role("menuitem", name=re.compile(r"^Activate Command Palette")).click()
        search = palette.locator("input")
        search.fill(label)
        item = palette.locator(".lm-CommandPalette-item", has_text=label).first
        try:
            item.click(timeout=3000)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"the command palette did not stay open to run {label!r}")


def _form(page: Page) -> Locator:
    dialog = page.locator("[data-bw=tag-dialog]")
    expect(dialog.locator("[data-bw=tag-form]")).to_be_visible()
    # the dialog gives the stage name the focus once it is attached: typing into another
    # field before then sends the keys to the stage name (a fill of "-1" made "prepare-1")
    expect(dialog.locator("input[id$='-stage']")).to_be_focused()
    return dialog


def _save(dialog: Locator) -> None:
    dialog.get_by_role("button", name="Save the stage tag").click()


def _tag_on_disk(path: Path, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        tag = _read(path)["metadata"].get("bodywork")
        if tag is not None or time.monotonic() > deadline:
            assert tag is not None, f"{path.name} was not tagged"
            return dict(tag)
        time.sleep(0.1)


def _open_panel(page: Page, lab: Lab, folder: str, *, load: bool = True) -> Locator:
    """The Bodywork panel on ``folder`` (``load``: open JupyterLab there first)."""
    if load:
        _goto(page, lab, folder)
    tab = page.locator(".jp-SideBar.jp-mod-left").get_by_role(
        "tab", name=re.compile(r"^Bodywork\b")
    )
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(page.locator("[data-bw=folder]")).to_contain_text(folder)
    return page.locator("[data-bw=panel]")


def test_tag_two_notebooks_then_generate_draws_their_dag(page: Page, lab: Lab) -> None:
    folder = _project(lab, "tagging-flow")
    prepare, train = folder / "prepare.ipynb", folder / "train.ipynb"
    before = _read(prepare)

    # prepare: the toolbar button, the form prefilled with the file's name, kind batch
    _open_notebook(page, lab, f"{folder.name}/prepare.ipynb").click()
    dialog = _form(page)
    expect(dialog.get_by_label("Stage name")).to_have_value("prepare")
    expect(dialog.locator("[data-bw=tag-depends]")).to_contain_text("No other tagged stages")
    params = dialog.locator("[data-bw=tag-param]")
    expect(params).to_have_count(2)
    expect(dialog.get_by_label(re.compile(r"^test_size"))).to_have_attribute(
        "placeholder", "default: 0.25"
    )
    dialog.get_by_label(re.compile(r"^batch")).check()
    dialog.get_by_label("Requirements").fill("requirements.txt")
    _save(dialog)
    expect(dialog).to_have_count(0)
    tag = _tag_on_disk(prepare)
    assert tag == {"stage": "prepare", "kind": "batch", "requirements": "requirements.txt"}, tag
    after = _read(prepare)
    # only metadata.bodywork changed: the cells are the same, byte for byte as JSON
    assert json.dumps(after["cells"]) == json.dumps(before["cells"])
    assert _without_tag(after) == before

    # train, from the notebook's context menu: after prepare, with a parameter override
    _open_from_file_browser(page, "train.ipynb")
    page.locator(".jp-NotebookPanel:visible .jp-CodeCell").first.click(button="right")
    page.locator(".lm-Menu").get_by_role(
        "menuitem", name=re.compile(r"^Tag as Bodywork stage")
    ).click()
    dialog = _form(page)
    expect(dialog.get_by_label("Stage name")).to_have_value("train")
    depends = dialog.locator("[data-bw=tag-depends-on]")
    expect(depends).to_have_count(1)
    expect(depends).to_have_attribute("data-stage", "prepare")
    dialog.get_by_label(re.compile(r"^prepare")).check()
    estimators = dialog.get_by_label(re.compile(r"^n_estimators"))
    expect(estimators).to_have_attribute("placeholder", "default: 100")
    estimators.fill("50")
    dialog.get_by_label("Requirements").fill("requirements.txt")
    dialog.get_by_label("Timeout").fill("10m")
    _save(dialog)
    expect(dialog).to_have_count(0)
    tag = _tag_on_disk(train)
    assert tag == {
        "stage": "train",
        "kind": "batch",
        "depends_on": ["prepare"],
        "parameters": {"n_estimators": 50},
        "requirements": "requirements.txt",
        "timeout": "10m",
    }, tag

    # Generate in the panel: bodywork.yaml with both stages, its diff all additions
    panel = _open_panel(page, lab, folder.name, load=False)
    expect(panel).to_have_attribute("data-status", "none")
    expect(page.locator("[data-bw=git]")).to_have_attribute("data-dirty", "true")
    page.locator("[data-bw=generate]").click()
    result = page.locator("[data-bw=generate-result]")
    expect(result).to_have_attribute("data-state", "done")
    config = yaml.safe_load((folder / "bodywork.yaml").read_text(encoding="utf-8"))
    assert set(config["stages"]) == {"prepare", "train"}, config
    assert config["stages"]["train"]["depends_on"] == ["prepare"], config
    assert config["stages"]["train"]["parameters"] == {"n_estimators": 50}, config
    diff = result.locator("[data-bw=generate-diff]")
    added = diff.locator("[data-kind=add]")
    count = added.count()
    assert count > 10, diff.inner_text()
    expect(diff.locator("[data-kind=remove]")).to_have_count(0)
    expect(result.locator("[data-bw=generate-heading]")).to_have_text(
        f"bodywork.yaml: {count} lines added, 0 removed"
    )
    expect(added.filter(has_text=re.compile(r"^\+\s+prepare:\s*$"))).to_have_count(1)
    expect(added.filter(has_text=re.compile(r"^\+\s+- prepare\s*$"))).to_have_count(1)
    expect(result.locator("[data-bw=generate-notice]")).to_have_count(2)

    # the panel checked the folder again: its DAG, prepare -> train
    expect(panel).to_have_attribute("data-status", "ready")
    stages = page.locator("[data-bw=dag] g[data-stage]")
    expect(stages).to_have_count(2)
    edges = page.locator("[data-bw=dag] path[data-from]")
    expect(edges).to_have_count(1)
    assert (edges.get_attribute("data-from"), edges.get_attribute("data-to")) == (
        "prepare",
        "train",
    )

    # the form again: prefilled from the tag; Cancel writes nothing
    written = train.read_bytes()
    _tag_button(page, "train.ipynb").click()
    dialog = _form(page)
    expect(dialog.get_by_label("Stage name")).to_have_value("train")
    expect(dialog.get_by_label(re.compile(r"^prepare"))).to_be_checked()
    expect(dialog.get_by_label(re.compile(r"^batch"))).to_be_checked()
    expect(dialog.get_by_label(re.compile(r"^n_estimators"))).to_have_value("50")
    expect(dialog.get_by_label("Timeout")).to_have_value("10m")
    expect(dialog.get_by_role("button", name="Remove the stage tag of train.ipynb")).to_be_visible()
    dialog.locator(".jp-Dialog-footer").get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert train.read_bytes() == written

    # again: nothing to change
    page.locator("[data-bw=generate]").click()
    expect(result.locator("[data-bw=generate-heading]")).to_have_text("bodywork.yaml: unchanged")


def test_generate_without_tags_says_so_and_writes_nothing(page: Page, lab: Lab) -> None:
    folder = _project(lab, "tagging-none")
    _open_panel(page, lab, folder.name)
    page.locator("[data-bw=generate]").click()
    result = page.locator("[data-bw=generate-result]")
    expect(result).to_have_attribute("data-state", "no-stages")
    expect(result.locator("[data-bw=generate-message]")).to_contain_text("No tagged stages")
    assert not (folder / "bodywork.yaml").exists()


def test_an_unsaved_edit_survives_tagging(page: Page, lab: Lab) -> None:
    folder = _project(lab, "tagging-edit")
    prepare = folder / "prepare.ipynb"
    before = _read(prepare)
    button = _open_notebook(page, lab, f"{folder.name}/prepare.ipynb")
    editor = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .cm-content").nth(1)
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n# an edit not saved yet")
    tab = page.get_by_role("tab", name=re.compile(r"prepare\.ipynb"))
    expect(tab).to_have_class(re.compile(r"jp-mod-dirty"))

    # by keyboard: the button, then Enter in the form's first field saves
    button.focus()
    page.keyboard.press("Enter")
    dialog = _form(page)
    expect(dialog.get_by_label("Stage name")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    assert _tag_on_disk(prepare) == {"stage": "prepare", "kind": "batch"}
    assert _without_tag(_read(prepare)) == before, "the unsaved edit reached the disk"

    # the open notebook still has the edit, unsaved; saving it asks nothing
    expect(editor).to_contain_text("# an edit not saved yet")
    expect(tab).to_have_class(re.compile(r"jp-mod-dirty"))
    editor.click()
    page.keyboard.press("Control+s")
    expect(tab).not_to_have_class(re.compile(r"jp-mod-dirty"))
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    saved = _read(prepare)
    assert saved["metadata"]["bodywork"] == {"stage": "prepare", "kind": "batch"}
    assert "# an edit not saved yet" in "".join(saved["cells"][2]["source"])

    # "Remove tag": the tag goes, nothing else
    button.click()
    dialog = _form(page)
    dialog.get_by_role("button", name="Remove the stage tag of prepare.ipynb").click()
    expect(dialog).to_have_count(0)
    removed = _read(prepare)
    assert "bodywork" not in removed["metadata"]
    assert removed["cells"] == saved["cells"]


def test_a_bad_value_is_shown_at_its_field_and_writes_nothing(
    page: Page, lab: Lab, browser_log: BrowserLog
) -> None:
    # the server's refusal is a 400, which chromium logs as a console error
    browser_log.allow(r"status of 400 .*/bodywork/api/stages/tagging-bad/prepare\.ipynb")
    folder = _project(lab, "tagging-bad")
    prepare = folder / "prepare.ipynb"
    original = prepare.read_bytes()
    _open_notebook(page, lab, f"{folder.name}/prepare.ipynb")
    _run_from_palette(page, "Tag as Bodywork stage")
    dialog = _form(page)

    # the server's check: retries -1, shown next to the field
    retries = dialog.get_by_label("Retries")
    retries.fill("-1")
    _save(dialog)
    problem = dialog.locator("[data-bw=tag-problem][data-field=retries]")
    expect(problem).to_contain_text("must be at least 0")

    expect(retries).to_have_attribute("aria-invalid", "true")
    expect(retries).to_be_focused()
    expect(dialog.locator("[data-bw=tag-status]")).to_contain_text("nothing was written")
    assert prepare.read_bytes() == original

    # a service's port out of range
    retries.fill("")
    expect(problem).to_have_count(0)
    dialog.get_by_label(re.compile(r"^service")).check()
    port = dialog.get_by_label("Service port")
    port.fill("70000")
    _save(dialog)
    expect(dialog.locator("[data-bw=tag-problem][data-field=port]")).to_contain_text("65535")
    expect(port).to_be_focused()
    assert prepare.read_bytes() == original

    # the form's own: a stage name with a space, a parameter that is not its type
    dialog.get_by_label(re.compile(r"^batch")).check()
    expect(port).to_have_count(0)
    dialog.get_by_label("Stage name").fill("my stage")
    dialog.get_by_label(re.compile(r"^test_size")).fill("a quarter")
    _save(dialog)
    expect(dialog.locator("[data-bw=tag-problem][data-field=stage]")).to_contain_text(
        "not a stage name"
    )
    expect(dialog.locator("[data-bw=tag-problem][data-field='param:test_size']")).to_contain_text(
        "not a number"
    )
    assert prepare.read_bytes() == original

    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert prepare.read_bytes() == original
