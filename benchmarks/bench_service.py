"""Issue 3: the iris ``predict`` notebook service versus the same model in a Flask app.

Deploys a copy of ``examples/iris`` with ``bodywork deploy`` (a temporary state folder, a
free port), then loads both services with the same generator, ``wrk`` (32 connections,
POST JSON on loopback):

- the notebook service through its declared port (shared by its replicas), 1 replica;
- the same replica's own loopback port;
- the same pipeline with ``replicas: 2`` (a redeploy), through the declared port;
- a Flask development-server app, ``app.run(threaded=True)`` (Bodywork's usual service
  module), serving the same ``model.joblib`` with the same ``predict`` code.

Prints markdown tables. Needs ``wrk`` (Debian: ``apt-get install -y wrk``) and the
benchmark requirements (scikit-learn, pandas, joblib for the Flask app)::

    .venv/bin/python benchmarks/bench_service.py        # --duration 15 --connections 32
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROW = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}

WRK_LUA = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""

FLASK_APP = """
import sys
from pathlib import Path

import joblib
import pandas as pd
from flask import Flask, jsonify, request

model = joblib.load(Path(sys.argv[1]))
species = ["setosa", "versicolor", "virginica"]
app = Flask(__name__)


@app.route("/predict", methods=["POST"])
def predict():
    row = pd.DataFrame([request.get_json()], columns=model.feature_names_in_)
    label = int(model.predict(row)[0])
    return jsonify({"species": species[label], "label": label})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
"""


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str) -> dict[str, object]:
    request = urllib.request.Request(
        url, json.dumps(ROW).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            post(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def load(url: str, lua: Path, args: argparse.Namespace) -> dict[str, float]:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-s",
        str(lua),
        url,
    ]
    subprocess.run([*command[:3], "-d3s", *command[4:]], capture_output=True, check=True)  # warm
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": to_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99": to_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": 0.0,
    }
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if non2xx:
        result["errors"] += float(non2xx.group(1))
    if socket_errors:
        result["errors"] += sum(float(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return result


def deploy(project: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "bodywork"), "deploy", str(project)], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"bodywork deploy failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def commit(project: Path, message: str) -> None:
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-C"]
    subprocess.run([*git, str(project), "add", "-A"], check=True)
    subprocess.run([*git, str(project), "commit", "-qm", message], check=True)


def replica_ports(state: Path) -> list[int]:
    from bodywork_jupyter.engine.store import RunStore

    store = RunStore(state)
    try:
        run = store.runs("iris", limit=1)[0]
    finally:
        store.close()
    attempt = sorted((state / "runs" / run.id / "predict").glob("attempt-*"))[-1]
    return [
        json.loads(p.read_text())["service"]["port"] for p in sorted(attempt.glob("spec*.json"))
    ]


def requirement_events(state: Path) -> str:
    from bodywork_jupyter.engine.store import RunStore

    store = RunStore(state)
    try:
        run = store.runs("iris", limit=1)[0]
        events = [e for e in store.events(run.id) if e.type == "runner.requirements.ready"]
    finally:
        store.close()
    return ", ".join(
        f"{e.stage} {e.data['seconds']:.2f} s{' (cached)' if e.data.get('cached') else ''}"
        for e in events
    )


def load_arguments(rounds: int | None = None) -> argparse.Namespace:
    """The load's options (wrk's), once wrk is known to be there; ``--rounds`` (of
    alternating loads) when ``rounds`` gives its default."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15, help="seconds per load test")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    if rounds is not None:
        parser.add_argument(
            "--rounds", type=int, default=rounds, help="more alternating loads of two rows"
        )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    return args


