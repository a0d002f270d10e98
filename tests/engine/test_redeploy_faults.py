"""A serving version is never lost: redeploys under load, each counting failed requests.

Real supervisors, runners and services on this machine; four keep-alive clients
(``tests/load.py``) POST to the service's declared port across every redeploy and never
retry, so any request that died is counted. What each scenario does is in
``redeploy_scenarios`` (benchmarks/bench_redeploy.py prints the same figures). Each one
is bounded: well under a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine import redeploy_scenarios as scenarios
from tests.engine.helpers import Bodywork

#: how a request in flight on a replica killed with SIGKILL dies
CUT = frozenset({"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError", "IncompleteRead"})


def test_a_good_redeploy_under_load_loses_no_request(tmp_path: Path, bw: Bodywork) -> None:
    outcome = scenarios.good_redeploy(bw, tmp_path)
    report, marks = outcome.report, outcome.marks
    assert outcome.redeploy is not None and outcome.redeploy.returncode == 0, outcome.describe()
    # old replicas drain: an answer on a kept-alive connection says Connection: close, so
    # even a client that does not look before it reuses a connection loses nothing
    assert report.failed == 0, outcome.describe()
    told = [a for a in report.started_between(marks["redeploy"]) if a.closed and a.version == 1]
    assert told, outcome.describe()
    assert report.versions_between(0, marks["redeploy"]) == {1}, outcome.describe()
    # once the deploy says it is deployed, v2 answers everything
    assert report.versions_between(marks["redeployed"]) == {2}, outcome.describe()
    assert report.versions_seen == [1, 2], outcome.describe()


def test_a_broken_service_leaves_the_old_version_serving(tmp_path: Path, bw: Bodywork) -> None:
    outcome = scenarios.broken_service(bw, tmp_path)
    report = outcome.report
    assert outcome.redeploy is not None and outcome.redeploy.returncode == 1, outcome.describe()
    assert report.failed == 0, outcome.describe()
    assert report.versions_seen == [1], outcome.describe()
    assert report.versions_between(outcome.marks["redeployed"]) == {1}, outcome.describe()


def test_a_later_stage_failing_after_the_new_service_is_ready_moves_no_traffic(
    tmp_path: Path, bw: Bodywork
) -> None:
    outcome = scenarios.broken_later_stage(bw, tmp_path)
    report = outcome.report
    assert outcome.redeploy is not None and outcome.redeploy.returncode == 1, outcome.describe()
    # the case in point: v2's service was ready before the stage after it failed
    assert outcome.facts["order"] == [("stage.ready", "serve"), ("stage.failed", "check")]
    # traffic moves only when the whole run has settled well: v2 never answers
    assert report.versions_seen == [1], outcome.describe()
    assert report.failed == 0, outcome.describe()
    assert report.versions_between(outcome.marks["redeployed"]) == {1}, outcome.describe()


def test_a_redeploy_cancelled_after_its_service_is_ready_moves_no_traffic(
    tmp_path: Path, bw: Bodywork
) -> None:
    outcome = scenarios.cancelled_redeploy(bw, tmp_path)
    report, facts = outcome.report, outcome.facts
    assert facts["ready"], outcome.describe()  # cancelled while v2 was ready and its run busy
    assert facts["cancel"].returncode == 0, facts["cancel"].stderr
    assert facts["status"] == "cancelled", outcome.describe()
    assert report.versions_seen == [1], outcome.describe()
    assert report.failed == 0, outcome.describe()
    assert report.versions_between(outcome.marks["settled"]) == {1}, outcome.describe()


@pytest.mark.parametrize(
    "after_new_service", [False, True], ids=["before-v2-starts", "once-v2-is-ready"]
)
def test_a_replica_killed_during_a_redeploy_is_restarted_during_the_run(
    tmp_path: Path, bw: Bodywork, after_new_service: bool
) -> None:
    outcome = scenarios.killed_replica(bw, tmp_path, after_new_service=after_new_service)
    report, facts, marks = outcome.report, outcome.facts, outcome.marks
    assert facts["busy"], outcome.describe()  # v2's slow batch stage was running
    seen = facts["service_events"]
    # supervision runs all the time: restarted while the run is still going
    assert {"service.exited", "service.restarted"} <= set(seen), outcome.describe()
    assert facts["run_status_at_restart"] == "running", outcome.describe()
    assert facts["run_ended"] is not None, outcome.describe()
    assert seen["service.exited"] < seen["service.restarted"] < facts["run_ended"]
    assert facts["recovered"], outcome.describe()
    # the other replica went on serving: only requests in flight on the victim died
    victim = facts["victim"]
    (survivor,) = set(facts["pids"]) - {victim}
    meanwhile = [
        a for a in report.started_between(marks["killed"] + 0.5, marks["restarted"]) if a.ok
    ]
    assert meanwhile and {a.pid for a in meanwhile} == {survivor}, outcome.describe()
    assert report.failed <= scenarios.THREADS, outcome.describe()
    assert set(report.failures) <= CUT, outcome.describe()
    assert report.seconds_down < 2.0, outcome.describe()
    assert report.versions_seen == [1], outcome.describe()
    # restarted: a new process in the victim's place takes new connections too (the
    # survivor, busy with the load's connections, may leave every new one to it)
    fresh = set(facts["fresh_pids"])
    assert victim not in fresh and len(fresh - {survivor}) == 1, facts["fresh_pids"]
    assert all(isinstance(pid, int) for pid in fresh), facts["fresh_pids"]


def test_a_module_whose_new_build_fails_is_never_stopped(tmp_path: Path, bw: Bodywork) -> None:
    outcome = scenarios.module_failed_build(bw, tmp_path)
    report = outcome.report
    assert outcome.redeploy is not None and outcome.redeploy.returncode == 1, outcome.describe()
    said = outcome.redeploy.stderr
    assert "broken-build" in said, outcome.describe()  # it failed where it should: the build
    # the old module is stopped only once the new one's requirements are installed
    assert report.failed == 0, outcome.describe()
    assert report.versions_seen == [1], outcome.describe()
    assert report.versions_between(outcome.marks["redeployed"]) == {1}, outcome.describe()
