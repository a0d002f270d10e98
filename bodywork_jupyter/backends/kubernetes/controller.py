"""The in-cluster controller: the engine, run in the cluster as a Job, for one run.

``bodywork-controller --namespace NS --run RUN_ID`` drives a run that ``bodywork deploy``
recorded; ``bodywork-controller --namespace NS --plan FILE`` (a CronJob's pod) records a
new run of the plan in FILE first. It connects in-cluster, takes the deployment's Lease
(at most one controller drives a deployment), restores the run from its record and runs
the Engine with the Kubernetes backend:

- a run already finished (or deployed) needs nothing: it exits 0 at once;
- a run cancelled before it started is recorded ``cancelled``;
- a run already started (the pod was killed and its Job made a new one) is taken over:
  stages that succeeded are not run again, attempts still going are re-attached;
- cancel is watched (the run's summary ConfigMap, for its cancel flag), never polled;
- before a run counts as deployed, traffic moves to each new service version that is
  ready, then older versions go (``run.stopped``, "replaced by run X", on their runs). A
  run that fails before that leaves the old version serving, untouched: the rollback.

It says what it decides on stdout, one line each. Exit 0 whenever the run's outcome is
recorded; non-zero only when it could not do its job (the Job then makes a new pod,
which resumes). On SIGTERM it flushes the record, gives the Lease back and leaves every
stage running for the controller that takes over.

The traffic switch and the removal of older versions are in ``controller_versions``; what
it says, and the engine's recorder that says it, in ``controller_saying``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.backend import KubernetesBackend
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.controller_saying import SayingRecorder, say
from bodywork_jupyter.backends.kubernetes.controller_versions import swap_in
from bodywork_jupyter.backends.kubernetes.handle import KubeHandle
from bodywork_jupyter.backends.kubernetes.lease import DeploymentLease, LeaseLostError
from bodywork_jupyter.backends.kubernetes.namespace_settings import read_settings
from bodywork_jupyter.backends.kubernetes.records_write import RecordWriter
from bodywork_jupyter.backends.kubernetes.watching import Change, ObjectStream
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.engine import Engine, Progress
from bodywork_jupyter.engine.parallelism import DEFAULT_MAX_PARALLEL
from bodywork_jupyter.engine.started_by import by_schedule
from bodywork_jupyter.engine.store import Run
from bodywork_jupyter.errors import BodyworkError
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.kubernetes.settings import options_for
from bodywork_jupyter.plan.model import Plan

#: How long one wait for the Lease lasts before the controller looks at the cancel flag.
LEASE_LOOK_SECONDS = 2.0
EXIT_OK = 0
EXIT_FAILED = 1  # could not do its job: the Job makes a new pod, which resumes
EXIT_BAD_INPUT = 2
EXIT_TERMINATED = 143


def lease_name(deployment: str) -> str:
    """The Lease a deployment's controllers share (in the deployment's namespace)."""
    return k8s.k8s_object_name("bw-lease", rec.deployment_label(deployment))


class Controller:
    """Drives one run of one deployment, in ``namespace``."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        holder: str,
        *,
        run_id: str | None = None,
        plan_file: Path | None = None,
        job_name: str | None = None,
        folder: Path | None = None,
    ) -> None:
        if (run_id is None) == (plan_file is None):
            raise ValueError("give a run id or a plan file")
        self.cluster = cluster
        self.namespace = namespace
        self.holder = holder
        self.run_id = run_id or ""
        self.plan_file = plan_file
        self.job_name = job_name
        self.writer = RecordWriter(cluster, namespace, folder)
        self.lease: DeploymentLease | None = None
        self.backend: KubernetesBackend | None = None
        self.cancel_seen = asyncio.Event()
        self._cancel_summary: dict[str, Any] | None = None
        self._stream: ObjectStream | None = None

    # -- the run -----------------------------------------------------------------------------

    async def main(self) -> int:
        """Drive the run; 0 once its outcome (or that it needs nothing) is recorded."""
        code = await self._main()
        self.writer.close()  # the last events, flushed
        self.release()
        return code

    async def _main(self) -> int:
        if self.plan_file is not None:
            self.run_id = self._scheduled_run(self.plan_file)
        run = self.writer.restore(self.run_id)
        say(f"run {run.id} of {run.deployment} in {self.namespace}: {run.status}")
        if states.settled(run.status):
            say(f"run {run.id} is {run.status} already: nothing to do")
            return EXIT_OK
        self._watch_cancel()
        self.lease = DeploymentLease(
            self.cluster, self.namespace, lease_name(run.deployment), self.holder
        )
        if not await self._take_lease(run):
            return EXIT_OK
        run = self.writer.restore(self.run_id)  # as it is now that no one else drives it
        if states.settled(run.status):
            say(f"run {run.id} is {run.status} already: nothing to do")
            return EXIT_OK
        if run.status == states.QUEUED and self.writer.cancel_requested(run.id):
            say("cancel was requested before the run started: cancelled")
            return EXIT_OK
        return await self._drive(run)

    def _scheduled_run(self, plan_file: Path) -> str:
        """A scheduled run: the one this Job recorded already (a replaced pod), else a new one."""
        plan = Plan.model_validate_json(plan_file.read_text(encoding="utf-8"))
        if self.job_name:
            for obj in rec.listed(
                self.cluster, self.namespace, rec.selector(rec.RUN, deployment=plan.pipeline)
            ):
                data = json.loads(rec.data_of(obj).get(rec.KEY_RUN, "{}"))
                if (data.get("options") or {}).get("controller_job") == self.job_name:
                    say(f"scheduled run {data.get('id')} of Job {self.job_name}: taking it over")
                    return str(data["id"])
        options = {
            "max_parallel": DEFAULT_MAX_PARALLEL,
            "controller_job": self.job_name,
            "scheduled": True,
        }
        run = self.writer.create_run(
            plan.pipeline,
            plan.pipeline,
            plan.source.model_dump(mode="json"),
            plan.model_dump(mode="json"),
            options,
            started_by=by_schedule(plan.pipeline),
        )
        self.writer.flush()
        say(f"scheduled run {run.id} of {plan.pipeline} recorded")
        return run.id

    async def _take_lease(self, run: Run) -> bool:
        """Wait for the deployment's Lease; False if the run was cancelled meanwhile."""
        assert self.lease is not None
        if not await asyncio.to_thread(self.lease.try_acquire):
            say(
                f"waiting for Lease {self.lease.name}: another run of {run.deployment} "
                "is being driven"
            )
        while True:
            try:
                await self.lease.acquire(timeout=LEASE_LOOK_SECONDS)
                say(f"holding Lease {self.lease.name} as {self.holder}")
                return True
            except LeaseLostError:
                pass  # still held: look again (and at the cancel flag)
            if self.cancel_seen.is_set():
                # a queued run is cancelled at once; a started one once the Lease is ours
                self.writer.cancel_requested(self.run_id, self._cancel_summary)
                now = self.writer.store(self.run_id).get_run(self.run_id, with_plan=False)
                if now is not None and now.status == states.CANCELLED:
                    say("cancelled while waiting for the Lease")
                    return False

    async def _drive(self, run: Run) -> int:
        plan = Plan.model_validate(run.plan)
        # the namespace's settings as configure-cluster left them (the deploy read the same)
        settings = read_settings(self.cluster, self.namespace)
        backend = KubernetesBackend(self.cluster, options_for(self.namespace, settings))
        self.backend = backend
        progress = None
        if run.status != states.QUEUED:
            progress = Progress.from_rows(self.writer.store(run.id).stages(run.id))
            say(
                f"taking the run over: succeeded {sorted(progress.succeeded) or 'none'}, "
                f"re-attaching {sorted(progress.in_flight) or 'none'}"
            )
        engine: Engine[KubeHandle] = Engine(
            backend,
            SayingRecorder(self.writer),
            run.id,
            run.deployment,
            max_parallel=int(run.options.get("max_parallel", DEFAULT_MAX_PARALLEL)),
            before_deployed=lambda services: self._swap_in(plan, services),
        )
        keep = (states.DELETING, states.DELETED)
        self.writer.set_current_run(run.deployment, run.id)
        self.writer.set_deployment_status(run.deployment, states.RUNNING, unless=keep)
        running = asyncio.ensure_future(engine.run(plan, progress))
        cancelling = asyncio.ensure_future(self._cancel_when_asked(engine))
        renewing = self.lease.renewing if self.lease is not None else None
        watched: list[asyncio.Future[Any]] = [running, *([renewing] if renewing else [])]
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        if running not in done:  # the Lease is gone: another controller may drive the run
            assert renewing is not None
            raise renewing.exception() or LeaseLostError("lost the Lease")
        cancelling.cancel()
        result = running.result()
        status = states.SERVING if result.status == states.DEPLOYED else result.status
        self.writer.set_deployment_status(run.deployment, status, unless=keep)
        await backend.close()
        said = f": {result.message}" if result.message else ""
        say(f"done: run {run.id} {result.status}{said}")
        return EXIT_OK

    # -- cancel ---------------------------------------------------------------------------------

    def _watch_cancel(self) -> None:
        loop = asyncio.get_running_loop()

        def deliver(change: Change) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(self._on_summary, change)

        self._stream = ObjectStream(
            self.cluster,
            self.cluster.core.list_namespaced_config_map,
            self.namespace,
            deliver,
            field_selector=f"metadata.name={rec.run_record_name(self.run_id)}",
            what=f"record of run {self.run_id}",
        ).start()

    def _on_summary(self, change: Change) -> None:
        if change.type == "ERROR":
            say(f"cannot watch the run's record ({change.error}) - watching it again")
            self._watch_cancel()
            return
        found = list(change.items) if change.type == "LISTED" else [change.obj]
        for obj in found:
            if obj is not None and change.type != "DELETED" and rec.cancel_flag(obj):
                self._cancel_summary = obj
                self.cancel_seen.set()

    async def _cancel_when_asked(self, engine: Engine[KubeHandle]) -> None:
        await self.cancel_seen.wait()
        self.writer.cancel_requested(self.run_id, self._cancel_summary)
        say("cancel requested: stopping the run")
        engine.cancel()

    # -- services -------------------------------------------------------------------------------

    async def _swap_in(self, plan: Plan, services: dict[str, KubeHandle]) -> None:
        """Move traffic to each new version (ready: the engine says so), then remove the
        older versions and say so on their runs."""
        assert self.backend is not None
        await swap_in(
            self.cluster, self.backend, self.writer, self.namespace, self.run_id, plan, services
        )

    # -- leaving ----------------------------------------------------------------------------------

    def release(self) -> None:
        if self._stream is not None:
            self._stream.stop()
        if self.lease is not None:
            self.lease.release()

    def leave(self) -> None:
        """Flush what can be flushed and give the Lease back; the stages keep running."""
        try:
            self.writer.flush()
        except Exception as exc:
            say(f"could not write the run's record: {exc}")
        self.release()

    def terminate(self) -> None:
        say("SIGTERM: leaving the stages running for the controller that takes over")
        self.leave()
        sys.stdout.flush()
        os._exit(EXIT_TERMINATED)


