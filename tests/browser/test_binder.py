"""What mybinder.org makes of binder/, without Docker: repo2docker's steps, then the panel.

repo2docker (its Python buildpack) builds from a clone of the repository: first its own
base environment (conda: the Python of binder/runtime.txt, JupyterLab 4.4, Node.js 20),
then, from the repository's root as the notebook user, ``pip install --no-cache-dir -r
binder/requirements.txt`` and ``binder/postBuild``; in the session HOME is the repository.
This module does the same with no Docker and no conda (no conda channel is reachable
here): a copy of the working tree committed and cloned (the clone is HOME), a fresh venv
holding that base environment's Jupyter packages at its versions (from PyPI), the two
binder steps with only the venv and the system's folders on PATH (this machine's node 20
stands for the base environment's), then ``jupyter lab`` from the venv, opened in chromium.

The one change to the copy: the example's service port, a free one (a demo left serving
on 5000 must not fail this test). Download caches are shared with the machine (pip's
for the base environment, uv's, and yarn's in labextension/.yarn); they change how long
the build takes, not what it makes.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_helpers import (
    Lab,
    answers,
    lab_extensions,
    log_tail,
    page_fetch,
    stop_lab,
    wait_until_ready,
)
from playwright.sync_api import Locator, Page, expect

from tests.engine.helpers import delete_all
from tests.projects import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/iris"
PANEL = "@bodywork-jupyter/labextension"
#: repo2docker's base environment for python-3.11 (its environment.py-3.11 lock, October
#: 2025): the Jupyter packages a binder starts with, which binder/requirements.txt must
#: work with (pip keeps them when they satisfy this package's requirements). Node.js 20 is
#: there too; jupyterhub-singleuser is left out (only the hub's way to start the server).
BASE_ENVIRONMENT = [
    "pip==25.2",
    "jupyterlab==4.4.9",
    "notebook==7.4.7",
    "jupyter_server==2.17.0",
    "ipykernel==7.0.1",
    "ipywidgets==8.1.7",
    "jupyter-resource-usage==1.2.0",
    "jupyter-offlinenotebook==0.3.2",
]
NODE_MAJOR = 20
#: the folders of a binder image's PATH that are not its environments
SYSTEM_PATH = ["/usr/local/bin", "/usr/bin", "/bin"]


def _node() -> str | None:
    return shutil.which("node", path=os.pathsep.join(SYSTEM_PATH)) or shutil.which("node")


def _missing() -> str | None:
    node = _node()
    if node is None:
        return f"node is missing (repo2docker's base environment has Node.js {NODE_MAJOR})"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    found = re.match(r"v(\d+)\.", version)
    if found is None or int(found.group(1)) < NODE_MAJOR:
        return f"node {version.strip()} is older than the base environment's {NODE_MAJOR}"
    if shutil.which("git") is None:
        return "git is missing (repo2docker's base image has it)"
    return None


MISSING = _missing()
if MISSING and not os.environ.get("CI"):
    pytest.skip(f"the binder test needs {MISSING}", allow_module_level=True)


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _copy_working_tree(dest: Path) -> None:
    """The tracked and untracked (not ignored) files as they are now: what a commit of
    this working tree would hold, new binder/ files included."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def _free_service_port(repo: Path) -> None:
    port = free_port()
    for name, before, after in [
        ("bodywork.yaml", "port: 5000", f"port: {port}"),
        ("predict.ipynb", '"port": 5000', f'"port": {port}'),
    ]:
        path = repo / EXAMPLE / name
        text = path.read_text(encoding="utf-8")
        assert before in text, f"{EXAMPLE}/{name} no longer says {before}"
        path.write_text(text.replace(before, after), encoding="utf-8")


