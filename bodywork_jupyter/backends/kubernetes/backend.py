"""The Kubernetes backend: every batch attempt is a Job, every service version a Deployment.

Watch-driven, never polling: an attempt is followed through a watch of its own Job or
Deployment (by name) and of its pods (by their labels), each listed first and watched
from the list's resourceVersion (``watching.ObjectStream``). A batch attempt ends on its
Job's ``Complete`` / ``Failed`` condition; a service is ready when its Deployment has
rolled out every replica. A pod that cannot run (Unschedulable, a missing Secret, an
image that cannot be pulled, OOMKilled, a service crashing in a loop) fails the attempt
at once with its reason (``pods.problem``), never as a timeout. The runner's events are
read from the first pod's log (``logs.LogFollower``) and handed to the engine's sink;
a batch attempt's executed notebook, sent in them, is kept as a record (``notebooks``).

A new service version runs beside the old one: ``switch_traffic`` moves the stage's
Service (and Ingress) to it once the engine says so (``before_deployed``); a version that
fails is deleted and the Service never moved, which is the rollback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from bodywork_jupyter.backends.kubernetes import outcomes, pods
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.handle import API_VERSIONS, KubeHandle, service_url
from bodywork_jupyter.backends.kubernetes.logs import LogFollower, last_failure
from bodywork_jupyter.backends.kubernetes.notebooks import NotebookKeeper
from bodywork_jupyter.backends.kubernetes.watching import AttemptStreams, current, until_pods_go
from bodywork_jupyter.engine.backend import Attempt, EventSink, HandleRef, Outcome, StopReason
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.model import Plan
from bodywork_runner.notebook_events import NOTEBOOK_EVENTS

log = logging.getLogger(__name__)

#: The stage container's name in every rendered pod.
CONTAINER = "stage"
#: How long a finished batch attempt waits for its log's last events to arrive.
DRAIN_SECONDS = 2.0


class KubernetesBackend:
    """``Backend[KubeHandle]`` on one cluster, in ``options.namespace``."""

    def __init__(
        self,
        cluster: Cluster,
        options: k8s.KubernetesOptions,
        *,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.cluster = cluster
        self.options = options
        self.namespace = options.namespace
        self.drain_seconds = drain_seconds
        self._live: set[KubeHandle] = set()

    # -- rendering (a subclass may adapt the objects, e.g. to a test cluster's node) --------

    def job_manifest(self, attempt: Attempt) -> dict[str, Any]:
        rendered = k8s.job(
            attempt.plan,
            attempt.stage,
            run_id=attempt.run_id,
            attempt=attempt.number,
            options=self.options,
        )
        return with_env(rendered, attempt.extra_env)

    def deployment_manifest(self, attempt: Attempt) -> dict[str, Any]:
        rendered = k8s.deployment(
            attempt.plan, attempt.stage, run_id=attempt.run_id, options=self.options
        )
        return with_env(rendered, attempt.extra_env)

    # -- the Backend protocol -----------------------------------------------------------------

    async def start(self, attempt: Attempt, sink: EventSink) -> KubeHandle:
        stage = attempt.stage
        batch = stage.kind == "batch"
        manifest = self.job_manifest(attempt) if batch else self.deployment_manifest(attempt)
        applied = await asyncio.to_thread(self.cluster.apply, manifest)
        if batch:
            labels = {
                **k8s.selector(attempt.plan, stage, attempt.run_id),
                k8s.LABEL_ATTEMPT: str(attempt.number),
            }
        else:
            labels = dict(applied["spec"]["selector"]["matchLabels"])
        handle = KubeHandle(
            kind=manifest["kind"],
            name=applied["metadata"]["name"],
            namespace=self.namespace,
            uid=applied["metadata"]["uid"],
            run_id=attempt.run_id,
            stage=stage.name,
            attempt=attempt.number,
            pod_labels=labels,
            url=None if batch else self._url(k8s.service_name(stage), stage.port),
            origin=attempt,
            sink=sink,
            loop=asyncio.get_running_loop(),
        )
        if batch:
            handle.notebook = self._keeper(handle, attempt.deployment)
        self._live.add(handle)
        return handle

    async def watch(self, handle: KubeHandle) -> Outcome:
        if handle.kind == "Job":
            try:
                return await self._watch_job(handle)
            finally:
                self._stop_follower(handle)
                self._live.discard(handle)
        return await self._watch_deployment(handle)

    async def stop(
        self, handle: KubeHandle, reason: StopReason = "deleted", grace_seconds: float = 10.0
    ) -> None:
        # every reason means the same for now: this attempt's object goes. A rollback is
        # the old version's Deployment staying, and the Service's selector not moving.
        await self._delete(handle)
        await until_pods_go(self.cluster, handle.namespace, handle.pod_selector, grace_seconds)
        self._live.discard(handle)

    def ref(self, handle: KubeHandle) -> HandleRef:
        return handle.ref()

    async def attach(self, ref: HandleRef) -> KubeHandle | None:
        """The attempt ``ref`` names if its object is still there (with the same uid).

        An attached attempt has no sink (the protocol gives none): its runner events are
        read for its outcome only."""
        kind, name = ref.get("kind"), str(ref.get("name"))
        namespace = str(ref.get("namespace") or self.namespace)
        if ref.get("backend") != "kubernetes" or kind not in API_VERSIONS:
            return None
        if kind == "Job":
            read: Any = self.cluster.batch.read_namespaced_job
        else:
            read = self.cluster.apps.read_namespaced_deployment
        try:
            found = await asyncio.to_thread(self.cluster.call, read, name, namespace)
        except NotFoundError:
            return None
        obj: dict[str, Any] = self.cluster.api_client.sanitize_for_serialization(found)  # type: ignore[no-untyped-call]
        handle = KubeHandle.attached(ref, obj, asyncio.get_running_loop())
        if handle is None:
            return None  # another object of the same name: ours is gone
        if handle.kind == "Job":  # its pipeline is the run's deployment
            notes = (obj.get("metadata") or {}).get("annotations") or {}
            handle.notebook = self._keeper(handle, notes.get(k8s.ANNOTATION_PIPELINE))
        self._live.add(handle)
        return handle

    # -- traffic ------------------------------------------------------------------------------

    async def switch_traffic(self, handle: KubeHandle, plan: Plan | None = None) -> str:
        """Point the stage's Service (and Ingress, when it has one) at this version's pods.

        ``plan`` is needed only for an attached handle (one started elsewhere). Returns
        the in-cluster URL."""
        if handle.kind != "Deployment":
            raise ValueError(f"{handle.stage} is a batch stage: it takes no traffic")
        plan = plan or (handle.origin.plan if handle.origin else None)
        if plan is None:
            raise BadInputError(f"switch_traffic({handle.stage}): give the plan of its run")
        stage = plan.stages.get(handle.stage)
        if stage is None:
            raise BadInputError(f"stage {handle.stage} is not in plan {plan.pipeline}")
        service = k8s.service(plan, stage, run_id=handle.run_id, options=self.options)
        await asyncio.to_thread(self.cluster.apply, service)
        routed = k8s.ingress(plan, stage, self.options)
        if routed is not None:
            await asyncio.to_thread(self.cluster.apply, routed)
        return handle.url or self._url(k8s.service_name(stage), stage.port)

    async def close(self) -> None:
        """Stop following every log still followed (the attempts themselves stay)."""
        for handle in list(self._live):
            self._stop_follower(handle)
        self._live.clear()

    # -- batch and services --------------------------------------------------------------

    def _streams(self, handle: KubeHandle) -> AttemptStreams:
        if handle.kind == "Job":
            list_main: Any = self.cluster.batch.list_namespaced_job
        else:
            list_main = self.cluster.apps.list_namespaced_deployment
        what = f"{handle.kind} {handle.name}"
        return AttemptStreams(
            self.cluster, list_main, handle.namespace, handle.name, handle.pod_selector, what
        )

    async def _watch_job(self, handle: KubeHandle) -> Outcome:
        with self._streams(handle) as streams:
            while True:
                tag, change = await streams.next()
                if tag == "pods":
                    self._follow(handle, streams.pods.values())
                    problem = _pod_problem(streams.pods.values(), service=False)
                    if problem is not None:
                        if problem.stuck:  # it would wait for ever (or its deadline): end it
                            await self._delete(handle)
                        return outcomes.pod_outcome(problem)
                    continue
                job = current(change, handle.uid)
                if job is None:
                    return Outcome(False, "lost", f"its Job {handle.name} was deleted")
                ended = outcomes.job_ended(job)
                if ended is None:
                    continue
                complete = ended.get("type") == "Complete"
                # the last events (cell.finished, stage.failed) come from the log, which
                # ends about when the Job does: wait for them, a little
                if handle.sink is not None or not complete or handle.notebook is not None:
                    await self._follow_now(handle)
                    if handle.follower is not None:
                        await handle.follower.drained(self.drain_seconds)
                ended_container = pods.terminated(streams.pods.values(), CONTAINER)
                if ended_container is None and not complete:  # the pod stream lags a little
                    ended_container = pods.terminated(await self._list_pods(handle), CONTAINER)
                outcome = outcomes.job_outcome(job, ended, ended_container, handle.runner_failed)
                if handle.notebook is not None:
                    outcome = await handle.notebook.with_notebook(outcome)
                return outcome

    async def _watch_deployment(self, handle: KubeHandle) -> Outcome:
        with self._streams(handle) as streams:
            while True:
                tag, change = await streams.next()
                if tag == "pods":
                    self._follow(handle, streams.pods.values())
                    problem = _pod_problem(streams.pods.values(), service=True)
                    if problem is not None:  # the engine stops it
                        if (
                            handle.runner_failed is None
                            and problem.k8s_reason == "CrashLoopBackOff"
                        ):
                            handle.runner_failed = await asyncio.to_thread(
                                last_failure, self.cluster, handle.namespace, problem.pod, CONTAINER
                            )
                        return outcomes.pod_outcome(problem, handle.runner_failed)
                    continue
                deployment = current(change, handle.uid)
                if deployment is None:
                    return Outcome(False, "lost", f"its Deployment {handle.name} was deleted")
                settled = outcomes.rolled_out(deployment, handle.url)
                if settled is None:
                    continue
                if settled.ok:  # its log is followed until the version stops
                    await self._follow_now(handle)
                    await self._serve_first_version(handle)
                elif settled.reason == "timeout":
                    await self._delete(handle)  # the engine stops only what it timed out
                return settled

    async def _serve_first_version(self, handle: KubeHandle) -> None:
        """A stage's first version takes the stage's name as soon as it is ready.

        Nothing serves under that name yet, so there is nothing to protect, and a later
        stage of the same run may call it (Bodywork's ``stage_4 >> stage_5`` calls
        ``http://stage-4:5000``). A redeploy's version waits for its run to settle: the
        engine's ``before_deployed`` moves the traffic, and until then the name reaches
        the version that serves."""
        stage = handle.origin.plan.stages.get(handle.stage) if handle.origin else None
        if stage is None:
            return  # attached: the run's controller that started it decided already
        # listed, not read: the controller's Role lists Services (it never gets one)
        listed: Any = await asyncio.to_thread(
            self.cluster.call,
            self.cluster.core.list_namespaced_service,
            handle.namespace,
            field_selector=f"metadata.name={k8s.service_name(stage)}",
        )
        if not listed.items:
            await self.switch_traffic(handle, handle.origin.plan if handle.origin else None)

    async def _delete(self, handle: KubeHandle) -> None:
        handle.stopping = True
        self._stop_follower(handle)
        await asyncio.to_thread(self.cluster.delete, handle.obj, "Background")

    # -- pods and logs -----------------------------------------------------------------------

    async def _list_pods(self, handle: KubeHandle) -> list[dict[str, Any]]:
        def listed() -> list[dict[str, Any]]:
            response: Any = self.cluster.call(
                self.cluster.core.list_namespaced_pod,
                handle.namespace,
                label_selector=handle.pod_selector,
                _preload_content=False,
            )
            try:
                data = json.loads(response.data or b"{}")
            finally:
                response.release_conn()
            items: list[dict[str, Any]] = data.get("items") or []
            return items

        return await asyncio.to_thread(listed)

    def _follow(self, handle: KubeHandle, listed: list[dict[str, Any]]) -> None:
        """Start following the first pod's log once its container has started."""
        if handle.follower is not None or handle.stopping or handle.loop is None:
            return
        first = pods.first(listed)
        if first is None or not pods.started(first, CONTAINER):
            return
        handle.follower = LogFollower(
            self.cluster,
            handle.namespace,
            pods.name(first),
            CONTAINER,
            handle.loop,
            lambda event: _runner_event(handle, event),
        ).start()

    async def _follow_now(self, handle: KubeHandle) -> None:
        """Follow the log if that has not started yet (the pod stream may lag the Job's)."""
        if handle.follower is None and not handle.stopping:
            self._follow(handle, await self._list_pods(handle))

    def _stop_follower(self, handle: KubeHandle) -> None:
        if handle.follower is not None:
            handle.follower.stop()

    def _url(self, service: str, port: int | None) -> str:
        return service_url(service, self.namespace, port)

    def _keeper(self, handle: KubeHandle, deployment: str | None) -> NotebookKeeper:
        return NotebookKeeper(
            self.cluster, handle.namespace, handle.run_id, handle.stage, handle.attempt, deployment
        )


def _runner_event(handle: KubeHandle, event: dict[str, Any]) -> None:
    """One runner event from the log, in the loop's thread."""
    if event.get("event") in NOTEBOOK_EVENTS:  # the notebook itself: kept, never recorded
        if handle.notebook is not None:
            handle.notebook.on_event(event)
        return
    if event.get("event") == "stage.failed":
        handle.runner_failed = event
    if handle.sink is not None:
        handle.sink(str(event["event"]), event)


def _pod_problem(listed: list[dict[str, Any]], *, service: bool) -> pods.PodProblem | None:
    for pod in listed:
        problem = pods.problem(pod, service=service)
        if problem is not None:
            return problem
    return None


def with_env(manifest: dict[str, Any], extra: Mapping[str, str]) -> dict[str, Any]:
    """``manifest`` with ``extra`` env (the engine's, e.g. BODYWORK_FAILED_STAGE) in its
    container and in the runner's spec (the renderer has no place for it): it wins over
    the stage's own env, as it does on every target."""
    if not extra:
        return manifest
    for container in manifest["spec"]["template"]["spec"]["containers"]:
        env = [e for e in container.get("env", []) if e["name"] not in extra]
        for entry in env:
            if entry["name"] == k8s.SPEC_ENV:
                spec = json.loads(entry["value"])
                spec["env"] = {**(spec.get("env") or {}), **extra}
                entry["value"] = json.dumps(spec, sort_keys=True)
        container["env"] = env + [{"name": k, "value": v} for k, v in extra.items()]
    return manifest
