"""The Bodywork panel is in JupyterLab: its tab in the left sidebar, found by its name."""

from __future__ import annotations

import re

from lab_helpers import Lab, lab_extensions, open_lab
from playwright.sync_api import Page, expect


def test_the_bodywork_tab_is_in_the_left_sidebar_and_opens_the_panel(page: Page, lab: Lab) -> None:
    open_lab(page, lab)
    loaded = lab_extensions(page)
    assert any("bodywork" in name for name in loaded), (
        f"JupyterLab loaded no bodywork lab extension (only {loaded}): "
        "scripts/setup builds labextension/ into the venv"
    )
    # by its accessible name: the tab's label or, for an icon-only tab, its caption
    sidebar = page.locator(".jp-SideBar.jp-mod-left")
    tab = sidebar.get_by_role("tab", name=re.compile(r"^Bodywork\b"))
    expect(tab).to_have_count(1)
    if tab.get_attribute("aria-selected") != "true":  # a click on the open tab closes it
        tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    panel_id = tab.get_attribute("data-id")
    assert panel_id, "the sidebar tab names no widget (data-id)"
    expect(page.locator(f'[id="{panel_id}"]')).to_be_visible()
