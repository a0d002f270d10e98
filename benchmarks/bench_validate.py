"""Benchmark `bodywork validate` on a 300-stage pipeline (2.0 and 1.1), against JSON Schema tools.

Run from the repository root, after `scripts/setup` and
`.venv/bin/uv pip install --compile-bytecode --python .venv/bin/python \
-r benchmarks/requirements.txt`:

    .venv/bin/python benchmarks/bench_validate.py [--runs 20] [--stages 300]

It writes the projects into a temporary folder, times each command as a subprocess (what a
user waits for, interpreter start-up included) and the in-process work, and prints markdown
tables for docs/benchmarks.md. Target (issue 2): `bodywork validate` under 0.3 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml

TARGET_SECONDS = 0.3
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- timing


def stats(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p90": p90, "max": ordered[-1]}


def time_command(cmd: Sequence[str], runs: int, expect: int = 0) -> dict[str, float]:
    """Wall time of ``cmd`` over ``runs`` runs (after one untimed warm-up run)."""
    samples: list[float] = []
    for i in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != expect:
            sys.exit(
                f"{' '.join(cmd)} exited {done.returncode} (expected {expect}):\n"
                f"{done.stdout}{done.stderr}"
            )
        if i:
            samples.append(elapsed)
    return stats(samples)


def time_call(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm-up: imports and caches, as in a long-lived process
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return stats(samples)


def row(what: str, how: str, s: dict[str, float], target: float | None = None) -> str:
    verdict = ""
    if target is not None:
        verdict = "yes" if s["median"] < target and s["p90"] < target else "**no**"
    return (
        f"| {what} | {how} | {s['median'] * 1000:.0f} | {s['p90'] * 1000:.0f} "
        f"| {s['max'] * 1000:.0f} | {verdict} |"
    )


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return (
        f"{date.today()}, {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average before/after "
        f"{load[0]:.2f}/{{after:.2f}}"
    )


# --------------------------------------------------------------------------- projects

NOTEBOOK: dict[str, Any] = {
    "cells": [
        {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": ["# Stage\n"]},
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "c2",
            "metadata": {"tags": ["parameters"]},
            "outputs": [],
            "source": ["alpha = 0.5\n", "n_rows = 1000"],
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "c3",
            "metadata": {},
            "outputs": [],
            "source": ["print(alpha * n_rows)"],
        },
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "p3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def write_v2(root: Path, count: int, rng: random.Random) -> None:
    (root / "stages").mkdir(parents=True)
    (root / "requirements.txt").write_text("pandas>=2\nscikit-learn>=1.3\n")
    stages: dict[str, Any] = {}
    for i in range(count):
        name = f"stage-{i:03d}"
        path = f"stages/{name}.ipynb"
        (root / path).write_text(json.dumps(NOTEBOOK, indent=1) + "\n")
        stage: dict[str, Any] = {"path": path}
        if i % 25 == 24:
            stage["kind"] = "service"
        if i:
            deps = rng.sample(range(max(0, i - 20), i), k=min(i, rng.randint(1, 3)))
            stage["depends_on"] = [f"stage-{d:03d}" for d in sorted(deps)]
        stage["parameters"] = {"alpha": rng.random(), "n_rows": rng.randint(100, 10_000)}
        stage["env"] = {"LOG_FORMAT": "json", "BATCH": rng.randint(1, 64)}
        stage["requirements"] = "requirements.txt" if i % 2 else ["pandas>=2", "pyarrow"]
        stage["resources"] = {"cpu_request": 0.5, "memory_request_mb": 512}
        if stage.get("kind") == "service":
            stage["timeout"] = "2m"
            stage["service"] = {"port": 5000, "replicas": 2, "ingress": i % 2 == 0}
        else:
            stage["timeout"] = "10m"
            stage["retries"] = {"count": 3, "backoff": "30s"} if i % 3 == 0 else rng.randint(0, 2)
        stages[name] = stage
    data = {
        "version": "2.0",
        "pipeline": {"name": "bench", "schedule": "0 3 * * *", "log_level": "INFO"},
        "stages": stages,
    }
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    (root / "bodywork.yaml").write_text(text.replace("version: '2.0'", 'version: "2.0"'))


def write_v1(root: Path, count: int) -> None:
    stages: dict[str, Any] = {}
    steps: list[list[str]] = []
    for i in range(count):
        name = f"stage_{i:03d}"
        path = f"{name}/{name}.py"
        (root / name).mkdir(parents=True)
        (root / path).write_text("import sys\n\nprint('stage', sys.argv[1:])\n")
        stage: dict[str, Any] = {
            "executable_module_path": path,
            "requirements": ["pandas>=2", "scikit-learn>=1.3"],
            "cpu_request": 0.5,
            "memory_request_mb": 200,
            "secrets": {"DB_PASSWORD": "db-credentials"},
        }
        if i % 25 == 24:
            stage["args"] = ["5000"]
            stage["service"] = {
                "max_startup_time_seconds": 60,
                "replicas": 2,
                "port": 5000,
                "ingress": False,
            }
        else:
            stage["batch"] = {"max_completion_time_seconds": 600, "retries": 2}
        stages[name] = stage
        if i % 3 == 0:  # steps of one to three stages run in parallel
            steps.append([])
        steps[-1].append(name)
    data = {
        "version": "1.1",
        "pipeline": {
            "name": "bench-classic",
            "docker_image": "bodyworkml/bodywork-core:3.0",
            "DAG": " >> ".join(",".join(step) for step in steps),
            "usage_stats": False,
        },
        "stages": stages,
        "logging": {"log_level": "INFO"},
    }
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=10_000)
    (root / "bodywork.yaml").write_text(text.replace("version: '1.1'", 'version: "1.1"'))


def write_faults(good: Path, bad: Path) -> list[str]:
    """Copies of the 2.0 project with one mistake each; returns their names."""
    text = (good / "bodywork.yaml").read_text()
    faults = {
        "misspelt field (`dependson`)": text.replace("    depends_on:", "    dependson:", 1),
        "wrong type (`port: '5000'`)": text.replace("port: 5000", "port: '5000'", 1),
        "notebook file missing": text.replace("stages/stage-007.ipynb", "stages/stage-7.ipynb"),
        "unknown stage in depends_on": text.replace("  - stage-000", "  - stage-0000", 1),
        "dependency cycle": text.replace(
            "    path: stages/stage-000.ipynb\n",
            "    path: stages/stage-000.ipynb\n    depends_on:\n    - stage-001\n",
        ),
        "bad duration (`timeout: 10 min`)": text.replace("timeout: 10m", "timeout: 10 min", 1),
    }
    for i, (fault, fault_text) in enumerate(faults.items()):
        assert fault_text != text, fault
        folder = bad / f"fault{i}"
        shutil.copytree(good, folder, symlinks=True)
        (folder / "bodywork.yaml").write_text(fault_text)
    return list(faults)


JSONSCHEMA_SCRIPT = """
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
data = yaml.safe_load(open(sys.argv[2]))
errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
for e in errors:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errors else 0)
"""


def jsonschema_in_process(schema_file: Path, config: Path) -> int:
    import jsonschema  # type: ignore[import-untyped]

    schema = json.loads(schema_file.read_text())
    data = yaml.load(config.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return len(list(jsonschema.Draft202012Validator(schema).iter_errors(data)))


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command")
    parser.add_argument("--stages", type=int, default=300)
    args = parser.parse_args()
    bodywork = str(BIN / "bodywork")
    check_jsonschema = shutil.which("check-jsonschema", path=str(BIN))
    if importlib.util.find_spec("jsonschema") is None:
        sys.exit("jsonschema is missing: install benchmarks/requirements.txt (see its README)")
    from bodywork_jupyter.pipeline.load import check

    header = machine()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        root = Path(tmp)
        v2, v1 = root / "v2", root / "v1"
        write_v2(v2, args.stages, random.Random(2))
        write_v1(v1, args.stages)
        schema = root / "bodywork.schema.json"
        subprocess.run([bodywork, "schema", "-o", str(schema)], check=True, capture_output=True)
        script = root / "validate_jsonschema.py"
        script.write_text(JSONSCHEMA_SCRIPT)
        config2 = v2 / "bodywork.yaml"
        size2 = config2.stat().st_size // 1024
        size1 = (v1 / "bodywork.yaml").stat().st_size // 1024

        for folder in (v1, v2):
            result = check(folder)
            assert not result.problems, [p.render() for p in result.problems]

        rows = [
            row(
                f"2.0, {args.stages} stages ({size2} KB)",
                "`bodywork validate DIR`",
                time_command([bodywork, "validate", str(v2)], args.runs),
                TARGET_SECONDS,
            ),
            row(
                f"1.1, {args.stages} stages ({size1} KB)",
                "`bodywork validate DIR`",
                time_command([bodywork, "validate", str(v1)], args.runs),
                TARGET_SECONDS,
            ),
            row(
                "2.0",
                "`bodywork validate --json DIR`",
                time_command([bodywork, "validate", "--json", str(v2)], args.runs),
                TARGET_SECONDS,
            ),
        ]
        if check_jsonschema:
            rows.append(
                row(
                    "2.0",
                    "`check-jsonschema --schemafile S FILE`",
                    time_command(
                        [check_jsonschema, "--schemafile", str(schema), str(config2)], args.runs
                    ),
                )
            )
        rows.append(
            row(
                "2.0",
                "`python script.py` (PyYAML + jsonschema)",
                time_command([sys.executable, str(script), str(schema), str(config2)], args.runs),
            )
        )
        rows += [
            row("2.0", "in-process `check(DIR)`", time_call(lambda: check(v2), args.runs)),
            row("1.1", "in-process `check(DIR)`", time_call(lambda: check(v1), args.runs)),
            row(
                "2.0",
                "in-process PyYAML (C) + `jsonschema`",
                time_call(lambda: jsonschema_in_process(schema, config2), args.runs),
            ),
        ]
        bare = time_command([sys.executable, "-c", "pass"], args.runs)

        faults = write_faults(v2, root / "bad")
        caught: list[str] = []
        for i, fault in enumerate(faults):
            config = root / "bad" / f"fault{i}" / "bodywork.yaml"
            ours = subprocess.run(
                [bodywork, "validate", str(config)], capture_output=True, text=True, check=False
            )
            line = next((x for x in ours.stdout.splitlines() if "bodywork.yaml:" in x), "")
            ours_says = line.split("bodywork.yaml", 1)[-1].lstrip(":")[:70] if line else ""
            theirs = jsonschema_in_process(schema, config)
            ours_found = "yes" if ours.returncode == 2 else "no"
            theirs_found = "yes (path, no line)" if theirs else "no"
            caught.append(f"| {fault} | {ours_found}: `{ours_says}` | {theirs_found} |")

    after = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(
        f"Machine: {header.format(after=after)}; {args.runs} timed runs each, "
        f"after one warm-up run.\n"
    )
    print(f"| Config | Command | median ms | p90 ms | max ms | < {TARGET_SECONDS} s |")
    print("|---|---|---:|---:|---:|---|")
    print("\n".join(rows))
    print(
        f"| - | `python -c pass` (interpreter start-up alone) | {bare['median'] * 1000:.0f} "
        f"| {bare['p90'] * 1000:.0f} | {bare['max'] * 1000:.0f} | |"
    )
    if not check_jsonschema:
        print("\n(check-jsonschema is not installed: its row is skipped)")
    print("\nWhat each one catches (one mistake per copy of the 2.0 file):\n")
    print("| Mistake | `bodywork validate` (FILE:LINE: field: message) | JSON Schema |")
    print("|---|---|---|")
    print("\n".join(caught))


if __name__ == "__main__":
    main()
