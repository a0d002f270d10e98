"""One contract: the CLI, the Python API, the magics and the REST API answer alike.

One small real pipeline (``prep`` prints alpha, beta, gamma; ``train`` after it prints
delta) is deployed once, through the CLI, into a private state folder; the Jupyter
server (its ``BodyworkExtension.state_dir``), the CLI subprocesses, the kernel that runs
the ``%bodywork`` lines and the Python API all read that folder. Each test asks one
question on every surface and asserts that the answers are equal. Only layout is
normalised (the CLI's tables are parsed, trailing newlines dropped); the answers are never
compared with themselves, so one surface answering differently fails the test.

The CLI has no command that shows one run by reference, so it is asked what it can
answer: the run id in ``deploy``'s output, the ``get runs NAME`` and ``get deployments``
tables, and ``logs REF STAGE`` (the log, and with a stage the run does not have, an error
that names the run REF resolved to).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bodywork_jupyter import api as bodywork_api
from bodywork_jupyter.errors import BadInputError, NotFoundError
from tests.engine.helpers import Bodywork, run_id_of
from tests.notebook.kernel import execute, has_error, text
from tests.projects import free_port, git_commit, notebook, write_yaml
from tests.server.conftest import Api, delete_all
from tests.server.openapi_check import conforms

PREP_LINES = ["alpha", "beta", "gamma"]
STAGES = ["prep", "train"]
#: A stage no run has: ``logs REF nosuch`` makes the CLI name the run REF resolved to.
NO_STAGE = "nosuch"
MISSING_RUN = "20000101-000000-0nosuch"


def project(folder: Path, name: str) -> Path:
    notebook(folder / "prep.ipynb", "\n".join(f"print({line!r})" for line in PREP_LINES))
    notebook(folder / "train.ipynb", "print('delta')")
    write_yaml(
        folder,
        f"""\
        version: "2.0"
        pipeline: {{name: {name}}}
        stages:
          prep: {{path: prep.ipynb}}
          train: {{path: train.ipynb, depends_on: [prep]}}
        """,
    )
    git_commit(folder)
    return folder


def common_prefix(a: str, b: str) -> str:
    size = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[: min(size, len(b))]


def unique_name() -> str:
    return f"contract-{uuid.uuid4().hex[:8]}"


# -- the one deployment, shared by the module ------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    state_dir: Path
    name: str
    run_id: str
    deploy_output: str
    bw: Bodywork

    @property
    def prefix(self) -> str:
        return self.run_id[:17]

    @property
    def refs(self) -> dict[str, str]:
        return {"id": self.run_id, "prefix": self.prefix, "name": self.name}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    base = tmp_path_factory.mktemp("contract")
    state = base / "state"
    name = unique_name()
    bw = Bodywork(state)
    result = bw("deploy", project(base / "project", name), timeout=120)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        run_id = run_id_of(result)
        assert re.fullmatch(r"\d{8}-\d{6}-\w+", run_id), run_id
        yield Deployed(state, name, run_id, result.stdout, bw)
    finally:
        delete_all(state)


@pytest.fixture
def state_dir(deployed: Deployed) -> Path:
    """The Jupyter server reads the shared deployment's state folder."""
    return deployed.state_dir


@pytest.fixture(autouse=True)
def _delete_deployments() -> Iterator[None]:
    """The shared deployment lives as long as the module (``deployed`` deletes it)."""
    yield


# -- each surface's answers, normalised ------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a surface says about a run: its id, status and each stage's status."""

    run_id: str
    status: str
    stages: dict[str, str]


def cli_resolved(deployed: Deployed, ref: str) -> str:
    """The run id ``bodywork logs REF`` resolved REF to (named in its 'no stage' error)."""
    result = deployed.bw("logs", ref, NO_STAGE)
    assert result.returncode == 2, result
    found = re.search(r"^error: run (\S+) has no stage 'nosuch'", result.stderr, re.M)
    assert found, result.stderr
    return found.group(1)


