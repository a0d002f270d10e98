"""A full or read-only state folder: one clear line and an exit code, history still read,
a run that could not record ends as failed (not lost), and what serves keeps serving.

Real faults, no fakes: every test mounts a small tmpfs of its own as the state folder
(root is needed; a mount that fails fails the test) and fills it up with a file, or
remounts it read-only. A tmpfs with a file open for writing cannot be remounted
read-only, so a live folder is seen read-only through a read-only bind mount of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bodywork_jupyter.backends.local.recording import RecordingStore
from bodywork_jupyter.engine.store import RunStore
from bodywork_jupyter.errors import StateFolderFullError, StateFolderReadOnlyError
from tests.engine.helpers import Bodywork, run_id_of, store_from_before_started_by
from tests.projects import free_port, git_commit, notebook, write_yaml

PLAN = {"order": ["a"], "stages": {"a": {"kind": "batch"}}, "run_on_failure": None}

#: A module service that binds its port itself (no kernel: quick to deploy).
MODULE_SERVICE = """
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"up")

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", {port}), Handler).serve_forever()
"""

#: A notebook stage that fills its state folder through BODYWORK_DATA_DIR, then waits.
FILL_CELL = """
import os, pathlib
big = pathlib.Path(os.environ["BODYWORK_DATA_DIR"], "big")
for chunk in (1 << 16, 4096, 512, 1):
    try:
        with big.open("ab", buffering=0) as out:
            while True:
                out.write(b"x" * chunk)
    except OSError:
        pass
"""


# -- the folder: mounted, filled, made read-only, and unmounted whatever happened -------------


class Folder:
    """A tmpfs of its own as the state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bw = Bodywork(path)
        self.views: list[Path] = []

    def fill(self, name: str = "filler") -> None:
        """Write a file until the folder has no byte left."""
        with contextlib.suppress(OSError), (self.path / name).open("ab", buffering=0) as out:
            for chunk in (1 << 16, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        out.write(b"x" * chunk)
        assert os.statvfs(self.path).f_bavail == 0

    def free(self) -> None:
        for path in (self.path / "filler", *self.path.glob("deployments/*/data/big")):
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def kept_full(self) -> Iterator[None]:
        """Keep it full, as another program writing there would: what is freed in it (an
        attempt's code checkout removed) is taken again at once."""
        done = threading.Event()

        def top_up() -> None:
            with (self.path / "filler").open("ab", buffering=0) as out:
                while not done.is_set():
                    with contextlib.suppress(OSError):
                        out.write(b"x" * 4096)
                    time.sleep(0.002)

        thread = threading.Thread(target=top_up, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)

    def read_only(self, within: float = 15) -> None:
        """Remount it read-only, once no process has a file in it open for writing (a
        supervisor that just left)."""
        deadline = time.monotonic() + within
        while True:
            done = _mount("-o", "remount,ro", self.path, check=False)
            if done.returncode == 0:
                return
            assert time.monotonic() < deadline, f"could not remount read-only: {done.stderr}"
            time.sleep(0.2)

    def writable(self) -> None:
        _mount("-o", "remount,rw", self.path, check=False)

    def read_only_view(self, view: Path) -> Bodywork:
        """The same folder, read-only, at ``view`` (its supervisors keep writing it)."""
        view.mkdir()
        _mount("--bind", self.path, view)
        self.views.append(view)
        _mount("-o", "remount,bind,ro", view)
        return Bodywork(view)


def _mount(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", *map(str, args)], capture_output=True, text=True, check=check, timeout=30
    )


def _unmount(path: Path) -> None:
    deadline = time.monotonic() + 10
    while subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:  # a process of ours still in it: do not leak the mount
            subprocess.run(["umount", "-l", str(path)], check=True)
            return
        time.sleep(0.2)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Folder]:
    path = tmp_path / "state"
    path.mkdir()
    _mount("-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", path)  # fails loudly
    state = Folder(path)
    try:
        yield state
    finally:
        for view in state.views:
            _unmount(view)
        state.writable()
        state.free()
        with contextlib.suppress(Exception):
            store = RunStore(path)
            for deployment in store.deployments():
                state.bw("delete", "deployment", deployment.name, timeout=60)
            store.close()
        _unmount(path)


# -- helpers ----------------------------------------------------------------------------------


