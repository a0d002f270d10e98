"""Issue 15: micro-batching (``service.batch``) against raw uvicorn, on a model whose
predict costs milliseconds: a 200-tree random forest trained on iris (scikit-learn,
``random_state=0``, the same in every server).

In one run, loaded with the same generator, ``wrk`` (32 connections, POST of one iris row
as JSON, loopback):

- raw uvicorn, 2 workers, a Starlette app: ``model.predict`` of one row per request in
  an ``async def`` endpoint (what a user would write by hand), and, as a control, the same
  in Starlette's thread pool;
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
    FOREST,
    PREDICT_BATCH,
    PREDICT_ONE,
    SYNC_ENDPOINT,
    model_cell,
    notebook,
    print_table,
    raw_uvicorn,
    replicas_rss_mb,
)


def main() -> None:
    args = load_arguments()
    load_before = os.getloadavg()
    tmp, state, env, lua = workspace("bench-batching-")
    rows: list[tuple[str, dict[str, float], float]] = []
    notes: list[str] = []
    model = model_cell(FOREST)
    try:
        for label, endpoint in [
            ("raw uvicorn, 2 workers, `async def` endpoint, one row per request", ASYNC_ENDPOINT),
            ("raw uvicorn, 2 workers, predict in the thread pool (control)", SYNC_ENDPOINT),
        ]:
            with raw_uvicorn(tmp / "raw", FOREST, endpoint) as (raw_url, worker_rss):
                notes.append(f"answer ({label}): `{json.dumps(post(raw_url))}`")
                result = load(raw_url, lua, args)
            rows.append((label, result, worker_rss))

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
            (project / "bodywork.yaml").write_text(
                CONFIG.format(name="forest", port=port, replicas=2, batch=batch)
            )
            commit(project, label)
            seconds = deploy(project, env)
            notes.append(f"`bodywork deploy` ({label}): {seconds:.1f} s")
            url = f"http://127.0.0.1:{port}/predict"
            wait_for(url)
            notes.append(f"answer ({label}): `{json.dumps(post(url))}`")
            result = load(url, lua, args)
            rss = replicas_rss_mb(state, "forest", "serve")
            rows.append((label, result, rss))
    finally:
        subprocess.run(
            [str(BIN / "bodywork"), "delete", "deployment", "forest"], env=env, capture_output=True
        )
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    print(machine_line(args, load_before, load_after, "; a 200-tree random forest"))
    print_table(rows, rows[0][1]["rps"])
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
