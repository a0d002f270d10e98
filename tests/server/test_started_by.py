"""Who started a run, and a service's example request body, as the REST API answers them.

A deploy through the API records the Jupyter server's user (its identity's name: a fixed
user here, through jupyter-server's own seam, the identity provider); one from the CLI
the OS user; a store from before either reads as started by nobody (null).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from traitlets.config import Config

import bodywork_jupyter
from tests.engine.helpers import Bodywork, run_id_of, store_from_before_started_by
from tests.projects import free_port, notebook, write_yaml
from tests.server.conftest import Api
from tests.server.helpers import two_stage_project
from tests.server.openapi_check import conforms


class AdaProvider(IdentityProvider):
    """Every request with the server's token comes from one named user (as a hub's would)."""

    def generate_anonymous_user(self, handler: Any) -> User:
        return User(username="ada", name="Ada Lovelace", display_name="Ada")


@pytest.fixture
def identity_provider() -> type[IdentityProvider]:
    return AdaProvider


@pytest.fixture
def old_runs() -> list[str]:
    """Runs the state folder holds before the server starts, as an older store kept them."""
    return []


@pytest.fixture
def jp_server_config(
    state_dir: Path, identity_provider: type[IdentityProvider], old_runs: list[str]
) -> Config:
    for run_id in old_runs:
        store_from_before_started_by(state_dir, run_id)
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"bodywork_jupyter": True},
                "identity_provider_class": identity_provider,
            },
            "BodyworkExtension": {"state_dir": str(state_dir)},
        }
    )


@pytest.fixture
def bw(state_dir: Path) -> Iterator[Bodywork]:
    yield Bodywork(state_dir)


def service_project(folder: Path) -> Path:
    """prep, then serve: a notebook service whose last cell calls predict on a literal."""
    notebook(folder / "prep.ipynb", "print('prep')")
    notebook(
        folder / "serve.ipynb",
        "def predict(request):\n    return {'y': request['x'] * 3}",
        "predict({'x': 2})",
    )
    write_yaml(
        folder,
        f"""\
        version: "2.0"
        pipeline: {{name: tryit}}
        stages:
          prep: {{path: prep.ipynb}}
          serve: {{path: serve.ipynb, depends_on: [prep], service: {{port: {free_port()}}}}}
        """,
    )
    return folder


async def test_a_rest_deploy_records_the_jupyter_user_and_the_services_example(
    api: Api, bw: Bodywork, jp_root_dir: Path
) -> None:
    service_project(jp_root_dir / "tryit")
    reply = await api("POST", "deployments", body={"path": "tryit"})
    assert reply.status == 201, reply
    created = reply.json()
    conforms("deployments", "POST", 201, created)
    assert created["started_by"] == "Ada Lovelace"  # the identity's name, never the token
    examples = {s["name"]: s["example"] for s in created["stages"]}
    assert examples == {"prep": None, "serve": {"x": 2}}

    detail = (await api("GET", "runs", created["id"])).json()
    conforms("runs/{run_id}", "GET", 200, detail)
    assert detail["started_by"] == "Ada Lovelace"
    assert {s["name"]: s["example"] for s in detail["stages"]} == examples
    listed = (await api("GET", "runs")).json()
    conforms("runs", "GET", 200, listed)
    assert [(r["id"], r["started_by"]) for r in listed["runs"]] == [(created["id"], "Ada Lovelace")]
    history = (await api("GET", "deployments", "tryit")).json()
    assert history["runs"][0]["started_by"] == "Ada Lovelace"
    assert history["run"]["started_by"] == "Ada Lovelace"
    # the CLI's view of the service says the same, its example ready for call --data
    shown = dict(
        line.split(None, 1)
        for line in bw("get", "deployment", "tryit", "serve").stdout.splitlines()
    )
    assert (shown["started_by"], shown["example"]) == ("Ada Lovelace", '{"x": 2}'), shown


@pytest.mark.parametrize("identity_provider", [IdentityProvider])
async def test_with_the_shared_token_the_user_is_jupyters_anonymous_one(
    api: Api, jp_root_dir: Path
) -> None:
    two_stage_project(jp_root_dir / "demo")
    created = (await api("POST", "deployments", body={"path": "demo"})).json()
    assert created["started_by"].startswith("Anonymous "), created["started_by"]


async def test_a_cli_deploy_is_started_by_the_os_user(
    api: Api, bw: Bodywork, jp_root_dir: Path
) -> None:
    user = getpass.getuser()
    result = bw("deploy", two_stage_project(jp_root_dir / "demo"))
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = run_id_of(result)

    detail = (await api("GET", "runs", run_id)).json()
    conforms("runs/{run_id}", "GET", 200, detail)
    assert detail["started_by"] == user
    assert all(s["example"] is None for s in detail["stages"])  # batch stages only
    # the CLI's tables and the Python API say the same
    header, row = bw("get", "runs").stdout.splitlines()
    assert row.startswith(run_id) and row[header.index("BY") :].split()[0] == user
    shown = bw("get", "deployment", "demo").stdout.split("last runs:\n")[1].splitlines()
    assert (
        shown[1].startswith(f"  {run_id}") and shown[1][shown[0].index("BY") :].split()[0] == user
    )
    assert bodywork_jupyter.get_run(run_id, state_dir=bw.state_dir).started_by == user


@pytest.mark.parametrize("old_runs", [["20250101-000000-oldrun"]])
async def test_a_run_from_an_older_store_is_started_by_nobody(api: Api) -> None:
    listed = (await api("GET", "runs")).json()
    conforms("runs", "GET", 200, listed)
    assert [(r["id"], r["started_by"]) for r in listed["runs"]] == [
        ("20250101-000000-oldrun", None)
    ]
    detail = (await api("GET", "runs", "20250101-000000-oldrun")).json()
    conforms("runs/{run_id}", "GET", 200, detail)
    assert detail["started_by"] is None and detail["stages"] == []
