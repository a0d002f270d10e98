"""JupyterLab loads in chromium cleanly, and the server extension answers the page's session."""

from __future__ import annotations

from lab_helpers import PROJECT, BrowserLog, Lab, open_lab, page_fetch
from playwright.sync_api import Page, expect


def test_jupyterlab_loads_without_console_errors(
    page: Page, lab: Lab, browser_log: BrowserLog
) -> None:
    open_lab(page, lab)
    # the file browser listed the root (the contents API answered) and the launcher is drawn
    listing = page.locator(".jp-DirListing-content")
    expect(listing.get_by_text(PROJECT, exact=True)).to_be_visible()
    expect(page.locator(".jp-Launcher")).to_be_visible()
    assert browser_log.unexpected() == []


def test_the_api_answers_the_pages_own_session(page: Page, lab: Lab) -> None:
    open_lab(page, lab)
    reply = page_fetch(page, "GET", f"/bodywork/api/git?path={PROJECT}")
    assert reply.status == 200, reply.text
    info = reply.json()
    assert info["path"] == PROJECT, info
    assert info["is_repo"] is True, info
    assert info["commit"] == lab.commit, info
    assert info["dirty"] is False, info
    assert info["branch"], info


def test_a_write_from_the_page_needs_the_xsrf_header(
    page: Page, lab: Lab, browser_log: BrowserLog
) -> None:
    open_lab(page, lab)
    browser_log.allow(r"status of 403")  # chromium logs the refused request
    body = {"folder": PROJECT, "check": True}
    refused = page_fetch(page, "POST", "/bodywork/api/pipeline/generate", body, xsrf=False)
    assert refused.status == 403, refused.text
    accepted = page_fetch(page, "POST", "/bodywork/api/pipeline/generate", body)
    assert accepted.status == 200, accepted.text
    assert accepted.json()["changed"] is False, accepted.text
