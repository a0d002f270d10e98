"""Issue 15: a notebook ``predict`` service against raw uvicorn on a model whose predict is
cheap (a scikit-learn ``DecisionTreeClassifier`` on iris, ``random_state=0``, trained the
same way in every server), so that the HTTP path, not the model, sets the pace.

In one run, loaded with the same generator, ``wrk`` (32 connections, POST of one iris row
as JSON, loopback):

- Flask's development server, ``app.run(threaded=True)``;
- raw uvicorn, 2 workers, a Starlette ``async def`` endpoint (what a user writes by hand);
- the same with the predict in Starlette's thread pool (the control: the runner's way for a
  plain ``def predict``);
- the notebook service (``bodywork deploy``, through its declared port), ``replicas: 1``,
  then redeployed with ``replicas: 2``.

Then ``--rounds`` more loads of raw uvicorn and ``replicas: 2``, one after the other (which
goes first alternates), both servers up throughout: this machine's speed drifts by more
than the gap between the two within minutes, so the comparison the goal asks for is the
median of rounds that alternate.

Also the resident size of one serving process of each. Prints markdown tables. Needs
``wrk`` (Debian: ``apt-get install -y wrk``) and benchmarks/requirements.txt::

    .venv/bin/python benchmarks/bench_predict.py   # --duration 15 --connections 32 --rounds 4
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys

import psutil
from bench_service import (
    BIN,
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
from serving_peers import (
    ASYNC_ENDPOINT,
    CONFIG,
    DECISION_TREE,
    PREDICT_ONE,
    SYNC_ENDPOINT,
    model_cell,
    notebook,
    print_table,
    raw_uvicorn,
    replicas_rss_mb,
)

FLASK_APP = """
import sys

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/predict", methods=["POST"])
def predict():
    row = request.get_json()
    label = int(model.predict(np.array([[row[f] for f in FEATURES]]))[0])
    return jsonify({"species": SPECIES[label], "label": label})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
"""


def main() -> None:
    args = load_arguments(rounds=4)
    load_before = os.getloadavg()
    tmp, state, env, lua = workspace("bench-predict-")
    rows: list[tuple[str, dict[str, float], float]] = []
    notes: list[str] = []
    model = model_cell(DECISION_TREE)
    flask: subprocess.Popen[bytes] | None = None
    rounds: list[tuple[dict[str, float], dict[str, float]]] = []
    servers = contextlib.ExitStack()
    try:
        (tmp / "flask").mkdir()
        (tmp / "flask" / "flask_app.py").write_text(model + FLASK_APP)
        flask_port = free_port()
        flask = subprocess.Popen(
            [sys.executable, "flask_app.py", str(flask_port)],
            cwd=tmp / "flask", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        flask_url = f"http://127.0.0.1:{flask_port}/predict"
        wait_for(flask_url)
        notes.append(f"answer (Flask): `{json.dumps(post(flask_url))}`")
        flask_rss = psutil.Process(flask.pid).memory_info().rss / 1e6
        rows.append(
            ("Flask dev server, `app.run(threaded=True)`", load(flask_url, lua, args), flask_rss)
        )
        flask.terminate()
        flask.wait(10)
        flask = None

        with raw_uvicorn(tmp / "control", DECISION_TREE, SYNC_ENDPOINT) as (url, rss):
            label = "raw uvicorn, 2 workers, predict in the thread pool (control)"
            notes.append(f"answer ({label}): `{json.dumps(post(url))}`")
            control = (label, load(url, lua, args), rss)
        # kept up for the rounds at the end
        raw_url, raw_rss = servers.enter_context(
            raw_uvicorn(tmp / "raw", DECISION_TREE, ASYNC_ENDPOINT)
        )
        label = "raw uvicorn, 2 workers, `async def` endpoint"
        notes.append(f"answer ({label}): `{json.dumps(post(raw_url))}`")
        rows += [(label, load(raw_url, lua, args), raw_rss), control]

        project = tmp / "tree"
        project.mkdir()
        port = free_port()
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        notebook(project / "serve.ipynb", model, PREDICT_ONE)
        for replicas in (1, 2):
            label = f"notebook `predict`, `replicas: {replicas}`"
            (project / "bodywork.yaml").write_text(
                CONFIG.format(name="tree", port=port, replicas=replicas, batch="")
            )
            commit(project, label)
            seconds = deploy(project, env)
            notes.append(f"`bodywork deploy` ({label}): {seconds:.1f} s")
            url = f"http://127.0.0.1:{port}/predict"
            wait_for(url)
            notes.append(f"answer ({label}): `{json.dumps(post(url))}`")
            result = load(url, lua, args)
            rows.append((label, result, replicas_rss_mb(state, "tree", "serve")))
        for number in range(args.rounds):  # which goes first alternates too
            if number % 2:
                ours = load(url, lua, args)
                rounds.append((load(raw_url, lua, args), ours))
            else:
                rounds.append((load(raw_url, lua, args), load(url, lua, args)))
    finally:
        servers.close()
        if flask is not None:
            flask.terminate()
            flask.wait(10)
        subprocess.run(
            [str(BIN / "bodywork"), "delete", "deployment", "tree"], env=env, capture_output=True
        )
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    print(machine_line(args, load_before, load_after, "; a decision tree"))
    print_table(rows, rows[1][1]["rps"])
    print()
    if rounds:
        print_rounds([(rows[1][1], rows[-1][1]), *rounds])
        print()
    for note in notes:
        print(f"- {note}")


def print_rounds(rounds: list[tuple[dict[str, float], dict[str, float]]]) -> None:
    """Raw uvicorn against ``replicas: 2``, round by round (the first: the table's rows),
    and their medians."""
    print("| Round | raw uvicorn: req/s, p99 ms | `replicas: 2`: req/s, p99 ms | vs raw |")
    print("|---|---|---|---:|")
    for number, (raw, ours) in enumerate(rounds, 1):
        print(
            f"| {number} | {raw['rps']:,.0f}, {raw['p99']:.1f} | {ours['rps']:,.0f}, "
            f"{ours['p99']:.1f} | {ours['rps'] / raw['rps']:.2f}x |"
        )

    def median(side: int, key: str) -> float:
        return statistics.median(pair[side][key] for pair in rounds)

    ratio = statistics.median(ours["rps"] / raw["rps"] for raw, ours in rounds)
    print(
        f"| median | {median(0, 'rps'):,.0f}, {median(0, 'p99'):.1f} | "
        f"{median(1, 'rps'):,.0f}, {median(1, 'p99'):.1f} | **{ratio:.2f}x** |"
    )


if __name__ == "__main__":
    main()
