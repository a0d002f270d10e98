"""What the issue 15 service benchmarks share: one model trained the same way in every
server, the raw uvicorn app a user would write by hand, the notebook that serves it, and
the resident size of a serving process.

The model is trained at start (well under a second on iris, ``random_state=0``), so every
server holds the same one and no model file has to travel.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
from bench_service import ROW, free_port, wait_for

FEATURES = list(ROW)

#: the model's cell: ``ESTIMATOR`` is a scikit-learn classifier's constructor call
MODEL = """
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

_iris = load_iris()
model = __ESTIMATOR__
model.fit(_iris.data, _iris.target)
FEATURES = __FEATURES__
SPECIES = ["setosa", "versicolor", "virginica"]
"""

DECISION_TREE = "DecisionTreeClassifier(random_state=0)"
FOREST = "RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1)"

_ROUTES = """
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
"""

#: raw uvicorn as a user writes it: an ``async def`` endpoint predicting on the loop
ASYNC_ENDPOINT = """
async def predict(request: Request) -> JSONResponse:
    row = await request.json()
    label = int(model.predict(np.array([[row[f] for f in FEATURES]]))[0])
    return JSONResponse({"species": SPECIES[label], "label": label})


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
"""

#: the control: the same in a plain ``def``, which Starlette runs in its thread pool
SYNC_ENDPOINT = """
import json


def predict_row(body: bytes) -> JSONResponse:
    row = json.loads(body)
    label = int(model.predict(np.array([[row[f] for f in FEATURES]]))[0])
    return JSONResponse({"species": SPECIES[label], "label": label})


async def predict(request: Request) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(predict_row, await request.body())


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
"""

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
pipeline: {{name: {name}}}
stages:
  serve:
    path: serve.ipynb
    requirements: [scikit-learn, numpy]
    service:
      port: {port}
      replicas: {replicas}
{batch}"""


def model_cell(estimator: str) -> str:
    return MODEL.replace("__ESTIMATOR__", estimator).replace("__FEATURES__", repr(FEATURES))


def notebook(path: Path, *cells: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell.strip()) for cell in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }  # fmt: skip
    nbformat.write(nb, path)


@contextlib.contextmanager
def raw_uvicorn(folder: Path, estimator: str, endpoint: str) -> Iterator[tuple[str, float]]:
    """uvicorn with 2 workers serving ``estimator`` through ``endpoint``: its predict URL,
    and the resident size (MB) of its larger worker once it has answered."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "raw_app.py").write_text(model_cell(estimator) + _ROUTES + endpoint)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "raw_app:app", "--workers", "2",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/predict"
        wait_for(url)
        workers = psutil.Process(server.pid).children()
        rss = max((w.memory_info().rss for w in workers), default=0) / 1e6
        yield url, rss
    finally:
        server.terminate()
        server.wait(10)


def serving_rss_mb(port: int) -> float:
    """The resident size of a process serving on ``port`` (the largest, if several)."""
    sizes = []
    for proc in psutil.process_iter(["pid"]):
        try:
            listening = [c for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
            if any(c.laddr.port == port for c in listening):
                sizes.append(proc.memory_info().rss)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return max(sizes) / 1e6 if sizes else float("nan")


def replica_ports(state: Path, deployment: str, stage: str) -> list[int]:
    """The replicas' own ports of the deployment's last run (from their runner specs)."""
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


def replicas_rss_mb(state: Path, deployment: str, stage: str) -> float:
    """The resident size of the deployment's largest replica."""
    return max(serving_rss_mb(p) for p in replica_ports(state, deployment, stage))


def print_table(rows: list[tuple[str, dict[str, float], float]], raw_rps: float) -> None:
    """The markdown table of a run: each server's load figures, against raw uvicorn's."""
    print("| Service | requests/s | p50 ms | p99 ms | errors | vs raw uvicorn | RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, r, rss in rows:
        print(
            f"| {label} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['errors']:.0f} | {r['rps'] / raw_rps:.2f}x | {rss:.1f} |"
        )
