"""Issue 15: micro-batching (``service.batch``) against raw uvicorn, on a model whose
predict costs milliseconds: a 200-tree random forest trained on iris (scikit-learn,
``random_state=0``, the same in every server).

In one run, loaded with the same generator, ``wrk`` (32 connections, POST of one iris row
as JSON, loopback):

- raw uvicorn, 2 workers, a Starlette app: ``model.predict`` of one row per request
  (what a user would write by hand);
- the notebook service, ``replicas: 2``, unbatched (``bodywork deploy``, through its
  declared port);
- the same with ``service.batch: {max_size: 32, max_wait_ms: 2}`` (a redeploy), its
  ``predict`` given the rows of a batch at once.

Also the resident size of one serving process of each. Prints markdown tables. Needs
``wrk`` (Debian: ``apt-get install -y wrk``) and benchmarks/requirements.txt::

    .venv/bin/python benchmarks/bench_batching.py      # --duration 15 --connections 32
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
from bench_service import (
    BIN,
    ROW,
    commit,
    deploy,
    free_port,
    load,
    load_arguments,
    machine_line,
    post,
    wait_for,
    workspace,
)

FEATURES = list(ROW)
#: the model, the same in every server (trained at start, in well under a second)
MODEL = """
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

_iris = load_iris()
model = RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1)
model.fit(_iris.data, _iris.target)
FEATURES = __FEATURES__
SPECIES = ["setosa", "versicolor", "virginica"]
"""

RAW_APP = (
    MODEL
    + """
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def predict(request: Request) -> JSONResponse:
    row = await request.json()
    label = int(model.predict(np.array([[row[f] for f in FEATURES]]))[0])
    return JSONResponse({"species": SPECIES[label], "label": label})


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
"""
)

#: the notebook's predict cell: one row, or (batched) the rows of a batch at once
PREDICT_ONE = """
def predict(row):
    label = int(model.predict(np.array([[row[f] for f in FEATURES]]))[0])
    return {"species": SPECIES[label], "label": label}
"""
PREDICT_BATCH = """
def predict(rows):
    labels = model.predict(np.array([[row[f] for f in FEATURES] for row in rows]))
    return [{"species": SPECIES[int(label)], "label": int(label)} for label in labels]
"""

CONFIG = """\
version: "2.0"
pipeline: {{name: forest}}
stages:
  serve:
    path: serve.ipynb
    requirements: [scikit-learn, numpy]
    service:
      port: {port}
      replicas: 2
{batch}"""


def notebook(path: Path, *cells: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell.strip()) for cell in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }  # fmt: skip
    nbformat.write(nb, path)


def serving_rss_mb(port: int) -> float:
    """The resident size of a process serving on ``port`` (the largest, if several)."""
    sizes = []
    for proc in psutil.process_iter(["pid"]):
        try:
            listening = [
                c for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN
            ]
            if any(c.laddr.port == port for c in listening):
                sizes.append(proc.memory_info().rss)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return max(sizes) / 1e6 if sizes else float("nan")


def replica_ports(state: Path, deployment: str, stage: str) -> list[int]:
    from bodywork_jupyter.engine.store import RunStore

    store = RunStore(state)
    try:
        run = store.runs(deployment, limit=1)[0]
    finally:
        store.close()
    attempt = sorted((state / "runs" / run.id / stage).glob("attempt-*"))[-1]
    return [
        json.loads(p.read_text())["service"]["port"] for p in sorted(attempt.glob("spec*.json"))
    ]


def main() -> None:
    args = load_arguments()
    load_before = os.getloadavg()
    tmp, state, env, lua = workspace("bench-batching-")
    rows: list[tuple[str, dict[str, float], float]] = []
    notes: list[str] = []
    raw: subprocess.Popen[bytes] | None = None
    model = MODEL.replace("__FEATURES__", repr(FEATURES))
    try:
        # raw uvicorn, 2 workers
        (tmp / "raw").mkdir()
        app = RAW_APP.replace("__FEATURES__", repr(FEATURES))
        (tmp / "raw" / "forest_app.py").write_text(app)
        raw_port = free_port()
        raw = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "forest_app:app", "--workers", "2",
             "--host", "127.0.0.1", "--port", str(raw_port), "--log-level", "warning",
             "--no-access-log"],
            cwd=tmp / "raw", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        raw_url = f"http://127.0.0.1:{raw_port}/predict"
        wait_for(raw_url)
        notes.append(f"raw uvicorn answer: `{json.dumps(post(raw_url))}`")
        result = load(raw_url, lua, args)
        worker_rss = max(
            (c.memory_info().rss for c in psutil.Process(raw.pid).children()), default=0
        )
        rows.append(("raw uvicorn, 2 workers, one row per request", result, worker_rss / 1e6))
        raw.terminate()
        raw.wait(10)
        raw = None

        # the notebook service, replicas: 2, unbatched then batched
        project = tmp / "forest"
        project.mkdir()
        port = free_port()
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        for label, predict, batch in [
            ("notebook `predict`, `replicas: 2`, unbatched", PREDICT_ONE, ""),
            (
                "notebook `predict`, `replicas: 2`, `batch: {max_size: 32, max_wait_ms: 2}`",
                PREDICT_BATCH,
                "      batch: {max_size: 32, max_wait_ms: 2}\n",
            ),
        ]:
            notebook(project / "serve.ipynb", model, predict)
            (project / "bodywork.yaml").write_text(CONFIG.format(port=port, batch=batch))
            commit(project, label)
            seconds = deploy(project, env)
            notes.append(f"`bodywork deploy` ({label}): {seconds:.1f} s")
            url = f"http://127.0.0.1:{port}/predict"
            wait_for(url)
            notes.append(f"answer ({label}): `{json.dumps(post(url))}`")
            result = load(url, lua, args)
            rss = max(serving_rss_mb(p) for p in replica_ports(state, "forest", "serve"))
            rows.append((label, result, rss))
    finally:
        if raw is not None:
            raw.terminate()
            raw.wait(10)
        subprocess.run(
            [str(BIN / "bodywork"), "delete", "deployment", "forest"], env=env, capture_output=True
        )
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    print(machine_line(args, load_before, load_after, "; a 200-tree random forest"))
    raw_rps = rows[0][1]["rps"]
    print("| Service | requests/s | p50 ms | p99 ms | errors | vs raw uvicorn | RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, r, rss in rows:
        print(
            f"| {label} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['errors']:.0f} | {r['rps'] / raw_rps:.2f}x | {rss:.1f} |"
        )
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