def batch_project(folder: Path, name: str = "hist") -> Path:
    folder.mkdir(parents=True)
    (folder / "hello.py").write_text('print("hello from the stage")\n', encoding="utf-8")
    write_yaml(
        folder,
        f'version: "2.0"\npipeline: {{name: {name}}}\nstages: {{hello: {{path: hello.py}}}}\n',
    )
    git_commit(folder)
    return folder


def one_line_error(result: subprocess.CompletedProcess[str], code: int, folder: Path) -> str:
    """The result's error, checked to be one line naming the folder: no traceback."""
    assert result.returncode == code, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the state folder ") and str(folder) in lines[0]
    assert "Traceback" not in result.stderr and "bug" not in result.stderr
    return lines[0]


def until(check: Callable[[], Any], timeout: float = 30, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s: {check}")


def runner_alive(run_id: str, stage: str) -> bool:
    """Whether a runner process of the run's stage is still there."""
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "bodywork_runner" in cmdline and f"/{run_id}/{stage}/" in cmdline:
                return True
    return False


class Poller:
    """Requests to a service every 50 ms, counted, until stopped."""

    def __init__(self, url: str, payload: object) -> None:
        self.url, self.payload = url, payload
        self.sent = self.failed = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        body = json.dumps(self.payload).encode()
        while not self._done.is_set():
            self.sent += 1
            request = urllib.request.Request(
                self.url, data=body, headers={"content-type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
            except OSError:
                self.failed += 1
            time.sleep(0.05)

    def stop(self) -> tuple[int, int]:
        self._done.set()
        self._thread.join(timeout=10)
        return self.sent, self.failed


# -- the store on its own: quick ----------------------------------------------------------------


def test_the_store_on_a_full_folder_reads_and_refuses_writes(folder: Folder) -> None:
    store = RunStore(folder.path)
    run = store.create_run("demo", "demo", "local", {}, PLAN)
    folder.fill()
    with pytest.raises(StateFolderFullError) as refused:
        store.record(run.id, "run.started")
    assert refused.value.exit_code == 3 and refused.value.folder == folder.path
    assert "no space left" in str(refused.value) and "free space there" in str(refused.value)
    with pytest.raises(StateFolderFullError):
        store.heartbeat("demo")
    assert store.get_run(run.id).status == "queued"  # type: ignore[union-attr]
    folder.free()
    store.close()  # its WAL is checkpointed and removed

    # opened on a full folder with no WAL: SQLite cannot make its -shm, so it only reads
    folder.fill()
    again = RunStore(folder.path)
    try:
        assert isinstance(again.read_only, StateFolderFullError)
        assert [r.id for r in again.runs()] == [run.id]
        with pytest.raises(StateFolderFullError):
            again.record(run.id, "run.started")
        folder.free()
        again.record(run.id, "run.started")  # it tries the folder again, and writes
        assert again.read_only is None
        assert again.get_run(run.id).status == "running"  # type: ignore[union-attr]
    finally:
        again.close()


WRITER = """
import sys, time
from pathlib import Path
from bodywork_jupyter.engine.store import RunStore
store = RunStore(Path(sys.argv[1]))
run = store.create_run("w", "w", "local", {}, {"order": ["a"], "stages": {"a": {"kind": "batch"}}})
store.record(run.id, "run.started")
print(run.id, flush=True)
time.sleep(60)
"""


def test_the_store_on_a_read_only_folder_reads_its_whole_history(folder: Folder) -> None:
    store = RunStore(folder.path)
    closed = store.create_run("demo", "demo", "local", {}, PLAN)
    store.close()  # its WAL is checkpointed and removed
    # a writer killed mid-run leaves its newest history in the WAL (and the -shm beside it)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder.path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    in_wal = writer.stdout.readline().strip()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    assert (folder.path / "runs.sqlite-wal").stat().st_size > 0
    folder.read_only()
    ro = RunStore(folder.path)
    try:
        assert isinstance(ro.read_only, StateFolderReadOnlyError) and ro.read_only.exit_code == 2
        assert {r.id for r in ro.runs()} == {closed.id, in_wal}
        assert ro.get_run(in_wal).status == "running"  # type: ignore[union-attr]
        with pytest.raises(StateFolderReadOnlyError, match="read-only file system"):
            ro.record(in_wal, "run.failed")
    finally:
        ro.close()
    # the same, without a WAL: the file alone is the store
    folder.writable()
    RunStore(folder.path).close()
    assert not (folder.path / "runs.sqlite-wal").exists()
    folder.read_only()
    alone = RunStore(folder.path)
    assert {r.id for r in alone.runs()} == {closed.id, in_wal}
    alone.close()


def test_an_older_store_on_a_read_only_folder_reads_as_started_by_nobody(folder: Folder) -> None:
    """A store from before ``runs.started_by``, read-only: not upgraded, its runs listed
    all the same (the listing names only the columns it has)."""
    store_from_before_started_by(folder.path, "old-run")
    folder.read_only()
    ro = RunStore(folder.path)
    try:
        assert isinstance(ro.read_only, StateFolderReadOnlyError)
        assert [(r.id, r.started_by) for r in ro.runs()] == [("old-run", None)]
        assert ro.get_run("old-run").started_by is None  # type: ignore[union-attr]
    finally:
        ro.close()
    listed = folder.bw("get", "runs")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert row.startswith("old-run") and row[header.index("BY") :].split()[0] == "-", row


def test_a_supervisor_holds_what_a_full_folder_refuses_and_ends_the_run_as_failed(
    folder: Folder,
) -> None:
    store = RecordingStore(folder.path)
    run = store.create_run("demo", "demo", "local", {}, PLAN)
    stopped: list[str] = []

    def stop_run(run_id: str) -> bool:  # as the supervisor's: it drives this run
        stopped.append(run_id)
        return True

    store.stop_run = stop_run
    store.record(run.id, "run.started")
    store.record(run.id, "stage.starting", "a", 1)
    folder.fill()
    before = time.time()
    store.record(run.id, "runner.cell.finished", "a", 1, index=1, total=2)  # refused: held
    assert stopped == [run.id]  # the run is stopped at the first event it cannot record
    store.heartbeat("demo")  # skipped, never raised
    store.record(run.id, "stage.cancelled", "a", 1, message="stopped")
    store.record(run.id, "run.cancelled", message="cancelled")
    store.set_deployment_status("demo", "cancelled")
    assert len(store.held) == 4 and store.flush() is False
    assert store.get_run(run.id).status == "running"  # type: ignore[union-attr]
    folder.free()
    assert store.flush() is True and not store.held
    store.close()
    shown = RunStore(folder.path)
    ended = shown.get_run(run.id)
    assert ended is not None and ended.status == "failed"
    assert ended.message.startswith(f"stopped: the state folder {folder.path} could not be written")
    assert "free space there" in ended.message
    assert [s.status for s in shown.stages(run.id)] == ["cancelled"]
    events = shown.events(run.id)
    assert [e.type for e in events][-3:] == [
        "runner.cell.finished",
        "stage.cancelled",
        "run.failed",
    ]
    assert events[-3].time >= before and events[-3].time < events[-1].time  # their own times
    shown.close()


# -- the CLI -----------------------------------------------------------------------------------


def test_a_full_folder_is_one_clear_line_and_its_history_still_reads(
    tmp_path: Path, folder: Folder
) -> None:
    bw = folder.bw
    project = batch_project(tmp_path / "p")
    first = bw("deploy", project)
    assert first.returncode == 0, first.stdout + first.stderr
    run_id = run_id_of(first)
    folder.fill()
    runs = bw("get", "runs")
    assert runs.returncode == 0 and run_id in runs.stdout and "succeeded" in runs.stdout
    assert bw("get", "deployments").returncode == 0
    logs = bw("logs", run_id)
    assert logs.returncode == 0 and "hello from the stage" in logs.stdout
    line = one_line_error(bw("deploy", project), 3, folder.path)
    assert "no space left on device" in line and "free space there" in line
    one_line_error(bw("delete", "deployment", "hist"), 3, folder.path)
    assert bw("get", "runs").stdout == runs.stdout  # nothing was recorded meanwhile
    folder.free()
    assert bw("deploy", project).returncode == 0


def test_a_read_only_folder_reads_and_refuses_every_write(tmp_path: Path, folder: Folder) -> None:
    bw = folder.bw
    project = batch_project(tmp_path / "p")
    first = bw("deploy", project)
    assert first.returncode == 0, first.stdout + first.stderr
    run_id = run_id_of(first)
    before = bw("get", "runs").stdout
    folder.read_only()  # once its supervisor has left
    runs = bw("get", "runs")
    assert runs.returncode == 0 and runs.stdout == before
    shown = bw("get", "deployments")
    assert shown.returncode == 0 and "hist" in shown.stdout
    logs = bw("logs", run_id)
    assert logs.returncode == 0 and "hello from the stage" in logs.stdout
    line = one_line_error(bw("deploy", project), 2, folder.path)
    assert "read-only file system" in line and "BODYWORK_STATE_DIR" in line
    one_line_error(bw("delete", "deployment", "hist"), 2, folder.path)
    folder.writable()
    assert bw("get", "runs").stdout == before  # nothing lost, nothing half-written


def test_a_read_only_view_of_a_live_folder_leaves_its_service_serving(
    tmp_path: Path, folder: Folder
) -> None:
    project = tmp_path / "svc"
    port = free_port()
    (project / "serve").mkdir(parents=True)
    (project / "serve" / "serve.py").write_text(MODULE_SERVICE.format(port=port), encoding="utf-8")
    write_yaml(
        project,
        f'version: "2.0"\npipeline: {{name: svc}}\n'
        f"stages: {{serve: {{path: serve/serve.py, service: {{port: {port}}}}}}}\n",
    )
    git_commit(project)
    deployed = folder.bw("deploy", project)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    url = f"http://127.0.0.1:{port}/"
    view = folder.read_only_view(tmp_path / "view")
    shown = view("get", "deployments")
    assert shown.returncode == 0 and "svc" in shown.stdout and "serving" in shown.stdout
    one_line_error(view("delete", "deployment", "svc"), 2, tmp_path / "view")
    one_line_error(view("deploy", project), 2, tmp_path / "view")
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read() == b"up"
    assert "serving" in folder.bw("get", "deployments").stdout


def test_a_run_that_fills_the_folder_fails_once_it_can_record_and_the_old_version_serves(
    tmp_path: Path, folder: Folder
) -> None:
    bw = folder.bw
    project = tmp_path / "web"
    port = free_port()
    notebook(project / "serve.ipynb", "def predict(request):\n    return {'ok': 1}")
    write_yaml(
        project,
        f'version: "2.0"\npipeline: {{name: web}}\n'
        f"stages: {{serve: {{path: serve.ipynb, service: {{port: {port}}}}}}}\n",
    )
    git_commit(project, "v1")
    first = bw("deploy", project)
    assert first.returncode == 0, first.stdout + first.stderr
    poller = Poller(f"http://127.0.0.1:{port}/predict", {})

    # v2: a first stage fills the folder, and then would wait for 30 s
    notebook(project / "fill.ipynb", FILL_CELL, "import time\ntime.sleep(30)")
    write_yaml(
        project,
        f'version: "2.0"\npipeline: {{name: web}}\nstages:\n'
        f"  fill: {{path: fill.ipynb}}\n"
        f"  serve: {{path: serve.ipynb, depends_on: [fill], service: {{port: {port}}}}}\n",
    )
    git_commit(project, "v2")
    second = bw("deploy", project, "--detach")
    assert second.returncode == 0, second.stdout + second.stderr
    run_id = run_id_of(second)
    until(lambda: os.statvfs(folder.path).f_bavail == 0, timeout=30)
    with folder.kept_full():
        # the run stops at the first event it cannot record: its stage is not left running
        until(lambda: not runner_alive(run_id, "fill"), timeout=20)
        runs = bw("get", "runs")
        assert runs.returncode == 0 and run_id in runs.stdout and run_id_of(first) in runs.stdout
        one_line_error(bw("deploy", project), 3, folder.path)
        time.sleep(1)
    folder.free()

    store = RunStore(folder.path)
    try:
        ended = until(lambda: _settled(store, run_id), timeout=15)
        stages = {s.stage: s.status for s in store.stages(run_id)}
    finally:
        store.close()
    assert ended.status == "failed", ended
    assert ended.message.startswith(f"stopped: the state folder {folder.path} could not be")
    assert stages == {"fill": "cancelled", "serve": "skipped"}
    runs = bw("get", "runs", "web").stdout
    assert "lost" not in runs and "stopped: the state folder" in runs
    sent, failed = poller.stop()
    assert failed == 0 and sent > 20, (sent, failed)
    assert "serving" in bw("get", "deployments").stdout  # v1, all along
    log = until(lambda: _supervisor_log(folder.path, f"run {run_id} stopped"), timeout=5)
    assert str(folder.path) in log and "free space there" in log


def _settled(store: RunStore, run_id: str) -> Any:
    run = store.get_run(run_id, with_plan=False)
    return run if run is not None and run.finished is not None else None


def _supervisor_log(state: Path, text: str) -> str | None:
    log = (state / "supervisors" / "web.log").read_text(encoding="utf-8", errors="replace")
    return log if text in log else None