def _environment(venv: Path, home: Path, jupyter: Path) -> dict[str, str]:
    """The build's and the session's environment: none of this machine's Python or Jupyter
    settings, PATH as a binder image has it (its environment, then the system's folders)."""
    node_dir = str(Path(_node() or "/usr/bin/node").parent)
    path = [str(venv / "bin"), *([] if node_dir in SYSTEM_PATH else [node_dir]), *SYSTEM_PATH]
    dropped = ("JUPYTER", "PYTHON", "IPYTHON", "VIRTUAL_ENV", "BODYWORK_", "XDG_", "KUBECONFIG")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    real_home, yarn = Path.home(), ROOT / "labextension" / ".yarn"
    env.update(
        PATH=os.pathsep.join(path),
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),
        JUPYTER_DATA_DIR=str(jupyter / "data"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
        IPYTHONDIR=str(jupyter / "ipython"),
        # the session's state where a binder keeps it (~/.local/share: in the repository)
        BODYWORK_STATE_DIR=str(home / ".local" / "share" / "bodywork-jupyter"),
        # download caches (see the module's docstring)
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(real_home / ".cache" / "pip")),
        UV_CACHE_DIR=os.environ.get("UV_CACHE_DIR", str(real_home / ".cache" / "uv")),
        # yarn's where labextension/.yarnrc.yml puts them in this repository (scripts/setup)
        YARN_CACHE_FOLDER=os.environ.get("YARN_CACHE_FOLDER", str(yarn / "cache")),
        YARN_GLOBAL_FOLDER=os.environ.get("YARN_GLOBAL_FOLDER", str(yarn / "berry")),
        NO_COLOR="1",
    )
    return env


