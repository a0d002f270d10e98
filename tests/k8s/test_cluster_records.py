"""Run records in the cluster, against the real API server: what a writer records (in its
working store, flushed to labelled ConfigMaps) is what a reader returns, field by field;
a new writer restores a run from its record and goes on without duplicating an event;
the cancel flag; chunk bounds; the reader with only get/list on ConfigMaps, the writer with
only the controller's Role; no secret value in any record."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from k8s_helpers import Kube, wait_for
from kubernetes import client

from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.cluster import Cluster, ClusterPermissionError
from bodywork_jupyter.backends.kubernetes.records_push import Pusher
from bodywork_jupyter.backends.kubernetes.records_read import ClusterRecords
from bodywork_jupyter.backends.kubernetes.records_write import RecordWriter
from bodywork_jupyter.engine.engine import Progress
from bodywork_jupyter.engine.store import Event, RunStore
from bodywork_jupyter.errors import NotFoundError, TargetUnreachableError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan import plan_pipeline
from bodywork_jupyter.plan.kubernetes.names import short_run_id
from bodywork_runner.spec import Source

pytestmark = pytest.mark.k8s

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40, project_dir="ml")
CELLS = 300


def iris_plan(secret: str = "warehouse") -> dict[str, Any]:
    data = plan_pipeline(load_pipeline(EXAMPLES / "iris"), SOURCE).model_dump(mode="json")
    data["stages"]["train"]["secrets"] = {
        "DB_PASSWORD": {"group": None, "secret": secret, "key": "password"}
    }
    return data


@pytest.fixture
def cluster(k8s_kubeconfig: str) -> Any:
    made = Cluster(kubeconfig=k8s_kubeconfig)
    yield made
    made.close()


def new_run(writer: RecordWriter, deployment: str = "iris") -> str:
    plan = iris_plan()
    source = plan["source"]
    return writer.create_run(deployment, "iris", source, plan, {"max_parallel": 4}).id


def ref(stage: str, run_id: str) -> dict[str, Any]:
    return {"kind": "job", "name": f"iris-{stage}-{short_run_id(run_id)}-1", "uid": "u1"}


def record_first_half(writer: RecordWriter, run_id: str) -> None:
    """prepare succeeds; train starts and runs half its cells."""
    writer.record(run_id, "run.started", pipeline="iris")
    writer.record(run_id, "stage.starting", "prepare", 1, ref=ref("prepare", run_id))
    writer.record(run_id, "runner.stage.running", "prepare", 1)
    writer.record(run_id, "stage.succeeded", "prepare", 1, notebook_path="prepare.out.ipynb")
    writer.record(run_id, "stage.starting", "train", 1, ref=ref("train", run_id))
    for cell in range(CELLS // 2):
        writer.record(run_id, "runner.cell.finished", "train", 1, cell=cell, seconds=0.01)


def record_second_half(writer: RecordWriter, run_id: str) -> None:
    for cell in range(CELLS // 2, CELLS):
        writer.record(run_id, "runner.cell.finished", "train", 1, cell=cell, seconds=0.01)
    writer.record(run_id, "stage.succeeded", "train", 1, notebook_path="train.out.ipynb")
    writer.record(run_id, "stage.starting", "report", 1, ref=ref("report", run_id))
    writer.record(run_id, "stage.succeeded", "report", 1)
    writer.record(run_id, "stage.starting", "predict", 1, ref=ref("predict", run_id))
    url = "http://predict:5000"
    writer.record(run_id, "stage.ready", "predict", 1, url=url)
    writer.record(run_id, "run.deployed", message="services ready", urls={"predict": url})


def rows(events: list[Event]) -> list[tuple[Any, ...]]:
    return [(e.seq, e.type, e.stage, e.attempt, e.data, e.time) for e in events]


def assert_same(reader: ClusterRecords, store: RunStore, run_id: str) -> None:
    """The reader returns what the store holds, field by field."""
    local = store.get_run(run_id)
    assert local is not None
    remote = reader.get_run(run_id)
    assert remote is not None
    assert asdict(remote) == asdict(local)
    bare = reader.get_run(run_id, with_plan=False)
    assert bare is not None and bare.plan == {}
    assert asdict(bare) == {**asdict(local), "plan": {}}
    assert [asdict(s) for s in reader.stages(run_id)] == [asdict(s) for s in store.stages(run_id)]
    assert rows(reader.events(run_id)) == rows(store.events(run_id))
    assert rows(reader.events(run_id, after=120)) == rows(store.events(run_id, after=120))


def chunks(kube: Kube, run_id: str) -> list[client.V1ConfigMap]:
    found = kube.core.list_namespaced_config_map(
        kube.namespace, label_selector=rec.selector(rec.EVENTS, run_id=run_id)
    ).items
    return sorted(found, key=rec.chunk_number)


def test_the_reader_returns_what_the_writer_recorded(
    kube: Kube, cluster: Cluster, tmp_path: Path
) -> None:
    reader = ClusterRecords(cluster, kube.namespace)
    assert reader.last_seq() == 0
    assert reader.runs() == [] and reader.deployments() == []
    with RecordWriter(cluster, kube.namespace, tmp_path, flush_interval=None) as writer:
        run_id = new_run(writer)
        writer.set_current_run("iris", run_id)
        writer.set_deployment_status("iris", "running")
        record_first_half(writer, run_id)
        record_second_half(writer, run_id)
        writer.flush()
        store = writer.store(run_id)
        assert_same(reader, store, run_id)
        deployed = store.get_run(run_id)
        assert deployed is not None and deployed.status == "deployed"
        events = reader.events(run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(chunks(kube, run_id)) == -(-len(events) // rec.CHUNK_EVENTS) >= 4

        # a second run of the same deployment, and a run of another one
        other = new_run(writer, deployment="other_pipeline")
        time.sleep(0.01)
        second = new_run(writer)
        writer.record(second, "run.started", pipeline="iris")
        writer.flush()
        last = reader.last_seq()
        assert last > 0
        writer.record(second, "stage.starting", "prepare", 1, ref=ref("prepare", second))
        writer.flush()
        assert reader.last_seq() > last

    assert [r.id for r in reader.runs("iris")] == [second, run_id]
    assert [r.id for r in reader.runs("other_pipeline")] == [other]
    assert [r.id for r in reader.runs(limit=2)] == [second, other]
    # the newest deployed one, behind a newer run in another state (limit counts after it)
    assert [r.id for r in reader.runs("iris", limit=1, status="deployed")] == [run_id]
    assert reader.runs("other_pipeline", status="deployed") == []
    assert all(r.plan == {} for r in reader.runs())
    with_plans = reader.runs("iris", with_plan=True)
    assert [r.plan for r in with_plans] == [iris_plan(), iris_plan()]
    day = run_id[:9]  # YYYYMMDD-
    same_day = [r for r in (second, other, run_id) if r.startswith(day)]
    assert [r.id for r in reader.runs_with_prefix(day, limit=5)] == same_day
    assert [r.id for r in reader.runs_with_prefix(day)] == same_day[:2]
    assert [r.id for r in reader.runs_with_prefix(run_id)] == [run_id]
    assert reader.runs_with_prefix("nothing-like-it") == []
    assert reader.get_run("20990101-000000-zzzzzz") is None
    assert reader.stages("20990101-000000-zzzzzz") == []
    assert reader.events("20990101-000000-zzzzzz") == []

    iris = reader.get_deployment("iris")
    assert iris is not None
    assert (iris.name, iris.pipeline, iris.target, iris.status) == (
        "iris", "iris", "kubernetes", "running"
    )  # fmt: skip
    assert iris.current_run == run_id and iris.source == iris_plan()["source"]
    assert iris.created <= iris.updated
    assert reader.get_deployment("nope") is None
    assert [d.name for d in reader.deployments()] == ["iris", "other_pipeline"]
    pipeline_cm = rec.deployment_record_name("other_pipeline")
    assert pipeline_cm.startswith("bw-deployment-other-pipeline-")  # cleaned, with its hash
    labels = kube.core.read_namespaced_config_map(pipeline_cm, kube.namespace).metadata.labels
    assert labels[rec.LABEL_DEPLOYMENT] == "other-pipeline"


def test_restore_gives_the_same_rows_and_a_second_writer_appends_without_duplicates(
    kube: Kube, cluster: Cluster, tmp_path: Path
) -> None:
    reader = ClusterRecords(cluster, kube.namespace)
    first = RecordWriter(cluster, kube.namespace, tmp_path / "pod-1", flush_interval=None)
    run_id = new_run(first)
    record_first_half(first, run_id)
    first.flush()
    before = {c.metadata.name: c.metadata.resource_version for c in chunks(kube, run_id)}
    # the controller pod is killed: its folder (an emptyDir) goes with it
    held = first.store(run_id)

    second = RecordWriter(cluster, kube.namespace, tmp_path / "pod-2", flush_interval=None)
    restored = second.restore(run_id)
    assert asdict(restored) == asdict(held.get_run(run_id))
    store = second.store(run_id)
    assert [asdict(s) for s in store.stages(run_id)] == [asdict(s) for s in held.stages(run_id)]
    assert rows(store.events(run_id)) == rows(held.events(run_id))
    progress = Progress.from_rows(store.stages(run_id))
    assert progress == Progress.from_rows(held.stages(run_id))
    assert progress.succeeded == {"prepare"}
    assert progress.in_flight == {"train": (1, ref("train", run_id))}
    second.flush()  # nothing new: nothing is written again
    after = {c.metadata.name: c.metadata.resource_version for c in chunks(kube, run_id)}
    assert after == before

    record_second_half(second, run_id)
    second.flush()
    events = reader.events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # no duplicates, no gaps
    assert len(events) == 1 + 5 + CELLS + 6  # run.queued, the first half, the second half
    assert_same(reader, store, run_id)
    final = reader.get_run(run_id)
    assert final is not None and final.status == "deployed"
    now = {c.metadata.name: c.metadata.resource_version for c in chunks(kube, run_id)}
    full, extended = sorted(before)  # chunk 0 was full, chunk 1 had room
    assert now[full] == before[full] and now[extended] != before[extended]
    assert len(now) == 4

    # a third writer that never restored explicitly (the target recording a stop)
    with RecordWriter(cluster, kube.namespace, flush_interval=None) as third:
        third.record(run_id, "run.stopped", message="the deployment was deleted")
    stopped = reader.get_run(run_id)
    assert stopped is not None and stopped.status == "stopped" and stopped.finished is not None
    assert reader.events(run_id)[-1].seq == len(events) + 1
    second.close()
    first.close()

    with (
        RecordWriter(cluster, kube.namespace, flush_interval=None) as fourth,
        pytest.raises(NotFoundError, match="no run '20990101-000000-zzzzzz'"),
    ):
        fourth.restore("20990101-000000-zzzzzz")


def test_who_started_a_run_is_in_its_record_and_an_older_record_reads_as_nobody(
    kube: Kube, cluster: Cluster, tmp_path: Path
) -> None:
    """``started_by`` is a field of the record's run.json (the Run row), so every read and a
    restored writer keep it; a record written before the field reads as None."""
    reader = ClusterRecords(cluster, kube.namespace)
    plan = iris_plan()
    with RecordWriter(cluster, kube.namespace, tmp_path / "a", flush_interval=None) as writer:
        ada = writer.create_run("iris", "iris", plan["source"], plan, started_by="ada").id
        fired = writer.create_run(
            "iris", "iris", plan["source"], plan, started_by="schedule iris"
        ).id
        writer.flush()
    assert {r.id: r.started_by for r in reader.runs("iris")} == {ada: "ada", fired: "schedule iris"}
    assert reader.get_run(ada).started_by == "ada"  # type: ignore[union-attr]
    summary = kube.core.read_namespaced_config_map(rec.run_record_name(ada), kube.namespace)
    assert json.loads(summary.data[rec.KEY_RUN])["started_by"] == "ada"
    with RecordWriter(cluster, kube.namespace, tmp_path / "b", flush_interval=None) as again:
        assert again.restore(ada).started_by == "ada"

    # a record from before: its run.json has no started_by
    older = json.loads(summary.data[rec.KEY_RUN])
    del older["started_by"]
    kube.core.patch_namespaced_config_map(
        rec.run_record_name(ada), kube.namespace, {"data": {rec.KEY_RUN: rec.dumps(older)}}
    )
    fresh = ClusterRecords(cluster, kube.namespace)  # no reads kept from before
    assert fresh.get_run(ada).started_by is None  # type: ignore[union-attr]
    assert {r.id: r.started_by for r in fresh.runs("iris")}[ada] is None


def test_a_full_chunk_is_never_written_again_and_chunks_keep_their_bounds(
    kube: Kube, cluster: Cluster, tmp_path: Path
) -> None:
    with RecordWriter(cluster, kube.namespace, tmp_path, flush_interval=None) as writer:
        run_id = new_run(writer)
        writer.record(run_id, "run.started", pipeline="iris")
        for number in range(250):
            writer.record(run_id, "runner.cell.finished", "train", 1, cell=number)
            if number % 37 == 0:
                writer.flush()  # flushes in between rewrite the newest chunk only
        writer.flush()
        sealed = {c.metadata.name: c.metadata.resource_version for c in chunks(kube, run_id)[:-1]}
        assert len(sealed) == 2
        big = "x" * (40 * 1024)
        for number in range(30):  # big events: the byte bound cuts chunks before 100
            writer.record(run_id, "runner.note", "train", 1, message=big, n=number)
        huge = "y" * (300 * 1024)
        writer.record(run_id, "stage.failed", "train", 1, message=huge, reason="error")
        writer.flush()
        found = chunks(kube, run_id)
        for made in found:
            text = made.data[rec.KEY_EVENTS]
            assert len(text.encode()) <= rec.CHUNK_BYTES
            assert len(text.splitlines()) <= rec.CHUNK_EVENTS
            size = len(json.dumps(client.ApiClient().sanitize_for_serialization(made)))
            assert size < 512 * 1024
            if made.metadata.name in sealed:
                assert made.metadata.resource_version == sealed[made.metadata.name]
        assert len(found) >= 2 + 30 * 40 // 256
        last = ClusterRecords(cluster, kube.namespace).events(run_id)[-1]
        assert last.type == "stage.failed" and last.data["truncated"] > len(huge)
        assert last.data["message"] == rec.cut(huge) and last.data["reason"] == "error"
        local = writer.store(run_id).events(run_id)[-1]
        assert local.data["message"] == huge  # the working store keeps it whole
        stages = ClusterRecords(cluster, kube.namespace).stages(run_id)
        message = {s.stage: s for s in stages}["train"].message  # the store's fold, cut
        assert len(message) <= rec.MESSAGE_CHARS and message.startswith("y" * 1000)
        assert message.endswith(f"({len(huge)} characters)")
        summary = rec.run_record_name(run_id)
        version = kube.core.read_namespaced_config_map(summary, kube.namespace).metadata
    # the cut event replays to the same summary: a restore writes nothing again
    with RecordWriter(cluster, kube.namespace, flush_interval=None) as again:
        again.restore(run_id)
        assert again.store(run_id).stages(run_id) == stages
    after = kube.core.read_namespaced_config_map(summary, kube.namespace).metadata
    assert after.resource_version == version.resource_version


def test_a_write_whose_answer_was_lost_is_not_written_twice(
    kube: Kube, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = {"create": 0, "apply_guarded": 0}

    def losing(name: str) -> Any:
        original = getattr(Pusher, name)

        def write(self: Pusher, obj: dict[str, Any]) -> str | None:
            version = original(self, obj)
            if lost[name] and obj["metadata"]["labels"][rec.LABEL_RECORD] == rec.EVENTS:
                lost[name] -= 1
                raise TargetUnreachableError("the connection dropped before the answer")
            return version

        return write

    monkeypatch.setattr(Pusher, "create", losing("create"))
    monkeypatch.setattr(Pusher, "apply_guarded", losing("apply_guarded"))
    reader = ClusterRecords(cluster, kube.namespace)
    with RecordWriter(cluster, kube.namespace, flush_interval=None) as writer:
        run_id = new_run(writer)
        lost["create"] = 1
        with pytest.raises(TargetUnreachableError):
            writer.flush()
        writer.record(run_id, "run.started", pipeline="iris")  # more, before the retry
        writer.flush()
        lost["apply_guarded"] = 1
        writer.record(run_id, "stage.starting", "prepare", 1, ref=ref("prepare", run_id))
        with pytest.raises(TargetUnreachableError):
            writer.flush()
        writer.flush()  # the same lines again: recognised as there
        assert lost == {"create": 0, "apply_guarded": 0}  # both answers were lost
        writer.record(run_id, "stage.succeeded", "prepare", 1)
        writer.flush()
        assert_same(reader, writer.store(run_id), run_id)
        assert [e.seq for e in reader.events(run_id)] == [1, 2, 3, 4]


def test_the_cancel_flag_round_trip(kube: Kube, cluster: Cluster, tmp_path: Path) -> None:
    reader = ClusterRecords(cluster, kube.namespace)
    with RecordWriter(cluster, kube.namespace, tmp_path, flush_interval=None) as writer:
        running, queued = new_run(writer), new_run(writer)
        writer.record(running, "run.started", pipeline="iris")
        writer.flush()
        assert writer.cancel_requested(running) is False
        reader.request_cancel(running)
        seen = reader.get_run(running)
        assert seen is not None and seen.cancel_requested == 1  # asked, not yet acted on
        summary = kube.core.read_namespaced_config_map(rec.run_record_name(running), kube.namespace)
        assert rec.cancel_flag(summary)
        assert rec.cancel_flag(client.ApiClient().sanitize_for_serialization(summary))
        assert writer.cancel_requested(running) is True
        assert writer.cancel_requested(running) is True  # recorded once
        writer.record(running, "run.cancelled", message="cancelled")
        writer.flush()
        types = [e.type for e in reader.events(running)]
        assert types.count("run.cancel_requested") == 1 and types[-1] == "run.cancelled"
        assert_same(reader, writer.store(running), running)
        # the writer's applies own every field but the flag: it stays
        assert rec.cancel_flag(
            kube.core.read_namespaced_config_map(rec.run_record_name(running), kube.namespace)
        )

        reader.request_cancel(queued)  # nobody drives it yet: cancelled when it is seen
        assert writer.cancel_requested(queued) is True
        writer.flush()
        cancelled = reader.get_run(queued)
        assert cancelled is not None and cancelled.status == "cancelled"
    with pytest.raises(NotFoundError, match="no run 'missing'"):
        reader.request_cancel("missing")


def test_two_writers_extending_one_run_are_caught(
    kube: Kube, cluster: Cluster, tmp_path: Path
) -> None:
    with RecordWriter(cluster, kube.namespace, tmp_path / "a", flush_interval=None) as one:
        run_id = new_run(one)
        one.flush()
        two = RecordWriter(cluster, kube.namespace, tmp_path / "b", flush_interval=None)
        two.restore(run_id)
        one.record(run_id, "run.started", pipeline="iris")
        one.flush()
        two.record(run_id, "run.started", pipeline="other")
        with pytest.raises(rec.RecordConflictError, match="another controller"):
            two.flush()
        two.forget(run_id)  # it lost the run: what it could not write goes
        two.close()
        events = ClusterRecords(cluster, kube.namespace).events(run_id)
        assert [(e.seq, e.data.get("pipeline")) for e in events] == [(1, None), (2, "iris")]

        # a deployment's record changed by two writers: both changes are kept
        with RecordWriter(cluster, kube.namespace, flush_interval=None) as other:
            other.set_deployment_status("iris", "running")
            one.set_current_run("iris", run_id)
            other.flush()
            one.flush()
    deployment = ClusterRecords(cluster, kube.namespace).get_deployment("iris")
    assert deployment is not None
    assert (deployment.status, deployment.current_run) == ("running", run_id)
    made = kube.core.read_namespaced_config_map(rec.deployment_record_name("iris"), kube.namespace)
    assert made.metadata.annotations[rec.ANNOTATION_REVISION] == "3"


def test_flushes_happen_by_themselves_in_batches(
    kube: Kube, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushes: list[float] = []
    push_run = Pusher.push_run

    def counted(self: Pusher, state: Any, lines: list[str], summary: Any) -> None:
        pushes.append(time.monotonic())
        push_run(self, state, lines, summary)

    monkeypatch.setattr(Pusher, "push_run", counted)
    reader = ClusterRecords(cluster, kube.namespace)
    interval = 0.5
    with RecordWriter(cluster, kube.namespace, flush_interval=interval) as writer:
        run_id = new_run(writer)
        writer.record(run_id, "run.started", pipeline="iris")
        for cell in range(50):
            writer.record(run_id, "runner.cell.finished", "train", 1, cell=cell)
            time.sleep(0.01)
        wait_for("the events to be flushed", lambda: len(reader.events(run_id)) == 52, 10, 0.05)
        got = reader.get_run(run_id, with_plan=False)
        assert got is not None and got.status == "running"
        writer.record(run_id, "stage.starting", "prepare", 1, ref=ref("prepare", run_id))
    # 0.5 s of events took a few flushes, not 52; close() may flush sooner, the last time
    assert 2 <= len(pushes) <= 5, pushes
    assert all(b - a >= interval * 0.9 for a, b in itertools.pairwise(pushes[:-1]))
    assert reader.events(run_id)[-1].type == "stage.starting"


def _token_cluster(kube: Kube, account: str) -> Cluster:
    token = kube.core.create_namespaced_service_account_token(
        account, kube.namespace, client.AuthenticationV1TokenRequest(spec={"audiences": []})
    ).status.token
    configuration = client.Configuration()
    configuration.host = kube.api.configuration.host
    configuration.ssl_ca_cert = kube.api.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return Cluster(context=account, api_client=client.ApiClient(configuration))


def test_the_reader_needs_only_get_and_list_and_the_writer_only_the_controllers_role(
    kube: Kube, cluster: Cluster, tmp_path: Path
) -> None:
    for obj in k8s.rbac(kube.namespace):
        if obj["kind"] != "Namespace":  # the test's namespace is there already
            cluster.apply(obj)
    kube.core.create_namespaced_service_account(
        kube.namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="viewer"))
    )
    kube.rbac.create_namespaced_role(
        kube.namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="viewer"),
            rules=[
                client.V1PolicyRule(
                    api_groups=[""], resources=["configmaps"], verbs=["get", "list", "watch"]
                )
            ],
        ),
    )
    kube.rbac.create_namespaced_role_binding(
        kube.namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="viewer"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                      name="viewer"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="viewer",
                                           namespace=kube.namespace)],
        ),
    )  # fmt: skip
    controller = _token_cluster(kube, "bodywork-controller")
    viewer = _token_cluster(kube, "viewer")
    try:
        with RecordWriter(controller, kube.namespace, tmp_path, flush_interval=None) as writer:
            run_id = new_run(writer)
            writer.set_current_run("iris", run_id)
            record_first_half(writer, run_id)
            record_second_half(writer, run_id)
            writer.flush()
            store = writer.store(run_id)
            reader = ClusterRecords(viewer, kube.namespace)

            def allowed() -> bool:  # the RoleBinding reaches the authorizer's cache
                try:
                    reader.get_run(run_id)
                except ClusterPermissionError:
                    return False
                return True

            wait_for("the viewer's role to apply", allowed, timeout=20)
            assert_same(reader, store, run_id)
            assert [r.id for r in reader.runs("iris")] == [run_id]
            assert [r.id for r in reader.runs_with_prefix(run_id[:10])] == [run_id]
            assert [d.name for d in reader.deployments()] == ["iris"]
            assert reader.get_deployment("iris") is not None
            assert reader.last_seq() == ClusterRecords(cluster, kube.namespace).last_seq()
            with pytest.raises(ClusterPermissionError, match="cannot patch"):
                reader.request_cancel(run_id)  # its one write is not a reader's right
            ClusterRecords(controller, kube.namespace).request_cancel(run_id)
            assert writer.cancel_requested(run_id)
        restored = RecordWriter(controller, kube.namespace, flush_interval=None)
        assert restored.restore(run_id).cancel_requested == 1
        restored.close()
    finally:
        controller.close()
        viewer.close()


def test_no_secret_value_reaches_a_record(kube: Kube, cluster: Cluster, tmp_path: Path) -> None:
    value = f"s3cr3t-{uuid.uuid4().hex}"
    kube.core.create_namespaced_secret(
        kube.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="warehouse"),
                        string_data={"password": value}),
    )  # fmt: skip
    with RecordWriter(cluster, kube.namespace, tmp_path, flush_interval=None) as writer:
        run_id = new_run(writer)
        record_first_half(writer, run_id)
        record_second_half(writer, run_id)
    found = kube.core.list_namespaced_config_map(
        kube.namespace, label_selector=rec.LABEL_RECORD
    ).items
    assert {m.metadata.labels[rec.LABEL_RECORD] for m in found} == {
        "run", "plan", "events", "deployment"
    }  # fmt: skip
    text = json.dumps([client.ApiClient().sanitize_for_serialization(m) for m in found])
    assert "warehouse" in text  # the reference is there (the plan's secret) ...
    assert value not in text  # ... never the value
