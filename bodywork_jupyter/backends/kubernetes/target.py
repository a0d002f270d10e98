"""The Kubernetes target: deployments in a cluster, each run driven by a controller Job.

``submit`` records the run in the namespace (labelled ConfigMaps: ``records``) and creates
the run's controller Job (``plan.kubernetes.controller_job``), which runs the engine in the
cluster (``controller``): the run goes on when this machine sleeps. Reads come from the
records (``ClusterRecords``), a stage's log from its attempt's pod. Liveness is the
controller Job's: an active run whose Job failed for good, or is gone, is ``lost``.

Namespaces (``namespaces``): a deploy goes to ``--namespace``, else the pipeline's, else its
name; reads without ``--namespace`` look in the kubeconfig context's namespace, else in
every namespace ``configure-cluster`` set up; cancel and delete find the run's or the
deployment's namespace among those.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import Any

from bodywork_jupyter.backends.kubernetes import namespaces
from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.cluster import Cluster, ClusterPermissionError
from bodywork_jupyter.backends.kubernetes.controller import lease_name
from bodywork_jupyter.backends.kubernetes.records_read import ClusterRecords
from bodywork_jupyter.backends.kubernetes.records_write import RecordWriter
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Deployment, Event, Run, StageState
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.plan import DEFAULT_IMAGE
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.kubernetes.checks import require_git_source
from bodywork_jupyter.plan.model import Plan
from bodywork_jupyter.targets.base import RunOptions, Target, TargetOptions

#: Reads are kept this long: a follow loop that asks five times a second reaches the API
#: server at most once a second.
READ_SECONDS = 1.0
#: A queued run is given this long for its controller Job to appear.
QUEUE_GRACE_SECONDS = 30.0
#: The stage container's name in every stage pod.
CONTAINER = "stage"
#: How often ``delete`` looks whether the pods are gone.
GONE_POLL_SECONDS = 0.5


class NamespaceRecords(ClusterRecords):
    """The records of one namespace, with reads kept ``ttl`` seconds and plans for good
    (a plan never changes)."""

    def __init__(self, cluster: Cluster, namespace: str, ttl: float = READ_SECONDS) -> None:
        super().__init__(cluster, namespace)
        self.ttl = ttl
        self._kept_summaries: dict[str, tuple[float, Any]] = {}
        self._events: dict[str, tuple[float, list[Event]]] = {}
        self._plans: dict[str, dict[str, Any]] = {}

    def forget(self, run_id: str) -> None:
        self._kept_summaries.pop(run_id, None)
        self._events.pop(run_id, None)

    def forget_all(self) -> None:
        self._kept_summaries.clear()
        self._events.clear()

    def _summary(self, run_id: str) -> Any | None:
        now = time.monotonic()
        kept = self._kept_summaries.get(run_id)
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        summary = super()._summary(run_id)
        if len(self._kept_summaries) > 1000:
            self._kept_summaries.clear()
        self._kept_summaries[run_id] = (now, summary)
        return summary

    def _plan(self, run_id: str) -> dict[str, Any]:
        plan = self._plans.get(run_id)
        if plan is None:
            plan = super()._plan(run_id)
            if plan:
                if len(self._plans) > 200:
                    self._plans.clear()
                self._plans[run_id] = plan
        return plan

    def plan(self, run_id: str) -> dict[str, Any]:
        return self._plan(run_id)

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        now = time.monotonic()
        kept = self._events.get(run_id)
        if kept is None or now - kept[0] >= self.ttl:
            kept = (now, super().events(run_id, 0))
            if len(self._events) > 1000:
                self._events.clear()
            self._events[run_id] = kept
        return [event for event in kept[1] if event.seq > after]


class KubernetesTarget(Target):
    name = "kubernetes"
    requires_git = True

    def __init__(self, options: TargetOptions | None = None) -> None:
        self.options = options or TargetOptions(name="kubernetes")
        self._cluster: Cluster | None = None
        self._records: dict[str, NamespaceRecords] = {}
        self._readable: list[str] | None = None
        self._run_namespaces: dict[str, str] = {}
        self._deployed_to: list[str] = []  # namespaces this target submitted runs to
        self._logs: dict[tuple[str, str, int], tuple[float, bytes]] = {}

    @property
    def cluster(self) -> Cluster:
        """The cluster, reached on first use (opening the target costs nothing, and a
        plain folder is refused before a missing kubeconfig is)."""
        if self._cluster is None:
            self._cluster = Cluster(context=self.options.context)
        return self._cluster

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
            self._records.clear()  # they hold the closed client

    # -- namespaces ---------------------------------------------------------------------------

    def records(self, namespace: str) -> NamespaceRecords:
        found = self._records.get(namespace)
        if found is None:
            found = self._records[namespace] = NamespaceRecords(self.cluster, namespace)
        return found

    def namespaces(self) -> list[str]:
        """Where reads look: the namespaces given or found, and those this target deployed to."""
        if self._readable is None:
            self._readable = namespaces.read_namespaces(
                self.cluster, self.options.namespace, self.options.context
            )
        return [*self._readable, *(n for n in self._deployed_to if n not in self._readable)]

    def _where(self, run_id: str) -> str | None:
        """The namespace of the run (None: in none of ours)."""
        known = self._run_namespaces.get(run_id)
        if known is not None:
            return known
        for namespace in self.namespaces():
            if self.records(namespace).get_run(run_id, with_plan=False) is not None:
                self._run_namespaces[run_id] = namespace
                return namespace
        return None

    def _note(self, namespace: str, runs: list[Run]) -> list[Run]:
        for run in runs:
            self._run_namespaces.setdefault(run.id, namespace)
        return runs

    # -- set-up ---------------------------------------------------------------------------------

    def configure(self) -> list[str]:
        """Apply ``rbac(namespace)``: the Namespace (which may exist already), the
        controller's ServiceAccount, Role and RoleBinding, the stages' ServiceAccount."""
        namespace = self.options.namespace or namespaces.context_namespace(
            self.cluster, self.options.context
        )
        if not namespace:
            raise BadInputError(
                "which namespace? - give it: bodywork configure-cluster --namespace NS"
            )
        try:
            objects = k8s.rbac(namespace)
        except ValueError as exc:  # the options check the name
            raise BadInputError(f"--namespace {namespace}: {exc}") from None
        made = []
        for obj in objects:
            self.cluster.apply(obj)
            made.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return made

    # -- changes ----------------------------------------------------------------------------------

    def submit(self, plan: Plan, options: RunOptions) -> Run:
        require_git_source(plan)
        namespace = namespaces.submit_namespace(self.options.namespace, plan)
        try:
            k8s_options = k8s.KubernetesOptions(namespace=namespace)
        except ValueError as exc:
            raise BadInputError(f"namespace {namespace!r}: {exc}") from None
        namespaces.require_configured(self.cluster, namespace)
        image = self.options.image or DEFAULT_IMAGE
        with RecordWriter(self.cluster, namespace, flush_interval=None) as writer:
            run = writer.create_run(
                plan.pipeline,
                plan.pipeline,
                plan.source.model_dump(mode="json"),
                plan.model_dump(mode="json"),
                options.model_dump(mode="json"),
            )
            writer.flush()
            try:
                self._schedule(plan, k8s_options, image)
                self.cluster.apply(
                    k8s.controller_job(plan, run.id, options=k8s_options, image=image)
                )
            except Exception as exc:
                message = f"could not start its controller: {exc}"
                writer.record(run.id, "run.failed", message=message)
                raise
        self._run_namespaces[run.id] = namespace
        if namespace not in self._deployed_to:
            self._deployed_to.append(namespace)
        return run

    def _schedule(self, plan: Plan, options: k8s.KubernetesOptions, image: str) -> None:
        """The plan's CronJob (and the plan it runs) when it has a schedule; else none left
        from an earlier deploy that had one."""
        scheduled = k8s.cronjob(plan, options=options, image=image)
        if scheduled is not None:
            self.cluster.apply(k8s.plan_config_map(plan, options=options))
            self.cluster.apply(scheduled)
            return
        meta = {"namespace": options.namespace}
        with contextlib.suppress(ClusterPermissionError):  # one who may not made none
            self.cluster.delete(
                {"apiVersion": "batch/v1", "kind": "CronJob",
                 "metadata": {**meta, "name": k8s.cronjob_name(plan)}}
            )  # fmt: skip
            self.cluster.delete(
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {**meta, "name": k8s.plan_config_map_name(plan)}}
            )  # fmt: skip

    def cancel(self, run_id: str) -> None:
        namespace = self._where(run_id)
        if namespace is None:
            raise NotFoundError(f"no run '{run_id}' in {', '.join(self.namespaces())}")
        records = self.records(namespace)
        records.forget(run_id)
        run = records.get_run(run_id, with_plan=False)
        if run is None:
            raise NotFoundError(f"no run '{run_id}' in namespace {namespace}")
        if run.status not in (states.QUEUED, states.RUNNING):
            raise BadInputError(
                f"run {run.id} is {run.status}; only queued or running runs can be cancelled"
            )
        records.request_cancel(run.id)
        records.forget(run_id)

    def delete(self, name: str, timeout: float = 60.0) -> Deployment:
        """Remove everything the deployment made in its namespace, and nothing else: its
        CronJob, its controllers (first, so none writes again), its Jobs with their pods,
        Deployments, Services, Ingresses, the plan's ConfigMap, its Lease and its records.
        The RBAC objects of ``configure-cluster`` stay."""
        deadline = time.monotonic() + timeout
        found = self._find_deployment(name)
        if found is None:
            known = ", ".join(d.name for d in self.deployments()) or "none"
            raise NotFoundError(f"no deployment '{name}' (deployments: {known})")
        namespace, record = found
        records = self.records(namespace)
        newest = records.runs(name, limit=1, with_plan=True)
        k8s_name = str(newest[0].plan.get("k8s_name") or "") if newest else ""
        part = f"{k8s.LABEL_PART_OF}={k8s.label_value(k8s_name or rec.deployment_label(name))}"
        controllers = f"{part},{k8s.LABEL_COMPONENT}=controller"
        batch, apps, core = self.cluster.batch, self.cluster.apps, self.cluster.core
        self._delete_listed(namespace, "batch/v1", "CronJob", batch.list_namespaced_cron_job, part)
        self._delete_listed(namespace, "batch/v1", "Job", batch.list_namespaced_job, controllers)
        self._until_gone(namespace, core.list_namespaced_pod, controllers, deadline)
        for api_version, kind, list_function in (
            ("batch/v1", "Job", batch.list_namespaced_job),
            ("apps/v1", "Deployment", apps.list_namespaced_deployment),
            ("v1", "Service", core.list_namespaced_service),
            ("networking.k8s.io/v1", "Ingress", self.cluster.networking.list_namespaced_ingress),
            ("v1", "ConfigMap", core.list_namespaced_config_map),
        ):
            self._delete_listed(namespace, api_version, kind, list_function, part)
        ours = f"{rec.LABEL_RECORD},{rec.LABEL_DEPLOYMENT}={rec.deployment_label(name)}"
        self._delete_listed(namespace, "v1", "ConfigMap", core.list_namespaced_config_map, ours)
        lease = {"name": lease_name(name), "namespace": namespace}
        self.cluster.delete(
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": lease}
        )
        self._until_gone(namespace, apps.list_namespaced_replica_set, part, deadline)
        self._until_gone(namespace, core.list_namespaced_pod, part, deadline)
        records.forget_all()
        return replace(record, status=states.DELETED, updated=time.time())

    def _find_deployment(self, name: str) -> tuple[str, Deployment] | None:
        for namespace in self.namespaces():
            record = self.records(namespace).get_deployment(name)
            if record is not None:
                return namespace, record
        return None

    def _delete_listed(
        self, namespace: str, api_version: str, kind: str, list_function: Any, selector: str
    ) -> None:
        listed: Any = self.cluster.call(list_function, namespace, label_selector=selector)
        for item in listed.items:
            meta = {"name": item.metadata.name, "namespace": namespace}
            self.cluster.delete({"apiVersion": api_version, "kind": kind, "metadata": meta})

    def _until_gone(
        self, namespace: str, list_function: Any, selector: str, deadline: float
    ) -> bool:
        while True:
            listed = self.cluster.call(list_function, namespace, label_selector=selector)
            if not listed.items:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(GONE_POLL_SECONDS)

    # -- liveness ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """An active run whose controller Job failed for good, or is gone, is ``lost``."""
        for namespace in self.namespaces():
            records = self.records(namespace)
            for run in records.runs(limit=500):
                if run.status not in (states.QUEUED, states.RUNNING):
                    continue
                why = self._controller_gone(namespace, run)
                if why is not None:
                    self._lose(namespace, run.id, why)

    def _controller_gone(self, namespace: str, run: Run) -> str | None:
        """Why nobody drives ``run`` any more (None: its controller Job is alive)."""
        job_name = run.options.get("controller_job")
        batch = self.cluster.batch
        jobs: list[Any]
        if job_name:
            try:
                jobs = [self.cluster.call(batch.read_namespaced_job, job_name, namespace)]
            except NotFoundError:
                jobs = []
        else:
            selector = f"{k8s.LABEL_COMPONENT}=controller,{k8s.LABEL_RUN}={k8s.label_value(run.id)}"
            jobs = self.cluster.call(
                batch.list_namespaced_job, namespace, label_selector=selector
            ).items
        if not jobs:
            # deploy records the run, then creates its Job: give it a moment
            if run.status == states.QUEUED and time.time() - run.created < QUEUE_GRACE_SECONDS:
                return None
            return "its controller Job is gone (deleted?) - deploy again"
        job: Any = jobs[0]
        name = job.metadata.name
        for condition in job.status.conditions or [] if job.status else []:
            if condition.status != "True":
                continue
            if condition.type == "Failed":
                return (
                    f"its controller Job {name} failed ({condition.reason}: "
                    f"{condition.message}) - see 'kubectl logs job/{name} -n {namespace}', "
                    "then deploy again"
                )
            if condition.type == "Complete":
                return f"its controller Job {name} ended without recording the outcome"
        return None

    def _lose(self, namespace: str, run_id: str, why: str) -> None:
        with RecordWriter(self.cluster, namespace, flush_interval=None) as writer:
            run = writer.restore(run_id)  # as it is now: it may have settled meanwhile
            if run.status not in (states.QUEUED, states.RUNNING):
                return
            writer.record(run_id, "run.lost", message=why)
            writer.set_deployment_status(
                run.deployment, states.LOST, unless=(states.DELETING, states.DELETED)
            )
        self.records(namespace).forget(run_id)

    # -- raw reads ----------------------------------------------------------------------------

    def get_run(self, run_id: str, with_plan: bool = True) -> Run | None:
        namespace = self._where(run_id)
        if namespace is None:
            return None
        return self.records(namespace).get_run(run_id, with_plan)

    def runs_with_prefix(self, prefix: str, limit: int = 2) -> list[Run]:
        found: list[Run] = []
        for namespace in self.namespaces():
            found += self._note(namespace, self.records(namespace).runs_with_prefix(prefix, limit))
        return _newest(found, limit)

    def runs(
        self, deployment: str | None = None, limit: int = 50, with_plan: bool = False
    ) -> list[Run]:
        found: list[Run] = []
        for namespace in self.namespaces():
            listed = self.records(namespace).runs(deployment, limit, with_plan)
            found += self._note(namespace, listed)
        return _newest(found, limit)

    def stages(self, run_id: str) -> list[StageState]:
        namespace = self._where(run_id)
        return [] if namespace is None else self.records(namespace).stages(run_id)

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        namespace = self._where(run_id)
        return [] if namespace is None else self.records(namespace).events(run_id, after)

    def last_seq(self) -> int:
        return sum(self.records(namespace).last_seq() for namespace in self.namespaces())

    def get_deployment(self, name: str) -> Deployment | None:
        found = self._find_deployment(name)
        return None if found is None else found[1]

    def deployments(self, include_deleted: bool = False) -> list[Deployment]:
        found: list[Deployment] = []
        for namespace in self.namespaces():
            found += self.records(namespace).deployments(include_deleted)
        return sorted(found, key=lambda d: d.name)

    def read_log(
        self, run_id: str, stage: StageState, offset: int, limit: int
    ) -> tuple[bytes, int]:
        """The log of the stage's current attempt, from its pod (the first of a service's
        replicas); nothing while the pod is not there or its container has not started."""
        namespace = self._where(run_id)
        if namespace is None or not stage.attempt:
            return b"", 0
        data = self._log(namespace, run_id, stage)
        start = min(max(offset, 0), len(data))
        return data[start : start + limit], len(data)

    def executed_notebook(self, run_id: str, stage: StageState) -> bytes | None:
        """None for now: the executed notebook stays in the stage pod's emptyDir (no
        artifact store yet), so it cannot be read back from the cluster."""
        return None

    def _log(self, namespace: str, run_id: str, stage: StageState) -> bytes:
        key = (run_id, stage.stage, stage.attempt)
        kept = self._logs.get(key)
        now = time.monotonic()
        if kept is not None and (kept[0] == float("inf") or now - kept[0] < READ_SECONDS):
            return kept[1]
        data = self._pod_log(namespace, run_id, stage)
        finished = stage.status in states.STAGE_FINISHED and data
        if len(self._logs) > 200:
            self._logs.clear()
        self._logs[key] = (float("inf") if finished else now, data)
        return data

    def _pod_log(self, namespace: str, run_id: str, stage: StageState) -> bytes:
        plan = self.records(namespace).plan(run_id)
        planned = (plan.get("stages") or {}).get(stage.stage)
        if planned is None:
            planned = plan.get("run_on_failure") or {}
        k8s_stage = str(planned.get("k8s_name") or stage.stage)
        selector = f"{k8s.LABEL_RUN}={k8s.label_value(run_id)},{k8s.LABEL_STAGE}="
        selector += k8s.label_value(k8s_stage)
        if stage.kind == "batch":
            selector += f",{k8s.LABEL_ATTEMPT}={stage.attempt}"
        core = self.cluster.core
        pods: Any = self.cluster.call(core.list_namespaced_pod, namespace, label_selector=selector)
        if not pods.items:
            return b""
        first = min(pods.items, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))
        try:
            response: Any = self.cluster.call(
                core.read_namespaced_pod_log,
                first.metadata.name,
                namespace,
                container=CONTAINER,
                _preload_content=False,
            )
        except ClusterPermissionError:
            raise
        except BadInputError:  # not started yet, or gone (NotFoundError)
            return b""
        try:
            data: bytes = response.data or b""
        finally:
            response.release_conn()
        return data


def _newest(runs: list[Run], limit: int) -> list[Run]:
    unique = {run.id: run for run in runs}
    return sorted(unique.values(), key=lambda r: r.created, reverse=True)[:limit]
