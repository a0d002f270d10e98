"""Deployments and runs on the local backend: real supervisors, runners and kernels."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from tests.server.conftest import Api
from tests.server.helpers import notebook, two_stage_project, write_yaml
from tests.server.openapi_check import conforms

FINISHED = {"succeeded", "failed", "cancelled", "lost", "stopped"}


async def wait_for(
    api: Api, run_id: str, statuses: set[str], timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = await api("GET", "runs", run_id)
        assert reply.status == 200, reply
        run: dict[str, Any] = reply.json()
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run still {run['status']}: {run}"
        await asyncio.sleep(0.3)


async def test_deploy_follow_and_delete(api: Api, raw: Any, jp_root_dir: Path) -> None:
    two_stage_project(jp_root_dir / "demo")
    assert (await api("GET", "runs")).json() == {"runs": []}
    reply = await api("POST", "deployments", body={"path": "demo", "params": {"train.n": 41}})
    assert [r["id"] for r in (await api("GET", "runs")).json()["runs"]] == [reply.json()["id"]]
    assert reply.status == 201, reply
    created = reply.json()
    conforms("deployments", "POST", 201, created)
    assert created["deployment"] == "demo" and created["status"] == "queued"
    assert reply.headers["Location"].endswith(f"/bodywork/api/runs/{created['id']}")
    assert [s["name"] for s in created["stages"]] == ["prepare", "train"]
    run = await wait_for(api, created["id"], FINISHED)
    assert run["status"] == "succeeded", run
    conforms("runs/{run_id}", "GET", 200, run)
    train = run["stages"][1]
    assert train["status"] == "succeeded" and train["attempt"] == 1 and train["duration"] > 0
    assert train["log"].endswith(f"/runs/{run['id']}/logs/train") and train["notebook"]

    # logs, resumable from a byte offset
    log = (await api("GET", "runs", run["id"], "logs", "train")).json()
    conforms("runs/{run_id}/logs/{stage}", "GET", 200, log)
    assert "trained with 41" in log["text"] and "::bodywork-event::" not in log["text"]
    assert log["offset"] == 0 and log["next_offset"] > 0 and log["finished"] is True
    rest = (
        await api(
            "GET", "runs", run["id"], "logs", "train", params={"offset": str(log["next_offset"])}
        )
    ).json()
    assert rest["text"] == "" and rest["next_offset"] == log["next_offset"]
    middle = (await api("GET", "runs", run["id"], "logs", "train", params={"offset": "5"})).json()
    # 5 is inside the first line: the answer starts at the next line's start, whole lines only
    assert middle["offset"] > 5 and middle["next_offset"] == log["next_offset"]
    assert log["text"].endswith(middle["text"]), middle

    # events: JSON after a seq, and the server-sent stream (resumable with Last-Event-ID)
    events = (await api("GET", "runs", run["id"], "events")).json()
    conforms("runs/{run_id}/events", "GET", 200, events)
    types = [e["type"] for e in events["events"]]
    assert types[0] == "run.queued" and types[-1] == "run.succeeded" and events["finished"] is True
    seqs = [e["seq"] for e in events["events"]]
    assert seqs == sorted(seqs) and events["next_after"] == seqs[-1]
    later = (await api("GET", "runs", run["id"], "events", params={"after": str(seqs[2])})).json()
    assert [e["seq"] for e in later["events"]] == seqs[3:]
    stream = await raw(f"runs/{run['id']}/events", headers={"Accept": "text/event-stream"})
    assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
    text = stream.body.decode()
    assert f"id: {seqs[0]}\nevent: run.queued\n" in text and text.endswith(
        'event: end\ndata: {"status": "succeeded"}\n\n'
    )
    resumed = await raw(
        f"runs/{run['id']}/events",
        headers={"Accept": "text/event-stream", "Last-Event-ID": str(seqs[-2])},
    )
    assert resumed.body.decode().count("id: ") == 1

    # the executed notebook
    executed = await raw(f"runs/{run['id']}/notebooks/train")
    assert executed.status == 200 and executed.headers["Content-Type"] == "application/x-ipynb+json"
    outputs = json.dumps(json.loads(executed.body)["cells"])
    assert "trained with 41" in outputs

    # lists
    runs = (await api("GET", "runs", params={"deployment": "demo"})).json()["runs"]
    assert [r["id"] for r in runs] == [run["id"]]
    assert (await api("GET", "runs", params={"deployment": "other"})).json() == {"runs": []}
    deployments = (await api("GET", "deployments")).json()["deployments"]
    assert [(d["name"], d["run"]["id"]) for d in deployments] == [("demo", run["id"])]
    conforms("deployments", "GET", 200, {"deployments": deployments})
    conforms("runs", "GET", 200, {"runs": runs})
    one = (await api("GET", "deployments", "demo")).json()
    conforms("deployments/{name}", "GET", 200, one)
    assert one["runs"][0]["id"] == run["id"] and one["source"]["local_path"]
    by_prefix = await api("GET", "runs", run["id"][:17])
    assert by_prefix.json()["id"] == run["id"]

    # a finished run cannot be cancelled; deleting twice is a 404
    assert (await api("POST", "runs", run["id"], "cancel")).status == 400
    deleted = await api("DELETE", "deployments", "demo")
    assert deleted.status == 200 and deleted.json()["status"] == "deleted"
    conforms("deployments/{name}", "DELETE", 200, deleted.json())
    assert (await api("DELETE", "deployments", "demo")).status == 404


async def test_cancel_a_running_run(api: Api, raw: Any, jp_root_dir: Path) -> None:
    notebook(jp_root_dir / "slow" / "wait.ipynb", "import time\ntime.sleep(60)")
    write_yaml(
        jp_root_dir / "slow",
        'version: "2.0"\npipeline: {name: slow}\nstages: {wait: {path: wait.ipynb}}\n',
    )
    created = (await api("POST", "deployments", body={"path": "slow"})).json()
    await wait_for(api, created["id"], {"running"})
    live = await raw(
        f"runs/{created['id']}/events?timeout=1", headers={"Accept": "text/event-stream"}
    )
    assert "event: run.started" in live.body.decode() and "event: end" not in live.body.decode()
    cancel = await api("POST", "runs", created["id"], "cancel")
    assert cancel.status == 202, cancel
    assert cancel.json()["cancel_requested"] is True
    conforms("runs/{run_id}/cancel", "POST", 202, cancel.json())
    run = await wait_for(api, created["id"], FINISHED, timeout=60)
    assert run["status"] == "cancelled", run


async def test_deploy_bad_input(api: Api, jp_root_dir: Path) -> None:
    two_stage_project(jp_root_dir / "demo")
    write_yaml(
        jp_root_dir / "broken",
        'version: "2.0"\npipeline: {name: b}\nstages: {a: {path: missing.ipynb}}\n',
    )
    cases = [
        ({"path": "demo", "max_parallel": 0}, 400),
        ({"path": "demo", "colour": "red"}, 400),
        ({"path": "demo", "params": ["train.n=1"]}, 400),
        ({}, 400),
        ({"path": "demo", "target": "kubernetes"}, 400),
        ({"path": "demo", "params": {"nosuch.n": 1}}, 400),
        ({"path": "demo", "params": {"trainn": 1}}, 400),
        ({"path": "nope"}, 404),
        ({"path": "demo", "commit": "abc1234"}, 400),
        ({"path": "demo", "image_pull_secrets": "regcred"}, 400),
        ({"path": "demo", "image_pull_secrets": ["x"] * 33}, 400),
    ]
    for body, status in cases:
        reply = await api("POST", "deployments", body=body)
        assert reply.status == status, (body, reply)
        assert reply.json()["error"], reply
    pulling = await api("POST", "deployments", body={"path": "demo", "image_pull_secrets": ["r"]})
    assert pulling.status == 400, pulling
    assert pulling.json()["error"].startswith(
        "--image-pull-secret r: means nothing on this machine"
    ), pulling
    broken = await api("POST", "deployments", body={"path": "broken"})
    assert broken.status == 400 and broken.json()["problems"][0]["path"] == "stages.a.path"
    unreachable = await api("POST", "deployments", body={"path": "https://127.0.0.1:9/nothing.git"})
    assert unreachable.status == 502, unreachable
    assert (await api("GET", "deployments")).json() == {"deployments": []}


async def test_not_found(api: Api) -> None:
    for parts in (
        ("runs", "nope"),
        ("runs", "nope", "logs", "a"),
        ("runs", "nope", "events"),
        ("runs", "nope", "notebooks", "a"),
        ("deployments", "nope"),
    ):
        reply = await api("GET", *parts)
        assert reply.status == 404, (parts, reply)
        assert reply.json()["error"]
    assert (await api("POST", "runs", "nope", "cancel")).status == 404
    assert (await api("GET", "runs", params={"limit": "many"})).status == 400
    assert (await api("GET", "runs", params={"limit": "0"})).status == 400
