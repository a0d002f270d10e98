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

What the target does is here; how is next to it: ``namespace_records`` (reads, kept a
moment), ``deployment_delete`` (the delete sweep), ``controller_liveness`` (lost runs) and
``stage_logs`` (a stage's log from its pod).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import replace

from bodywork_jupyter.backends.kubernetes import namespaces, notebooks
from bodywork_jupyter.backends.kubernetes import schedules as cluster_schedules
from bodywork_jupyter.backends.kubernetes import secrets as cluster_secrets
from bodywork_jupyter.backends.kubernetes.cluster import Cluster, ClusterPermissionError
from bodywork_jupyter.backends.kubernetes.controller_liveness import (
    controller_gone,
    controller_stuck,
    lose_run,
)
from bodywork_jupyter.backends.kubernetes.deployment_delete import delete_deployment
from bodywork_jupyter.backends.kubernetes.ingress_urls import ingress_urls
from bodywork_jupyter.backends.kubernetes.namespace_records import READ_SECONDS, NamespaceRecords
from bodywork_jupyter.backends.kubernetes.namespace_settings import (
    changed_settings,
    read_settings,
    write_settings,
)
from bodywork_jupyter.backends.kubernetes.records_write import RecordWriter
from bodywork_jupyter.backends.kubernetes.service_calls import call_service
from bodywork_jupyter.backends.kubernetes.service_restarts import ServiceRestarts
from bodywork_jupyter.backends.kubernetes.stage_logs import pod_log
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Deployment, Event, Run, StageState
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.plan import DEFAULT_IMAGE
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.kubernetes.checks import require_git_source
from bodywork_jupyter.plan.kubernetes.settings import options_for, sharing_notes, with_image
from bodywork_jupyter.plan.model import Plan
from bodywork_jupyter.targets.base import (
    ClusterChanges,
    RunOptions,
    StoredSchedule,
    StoredSecret,
    Target,
    TargetOptions,
)


class KubernetesTarget(Target):
    name = "kubernetes"
    requires_git = True
    pulls_images = True

    def __init__(self, options: TargetOptions | None = None) -> None:
        self.options = options or TargetOptions(name="kubernetes")
        self._cluster: Cluster | None = None
        self._records: dict[str, NamespaceRecords] = {}
        self._readable: list[str] | None = None
        self._run_namespaces: dict[str, str] = {}
        self._deployed_to: list[str] = []  # namespaces this target submitted runs to
        self._logs: dict[tuple[str, str, int], tuple[float, bytes]] = {}
        self._restarts = ServiceRestarts()

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

    def configure(self, changes: ClusterChanges | None = None) -> list[str]:
        """Apply ``rbac(namespace)``: the Namespace (which may exist already), the
        controller's ServiceAccount, Role and RoleBinding, the stages' ServiceAccount; then
        the namespace's settings with ``changes`` (and the claims they name)."""
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
        settings = read_settings(self.cluster, namespace)
        if changes is not None:
            settings = changed_settings(settings, changes)
        made += write_settings(self.cluster, namespace, settings)
        return made + [f"setting {line}" for line in settings.shown()]

    def notes(self, plan: Plan) -> list[str]:
        namespace = namespaces.submit_namespace(self.options.namespace, plan)
        try:
            settings = read_settings(self.cluster, namespace)
        except (BadInputError, NotFoundError):
            return []  # submit says what is wrong with the namespace
        return sharing_notes(plan, settings, namespace)

    def call_service(
        self, url: str, path: str, body: bytes | None, timeout: float = 30.0
    ) -> tuple[int, bytes]:
        return call_service(self.cluster, url, path, body, timeout)

    # -- changes ----------------------------------------------------------------------------------

    def submit(self, plan: Plan, options: RunOptions, started_by: str | None = None) -> Run:
        namespace, k8s_options, plan, image = self._placed(plan)
        with RecordWriter(self.cluster, namespace, flush_interval=None) as writer:
            run = writer.create_run(
                plan.pipeline,
                plan.pipeline,
                plan.source.model_dump(mode="json"),
                plan.model_dump(mode="json"),
                options.model_dump(mode="json"),
                started_by=started_by,
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

    def _placed(self, plan: Plan) -> tuple[str, k8s.KubernetesOptions, Plan, str]:
        """Where ``plan`` goes and how (for a deploy, or a schedule set without a run): its
        namespace, set up and holding its secrets; the namespace's options; the plan with
        the namespace's image; the controller's image."""
        require_git_source(plan)
        namespace = namespaces.submit_namespace(self.options.namespace, plan)
        try:
            k8s_options = k8s.KubernetesOptions(namespace=namespace)
        except ValueError as exc:
            raise BadInputError(f"namespace {namespace!r}: {exc}") from None
        namespaces.require_configured(self.cluster, namespace)
        # a missing secret refuses the deploy here, before its record or a pod exists
        cluster_secrets.require_stage_secrets(self.cluster, namespace, plan)
        settings = read_settings(self.cluster, namespace)
        k8s_options = options_for(namespace, settings)
        plan = with_image(plan, settings, DEFAULT_IMAGE)
        image = self.options.image or settings.image or DEFAULT_IMAGE
        return namespace, k8s_options, plan, image

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

    # -- schedules: our CronJobs (how is in schedules.py) -----------------------------------

    def set_schedule(
        self, plan: Plan, options: RunOptions, *, exists: bool | None = None
    ) -> StoredSchedule:
        """The plan's ConfigMap and CronJob, as a deploy applies them, without its run."""
        if not plan.schedule:
            raise BadInputError(f"pipeline '{plan.pipeline}' has no schedule - give one")
        namespace, k8s_options, plan, image = self._placed(plan)
        have = [c for c in cluster_schedules.cronjobs(self.cluster, namespace)
                if cluster_schedules.pipeline_of(c) == plan.pipeline]  # fmt: skip
        if exists is False and have:
            raise BadInputError(
                f"deployment '{plan.pipeline}' has a schedule already in {namespace} "
                f"('{have[0].spec.schedule}') - change it with: bodywork schedule update "
                "SOURCE --schedule '...' (or update cronjob)"
            )
        if exists is True and not have:
            cluster_schedules.find(self.cluster, [namespace], plan.pipeline)  # says what is
        self._schedule(plan, k8s_options, image)
        if namespace not in self._deployed_to:
            self._deployed_to.append(namespace)
        return self._stored_schedule(namespace, plan.pipeline)

    def schedules(self) -> list[StoredSchedule]:
        return [
            cluster_schedules.stored(self.cluster, namespace, cronjob, self.records(namespace))
            for namespace in self.namespaces()
            for cronjob in cluster_schedules.cronjobs(self.cluster, namespace)
        ]

    def pause_schedule(self, name: str, paused: bool = True) -> StoredSchedule:
        namespace, cronjob = cluster_schedules.find(self.cluster, self.namespaces(), name)
        cluster_schedules.suspend(self.cluster, namespace, cronjob, paused)
        return self._stored_schedule(namespace, name)

    def delete_schedule(self, name: str) -> StoredSchedule:
        namespace, cronjob = cluster_schedules.find(self.cluster, self.namespaces(), name)
        was = cluster_schedules.stored(self.cluster, namespace, cronjob, self.records(namespace))
        cluster_schedules.delete(self.cluster, namespace, cronjob)
        return was

    def _stored_schedule(self, namespace: str, name: str) -> StoredSchedule:
        namespace, cronjob = cluster_schedules.find(self.cluster, [namespace], name)
        return cluster_schedules.stored(self.cluster, namespace, cronjob, self.records(namespace))

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
        delete_deployment(self.cluster, self.records(namespace), namespace, name, deadline)
        return replace(record, status=states.DELETED, updated=time.time())

    def _find_deployment(self, name: str) -> tuple[str, Deployment] | None:
        for namespace in self.namespaces():
            record = self.records(namespace).get_deployment(name)
            if record is not None:
                return namespace, record
        return None

    # -- liveness ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """An active run whose controller Job failed for good, or is gone, or whose
        controller pod cannot start (its image cannot be pulled, say), is ``lost``."""
        for namespace in self.namespaces():
            records = self.records(namespace)
            for run in records.runs(limit=500):
                if run.status not in (states.QUEUED, states.RUNNING):
                    continue
                why = controller_gone(self.cluster, namespace, run)
                stuck = None if why is not None else controller_stuck(self.cluster, namespace, run)
                if stuck is not None:
                    why = stuck[0]
                if why is not None and lose_run(self.cluster, namespace, run.id, why):
                    records.forget(run.id)
                    if stuck is not None:  # it must not start later, on a run recorded lost
                        self.cluster.delete(
                            {"apiVersion": "batch/v1", "kind": "Job",
                             "metadata": {"namespace": namespace, "name": stuck[1]}}
                        )  # fmt: skip

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
        self,
        deployment: str | None = None,
        limit: int = 50,
        with_plan: bool = False,
        status: str | None = None,
    ) -> list[Run]:
        found: list[Run] = []
        for namespace in self.namespaces():
            listed = self.records(namespace).runs(deployment, limit, with_plan, status)
            found += self._note(namespace, listed)
        return _newest(found, limit)

    def stages(self, run_id: str) -> list[StageState]:
        namespace = self._where(run_id)
        if namespace is None:
            return []
        records = self.records(namespace)
        rows = records.stages(run_id)
        run = records.get_run(run_id, with_plan=False)
        if run is None or run.status != states.DEPLOYED:
            return rows
        # the record says its services are ready; their pods say if one is restarting
        plan = records.plan(run_id)
        return self._restarts.mark(self.cluster, namespace, run_id, plan, rows)

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
        """The executed notebook of the stage's last attempt, from its record: the runner
        sent it in its log and the controller kept it (``notebooks``)."""
        namespace = self._where(run_id)
        if namespace is None or not stage.attempt or stage.kind != "batch":
            return None
        return notebooks.read(self.cluster, namespace, run_id, stage.stage, stage.attempt)

    def ingress_urls(self, run_id: str) -> dict[str, str | None]:
        """Each of the run's services with an Ingress: its URL from outside the cluster
        (``ingress_urls``), None while it has no address; none for one who may not list
        Ingresses."""
        namespace = self._where(run_id)
        if namespace is None:
            return {}
        plan = self.records(namespace).plan(run_id)
        try:
            return ingress_urls(self.cluster, namespace, plan)
        except ClusterPermissionError:
            return {}

    def _log(self, namespace: str, run_id: str, stage: StageState) -> bytes:
        key = (run_id, stage.stage, stage.attempt)
        kept = self._logs.get(key)
        now = time.monotonic()
        if kept is not None and (kept[0] == float("inf") or now - kept[0] < READ_SECONDS):
            return kept[1]
        plan = self.records(namespace).plan(run_id)
        data = pod_log(self.cluster, namespace, plan, run_id, stage)
        finished = stage.status in states.STAGE_FINISHED and data
        if len(self._logs) > 200:
            self._logs.clear()
        self._logs[key] = (float("inf") if finished else now, data)
        return data

    # -- secrets (bodywork secret): Secrets a stage's `secrets:` finds; how is in secrets.py --

    def create_secret(
        self, name: str, data: Mapping[str, str], group: str | None = None
    ) -> StoredSecret:
        namespace = self._secret_namespace()
        return cluster_secrets.create_secret(self.cluster, namespace, name, group, data)

    def update_secret(
        self, name: str, data: Mapping[str, str], group: str | None = None
    ) -> StoredSecret:
        namespace = self._secret_namespace()
        return cluster_secrets.update_secret(self.cluster, namespace, name, group, data)

    def list_secrets(self, group: str | None = None) -> list[StoredSecret]:
        """Ours in every namespace reads look in (``namespaces``)."""
        return [
            secret
            for namespace in self.namespaces()
            for secret in cluster_secrets.list_secrets(self.cluster, namespace, group)
        ]

    def delete_secret(self, name: str, group: str | None = None) -> StoredSecret:
        namespace = self._secret_namespace()
        return cluster_secrets.delete_secret(self.cluster, namespace, name, group)

    def _secret_namespace(self) -> str:
        return cluster_secrets.secret_namespace(
            self.cluster, self.options.namespace, self.options.context
        )


def _newest(runs: list[Run], limit: int) -> list[Run]:
    unique = {run.id: run for run in runs}
    return sorted(unique.values(), key=lambda r: r.created, reverse=True)[:limit]