def _step(
    what: str, args: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float
) -> None:
    """One build step, its output in ``log``; all it started is killed if it runs over."""
    started = time.monotonic()
    with log.open("ab") as out:
        out.write(f"\n== {what}: {' '.join(args)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            code = None
        took = time.monotonic() - started
        out.write(f"== {what}: exit {code} in {took:.0f} s\n".encode())
    if code != 0:
        tail = log.read_text(errors="replace")[-6000:]
        said = f"ran over {timeout:.0f} s" if code is None else f"exit {code}"
        pytest.fail(f"{what} failed ({said}):\n{tail}", pytrace=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """This module's own ``jupyter lab``, built as a binder is (the tier's ``page`` opens
    it, in place of the session's lab)."""
    if MISSING:
        pytest.fail(f"the binder test needs {MISSING}: CI must run every tier", pytrace=False)
    work = tmp_path_factory.mktemp("binder")
    source, home, venv, jupyter = work / "source", work / "home", work / "venv", work / "jupyter"
    build_log = work / "build.log"
    print(f"binder build log: {build_log}", file=sys.stderr)

    # the repository as repo2docker gets it: a clone (its commit is the working tree's)
    _copy_working_tree(source)
    _free_service_port(source)
    _git(source, "init", "-q")
    _git(source, "add", "-A")
    _git(
        source, "-c", "user.name=binder test", "-c", "user.email=binder@example.com",
        "commit", "-q", "-m", "the working tree",
    )  # fmt: skip
    subprocess.run(["git", "clone", "-q", str(source), str(home)], check=True, timeout=120)
    commit = _git(home, "rev-parse", "HEAD")

    env = _environment(venv, home, jupyter)
    python = str(venv / "bin" / "python")
    _step("venv", [sys.executable, "-m", "venv", str(venv)], home, env, build_log, 120)
    _step(
        "base environment",
        [python, "-m", "pip", "install", "--quiet", *BASE_ENVIRONMENT],
        home, env, build_log, 600,
    )  # fmt: skip
    # repo2docker: ${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir -r binder/requirements.txt
    _step(
        "binder/requirements.txt",
        [str(venv / "bin" / "pip"), "install", "--no-cache-dir", "-r", "binder/requirements.txt"],
        home, env, build_log, 900,
    )  # fmt: skip
    # repo2docker: RUN chmod +x binder/postBuild; RUN ./binder/postBuild
    (home / "binder" / "postBuild").chmod(0o755)
    _step("binder/postBuild", ["./binder/postBuild"], home, env, build_log, 600)

    lab = Lab(
        url=f"http://127.0.0.1:{free_port()}",
        token=secrets.token_hex(16),
        root=home,
        state_dir=Path(env["BODYWORK_STATE_DIR"]),
        commit=commit,
        log=work / "jupyter-lab.log",
    )
    args = [
        str(venv / "bin" / "jupyter"),
        "lab",
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--port={lab.url.rsplit(':', 1)[1]}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={lab.token}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with lab.log.open("wb") as log:
        # from the repository's root, as a binder's server starts (its root folder);
        # its own process group, so what it starts goes with it if it must be killed
        lab.process = subprocess.Popen(
            args, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while not answers(lab):
            if lab.process.poll() is not None:
                pytest.fail(f"jupyter lab exited:\n{log_tail(lab)}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer:\n{log_tail(lab)}", pytrace=False)
            time.sleep(0.3)
        yield lab
    finally:
        stop_lab(lab)
        delete_all(lab.state_dir)


def _panel_tab(page: Page) -> Locator:
    return page.locator(".jp-SideBar.jp-mod-left").get_by_role(
        "tab", name=re.compile(r"^Bodywork\b")
    )


def test_the_binder_opens_on_the_example_with_the_panel(page: Page, lab: Lab) -> None:
    # a binder link's ?urlpath=lab: JupyterLab's default workspace (binder/workspace.json)
    page.goto(f"/lab?token={lab.token}")
    wait_until_ready(page)
    assert PANEL in lab_extensions(page), lab_extensions(page)
    # nothing to click: the panel shows, on the file browser's folder, the example
    expect(_panel_tab(page)).to_have_attribute("aria-selected", "true")
    expect(page.locator("[data-bw=folder]")).to_contain_text(EXAMPLE)
    panel = page.locator("[data-bw=panel]")
    expect(panel).to_have_attribute("data-status", "ready", timeout=30_000)
    stages = page.locator("[data-bw=dag] g[data-stage]")
    expect(stages).to_have_count(4)
    kinds = {
        stages.nth(i).get_attribute("data-stage"): stages.nth(i).get_attribute("data-kind")
        for i in range(4)
    }
    assert kinds == {
        "prepare": "batch", "train": "batch", "predict": "service", "report": "batch"
    }, kinds  # fmt: skip

    page.locator("[data-bw=validate]").click()
    expect(panel).to_have_attribute("data-status", "ready")
    expect(panel).to_have_attribute("aria-busy", "false")
    status = page.locator("[data-bw=status]")
    expect(status).to_have_attribute("data-kind", "ok")
    expect(status).to_contain_text("valid")
    expect(page.locator("li[data-bw=problem]")).to_have_count(0)

    # the example is in the clone's repository, and nothing the build or the session wrote
    # (the venv's build, ~/.cache, ~/.local, ~/.jupyter: HOME is the repository) is a
    # change of its folder
    git = page.locator("[data-bw=git]")
    expect(git).to_have_attribute("data-commit", lab.commit)
    expect(git).to_have_attribute("data-dirty", "false")
    expect(page.locator("[data-bw=git-warning]")).to_have_count(0)


def test_the_example_deploys_from_its_folder_in_the_repository(page: Page, lab: Lab) -> None:
    page.goto(f"/lab?token={lab.token}")
    wait_until_ready(page)
    # what the panel's Deploy sends for its folder: the local target, at the commit
    reply = page_fetch(page, "POST", "/bodywork/api/deployments", {"path": EXAMPLE})
    assert reply.status == 201, reply.text
    created = reply.json()
    try:
        assert not created.get("warnings"), created["warnings"]
        run = created
        deadline = time.monotonic() + 300
        while not run["settled"] and time.monotonic() < deadline:
            time.sleep(1)
            run = page_fetch(page, "GET", f"/bodywork/api/runs/{created['id']}").json()
        assert run["settled"] and run["finished_ok"], run
        assert run["status"] == "deployed", run["status"]
        assert run["source"]["commit"] == lab.commit, run["source"]
        assert run["source"]["project_dir"] == EXAMPLE, run["source"]
        statuses = {s["name"]: s["status"] for s in run["stages"]}
        assert statuses == {
            "prepare": "succeeded", "train": "succeeded", "predict": "ready", "report": "succeeded"
        }, statuses  # fmt: skip

        # its service answers: what the panel's "try it" box sends
        (predict,) = (s for s in run["stages"] if s["name"] == "predict")
        body = predict.get("example")
        assert body, predict  # the notebook's own call of predict(...)
        call = page_fetch(
            page, "POST", "/bodywork/api/deployments/iris/call", {"body": body, "timeout": 30}
        )
        assert call.status == 200, call.text
        answer = call.json()
        assert answer["status"] == 200 and answer["json"]["species"] == "setosa", answer
    finally:
        deleted = page_fetch(page, "DELETE", "/bodywork/api/deployments/iris")
        assert deleted.status == 200, deleted.text
