"""Issues 3 and 15: a 10-notebook DAG (1 -> 8 in parallel -> 1) deployed with
``bodywork deploy``; each notebook sleeps ``--sleep`` seconds (0.5, as in issue 15).

Compared with the 3 notebooks of its critical path run one after another with plain
papermill (as subprocesses: the floor, with the papermill of our venv and, as its control,
of a venv with papermill and ipykernel only; and in-process ``papermill.execute_notebook``), a
hand-made shell DAG (the papermill CLI, the 8 middle notebooks at once), and the same 10
notebooks built by Ploomber (``ploomber build --force``, parallel executor).
Also: the same DAG with requirements on every stage, the environment built by a first
deploy, then deployed ``--runs`` times each way in turns: continued in a warm server of the
environment (the default) and re-executed there (``BODYWORK_RUNNER_FORK_ENVS=0``, the
control); a deploy with unchanged requirements must spend < 1 s on them (the runner's
``requirements.ready`` event, read from the run store).

Prints markdown tables. Run from the repository root after ``scripts/setup`` and
``.venv/bin/uv pip install --compile-bytecode --python .venv/bin/python \
-r benchmarks/requirements.txt``::

    .venv/bin/python benchmarks/bench_dag.py            # --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from side_venvs import lean_papermill_command, ploomber_command

BIN = Path(sys.executable).parent
MIDDLE = [f"mid{i}" for i in range(1, 9)]
STAGES = ["first", *MIDDLE, "last"]
CRITICAL_PATH = ["first", "mid1", "last"]
#: seconds each notebook sleeps (set by --sleep)
SLEEP = 0.5


def body() -> str:
    return f"import time\ntime.sleep({SLEEP})\ny = x + 1\nprint(y)"


def notebook(parameters: str, body: str) -> dict[str, Any]:
    def cell(source: str, tags: list[str] | None = None) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{abs(hash((source, str(tags)))) % 10**8}",
            "metadata": {"tags": tags or []},
            "outputs": [],
            "source": source,
        }

    return {
        "cells": [cell(parameters, ["parameters"]), cell(body)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_bodywork_project(folder: Path, requirements: bool) -> None:
    folder.mkdir(parents=True)
    lines = ['version: "2.0"', "pipeline:", "  name: benchdag", "stages:"]
    for name in STAGES:
        nb = notebook("x = 1", body())
        (folder / f"{name}.ipynb").write_text(json.dumps(nb, indent=1))
        lines += [f"  {name}:", f"    path: {name}.ipynb"]
        deps = [] if name == "first" else ["first"] if name in MIDDLE else MIDDLE
        if deps:
            lines += ["    depends_on:", *(f"      - {d}" for d in deps)]
        if requirements:
            lines += ["    requirements: requirements.txt"]
    (folder / "bodywork.yaml").write_text("\n".join(lines) + "\n")
    if requirements:
        # a tiny pure-Python package, so the stage environment is real but quick to build
        (folder / "requirements.txt").write_text("six\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", str(folder)], check=True)
    subprocess.run([*git, "-C", str(folder), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(folder), "commit", "-qm", "bench"], check=True)


def write_ploomber_project(folder: Path) -> None:
    folder.mkdir(parents=True)
    tasks = []
    for name in STAGES:
        upstream = None if name == "first" else ["first"] if name in MIDDLE else MIDDLE
        params = f"upstream = {upstream!r}\nproduct = None\nx = 1"
        nb = notebook(params, body())
        (folder / f"{name}.ipynb").write_text(json.dumps(nb, indent=1))
        tasks.append(f"  - source: {name}.ipynb\n    product: out/{name}.ipynb")
    (folder / "pipeline.yaml").write_text(
        "executor: parallel\n\ntasks:\n" + "\n".join(tasks) + "\n"
    )


def ploomber_env(env: dict[str, str], command: str) -> dict[str, str]:
    return {
        **env,
        "PATH": f"{Path(command).parent}{os.pathsep}{env['PATH']}",
        "PLOOMBER_STATS_ENABLED": "false",
        "VIRTUAL_ENV": str(Path(command).parent.parent),
    }


def critical_path_cli(
    papermill: str, project: Path, out: Path, env: dict[str, str], runs: int
) -> list[float]:
    """Seconds for the critical path's 3 notebooks through ``papermill``'s CLI, one after
    another, ``runs`` times after a warm-up."""
    times = []
    for run in range(runs + 1):
        started = time.perf_counter()
        for name in CRITICAL_PATH:
            output = str(out / f"{name}.ipynb")
            timed([papermill, "--no-progress-bar", f"{name}.ipynb", output], env, project)
        if run:
            times.append(time.perf_counter() - started)
    return times


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return elapsed, result.stdout


def deploy_once(
    project: Path, state: Path, env: dict[str, str], incidents: list[str]
) -> float | None:
    """Seconds for one ``bodywork deploy`` (None if it failed: the failure is kept)."""
    run_env = {**env, "BODYWORK_STATE_DIR": str(state)}
    bodywork = str(BIN / "bodywork")
    try:
        started = time.perf_counter()
        result = subprocess.run(
            [bodywork, "deploy", str(project)], env=run_env, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
        if result.returncode == 0:
            return elapsed
        from bodywork_jupyter.reader import RunReader
        from bodywork_jupyter.targets import TargetOptions, open_target

        target = open_target(TargetOptions(state_dir=state))
        try:
            runs = RunReader(target)
            run = runs.find_run("benchdag")
            text = [f"run {run.id}: {run.message} (deploy exited {result.returncode})"]
            for stage in runs.stages(run.id):
                if stage.status == "failed":
                    tail = runs.log_text(run.id, stage.stage).splitlines()[-25:]
                    text += [f"--- {stage.stage} log (last lines) ---", *tail]
        finally:
            target.close()
        incidents.append("\n".join(text))
        return None
    finally:
        subprocess.run(
            [bodywork, "delete", "deployment", "benchdag"], env=run_env, capture_output=True
        )


def run_shell_dag(folder: Path, out: Path, env: dict[str, str]) -> float | None:
    """What a user could write by hand: the papermill CLI, the 8 middle ones at once
    (None: a middle one failed; TCP kernels started together can take the same port)."""

    def command(name: str) -> list[str]:
        return [str(BIN / "papermill"), "--no-progress-bar", f"{name}.ipynb", str(out / name)]

    started = time.perf_counter()
    timed(command("first"), env, folder)
    middle = [
        subprocess.Popen(
            command(name), env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for name in MIDDLE
    ]
    codes = [process.wait() for process in middle]  # all of them, even after a failure
    if any(codes):
        return None
    timed(command("last"), env, folder)
    return time.perf_counter() - started


def machine_header(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    """The machine, the time and its load (1 min) before and after: a table's first line."""
    return (
        f"Machine: {time.strftime('%Y-%m-%d %H:%M')}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average (1 min) "
        f"before/after {before[0]:.2f}/{after[0]:.2f}"
    )


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def run_papermill_in_process(folder: Path, out: Path) -> float:
    import papermill

    started = time.perf_counter()
    for name in CRITICAL_PATH:
        papermill.execute_notebook(
            str(folder / f"{name}.ipynb"), str(out / f"{name}.ipynb"), progress_bar=False
        )
    return time.perf_counter() - started


