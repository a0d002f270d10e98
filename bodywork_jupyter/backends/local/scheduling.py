"""Schedules on this machine: when a deployment's schedule fires, and what its supervisor
does then.

Nothing about the timing lives only in memory: the schedule, its plan and the fire time
of the last run it started are rows of the run store (``schedules``), so a supervisor that
is killed and started again (``LocalTarget.refresh`` does, on the next command) picks up
where the last one was. The rule, the same as a Kubernetes CronJob's with
``concurrencyPolicy: Forbid`` and no ``startingDeadlineSeconds`` (ours, in
``plan/kubernetes/schedule.py``):

- a run is never started beside another run of the deployment: the supervisor drives one
  run at a time, and looks at the schedule only between runs;
- when it looks and one or more fire times have passed since the last one acted on (a run
  was going, no supervisor was up, the schedule was paused), **one** run starts at once,
  for the latest of them; the others count as ``skipped``;
- times are read in UTC (``targets.base.next_fire``), as our CronJob's ``timeZone``.

Expressions have five fields. ``BODYWORK_SCHEDULE_SECONDS=1`` lets a sixth, croniter's
seconds field, through (for tests, which cannot wait minutes); a cluster refuses it.
"""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass

from bodywork_jupyter.engine.store import Run, RunStore, Schedule
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan
from bodywork_jupyter.targets.base import RunOptions, StoredSchedule, next_fire

#: Lets a schedule have croniter's sixth field, seconds (tests only: see the docstring).
SECONDS_ENV = "BODYWORK_SCHEDULE_SECONDS"
#: Missed fire times counted at most (a seconds schedule after a long sleep).
COUNT_LIMIT = 10_000


def check(cron: str) -> None:
    """Refuse what a CronJob would not take: anything but five fields (or ``@daily``...)."""
    from croniter import croniter

    fields = cron.split()
    allowed = 6 if os.environ.get(SECONDS_ENV) == "1" else 5
    well_formed = croniter.is_valid(cron) and (
        cron.startswith("@") or len(fields) == 5 or len(fields) == allowed
    )
    if not well_formed:
        raise BadInputError(
            f"schedule '{cron}' is not a cron expression of five fields - use minute, hour, "
            "day of month, month, day of week (read in UTC), e.g. '0 3 * * *' (03:00 daily)"
        )


@dataclass(frozen=True)
class Due:
    """The fire time to run now, and how many earlier ones were missed."""

    fire: float
    skipped: int


def due(cron: str, anchor: float, now: float) -> Due | None:
    """The latest fire time of ``cron`` in (``anchor``, ``now``], if any."""
    from croniter import croniter

    utc = datetime.UTC
    times = croniter(cron, datetime.datetime.fromtimestamp(anchor, utc))
    count, latest = 0, None
    while count < COUNT_LIMIT:
        fire = float(times.get_next(float))
        if fire > now:
            break
        count, latest = count + 1, fire
    else:  # too many to count one by one: the latest is the last one up to now
        just_after = datetime.datetime.fromtimestamp(now + 1e-3, utc)
        latest = float(croniter(cron, just_after).get_prev(float))
    return None if latest is None else Due(latest, count - 1)


def on_submit(store: RunStore, plan: Plan, options: RunOptions) -> None:
    """A deploy sets the deployment's schedule from its plan, as it sets the CronJob on a
    cluster: a plan without ``schedule`` leaves none."""
    if plan.schedule:
        check(plan.schedule)
        store.put_schedule(
            plan.pipeline,
            plan.schedule,
            plan.model_dump(mode="json"),
            options.model_dump(mode="json"),
        )
    else:
        store.delete_schedule(plan.pipeline)


def stored(store: RunStore, schedule: Schedule, now: float | None = None) -> StoredSchedule:
    """A schedule as surfaces show it, with its next fire and its last run's status."""
    now = time.time() if now is None else now
    last = store.get_run(schedule.last_run, with_plan=False) if schedule.last_run else None
    upcoming = None
    if not schedule.paused:  # a fire missed already runs at the supervisor's next look
        missed = due(schedule.cron, schedule.anchor, now)
        upcoming = now if missed is not None else next_fire(schedule.cron, now)
    source = schedule.plan.get("source") or {}
    where = source.get("repo") or source.get("local_path") or ""
    commit = str(source.get("commit") or "")
    return StoredSchedule(
        name=schedule.deployment,
        cron=schedule.cron,
        paused=schedule.paused,
        next_fire=upcoming,
        last_fire=schedule.last_fire,
        last_run=schedule.last_run,
        last_status=last.status if last is not None else None,
        source=f"{where}@{commit[:8]}" if commit else where,
        skipped=schedule.skipped,
        stored_as="runs.sqlite on this machine",
    )


class Timer:
    """The supervisor's view of its deployment's schedule (read from the store each time:
    a pause, an update or a delete from another process is seen at the next look)."""

    def __init__(self, store: RunStore, deployment: str, target: str = "local") -> None:
        self.store = store
        self.deployment = deployment
        self.target = target

    def fire_if_due(self, now: float | None = None) -> Run | None:
        """Queue the run of a fire time that has come (one, however many passed)."""
        schedule = self.store.get_schedule(self.deployment)
        if schedule is None or schedule.paused:
            return None
        found = due(schedule.cron, schedule.anchor, time.time() if now is None else now)
        if found is None:
            return None
        return self.store.create_scheduled_run(
            self.deployment, self.target, found.fire, found.skipped
        )

    def keeps_alive(self) -> bool:
        """Whether the supervisor must stay up for the schedule (a paused one need not:
        resuming starts a supervisor)."""
        schedule = self.store.get_schedule(self.deployment)
        return schedule is not None and not schedule.paused