def cli_runs_table(deployed: Deployed) -> list[list[str]]:
    result = deployed.bw("get", "runs", deployed.name)
    assert result.returncode == 0, result
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["RUN", "DEPLOYMENT", "STATUS"], result.stdout
    return [row.split() for row in rows]


def cli_deployments_table(deployed: Deployed) -> dict[str, list[str]]:
    result = deployed.bw("get", "deployments")
    assert result.returncode == 0, result
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "RUN", "SERVING", "SERVICES"], result.stdout
    return {row.split()[0]: row.split() for row in rows}


#: deploy's event lines (cli/live.py describe): the text of a stage's settled states.
SETTLED_TEXT = {
    "succeeded": "succeeded",
    "skipped": "skipped",
    "cancelled": "cancelled",
    "stopped": "stopped",
}


def cli_deploy_answer(deployed: Deployed) -> Answer:
    """What ``bodywork deploy`` printed while following the run."""
    stages: dict[str, str] = {}
    status = ""
    for line in deployed.deploy_output.splitlines():
        event = re.match(r"^\d\d:\d\d:\d\d  (\S+)\s+(.+)$", line)
        if event and event.group(1) in STAGES:
            what = event.group(2)
            if what in SETTLED_TEXT:
                stages[event.group(1)] = SETTLED_TEXT[what]
            elif what.startswith("FAILED"):
                stages[event.group(1)] = "failed"
            elif what.startswith("ready at "):
                stages[event.group(1)] = "ready"
        final = re.match(r"^✓ run (\S+) (\w+)$", line)
        if final:
            assert final.group(1) == deployed.run_id, line
            status = final.group(2)
    return Answer(deployed.run_id, status, stages)


def api_answer(ref: str, state_dir: Path) -> Answer:
    with closing(bodywork_api.get_run(ref, state_dir=state_dir)) as run:
        return Answer(run.id, run.status, {s.stage: s.status for s in run.stages})


async def rest_answer(api: Api, ref: str) -> Answer:
    reply = await api("GET", "runs", ref)
    assert reply.status == 200, reply
    body = reply.json()
    return Answer(body["id"], body["status"], {s["name"]: s["status"] for s in body["stages"]})


def magic_status_answer(cell: Any) -> Answer:
    """``%bodywork status REF``: a title 'run ID (DEPLOYMENT): STATUS' and a stage table."""
    assert not has_error(cell), cell["outputs"]
    title, header, *rows = text(cell).splitlines()
    found = re.match(r"^run (\S+) \((\S+)\): (\w+)", title)
    assert found, title
    assert header.split()[:3] == ["STAGE", "KIND", "STATUS"], header
    return Answer(found.group(1), found.group(3), {r.split()[0]: r.split()[2] for r in rows})


def magic_lines(deployed: Deployed) -> list[str]:
    refs = deployed.refs
    return [
        "%load_ext bodywork_jupyter",
        *(f"%bodywork status {ref}" for ref in refs.values()),
        f"%bodywork logs {deployed.run_id} prep",
        f"%bodywork status {MISSING_RUN}",
        f"%bodywork logs {MISSING_RUN} prep",
    ]