def stage_breakdown(state_dir: Path, run_id: str) -> dict[str, dict[str, float]]:
    """Per stage: seconds from stage.starting to each runner event, from the run store."""
    from bodywork_jupyter.engine.store import RunStore

    store = RunStore(state_dir)
    try:
        events = store.events(run_id)
    finally:
        store.close()
    marks: dict[str, dict[str, float]] = {}
    for event in events:
        if event.stage is None:
            continue
        marks.setdefault(event.stage, {})[event.type] = event.time
        if event.type == "runner.requirements.ready":
            marks[event.stage]["req_seconds"] = float(event.data.get("seconds", 0.0))
            marks[event.stage]["req_cached"] = float(bool(event.data.get("cached")))
    run_events = {e.type: e.time for e in events if e.stage is None}
    marks["_run"] = run_events
    return marks


def latest_run(state_dir: Path) -> str:
    from bodywork_jupyter.engine.store import RunStore

    store = RunStore(state_dir)
    try:
        return store.runs("benchdag", limit=1)[0].id
    finally:
        store.close()


def main() -> None:
    global SLEEP
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-ploomber", action="store_true")
    parser.add_argument("--sleep", type=float, default=SLEEP, help="seconds per notebook")
    args = parser.parse_args()
    SLEEP = args.sleep

    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dag-"))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    rows: list[tuple[str, str, list[float]]] = []
    breakdowns: list[dict[str, dict[str, float]]] = []
    req_rows: list[tuple[str, list[tuple[float, bool]]]] = []
    req_times: dict[str, list[float]] = {}
    req_breakdowns: dict[str, list[dict[str, dict[str, float]]]] = {}
    ploomber_error = lean_error = ""
    shell_failures = 0
    incidents: list[str] = []
    try:
        project = tmp / "project"
        write_bodywork_project(project, requirements=False)
        project_req = tmp / "project-req"
        write_bodywork_project(project_req, requirements=True)

        # -- bodywork deploy, no requirements ------------------------------------------------
        deploy_times = []
        for run in range(args.runs + 1):  # the first one is a warm-up
            state = tmp / f"state-{run}"
            elapsed = deploy_once(project, state, env, incidents)
            if run and elapsed is not None:
                deploy_times.append(elapsed)
                breakdowns.append(stage_breakdown(state, latest_run(state)))
        rows.append(("`bodywork deploy DIR` (10 notebooks, 1 -> 8 -> 1)", "", deploy_times))

        # -- plain papermill on the critical path ----------------------------------------------
        out = tmp / "papermill-out"
        out.mkdir()
        sub_times = critical_path_cli(str(BIN / "papermill"), project, out, env, args.runs)
        rows.append(
            ("`papermill in.ipynb out.ipynb` x 3 (critical path), subprocesses", "", sub_times)
        )
        lean, lean_error = lean_papermill_command()
        if lean is not None:
            lean_env = {**env, "PATH": f"{Path(lean).parent}{os.pathsep}{env['PATH']}"}
            lean_times = critical_path_cli(lean, project, out, lean_env, args.runs)
            rows.append(
                (
                    "the same, papermill in a venv of its own (papermill, ipykernel only)",
                    "",
                    lean_times,
                )
            )
        inproc_times = []
        for run in range(args.runs + 1):
            elapsed = run_papermill_in_process(project, out)
            if run:
                inproc_times.append(elapsed)
        rows.append(
            ("`papermill.execute_notebook` x 3 (critical path), in-process", "", inproc_times)
        )
        shell_times: list[float] = []
        attempts, warmed = 0, False
        while len(shell_times) < args.runs and attempts < 3 * (args.runs + 1):
            attempts += 1
            elapsed = run_shell_dag(project, out, env)
            if elapsed is None:
                shell_failures += 1
            elif not warmed:  # the first one that succeeds is the warm-up
                warmed = True
            else:
                shell_times.append(elapsed)
        rows.append(("shell DAG: papermill CLI, the 8 middle ones at once", "", shell_times))

        # -- Ploomber ------------------------------------------------------------------------
        if not args.skip_ploomber:
            ploomber, ploomber_error = ploomber_command()
            if ploomber is not None:
                pproject = tmp / "ploomber"
                write_ploomber_project(pproject)
                ptimes = []
                try:
                    for run in range(args.runs + 1):
                        elapsed, _ = timed(
                            [ploomber, "build", "--force"], ploomber_env(env, ploomber), pproject
                        )
                        if run:
                            ptimes.append(elapsed)
                    rows.append(
                        ("`ploomber build --force` (10 notebooks, parallel executor)", "", ptimes)
                    )
                except RuntimeError as exc:
                    ploomber_error = str(exc)[-2000:]

        # -- requirements: the first deploy builds the environment; then, in each round, the
        # same deploy with its stages continued in a warm server of the environment and,
        # as the control, re-executed there (BODYWORK_RUNNER_FORK_ENVS=0), in turns
        state = tmp / "state-req"
        cold_env = {**env, "BODYWORK_RUNNER_FORK_ENVS": "0"}
        kinds = [("warm", env), ("re-executed", cold_env)]
        plan = [("first deploy (builds the environment)", env)]
        for run in range(args.runs):
            plan += [
                (f"deploy {run + 2}, {kind} (unchanged)", kind_env)
                for kind, kind_env in (kinds if run % 2 == 0 else kinds[::-1])
            ]
        for index, (label, deploy_env) in enumerate(plan):
            elapsed = deploy_once(project_req, state, deploy_env, incidents)
            marks = stage_breakdown(state, latest_run(state))
            req = [
                (m["req_seconds"], bool(m["req_cached"]))
                for s, m in marks.items()
                if s != "_run" and "req_seconds" in m
            ]
            took = f"{elapsed:.2f} s" if elapsed is not None else "FAILED"
            req_rows.append((f"{label}, deploy {took}", req))
            if index and elapsed is not None:
                kind = "warm" if deploy_env is env else "re-executed"
                req_times.setdefault(kind, []).append(elapsed)
                req_breakdowns.setdefault(kind, []).append(marks)
        rows[1:1] = [
            (
                f"the same, every stage with requirements (environment built), {kind}",
                "",
                req_times.get(kind, []),
            )
            for kind, _ in kinds
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    print(
        f"{machine_header(load_before, load_after)}; {args.runs} timed runs each, "
        f"after one warm-up run. Each notebook sleeps {SLEEP} s.\n"
    )
    print("| Command | median s | min s | max s | vs papermill subprocesses |")
    print("|---|---:|---:|---:|---:|")
    base = statistics.median(sub_times)
    for label, _, values in rows:
        if not values:
            print(f"| {label} | - | - | - | - |")
            continue
        med, low, high = stats(values)
        print(f"| {label} | {med:.2f} | {low:.2f} | {high:.2f} | {med / base:.2f}x |")
    inproc = statistics.median(inproc_times)
    deploy = statistics.median(deploy_times)
    print(f"\n`bodywork deploy` / papermill in-process: {deploy / inproc:.2f}x")
    if incidents:
        print(f"\n{len(incidents)} deploy(s) failed (left out of the table):\n")
        for incident in incidents:
            print(f"```\n{incident}\n```")
    if shell_failures:
        print(
            f"\nThe shell DAG failed {shell_failures} time(s) (a middle notebook; TCP kernels "
            "started together can take the same port): left out, and run again."
        )
    if ploomber_error:
        print(f"\nPloomber failed:\n\n```\n{ploomber_error}\n```")
    if lean_error:
        print(f"\nThe lean papermill venv failed:\n\n```\n{lean_error}\n```")

    print(
        "\nWhere a deploy's time goes (median over the timed runs, seconds; from the run "
        "store's event times):\n"
    )
    print_breakdown(breakdowns)
    for kind, marks in req_breakdowns.items():
        print(f"\nThe same for the deploys with requirements, {kind}:\n")
        print_breakdown(marks)
    alone = [b["first"]["stage.succeeded"] - b["first"]["stage.starting"] for b in breakdowns]
    if alone:
        print(
            f"\nOne stage's overhead over its notebook's own {SLEEP} s (the first stage, "
            f"which runs alone; start -> succeeded minus the sleep): median "
            f"{statistics.median(alone) - SLEEP:.2f} s, min {min(alone) - SLEEP:.2f}, "
            f"max {max(alone) - SLEEP:.2f}"
        )

    print("\nRequirements (`runner.requirements.ready` events, all 10 stages):\n")
    print("| Deploy | seconds per stage (min / median / max) | cached |")
    print("|---|---|---|")
    for label, req in req_rows:
        secs = [s for s, _ in req]
        cached = sum(c for _, c in req)
        print(
            f"| {label} | {min(secs):.3f} / {statistics.median(secs):.3f} / {max(secs):.3f} | "
            f"{cached} of {len(req)} |"
        )


def print_breakdown(breakdowns: list[dict[str, dict[str, float]]]) -> None:
    steps = [
        (
            "stage.starting",
            "runner.code.ready",
            "start -> code.ready (interpreter, imports, git clone)",
        ),
        ("runner.code.ready", "runner.requirements.ready", "code.ready -> requirements.ready"),
        (
            "runner.requirements.ready",
            "runner.stage.running",
            "requirements.ready -> stage.running",
        ),
        (
            "runner.stage.running",
            "stage.succeeded",
            "stage.running -> succeeded (papermill: kernel start, 2 cells, write)",
        ),
    ]
    print("| Step | first | mid (median of 8) | last |")
    print("|---|---:|---:|---:|")
    for start, end, label in steps:
        cells = []
        for group in (["first"], MIDDLE, ["last"]):
            values = [
                b[s][end] - b[s][start]
                for b in breakdowns
                for s in group
                if start in b.get(s, {}) and end in b.get(s, {})
            ]
            cells.append(f"{statistics.median(values):.2f}" if values else "-")
        print(f"| {label} | {' | '.join(cells)} |")
    totals = []
    for b in breakdowns:
        run = b["_run"]
        first_start = b["first"]["stage.starting"]
        mids_end = max(b[s]["stage.succeeded"] for s in MIDDLE)
        last_start = b["last"]["stage.starting"]
        totals.append(
            (
                first_start - run["run.queued"],
                b["first"]["stage.succeeded"] - first_start,
                mids_end - b["first"]["stage.succeeded"],
                last_start - mids_end,
                b["last"]["stage.succeeded"] - last_start,
                run["run.succeeded"] - run["run.queued"],
            )
        )
    names = [
        "run.queued -> first stage starting (supervisor start-up)",
        "first stage (start -> succeeded)",
        "8 middle stages (first succeeded -> last of them succeeded)",
        "last of the middle succeeded -> last stage starting",
        "last stage (start -> succeeded)",
        "run.queued -> run.succeeded",
    ]
    print("\n| Span | median s |")
    print("|---|---:|")
    for index, name in enumerate(names):
        print(f"| {name} | {statistics.median(t[index] for t in totals):.2f} |")


if __name__ == "__main__":
    main()