def workspace(prefix: str) -> tuple[Path, Path, dict[str, str], Path]:
    """A temporary folder, its state folder, the environment that deploys into it, and
    wrk's script posting ``ROW``."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    state = tmp / "state"
    env = {**os.environ, "BODYWORK_STATE_DIR": str(state)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    lua = tmp / "post.lua"
    lua.write_text(WRK_LUA.format(body=json.dumps(ROW)))
    return tmp, state, env, lua


def machine_line(
    args: argparse.Namespace,
    load_before: tuple[float, ...],
    load_after: tuple[float, ...],
    more: str,
) -> str:
    """The paragraph before a table: the machine, its load, and the load test."""
    return (
        f"Machine: {time.strftime('%Y-%m-%d %H:%M')}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average (1 min) "
        f"before/after {load_before[0]:.2f}/{load_after[0]:.2f}. Load: `wrk -t{args.threads} "
        f"-c{args.connections} -d{args.duration}s --latency -s post.lua URL` (after a 3 s "
        f"warm-up), POST of one iris row as JSON, loopback{more}.\n"
    )


def main() -> None:
    args = load_arguments()
    load_before = os.getloadavg()
    tmp, state, env, lua = workspace("bench-service-")
    rows: list[tuple[str, dict[str, float]]] = []
    notes: list[str] = []
    flask: subprocess.Popen[bytes] | None = None
    try:
        project = tmp / "iris"
        shutil.copytree(
            ROOT / "examples" / "iris", project, ignore=shutil.ignore_patterns("data", ".ipynb*")
        )
        port = free_port()
        config = project / "bodywork.yaml"
        config.write_text(config.read_text().replace("port: 5000", f"port: {port}"))
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        commit(project, "iris")
        seconds = deploy(project, env)
        notes.append(f"first `bodywork deploy` of the iris copy: {seconds:.1f} s")
        notes.append(f"its `runner.requirements.ready` events: {requirement_events(state)}")
        url = f"http://127.0.0.1:{port}/predict"
        notes.append(f"notebook service answer: `{json.dumps(post(url))}`")
        rows.append(("notebook `predict`, the declared port (1 replica)", load(url, lua, args)))
        direct = replica_ports(state)[0]
        rows.append(
            (
                "notebook `predict`, the replica's own port",
                load(f"http://127.0.0.1:{direct}/predict", lua, args),
            )
        )

        # Flask, the same model file and predict code
        model = state / "deployments" / "iris" / "data" / "model.joblib"
        app = tmp / "flask_app.py"
        app.write_text(FLASK_APP)
        flask_port = free_port()
        flask = subprocess.Popen(
            [sys.executable, str(app), str(model), str(flask_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        flask_url = f"http://127.0.0.1:{flask_port}/predict"
        wait_for(flask_url)
        notes.append(f"Flask answer: `{json.dumps(post(flask_url))}`")
        rows.append(("Flask dev server, `app.run(threaded=True)`", load(flask_url, lua, args)))
        flask.terminate()
        flask.wait(10)
        flask = None

        # two replicas sharing the declared port
        config.write_text(
            config.read_text().replace(f"port: {port}", f"port: {port}\n      replicas: 2")
        )
        commit(project, "two replicas")
        seconds = deploy(project, env)
        notes.append(f"redeploy with `replicas: 2`: {seconds:.1f} s")
        notes.append(f"its `runner.requirements.ready` events: {requirement_events(state)}")
        rows.append(("notebook `predict`, the declared port, `replicas: 2`", load(url, lua, args)))
    finally:
        if flask is not None:
            flask.terminate()
            flask.wait(10)
        subprocess.run(
            [str(BIN / "bodywork"), "delete", "deployment", "iris"], env=env, capture_output=True
        )
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    print(machine_line(args, load_before, load_after, ""))
    flask_rps = next(r for label, r in rows if label.startswith("Flask"))["rps"]
    print("| Service | requests/s | p50 ms | p99 ms | errors | vs Flask |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in rows:
        print(
            f"| {label} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['errors']:.0f} of {r['requests']:.0f} | {r['rps'] / flask_rps:.2f}x |"
        )
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