@pytest.fixture(scope="module")
def magic(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every ``%bodywork`` line the tests ask, run once in one real kernel: line -> cell."""
    lines = magic_lines(deployed)
    driver = tmp_path_factory.mktemp("kernel") / "driver.ipynb"
    cells = execute(driver, lines, state_dir=deployed.state_dir)
    assert text(cells[0]) == "" and not has_error(cells[0]), cells[0]["outputs"]
    return dict(zip(lines, cells, strict=True))


def unlined(log: str) -> str:
    """A log as text without its trailing newline (surfaces end a log differently)."""
    return log.rstrip("\n")


# -- 1 and 2: which run, and its status -------------------------------------------------------


async def test_same_run_found_on_every_surface(
    deployed: Deployed, magic: dict[str, Any], api: Api
) -> None:
    """A full id, a unique prefix and the deployment name resolve to the same run everywhere."""
    assert deployed.run_id.startswith(deployed.prefix) and deployed.prefix != deployed.run_id
    for how, ref in deployed.refs.items():
        answers = {
            "cli": cli_resolved(deployed, ref),
            "api": api_answer(ref, deployed.state_dir).run_id,
            "magic": magic_status_answer(magic[f"%bodywork status {ref}"]).run_id,
            "rest": (await rest_answer(api, ref)).run_id,
        }
        assert answers == dict.fromkeys(answers, deployed.run_id), (how, ref, answers)

    # a deployment's newest run, as each surface lists it
    newest = {
        "cli deploy": deployed.run_id,
        "cli get runs": cli_runs_table(deployed)[0][0],
        "cli get deployments": cli_deployments_table(deployed)[deployed.name][2],
        "rest deployment": (await api("GET", "deployments", deployed.name)).json()["current_run"],
        "rest runs": (await api("GET", "runs", params={"deployment": deployed.name})).json()[
            "runs"
        ][0]["id"],
    }
    assert newest == dict.fromkeys(newest, deployed.run_id), newest


async def test_same_status_on_every_surface(
    deployed: Deployed, magic: dict[str, Any], api: Api
) -> None:
    """The run's status and each stage's status, everywhere (asked by full id)."""
    expected = Answer(deployed.run_id, "succeeded", dict.fromkeys(STAGES, "succeeded"))
    cli_row = cli_runs_table(deployed)[0]
    answers = {
        "cli deploy": cli_deploy_answer(deployed),
        "api": api_answer(deployed.run_id, deployed.state_dir),
        "magic": magic_status_answer(magic[f"%bodywork status {deployed.run_id}"]),
        "rest": await rest_answer(api, deployed.run_id),
    }
    assert answers == dict.fromkeys(answers, expected), answers
    # the lists say the same of the run
    assert cli_row[:3] == [deployed.run_id, deployed.name, "succeeded"], cli_row
    listed = (await api("GET", "runs", params={"deployment": deployed.name})).json()["runs"]
    assert (listed[0]["id"], listed[0]["status"]) == (deployed.run_id, "succeeded"), listed
    # and every surface names a run by a prefix and by the deployment the same way
    for ref in (deployed.prefix, deployed.name):
        assert api_answer(ref, deployed.state_dir) == expected, ref
        assert magic_status_answer(magic[f"%bodywork status {ref}"]) == expected, ref
        assert await rest_answer(api, ref) == expected, ref


# -- 3: a stage's log -------------------------------------------------------------------------


async def rest_log(api: Api, run_id: str, stage: str, offset: int | None = None) -> dict[str, Any]:
    params = {} if offset is None else {"params": {"offset": str(offset)}}
    reply = await api("GET", "runs", run_id, "logs", stage, **params)
    assert reply.status == 200, reply
    body: dict[str, Any] = reply.json()
    return body


async def test_same_log_on_every_surface(
    deployed: Deployed, magic: dict[str, Any], api: Api
) -> None:
    """The whole log of ``prep``: the same text, the known lines, no runner event lines."""
    cli = deployed.bw("logs", deployed.run_id, "prep")
    assert cli.returncode == 0, cli
    with closing(bodywork_api.get_run(deployed.run_id, state_dir=deployed.state_dir)) as run:
        from_api = run.logs("prep")
    cell = magic[f"%bodywork logs {deployed.run_id} prep"]
    assert not has_error(cell), cell["outputs"]
    rest = await rest_log(api, deployed.run_id, "prep")
    assert rest["finished"] is True and rest["eof"] is True, rest

    logs = {
        "cli": unlined(cli.stdout),
        "api": unlined(from_api),
        "magic": unlined(text(cell)),
        "rest": unlined(rest["text"]),
    }
    assert logs == dict.fromkeys(logs, logs["rest"]), logs
    lines = logs["rest"].splitlines()
    assert [line for line in lines if line in PREP_LINES] == PREP_LINES, lines
    assert not any("bodywork-event" in line for line in lines), lines
    assert "delta" not in lines  # train's line is in train's log only


async def test_same_log_from_an_offset_on_rest_and_the_reader(deployed: Deployed, api: Api) -> None:
    """``?offset=N`` in REST and ``RunReader.log(run_id, stage, N)`` give the same text.

    N is the byte offset just after the first line of the text REST gave (the reader
    counts the runner's hidden event lines in its offsets: see the next test), and
    also the offset just after that line in the raw log, where both must start at its
    second line.
    """
    whole = await rest_log(api, deployed.run_id, "prep")
    first, second = whole["text"].splitlines(True)[:2]
    from_text = len(first.encode())
    with closing(bodywork_api.get_run(deployed.run_id, state_dir=deployed.state_dir)) as run:
        reader = run.reader
        row = reader.stage(run.id, "prep")
        raw, _ = reader.target.read_log(run.id, row, 0, 1 << 20)
        in_raw = raw.index(b"\n" + first.encode()) + 1 + len(first.encode())
        for offset in (from_text, in_raw):
            rest = await rest_log(api, deployed.run_id, "prep", offset)
            chunk = reader.log(run.id, "prep", offset)
            assert rest["text"] == chunk.text, offset
            assert (rest["offset"], rest["next_offset"]) == (chunk.offset, chunk.next_offset)
            assert rest["next_offset"] == whole["next_offset"], offset
        # from the raw offset: the rest of the log, from its second line
        assert chunk.text.startswith(second), chunk.text
        assert chunk.text.splitlines() == whole["text"].splitlines()[1:], chunk.text


async def test_an_offset_inside_a_line_gives_whole_lines_only(deployed: Deployed, api: Api) -> None:
    """Offsets are positions in the raw log: one that lands inside a line (here a hidden
    event line, or the middle of a printed one) moves on to the next line's start."""
    whole = await rest_log(api, deployed.run_id, "prep")
    lines = whole["text"].splitlines(True)
    first = lines[0]
    with closing(bodywork_api.get_run(deployed.run_id, state_dir=deployed.state_dir)) as run:
        row = run.reader.stage(run.id, "prep")
        raw, _ = run.reader.target.read_log(run.id, row, 0, 1 << 20)
    inside_first = raw.index(first.encode()) + 2
    for offset in (1, len(first.encode()), inside_first, whole["next_offset"] - 1):
        rest = await rest_log(api, deployed.run_id, "prep", offset)
        text = rest["text"]
        assert "work-event" not in text, (offset, text)
        # whole lines only: a run of complete lines from the end of the full text
        tail = "".join(lines[len(lines) - len(text.splitlines(True)) :]) if text else ""
        assert text == tail, (offset, text)
        assert rest["next_offset"] == whole["next_offset"], offset
    after_first = await rest_log(api, deployed.run_id, "prep", inside_first)
    assert after_first["text"].splitlines() == whole["text"].splitlines()[1:]


# -- 4: a run that does not exist ---------------------------------------------------------------


async def test_missing_run_on_every_surface(
    deployed: Deployed, magic: dict[str, Any], api: Api
) -> None:
    """CLI exit 2 with an error line, REST 404, NotFoundError, a displayed error: one message."""
    cli = deployed.bw("logs", MISSING_RUN, "prep")
    assert cli.returncode == 2, cli
    assert cli.stdout == "" and "Traceback" not in cli.stderr, cli
    cli_errors = [line for line in cli.stderr.splitlines() if line.startswith("error: ")]
    assert len(cli_errors) == 1, cli.stderr

    with pytest.raises(NotFoundError) as raised:
        bodywork_api.get_run(MISSING_RUN, state_dir=deployed.state_dir)

    rest = {
        "run": await api("GET", "runs", MISSING_RUN),
        "log": await api("GET", "runs", MISSING_RUN, "logs", "prep"),
    }
    assert {k: r.status for k, r in rest.items()} == {"run": 404, "log": 404}, rest

    shown = {}
    for line in (f"%bodywork status {MISSING_RUN}", f"%bodywork logs {MISSING_RUN} prep"):
        cell = magic[line]
        assert not has_error(cell), cell["outputs"]  # displayed, not raised
        assert [o["output_type"] for o in cell["outputs"]] == ["display_data"], cell["outputs"]
        shown[line] = text(cell)

    messages = {
        "cli": cli_errors[0].removeprefix("error: "),
        "api": str(raised.value),
        "rest run": rest["run"].json()["error"],
        "rest log": rest["log"].json()["error"],
        **{f"magic {line.split()[1]}": t.removeprefix("error: ") for line, t in shown.items()},
    }
    assert messages == dict.fromkeys(messages, messages["api"]), messages
    assert all(t.startswith("error: ") for t in shown.values()), shown
    assert MISSING_RUN in messages["api"], messages


# -- a prefix of several runs ------------------------------------------------------------------


class TestPrefixOfSeveralRuns:
    """Its own state folder: the pipeline deployed twice, so a date prefix matches both runs."""

    @pytest.fixture
    def state_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "state"

    @pytest.fixture(autouse=True)
    def _delete_deployments(self, state_dir: Path) -> Iterator[None]:
        yield
        delete_all(state_dir)

    async def test_a_prefix_of_several_runs_is_an_error(
        self, state_dir: Path, tmp_path: Path, api: Api
    ) -> None:
        bw = Bodywork(state_dir)
        folder = project(tmp_path / "project", unique_name())
        ids = []
        for _ in range(2):
            result = bw("deploy", folder, "--detach", timeout=60)
            assert result.returncode == 0, result
            ids.append(run_id_of(result))
        try:
            assert ids[0] != ids[1]
            # the same date (or less of it, across midnight): YYYYmmdd-
            prefix = common_prefix(*ids)[:9]
            assert prefix and all(i.startswith(prefix) for i in ids), ids

            cli = bw("logs", prefix, "prep")
            assert cli.returncode == 2 and cli.stdout == "", cli
            assert "Traceback" not in cli.stderr, cli.stderr
            cli_errors = [ln for ln in cli.stderr.splitlines() if ln.startswith("error: ")]
            assert len(cli_errors) == 1, cli.stderr

            rest = await api("GET", "runs", prefix)
            assert rest.status == 400, rest

            with pytest.raises(BadInputError) as raised:
                bodywork_api.get_run(prefix, state_dir=state_dir)
            assert not isinstance(raised.value, NotFoundError)

            messages = {
                "cli": cli_errors[0].removeprefix("error: "),
                "rest": rest.json()["error"],
                "api": str(raised.value),
            }
            assert messages == dict.fromkeys(messages, messages["api"]), messages
            assert "several runs" in messages["api"], messages
            assert all(i in messages["api"] for i in ids), messages
        finally:
            for run_id in ids:  # let both finish before the deployment is deleted
                with closing(bodywork_api.get_run(run_id, state_dir=state_dir)) as run:
                    run.wait(timeout=60)


# -- what serves after a failed redeploy ---------------------------------------------------------


@dataclass(frozen=True)
class Serving:
    """What a surface says of a deployment: its newest run, and apart from it the version
    that serves (its run, its commit as 8 characters, its URLs)."""

    newest: str
    run: str
    commit: str
    urls: dict[str, str]


def serving_project(folder: Path, name: str, port: int, serve: str) -> str:
    notebook(folder / "serve.ipynb", serve)
    write_yaml(
        folder,
        f"""\
        version: "2.0"
        pipeline: {{name: {name}}}
        stages:
          serve: {{path: serve.ipynb, service: {{port: {port}}}}}
        """,
    )
    return git_commit(folder)


class TestServingVersion:
    """Its own state folder: v1 serves, v2 fails; every surface names v2 the newest run and
    v1 (run and commit) the version that serves, with the same URLs."""

    @pytest.fixture
    def state_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "state"

    @pytest.fixture(autouse=True)
    def _delete_deployments(self, state_dir: Path) -> Iterator[None]:
        yield
        delete_all(state_dir)

    async def test_the_serving_version_apart_from_the_newest_run(
        self, state_dir: Path, tmp_path: Path, api: Api
    ) -> None:
        bw, name, port = Bodywork(state_dir), unique_name(), free_port()
        folder = tmp_path / "project"
        v1 = serving_project(folder, name, port, "def predict(request):\n    return {}")
        first = bw("deploy", folder, timeout=120)
        assert first.returncode == 0, first.stdout + first.stderr
        serving_project(folder, name, port, "raise RuntimeError('broken')")
        second = bw("deploy", folder, timeout=120)
        assert second.returncode == 1, second.stdout + second.stderr
        expected = Serving(
            run_id_of(second), run_id_of(first), v1[:8], {"serve": f"http://127.0.0.1:{port}"}
        )

        said = re.search(
            r"^the previous version keeps serving: run (\S+) \(commit (\w+)\) at (\S+)$",
            second.stderr,
            re.M,
        )
        assert said, second.stderr
        row = cli_serving_row(bw, name)
        rest = (await api("GET", "deployments", name)).json()
        (listed,) = [
            d for d in (await api("GET", "deployments")).json()["deployments"] if d["name"] == name
        ]
        view = bodywork_api.deployment(name, state_dir=state_dir)
        assert view.run is not None and view.serving_run is not None
        cells = execute(
            tmp_path / "kernel" / "driver.ipynb",
            ["%load_ext bodywork_jupyter", "%bodywork deployments",
             f"%bodywork status {expected.newest}"],
            state_dir=state_dir,
        )  # fmt: skip
        assert not any(has_error(cell) for cell in cells), [c["outputs"] for c in cells]
        magic_row = next(r.split() for r in text(cells[1]).splitlines()[2:] if r.split()[0] == name)
        magic_note = text(cells[2]).splitlines()[-1]
        assert magic_note == said.group(0), magic_note

        def from_rest(body: dict[str, Any]) -> Serving:
            return Serving(
                body["current_run"],
                body["serving"]["run"],
                body["serving"]["commit"][:8],
                body["serving"]["urls"],
            )

        answers = {
            "cli deploy": Serving(
                expected.newest, said.group(1), said.group(2), {"serve": said.group(3)}
            ),
            "cli get deployments": row,
            "magic deployments": Serving(
                magic_row[2], *magic_row[3].split("@"), dict([magic_row[4].split("=", 1)])
            ),
            "api": Serving(
                view.run.id, view.serving_run.id, (view.serving_commit or "")[:8], view.urls
            ),
            "rest deployment": from_rest(rest),
            "rest deployments": from_rest(listed),
        }
        assert answers == dict.fromkeys(answers, expected), answers
        assert rest["serving_run"] == expected.run and rest["urls"] == expected.urls
        conforms("deployments/{name}", "GET", 200, rest)  # the OpenAPI document says so too


def cli_serving_row(bw: Bodywork, name: str) -> Serving:
    """``get deployments``: RUN, SERVING (RUN@COMMIT) and SERVICES (STAGE=URL ...)."""
    result = bw("get", "deployments")
    assert result.returncode == 0, result
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "RUN", "SERVING", "SERVICES"], header
    (row,) = [r.split() for r in rows if r.split()[0] == name]
    run, commit = row[3].split("@")
    return Serving(row[2], run, commit, dict(s.split("=", 1) for s in row[4:]))


# -- '%' and '_' are text, not wildcards ---------------------------------------------------------


async def test_percent_and_underscore_in_a_run_ref_match_nothing(
    deployed: Deployed, api: Api
) -> None:
    """A ref that SQL's LIKE would match to the run (``%`` any text, ``_`` one character)
    is compared as plain text: no run, on every surface (an id or a prefix of one, as it is)."""
    run_id = deployed.run_id
    refs = [
        "%",
        "_",
        run_id[:8] + "_",
        run_id[:4] + "%",
        "%" + run_id[-6:],
        run_id.replace("-", "_"),
    ]
    for ref in refs:
        rest = await api("GET", "runs", ref)
        assert rest.status == 404, (ref, rest)
        with pytest.raises(NotFoundError):
            bodywork_api.get_run(ref, state_dir=deployed.state_dir)
        cli = deployed.bw("logs", ref, "prep")
        assert cli.returncode == 2 and f"no run '{ref}'" in cli.stderr, (ref, cli)
        assert rest.json()["error"] == cli.stderr.splitlines()[-1].removeprefix("error: "), ref
