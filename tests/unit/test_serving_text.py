"""How the serving version reads: ``version_text``, ``version_tag``, ``kept_serving_note``
(the read service's words for every surface) and the serving line of ``get deployment``."""

from __future__ import annotations

from typing import Any

from bodywork_jupyter.cli import deployment_detail
from bodywork_jupyter.engine.store import Deployment, Run
from bodywork_jupyter.reader import DeploymentView, kept_serving_note, version_tag, version_text

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def run(run_id: str, status: Any = "deployed", **source: str) -> Run:
    return Run(run_id, "calc", status, 1.0, 1.0, None, dict(source), {}, "")


def view(
    serving: Run | None, newest: Run | None = None, urls: dict[str, str] | None = None,
    ingresses: dict[str, str | None] | None = None,
) -> DeploymentView:  # fmt: skip
    record = Deployment("calc", "calc", "local", {}, 1.0, 2.0, "serving", None, None, None)
    return DeploymentView(
        record, "serving", newest or serving, serving, urls or {}, ingresses or {}
    )


def test_a_version_is_its_run_and_short_commit() -> None:
    git = run("r1", repo="file:///p", commit=COMMIT)
    folder = run("r2", local_path="/p")
    assert version_text(git) == "run r1 (commit 01234567)"
    assert version_tag(git) == "r1@01234567"
    assert (version_text(folder), version_tag(folder)) == ("run r2", "r2")  # no commit to name
    assert view(git).serving_commit == COMMIT and view(None).serving_commit is None


def test_the_note_names_the_run_its_commit_and_where_it_answers() -> None:
    v1 = run("r1", commit=COMMIT)
    one = view(v1, urls={"serve": "http://127.0.0.1:8000"})
    assert kept_serving_note(one) == (
        "the previous version keeps serving: run r1 (commit 01234567) at http://127.0.0.1:8000"
    )
    two = view(
        v1,
        urls={"a": "http://a:8000", "b": "http://b:8001"},
        ingresses={"b": None},
    )
    assert kept_serving_note(two) == (
        "the previous version keeps serving: run r1 (commit 01234567): a at http://a:8000, "
        "b at http://b:8001 (ingress: waiting for an address)"
    )
    assert kept_serving_note(view(v1)) == (
        "the previous version keeps serving: run r1 (commit 01234567)"
    )


def test_get_deployment_names_both_versions_when_the_newest_does_not_serve() -> None:
    v1, v2 = run("r1", commit=COMMIT), run("r2", "failed", commit="fedcba98" * 5)
    v2 = Run(v2.id, v2.deployment, v2.status, 2.0, 2.0, 3.0, v2.source, {}, "stage 'x' failed")
    lines = deployment_detail.deployment_lines(view(v1, v2), [], [], {}, "local")
    assert (
        "serving      run r1 (commit 01234567) - the newest, run r2 (commit fedcba98), is "
        "failed: stage 'x' failed"
    ) in lines
    same = deployment_detail.deployment_lines(view(v1), [], [], {}, "local")
    assert "serving      run r1 (commit 01234567)" in same
