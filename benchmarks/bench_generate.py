"""Benchmark `bodywork generate` on 1,000 tagged notebooks, against a hand-written nbformat scan.

Run from the repository root, after `scripts/setup` and
`.venv/bin/uv pip install --compile-bytecode --python .venv/bin/python \
-r benchmarks/requirements.txt`:

    .venv/bin/python benchmarks/bench_generate.py [--runs 5] [--tagged 1000] [--untagged 200]

It writes the project into a temporary folder, times each command as a subprocess (what a
user waits for, interpreter start-up included) and the in-process scan, and prints markdown
tables for docs/benchmarks.md. Target (issue 2): `bodywork generate` under 3 s.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

TARGET_SECONDS = 3.0
BIN = Path(sys.executable).parent
FOLDERS = ("ingest", "features", "models", "reports", "serving")


# --------------------------------------------------------------------------- timing


def stats(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p90": p90, "max": ordered[-1]}


def time_command(
    cmd: Sequence[str], runs: int, expect: int = 0, before: Callable[[], object] | None = None
) -> dict[str, float]:
    """Wall time of ``cmd`` over ``runs`` runs (after one untimed warm-up run)."""
    samples: list[float] = []
    for i in range(runs + 1):
        if before:
            before()
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != expect:
            sys.exit(
                f"{' '.join(cmd)} exited {done.returncode} (expected {expect}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        if i:
            samples.append(elapsed)
    return stats(samples)


def time_call(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm-up: imports and the OS file cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return stats(samples)


def row(how: str, s: dict[str, float], target: float | None = None) -> str:
    verdict = ""
    if target is not None:
        verdict = "yes" if s["median"] < target and s["p90"] < target else "**no**"
    return f"| {how} | {s['median']:.2f} | {s['p90']:.2f} | {s['max']:.2f} | {verdict} |"


# --------------------------------------------------------------------------- project


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + [parts[-1]]


def notebook(rng: random.Random, tag: dict[str, Any] | None) -> str:
    """A notebook as Jupyter saves it: markdown, a parameters cell, code with outputs."""
    rows = "\n".join(
        f"{i:>4}  {rng.random():.6f}  {rng.random():.6f}  {rng.choice('abcde')}"
        for i in range(rng.randint(40, 250))
    )
    cells: list[dict[str, Any]] = [
        {
            "cell_type": "markdown",
            "id": "intro",
            "metadata": {},
            "source": _lines("# A pipeline stage\n\nLoads the data, transforms it, saves it."),
        },
        {
            "cell_type": "code",
            "execution_count": 1,
            "id": "params",
            "metadata": {"tags": ["parameters"]},
            "outputs": [],
            "source": _lines('alpha = 0.5\nn_rows = 1000\nsource = "s3://bucket/data.csv"'),
        },
        {
            "cell_type": "code",
            "execution_count": 2,
            "id": "load",
            "metadata": {},
            "outputs": [
                {
                    "name": "stdout",
                    "output_type": "stream",
                    "text": _lines(f"   i         x         y  k\n{rows}\n"),
                }
            ],
            "source": _lines(
                "import pandas as pd\n\n"
                "df = pd.read_csv(source, nrows=n_rows)\n"
                "df['z'] = df.x * alpha + df.y\nprint(df.head(n_rows))"
            ),
        },
    ]
    if rng.random() < 0.5:  # a small plot
        png = base64.b64encode(rng.randbytes(rng.randint(3_000, 9_000))).decode()
        cells.append(
            {
                "cell_type": "code",
                "execution_count": 3,
                "id": "plot",
                "metadata": {},
                "outputs": [
                    {
                        "data": {"image/png": png, "text/plain": ["<Figure size 640x480>"]},
                        "metadata": {},
                        "output_type": "display_data",
                    }
                ],
                "source": _lines("df.plot.scatter('x', 'y')"),
            }
        )
    metadata: dict[str, Any] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.11.7"},
    }
    if tag is not None:
        metadata["bodywork"] = tag
    nb = {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_project(root: Path, tagged: int, untagged: int, rng: random.Random) -> int:
    """Writes the notebooks; returns their total size in bytes."""
    total = 0
    for folder in FOLDERS:
        (root / folder / "scratch").mkdir(parents=True)
    (root / "requirements.txt").write_text("pandas>=2\n")
    for i in range(tagged):
        tag: dict[str, Any] = {"stage": f"stage-{i:04d}"}
        if i % 40 == 39:
            tag["kind"] = "service"
        if i:
            deps = rng.sample(range(max(0, i - 30), i), k=min(i, rng.randint(1, 3)))
            tag["depends_on"] = [f"stage-{d:04d}" for d in sorted(deps)]
        tag["parameters"] = {"alpha": round(rng.random(), 3), "n_rows": rng.randint(10, 10_000)}
        if i % 2:
            tag["requirements"] = "requirements.txt"
        if i % 5 == 0:
            tag["resources"] = {"cpu_request": 0.5, "memory_request_mb": 512}
        if tag.get("kind") == "service":
            tag["service"] = {"port": 5000, "replicas": 2}
        elif i % 3 == 0:
            tag["retries"] = 2
            tag["timeout"] = "10m"
        path = root / FOLDERS[i % len(FOLDERS)] / f"stage_{i:04d}.ipynb"
        text = notebook(rng, tag)
        path.write_text(text, encoding="utf-8")
        total += len(text)
    for i in range(untagged):
        path = root / FOLDERS[i % len(FOLDERS)] / "scratch" / f"explore_{i:04d}.ipynb"
        text = notebook(rng, None)
        path.write_text(text, encoding="utf-8")
        total += len(text)
    return total


NAIVE_SCRIPT = """
import sys
from pathlib import Path
import nbformat
stages = {}
for path in sorted(Path(sys.argv[1]).rglob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    tag = nb.metadata.get("bodywork")
    if tag:
        stages[tag["stage"]] = {"path": str(path), **tag}
print(len(stages))
"""


def naive_scan(root: Path) -> int:
    """What a hand-written script does: read every notebook with nbformat, keep the tags."""
    import nbformat

    stages: dict[str, Any] = {}
    for path in sorted(root.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        tag = nb.metadata.get("bodywork")
        if tag:
            stages[tag["stage"]] = {"path": str(path), **tag}
    return len(stages)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command")
    parser.add_argument("--tagged", type=int, default=1000)
    parser.add_argument("--untagged", type=int, default=200)
    args = parser.parse_args()
    bodywork = str(BIN / "bodywork")
    if importlib.util.find_spec("nbformat") is None:
        sys.exit("nbformat is missing: install benchmarks/requirements.txt (see its README)")
    from bodywork_jupyter.pipeline.generate import generate
    from bodywork_jupyter.pipeline.stagefiles import scan

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        root = Path(tmp) / "project"
        size = write_project(root, args.tagged, args.untagged, random.Random(7))
        count = args.tagged + args.untagged
        config = root / "bodywork.yaml"
        script = Path(tmp) / "collect_tags.py"
        script.write_text(NAIVE_SCRIPT)

        def remove_config() -> None:
            config.unlink(missing_ok=True)

        rows = [
            row(
                "`bodywork generate DIR` (writes a new bodywork.yaml)",
                time_command([bodywork, "generate", str(root)], args.runs, before=remove_config),
                TARGET_SECONDS,
            ),
            row(
                "`bodywork generate DIR` (again, nothing changed)",
                time_command([bodywork, "generate", str(root)], args.runs),
                TARGET_SECONDS,
            ),
            row(
                "`bodywork generate --check DIR` (up to date)",
                time_command([bodywork, "generate", "--check", str(root)], args.runs),
                TARGET_SECONDS,
            ),
            row(
                "`python collect_tags.py DIR` (nbformat.read of every notebook)",
                time_command([sys.executable, str(script), str(root)], args.runs),
            ),
            row(
                "in-process `scan(DIR)` (find and check the tags)",
                time_call(lambda: scan(root), args.runs),
            ),
            row(
                "in-process `generate(DIR)` (scan + merge + YAML dump)",
                time_call(lambda: generate(root), args.runs),
            ),
            row("in-process nbformat.read loop", time_call(lambda: naive_scan(root), args.runs)),
        ]
        stages = config.read_text().count("\n    path: ")
        assert stages == args.tagged, stages
        assert naive_scan(root) == args.tagged
        config_kb = config.stat().st_size // 1024

    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(
        f"Machine: {date.today()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"before/after {load_before:.2f}/{load_after:.2f}; {args.runs} timed runs each, "
        "after one warm-up run (so the notebooks are in the OS file cache).\n"
    )
    print(
        f"Project: {count} notebooks ({args.tagged} tagged, {args.untagged} untagged) in "
        f"{len(FOLDERS) * 2} folders, {size / count / 1024:.1f} KB each on average "
        f"({size / 2**20:.1f} MB); the generated bodywork.yaml is {config_kb} KB.\n"
    )
    print(f"| Command | median s | p90 s | max s | < {TARGET_SECONDS:.0f} s |")
    print("|---|---:|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
