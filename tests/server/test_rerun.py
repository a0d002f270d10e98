"""``POST runs/{run_id}/rerun``: a run again, as it was deployed (its plan and options)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.projects import git_commit, notebook
from tests.server.conftest import Api
from tests.server.helpers import two_stage_project
from tests.server.openapi_check import conforms
from tests.server.test_runs import FINISHED, wait_for


async def test_a_rerun_is_the_same_commit_and_parameters(
    api: Api, jp_root_dir: Path, state_dir: Path
) -> None:
    folder = two_stage_project(jp_root_dir / "demo")
    first_commit = git_commit(folder, "n is given")
    body = {"path": "demo", "params": {"train.n": 41}, "max_parallel": 1}
    first = (await api("POST", "deployments", body=body)).json()
    assert first["source"]["commit"] == first_commit
    await wait_for(api, first["id"], FINISHED)
    # a newer commit: a re-run does not take it (deploying does)
    notebook(folder / "train.ipynb", "print('changed', n)", params="n = 2")
    git_commit(folder, "a change")

    reply = await api("POST", "runs", first["id"], "rerun")
    assert reply.status == 201, reply
    again = reply.json()
    conforms("runs/{run_id}/rerun", "POST", 201, again)
    assert reply.headers["Location"].endswith(f"/bodywork/api/runs/{again['id']}")
    assert again["id"] != first["id"] and again["deployment"] == "demo"
    assert again["source"] == first["source"] and again["options"] == first["options"]
    assert again["started_by"], again  # whoever asks for it again (the server's user)
    run = await wait_for(api, again["id"], FINISHED)
    assert run["status"] == "succeeded", run
    log = (await api("GET", "runs", again["id"], "logs", "train")).json()
    assert "trained with 41" in log["text"], log
    history = (await api("GET", "deployments", "demo")).json()["runs"]
    assert [r["id"] for r in history] == [again["id"], first["id"]]

    # by the deployment's name: its newest run
    by_name = await api("POST", "runs", "demo", "rerun")
    assert by_name.status == 201, by_name
    await wait_for(api, by_name.json()["id"], FINISHED)

    # a record this version cannot read back as a plan: said, not a 500
    with sqlite3.connect(state_dir / "runs.sqlite") as db:
        db.execute("UPDATE runs SET plan = ? WHERE id = ?", ('{"pipeline": "demo"}', first["id"]))
    old = await api("POST", "runs", first["id"], "rerun")
    assert old.status == 400, old
    assert "deploy deployment 'demo' again" in old.json()["error"]


async def test_rerun_of_no_such_run_is_404(api: Api) -> None:
    reply = await api("POST", "runs", "nope", "rerun")
    assert reply.status == 404, reply
    assert "no run 'nope'" in reply.json()["error"]
    assert (await api("GET", "runs")).json() == {"runs": []}
