"""RunView on real runs: stage states, progress, log tails, the service and its try-it box."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import bodywork_jupyter
from bodywork_jupyter.widgets import RunView
from bodywork_jupyter.widgets.dag import layers, svg
from tests.projects import free_port, notebook, write_yaml


def test_runview_follows_a_run_until_its_service_is_ready(tmp_path: Path, state_dir: Path) -> None:
    project = tmp_path / "p"
    notebook(project / "prep.ipynb", "print('value', n)", "print('second cell')", params="n = 1")
    notebook(project / "check.ipynb", "print('checked')")
    notebook(project / "serve.ipynb", "def predict(request):\n    return {'y': request['x'] * 3}")
    port = free_port()
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: view}}
        stages:
          prep: {{path: prep.ipynb}}
          check: {{path: check.ipynb, depends_on: [prep]}}
          serve: {{path: serve.ipynb, depends_on: [prep], service: {{port: {port}}}}}
        """,
    )
    run = bodywork_jupyter.deploy(project, params={"prep.n": 7}, state_dir=state_dir)
    view = RunView(run, poll=0.1)
    assert view.following or view.settled
    view.wait(timeout=120)
    assert not view.following and view.error is None
    assert view.status == "deployed" and view.settled

    assert view.stage_status("prep") == "succeeded"
    assert view.stage_status("check") == "succeeded"
    assert view.stage_status("serve") == "ready"
    assert view.progress("prep") == (4, 4)  # the parameters cell, papermill's, and two more
    assert view.attempt("prep") == 1
    assert "value 7" in view.log_tail("prep") and "second cell" in view.log_tail("prep")
    assert "::bodywork-event::" not in view.log_tail("prep")
    assert view.cards["prep"].log.value == view.log_tail("prep")
    assert view.url("serve") == f"http://127.0.0.1:{port}"
    assert view.url("prep") is None

    # the drawing: prep on the left, check and serve one level right, coloured by status
    assert [[c.name for c in column] for column in view.column_cards()] == [
        ["prep"],
        ["check", "serve"],
    ]
    assert 'data-stage="serve" data-status="ready"' in view.graph.value
    assert "deployed" in view.header.value
    assert view.cards["prep"].progress.description == "4/4 cells"

    # the try-it box of the service
    serve = view.cards["serve"]
    assert serve.try_box.layout.display == "flex"
    assert view.cards["prep"].try_box.layout.display == "none"
    assert '"y": 6' in view.try_it("serve", '{"x": 2}')
    serve.payload.value = '{"x": 5}'
    serve.send.click()
    assert '"y": 15' in serve.response.value
    assert view.try_it("serve", "{x").startswith("error: the body is not JSON")

    # settled: nothing changes any more, and no card is redrawn
    updates = {name: card.updates for name, card in view.cards.items()}
    assert view.update() == set()
    assert {name: card.updates for name, card in view.cards.items()} == updates
    assert "serve: ready" in repr(view)


def test_the_try_it_box_starts_with_the_services_example(tmp_path: Path, state_dir: Path) -> None:
    project = tmp_path / "p"
    notebook(
        project / "serve.ipynb",
        "def predict(request):\n    return {'y': request['x'] * 3}",
        "predict({'x': 4})",  # the example, as the notebook shows it
    )
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: example}}
        stages:
          serve: {{path: serve.ipynb, service: {{port: {free_port()}}}}}
        """,
    )
    run = bodywork_jupyter.deploy(project, state_dir=state_dir)
    assert run.examples == {"serve": {"x": 4}}
    assert run.started_by == getpass.getuser()
    view = RunView(run, poll=0.1).wait(timeout=120)
    assert view.stage_status("serve") == "ready"
    serve = view.cards["serve"]
    assert json.loads(serve.payload.value) == {"x": 4}
    assert f"started by {getpass.getuser()}" in view.header.value
    serve.send.click()  # as it is: the example
    assert json.loads(serve.response.value) == {"y": 12}


def test_runview_shows_a_failed_stage(tmp_path: Path, state_dir: Path) -> None:
    project = tmp_path / "p"
    notebook(project / "ok.ipynb", "print('fine')")
    notebook(project / "bad.ipynb", "print('before')", "raise ValueError('boom')")
    notebook(project / "after.ipynb", "print('never')")
    write_yaml(
        project,
        """
        version: "2.0"
        pipeline: {name: failing}
        stages:
          ok: {path: ok.ipynb}
          bad: {path: bad.ipynb, depends_on: [ok]}
          after: {path: after.ipynb, depends_on: [bad]}
        """,
    )
    run = bodywork_jupyter.deploy(project, state_dir=state_dir)
    view = RunView(run, poll=0.1).wait(timeout=120)
    assert view.status == "failed"
    assert view.stage_status("bad") == "failed"
    assert view.stage_status("after") == "skipped"
    assert view.progress("bad") == (2, 2)  # the cell that raised finished too
    assert "boom" in view.cards["bad"].details.value
    assert view.cards["bad"].progress.bar_style == "danger"
    assert "before" in view.log_tail("bad")
    assert 'data-stage="bad" data-status="failed"' in view.graph.value


def test_layers_and_svg() -> None:
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
    columns = layers(deps)
    assert columns == [["a", "e"], ["b", "c"], ["d"]]
    drawing = svg(columns, deps, {"a": "succeeded", "b": "running"})
    assert drawing.count("<line ") == 4
    assert 'data-stage="a" data-status="succeeded"' in drawing
    assert 'data-stage="d" data-status="pending"' in drawing
    assert layers({}) == []