def run_controller(args: argparse.Namespace) -> int:
    holder = os.environ.get("HOSTNAME") or socket.gethostname()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    controller: Controller | None = None
    try:
        cluster = Cluster()  # no kubeconfig in a pod: in-cluster
        controller = Controller(
            cluster,
            args.namespace,
            holder,
            run_id=args.run,
            plan_file=args.plan,
            job_name=os.environ.get(k8s.CONTROLLER_JOB_ENV) or None,
        )
        loop.add_signal_handler(signal.SIGTERM, controller.terminate)
        say(f"controller {holder} ({cluster.context}) for namespace {args.namespace}")
        return loop.run_until_complete(controller.main())
    except BodyworkError as exc:
        say(f"could not go on: {exc}")
        code = EXIT_FAILED if exc.exit_code != 2 else EXIT_BAD_INPUT
    except Exception as exc:
        say(f"could not go on: {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stdout)
        code = EXIT_FAILED
    if controller is not None:
        controller.leave()
    # the loop is not closed: closing it would cancel the attempts still followed, and
    # their stages must keep running for the controller that takes over
    return code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bodywork-controller",
        description="Drive one run of a bodywork deployment, inside the cluster.",
    )
    parser.add_argument("--namespace", required=True, help="The deployment's namespace.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="The run to drive (recorded by 'bodywork deploy').")
    which.add_argument(
        "--plan", type=Path, help="A plan file: record a new run of it, then drive it."
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout, level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s"
    )
    code = run_controller(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
