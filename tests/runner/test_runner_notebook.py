"""Batch notebooks on a real kernel: parameters, failures, kernel death, timeout, SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import nbformat
import psutil
from runner_helpers import RunningRunner, make_spec, run_runner, write_notebook


def test_a_notebook_runs_with_its_parameters(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(
        project / "train.ipynb",
        "import os\nprint('trees', n_trees, os.environ['BODYWORK_STAGE'], os.environ['GREETING'])",
        "open('out.txt', 'w').write(str(n_trees * 2))",
        parameters="n_trees = 1",
    )
    spec = make_spec(project, "train.ipynb", tmp_path, parameters={"n_trees": 7})
    spec["env"] = {"GREETING": "hello"}
    result = run_runner(spec, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.kinds[:4] == [
        "runner.started",
        "code.ready",
        "requirements.ready",
        "stage.running",
    ]
    assert result.kinds[-1] == "stage.succeeded"
    finished = result.of("cell.finished")
    assert [e["index"] for e in finished] == [1, 2, 3, 4]  # with papermill's injected cell
    assert {e["total"] for e in finished} == {4}
    assert all(e["stage"] == "train" and e["run_id"] == "run-1" for e in result.events)
    assert "trees 7 train hello" in result.stdout  # cell output is streamed to the log
    assert (project / "out.txt").read_text() == "14"  # cwd is the project folder

    artifact = Path(result.one("stage.succeeded")["notebook"])
    assert artifact == tmp_path / "artifacts" / "train.ipynb"
    executed = nbformat.read(str(artifact), as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "n_trees = 7" in injected[0].source


def test_a_failing_cell_is_reported_with_its_number_and_error(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "broken.ipynb", "x = 1", "raise ValueError('bad data')", "x = 2")
    result = run_runner(make_spec(project, "broken.ipynb", tmp_path), tmp_path)

    assert result.returncode == 1
    failed = result.one("stage.failed")
    assert failed["reason"] == "error"
    assert (failed["cell"], failed["ename"], failed["evalue"]) == (2, "ValueError", "bad data")
    assert "raise ValueError('bad data')" in failed["traceback"]
    assert "\x1b[" not in failed["traceback"]
    assert Path(failed["notebook"]).is_file()  # written on failure too
    assert "Traceback" not in result.stderr.split("ValueError")[0]  # no runner traceback


def test_sys_exit_in_a_cell_is_an_exit(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "quits.ipynb", "import sys", "sys.exit(3)")
    result = run_runner(make_spec(project, "quits.ipynb", tmp_path), tmp_path)

    assert result.returncode == 1
    failed = result.one("stage.failed")
    assert failed["reason"] == "exit"
    assert failed["cell"] == 2
    assert "3" in failed["message"]


def test_a_kernel_that_dies_is_reported(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "dies.ipynb", "import os", "os._exit(1)")
    result = run_runner(make_spec(project, "dies.ipynb", tmp_path), tmp_path)

    assert result.returncode == 1
    assert result.one("stage.failed")["reason"] == "kernel_died"


def test_an_endless_cell_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "loops.ipynb", "print('looping', flush=True)\nwhile True:\n    pass")
    spec = make_spec(project, "loops.ipynb", tmp_path, timeout_seconds=3)
    started = time.monotonic()
    result = run_runner(spec, tmp_path, timeout=60)
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    assert result.one("stage.failed")["reason"] == "timeout"
    assert elapsed < 3 + 12, elapsed


def test_sigterm_stops_the_kernel_and_leaves_no_process(tmp_path: Path, background: list) -> None:
    project = tmp_path / "project"
    write_notebook(
        project / "sleeps.ipynb", "import time\nprint('sleeping', flush=True)\ntime.sleep(120)"
    )
    runner = RunningRunner(make_spec(project, "sleeps.ipynb", tmp_path), tmp_path)
    background.append(runner)
    runner.wait_for("stage.running")
    deadline = time.monotonic() + 30
    while "sleeping" not in "".join(runner.stdout) and time.monotonic() < deadline:
        time.sleep(0.1)
    family = psutil.Process(runner.process.pid).children(recursive=True)
    # a cold kernel of the runner's own interpreter: started by our launcher
    kernels = [p for p in family if "bodywork_runner.kernel_launcher" in p.cmdline()]
    assert kernels, runner.log()

    sent = time.monotonic()
    runner.process.send_signal(signal.SIGTERM)
    code = runner.finish(timeout=20)

    assert code == 1
    assert time.monotonic() - sent < 10
    failed = [e for e in runner.events if e["event"] == "stage.failed"]
    assert failed and failed[0]["reason"] == "terminated", runner.log()
    for process in family:
        assert not _alive(process), f"left behind: {process.pid} {process.cmdline()}"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
