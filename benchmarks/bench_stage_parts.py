"""Where one batch notebook stage's time goes inside its runner (issue 15).

Does what the runner fork server does (``forkserver.preload()``, then ``gc.freeze()``),
starts a real kernel server (``bodywork_runner.kernelserver``), and forks one child per
run that executes a notebook of two cells (``x = 1``; a ``--sleep`` s sleep) through
``notebook.run_notebook``, as a forked runner does. papermill's and nbclient's steps are
timed by wrapping them in the child; the medians are printed as a markdown table::

    .venv/bin/python benchmarks/bench_stage_parts.py            # --runs 12 --sleep 0.5

``BODYWORK_RUNNER_FORK_KERNELS=0`` starts every kernel cold, for a comparison. What this
leaves out, and ``bench_dag.py`` counts: the fork itself, the checkout and the events.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_dag  # (run as a script: its folder is on the path)

#: step -> its durations in this process (a child's, once forked)
TIMES: dict[str, list[float]] = {}

#: (what is wrapped, attribute, the row's label), in the order a stage meets them
STEPS = [
    ("papermill.execute", "load_notebook_node", "read and validate the notebook"),
    ("nbclient.client.NotebookClient", "start_new_kernel", "kernel started (forked or cold)"),
    ("nbclient.client.NotebookClient", "start_new_kernel_client", "kernel ready (kernel_info)"),
    ("papermill.clientwrap.PapermillNotebookClient", "execute_cell", "the 2 cells"),
    ("nbclient.client.NotebookClient", "_cleanup_kernel", "kernel shut down"),
    ("papermill.engines.NotebookExecutionManager", "save", "notebook writes"),
]


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TIMES.setdefault(label, []).append(time.perf_counter() - started)

    return timed


def wrap_steps() -> None:
    import importlib

    for where, name, label in STEPS:
        module_name, _, class_name = where.rpartition(".")
        try:  # a class in a module ...
            owner: Any = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):  # ... or a module
            owner = importlib.import_module(where)
        setattr(owner, name, _timed(label, getattr(owner, name)))


def one_run(project: Path, artifacts: Path) -> dict[str, float]:
    """Fork, run the notebook in the child, return its step times (summed per step)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a forked runner
        code = 1
        try:
            from bodywork_runner import notebook
            from bodywork_runner.events import Emitter
            from bodywork_runner.spec import Source, StageSpec
            from bodywork_runner.stopping import Stopper

            os.close(read_end)
            TIMES.clear()
            spec = StageSpec(
                pipeline="bench",
                stage="stage",
                kind="batch",
                file="stage.ipynb",
                source=Source(local_path=str(project)),
                artifacts_dir=str(artifacts),
            )
            started = time.perf_counter()
            notebook.run_notebook(spec, project, Emitter(stream=io.StringIO()), Stopper())
            TIMES["run_notebook, in all"] = [time.perf_counter() - started]
            os.write(write_end, json.dumps({k: sum(v) for k, v in TIMES.items()}).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 1 << 16):
        data += chunk
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise RuntimeError(f"the forked run failed (wait status {status})")
    times: dict[str, float] = json.loads(data)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--sleep", type=float, default=bench_dag.SLEEP)
    args = parser.parse_args()
    bench_dag.SLEEP = args.sleep

    from bodywork_runner import forkserver
    from bodywork_runner.kernelserver import SERVER_ENV

    forkserver.preload()
    gc.freeze()  # as forkserver.serve does
    folder = Path(tempfile.mkdtemp(prefix="bench-stage-"))
    server = subprocess.Popen(
        [sys.executable, "-m", "bodywork_runner.kernelserver", str(folder / "kernels")],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    if server.stdout.readline().strip() != b"ready":
        raise SystemExit("the kernel server did not start")
    os.environ[SERVER_ENV] = str(folder / "kernels")
    project = folder / "project"
    project.mkdir()
    notebook = bench_dag.notebook("x = 1", bench_dag.body())
    (project / "stage.ipynb").write_text(json.dumps(notebook, indent=1))
    wrap_steps()
    load = os.getloadavg()[0]
    try:
        runs = [one_run(project, folder / f"run{index}") for index in range(args.runs)]
    finally:
        server.kill()
        server.wait()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, load average (1 min) before/after {load:.2f}/"
        f"{os.getloadavg()[0]:.2f}; {args.runs} runs, the notebook sleeps {args.sleep} s; "
        f"kernels {'cold' if os.environ.get('BODYWORK_RUNNER_FORK_KERNELS') == '0' else 'forked'}"
    )
    print("\n| Step | median s | min s | max s |\n|---|---:|---:|---:|")
    labels = [label for _, _, label in STEPS] + ["run_notebook, in all"]
    for label in labels:
        values = [run.get(label, 0.0) for run in runs]
        print(
            f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |"
        )
    fixed = [run["run_notebook, in all"] - args.sleep for run in runs]
    print(f"\nrun_notebook minus the sleep: median {statistics.median(fixed):.3f} s")


if __name__ == "__main__":
    main()
