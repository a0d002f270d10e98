"""The Python API: deploy, follow and stop a run from Python (e.g. a notebook)."""

from __future__ import annotations

from pathlib import Path

import pytest

import bodywork_jupyter as bw_api
from bodywork_jupyter.errors import BadInputError
from tests.engine.helpers import Bodywork
from tests.projects import notebook, write_yaml


def test_deploy_wait_status_logs(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "p"
    notebook(project / "a.ipynb", "print('value', n)", params="n = 1")
    write_yaml(project, 'version: "2.0"\npipeline: {name: api}\nstages: {a: {path: a.ipynb}}\n')
    run = bw_api.deploy(project, params={"a.n": 41}, state_dir=bw.state_dir)
    assert run.status in {"queued", "running", "succeeded"}
    assert run.wait(timeout=120) is run
    assert run.status == "succeeded"
    assert "value 41" in run.logs("a")
    assert "a| " in run.logs()
    again = bw_api.get_run(run.id[:15], state_dir=bw.state_dir)
    assert again.id == run.id and again.stages[0].status == "succeeded"
    assert [d.name for d in bw_api.deployments(state_dir=bw.state_dir)] == ["api"]
    with pytest.raises(BadInputError, match="no run"):
        bw_api.get_run("nope", state_dir=bw.state_dir)
