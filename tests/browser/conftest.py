"""The browser tier: JupyterLab in Debian's chromium, driven by playwright (sync API).

One ``jupyter lab`` serves the session (a copy of examples/iris as a git repository in
its root); chromium starts once, and every test gets a fresh browser context. A test
fails if its page logs a console error or throws, unless it allowed that error
(``browser_log.allow(pattern)``); a failing test leaves a screenshot in its tmp folder.

Needs ``/usr/bin/chromium`` (``scripts/setup-browser``) and the ``playwright`` package
(``scripts/setup``); without them the tier is left out, except in CI where it fails.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.engine.helpers import delete_all

sys.path.insert(0, str(Path(__file__).resolve().parent))  # lab_helpers, any import mode

#: Debian's chromium (scripts/setup-browser); never a browser playwright downloads.
CHROMIUM = Path("/usr/bin/chromium")


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (scripts/setup installs the dev extras)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (scripts/setup-browser installs Debian's chromium)"
    return None


MISSING = _missing()
if MISSING and not os.environ.get("CI"):
    collect_ignore_glob = ["test_*.py"]
if importlib.util.find_spec("playwright") is not None:
    from lab_helpers import CHROMIUM_ARGS, BrowserLog, Lab, start_lab, stop_lab
    from playwright.sync_api import Browser, Page, sync_playwright


def pytest_report_header() -> str | None:
    if MISSING and not os.environ.get("CI"):
        return f"browser tier (tests/browser) left out: {MISSING}"
    return None


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # the page fixture's teardown asks whether the test itself failed
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if MISSING:
        pytest.fail(f"{MISSING}: CI must run every tier", pytrace=False)
    lab = start_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield lab
    finally:
        stop_lab(lab)
        delete_all(lab.state_dir)


# per module: playwright's sync API holds an event loop in this thread while it runs,
# so it must stop before the other tiers' asyncio.run()
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if MISSING:
        pytest.fail(f"{MISSING}: CI must run every tier", pytrace=False)
    home = tmp_path_factory.mktemp("chromium-home")
    # chromium writes ~/.pki, ~/.config and ~/.cache: keep them in the test's folders
    env: dict[str, str | float | bool] = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            env=env,
            timeout=60_000,
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_log() -> BrowserLog:
    """The page's console errors and uncaught exceptions; ``.allow(pattern)`` to permit one."""
    return BrowserLog()


@pytest.fixture
def page(
    browser: Browser,
    lab: Lab,
    browser_log: BrowserLog,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Page]:
    """A page in a fresh context (no cookies, no storage) whose base URL is the lab's."""
    context = browser.new_context(base_url=lab.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(20_000)
    context.set_default_navigation_timeout(60_000)
    page = context.new_page()
    browser_log.watch(page)
    try:
        yield page
        call = request.node.stash.get(_REPORTS, {}).get("call")
        if (call is not None and call.failed) or browser_log.unexpected():
            shot = tmp_path / "failure.png"
            page.screenshot(path=str(shot), full_page=True, timeout=10_000)
            print(f"screenshot: {shot}", file=sys.stderr)
    finally:
        context.close()
    unexpected = browser_log.unexpected()
    if unexpected:
        pytest.fail("the page logged errors:\n" + "\n".join(unexpected), pytrace=False)
