"""The local target: deployments on this machine, driven by detached supervisors.

A run is recorded in the SQLite run store and executed by the deployment's
supervisor (started if none is alive). Liveness is the supervisor's heartbeat: a
run whose driver stopped beating for ``LOST_AFTER_SECONDS`` is ``lost``. A delete is
asked for in the store (status ``deleting``); the supervisor sees it, stops the
services and leaves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from bodywork_jupyter.backends.local import (
    layout,
    port_checks,
    scheduling,
    secret_store,
    supervisor,
)
from bodywork_jupyter.engine import state_errors, states
from bodywork_jupyter.engine.store import Deployment, Event, Run, RunStore, StageState
from bodywork_jupyter.errors import BadInputError, NotFoundError, StateFolderError
from bodywork_jupyter.plan.model import Plan
from bodywork_jupyter.plan.secret_refs import missing_secrets, refusal
from bodywork_jupyter.targets.base import (
    RunOptions,
    StoredSchedule,
    StoredSecret,
    Target,
    TargetOptions,
)

#: A supervisor beats every second; this much silence means it is gone (or hung).
LOST_AFTER_SECONDS = 6.0
#: A queued run is given this long for its supervisor to start.
QUEUE_GRACE_SECONDS = 30.0


class LocalTarget(Target):
    name = "local"
    requires_git = False

    def __init__(self, options: TargetOptions | None = None) -> None:
        options = options or TargetOptions()
        for field, value in (("context", options.context), ("namespace", options.namespace)):
            if value:
                raise BadInputError(
                    f"--{field} {value}: applies to a cluster target, not to 'local' - "
                    "leave it out, or choose the target with --target"
                )
        self.options = options
        self.store = RunStore(options.state_dir)
        self.secrets = secret_store.SecretStore(self.store.state_dir)

    @property
    def state_dir(self) -> Path:
        return self.store.state_dir

    def environment_cache(self) -> Path:
        return layout.cache_dir(self.state_dir)

    def close(self) -> None:
        self.store.close()

    def notes(self, plan: Plan) -> list[str]:
        """A module that binds its own port, redeployed while it serves: on one machine its
        two versions cannot listen at once, so say when the port changes hands."""
        serving = next(
            (
                r
                for r in self.store.runs(plan.pipeline, limit=20, with_plan=False)
                if r.status == states.DEPLOYED
            ),
            None,
        )
        if serving is None:
            return []
        served = {s.stage for s in self.store.stages(serving.id) if s.kind == "service"}
        return [
            f"{stage.name} binds port {stage.port} itself: on this machine its serving version "
            "stops once the new one is built (code and requirements), so the port answers "
            "nothing until the new one starts listening (a failed new version gives the port "
            "back to the old one); on Kubernetes each version has pods of its own and no gap"
            for stage in plan.stages.values()
            if stage.serves_itself and stage.name in served
        ]

    # -- changes -----------------------------------------------------------------------------

    def submit(self, plan: Plan, options: RunOptions, started_by: str | None = None) -> Run:
        # first: a full folder also silences heartbeats, so a live supervisor would look
        # like a stranger holding its port
        refused = state_errors.why_not_writable(self.state_dir)
        if refused is not None:
            raise refused
        deployment = self.store.get_deployment(plan.pipeline)
        if deployment is not None and deployment.status == states.DELETING:
            raise BadInputError(
                f"deployment '{plan.pipeline}' is being deleted - wait a moment and deploy again"
            )
        # one listener per port on one machine: refused before anything is recorded or started
        port_checks.check_before_submit(plan, self._live_supervisors())
        missing = missing_secrets(plan, self.secrets.keys_of)
        if missing:  # before anything is recorded or started
            raise refusal(missing, self.name, secret_store.WHERE)
        scheduling.on_submit(self.store, plan, options)  # the plan's schedule, or none
        run = self.store.create_run(
            plan.pipeline,
            plan.pipeline,
            self.name,
            plan.source.model_dump(mode="json"),
            plan.model_dump(mode="json"),
            options.model_dump(mode="json"),
            started_by,
        )
        if not supervisor.supervisor_running(self.store, plan.pipeline):
            supervisor.spawn(self.store, plan.pipeline)
        return run

    def cancel(self, run_id: str) -> None:
        run = self.store.get_run(run_id, with_plan=False)
        if run is None:
            raise NotFoundError(f"no run '{run_id}'")
        if run.status not in (states.QUEUED, states.RUNNING):
            raise BadInputError(
                f"run {run.id} is {run.status}; only queued or running runs can be cancelled"
            )
        self.store.request_cancel(run.id)

    def delete(self, name: str, timeout: float = 60.0) -> Deployment:
        deployment = self.store.get_deployment(name)
        if deployment is None or deployment.status == states.DELETED:
            known = ", ".join(d.name for d in self.store.deployments()) or "none"
            if self.store.get_schedule(name) is not None:
                raise NotFoundError(
                    f"deployment '{name}' has not run yet: it has a schedule only - delete "
                    f"that with: bodywork schedule delete {name}"
                )
            raise NotFoundError(f"no deployment '{name}' (deployments: {known})")
        self.store.delete_schedule(name)  # first: no run of it may start now
        self.store.set_deployment_status(name, states.DELETING)
        deadline = time.monotonic() + timeout
        while self._driven(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._driven(name) and deployment.supervisor_pid:
            # it did not stop within the timeout: its heartbeat is fresh, so the pid is its own
            os.kill(deployment.supervisor_pid, signal.SIGTERM)
        for run in self.store.active_runs():
            if run.deployment == name:
                self.store.record(run.id, "run.stopped", message="the deployment was deleted")
        self.store.set_deployment_status(name, states.DELETED)
        self._forget_url_credentials(name)
        updated = self.store.get_deployment(name)
        assert updated is not None
        return updated

    def _forget_url_credentials(self, name: str) -> None:
        """The git credentials its deploy URL held go with the deployment."""
        from bodywork_jupyter import url_credentials

        newest = self.store.runs(name, limit=1)
        if not newest:
            return
        plan = Plan.model_validate(newest[0].plan)
        secret, group = url_credentials.secret_name(plan), plan.secrets_group
        with contextlib.suppress(NotFoundError):
            self.secrets.delete(secret, group)

    def _driven(self, name: str) -> bool:
        if supervisor.heartbeat_fresh(self.store, name, LOST_AFTER_SECONDS):
            return True
        # a stale beat from a supervisor that is still there: its state folder was full or
        # read-only a while (the beats it refused are skipped), and it beats again now
        record = self.store.get_deployment(name)
        pid = record.supervisor_pid if record is not None else None
        return pid is not None and supervisor.running(self.store, name, pid)

    def _live_supervisors(self) -> dict[str, int]:
        """The supervisor pid of each deployment whose supervisor is alive, by name."""
        return {
            d.name: d.supervisor_pid
            for d in self.store.deployments()
            if d.supervisor_pid and self._driven(d.name)
        }

    def refresh(self) -> None:
        """Runs whose supervisor stopped beating are ``lost``, not running forever.

        Only when the state folder can be written: a read-only or full one is read as it
        stands (what refresh would record waits until it can be written)."""
        if not self.store.writable():
            return
        try:
            self._mark_lost()
            self._revive_schedules()
        except StateFolderError:
            return

    def _mark_lost(self) -> None:
        now = time.time()
        for run in self.store.active_runs():
            if run.status == states.QUEUED and now - run.created < QUEUE_GRACE_SECONDS:
                continue
            if self._driven(run.deployment):
                continue
            # the run may have settled since the list was read
            current = self.store.get_run(run.id, with_plan=False)
            if current is None or current.status not in states.ACTIVE_RUN:
                continue
            self.store.record(
                run.id,
                "run.lost",
                message="the supervisor process died (its heartbeat stopped: was it killed?)"
                " - deploy again",
            )
            self.store.set_deployment_status(
                run.deployment, states.LOST, unless=(states.DELETING, states.DELETED)
            )

    # -- schedules (bodywork schedule): rows of the run store; the timing is scheduling.py --

    def set_schedule(
        self, plan: Plan, options: RunOptions, *, exists: bool | None = None
    ) -> StoredSchedule:
        name = plan.pipeline
        if not plan.schedule:
            raise BadInputError(f"pipeline '{name}' has no schedule - give one (--schedule)")
        scheduling.check(plan.schedule)
        current = self.store.get_schedule(name)
        if exists is False and current is not None:
            raise BadInputError(
                f"deployment '{name}' has a schedule already ('{current.cron}') - change it "
                f"with: bodywork schedule update SOURCE --schedule '...' (or update cronjob)"
            )
        if exists is True and current is None:
            raise NotFoundError(f"deployment '{name}' has no schedule - {self._schedules_known()}")
        deployment = self.store.get_deployment(name)
        if deployment is not None and deployment.status == states.DELETING:
            raise BadInputError(f"deployment '{name}' is being deleted - wait a moment")
        missing = missing_secrets(plan, self.secrets.keys_of)
        if missing:
            raise refusal(missing, self.name, secret_store.WHERE)
        scheduling.on_submit(self.store, plan, options)
        self._wake(name)
        return self._schedule(name)

    def schedules(self) -> list[StoredSchedule]:
        return [scheduling.stored(self.store, s) for s in self.store.schedules()]

    def pause_schedule(self, name: str, paused: bool = True) -> StoredSchedule:
        if not self.store.pause_schedule(name, paused):
            raise NotFoundError(f"no schedule '{name}' - {self._schedules_known()}")
        if not paused:
            self._wake(name)
        return self._schedule(name)

    def delete_schedule(self, name: str) -> StoredSchedule:
        gone = self.store.delete_schedule(name)  # its supervisor leaves if it has nothing else
        if gone is None:
            raise NotFoundError(f"no schedule '{name}' - {self._schedules_known()}")
        return scheduling.stored(self.store, gone)

    def _schedule(self, name: str) -> StoredSchedule:
        schedule = self.store.get_schedule(name)
        if schedule is None:  # deleted meanwhile
            raise NotFoundError(f"no schedule '{name}' - {self._schedules_known()}")
        return scheduling.stored(self.store, schedule)

    def _schedules_known(self) -> str:
        names = ", ".join(s.deployment for s in self.store.schedules())
        return f"schedules: {names}" if names else "there are none (bodywork schedule list)"

    def _wake(self, name: str) -> None:
        if not supervisor.supervisor_running(self.store, name):
            supervisor.spawn(self.store, name)

    def _revive_schedules(self) -> None:
        """A schedule whose supervisor is gone (killed, the machine restarted) gets a new
        one: it computes the next fire from the store, so none is lost or run twice."""
        for schedule in self.store.schedules():
            if schedule.paused:
                continue
            deployment = self.store.get_deployment(schedule.deployment)
            if deployment is not None and deployment.status in (states.DELETING, states.DELETED):
                continue
            self._wake(schedule.deployment)

    # -- secrets (bodywork secret): kept in the state folder; how is in secret_store.py -------

    def create_secret(
        self, name: str, data: Mapping[str, str], group: str | None = None
    ) -> StoredSecret:
        return self.secrets.create(name, group, data)

    def update_secret(
        self, name: str, data: Mapping[str, str], group: str | None = None
    ) -> StoredSecret:
        return self.secrets.update(name, group, data)

    def list_secrets(self, group: str | None = None) -> list[StoredSecret]:
        return self.secrets.list(group)

    def delete_secret(self, name: str, group: str | None = None) -> StoredSecret:
        return self.secrets.delete(name, group)

    # -- raw reads ---------------------------------------------------------------------------

    def get_run(self, run_id: str, with_plan: bool = True) -> Run | None:
        return self.store.get_run(run_id, with_plan)

    def runs_with_prefix(self, prefix: str, limit: int = 2) -> list[Run]:
        return self.store.runs_with_prefix(prefix, limit)

    def runs(
        self,
        deployment: str | None = None,
        limit: int = 50,
        with_plan: bool = False,
        status: str | None = None,
    ) -> list[Run]:
        return self.store.runs(deployment, limit, with_plan, status)

    def stages(self, run_id: str) -> list[StageState]:
        return self.store.stages(run_id)

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        return self.store.events(run_id, after)

    def last_seq(self) -> int:
        return self.store.last_seq()

    def get_deployment(self, name: str) -> Deployment | None:
        return self.store.get_deployment(name)

    def deployments(self, include_deleted: bool = False) -> list[Deployment]:
        return self.store.deployments(include_deleted)

    def read_log(
        self, run_id: str, stage: StageState, offset: int, limit: int
    ) -> tuple[bytes, int]:
        path = self._attempt_file(run_id, stage, stage.log_path or layout.LOG)
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(min(max(offset, 0), size))
                return handle.read(limit), size
        except OSError:
            return b"", 0

    def executed_notebook(self, run_id: str, stage: StageState) -> bytes | None:
        if not stage.notebook_path:
            return None
        path = self._attempt_file(run_id, stage, stage.notebook_path)
        try:
            resolved = path.resolve()
            if self.state_dir not in resolved.parents:
                return None
            return resolved.read_bytes()
        except OSError:
            return None

    def _attempt_file(self, run_id: str, stage: StageState, name: str) -> Path:
        """A file of the stage's latest attempt (stores before 0.2 kept absolute paths)."""
        if Path(name).is_absolute():
            return Path(name)
        folder = layout.attempt_dir(self.state_dir, run_id, stage.stage, max(stage.attempt, 1))
        return folder / name
