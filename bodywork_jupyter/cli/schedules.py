"""``bodywork schedule create|update|list|show|history|pause|resume|delete``, and Bodywork
3's spellings of them.

``bodywork create cronjob URL --name N --schedule S [--branch B]``, ``update cronjob``,
``get cronjobs``, ``get cronjob NAME [--history] [--logs RUN]`` and ``delete cronjob NAME``
are the same commands. A schedule belongs to a deployment and is named after it (the
pipeline's name in bodywork.yaml); ``bodywork deploy`` of a pipeline with ``schedule:``
sets it too. Thin: the source is prepared as ``deploy`` prepares it, then the target keeps
the schedule; times are shown in UTC, the zone schedules are read in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bodywork_jupyter.cli import output
from bodywork_jupyter.cli.options import group_of, stack
from bodywork_jupyter.cli.runs import (
    image_pull_secret_option,
    open_target,
    reader,
    target_options,
)
from bodywork_jupyter.engine.parallelism import (
    DEFAULT_MAX_PARALLEL,
    MAX_MAX_PARALLEL,
    MIN_MAX_PARALLEL,
)
from bodywork_jupyter.errors import BadInputError, NotFoundError

if TYPE_CHECKING:  # the CLI imports the core inside commands, so --help stays fast
    from bodywork_jupyter.plan.model import Plan
    from bodywork_jupyter.targets import Target
    from bodywork_jupyter.targets.base import StoredSchedule


source_options = stack(
    click.argument("source", metavar="SOURCE", default="."),
    click.option(
        "--schedule",
        "cron",
        metavar="CRON",
        help="Five cron fields, read in UTC, e.g. '0 3 * * *' (default: bodywork.yaml's).",
    ),
    click.option("--name", help="The deployment's name (it is the pipeline's; Bodywork 3)."),
    click.option("--branch", help="Run the head of this branch (as it is now)."),
    click.option("--commit", help="Run this commit."),
    click.option(
        "--param",
        "params",
        multiple=True,
        metavar="STAGE.NAME=VALUE",
        help="Override a notebook parameter in every scheduled run.",
    ),
    click.option(
        "--max-parallel",
        type=click.IntRange(MIN_MAX_PARALLEL, MAX_MAX_PARALLEL),
        default=DEFAULT_MAX_PARALLEL,
        show_default=True,
        help="At most this many stages run at once.",
    ),
    target_options,
    click.option("--image", help="Stage image to run every stage in (cluster targets)."),
    image_pull_secret_option,
)

#: Bodywork 3's options that have no meaning here: taken, and said so.
bodywork3_options = stack(
    click.option(
        "--retries",
        type=click.IntRange(0),
        help="Bodywork 3; not used: stages retry as bodywork.yaml says.",
    ),
    click.option(
        "--history-limit",
        type=click.IntRange(0),
        help="Bodywork 3; not used: every run is kept.",
    ),
)


def _utc(when: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)) if when else "-"


def _where(target_name: str, namespace: str | None) -> str:
    if target_name == "local":
        return ""
    return f" --target {target_name}" + (f" --namespace {namespace}" if namespace else "")


# -- changes --------------------------------------------------------------------------------


def run_set(
    exists: bool,
    source: str,
    cron: str | None,
    name: str | None,
    branch: str | None,
    commit: str | None,
    params: tuple[str, ...],
    max_parallel: int,
    target_name: str,
    state_dir: Path | None,
    context: str | None,
    namespace: str | None,
    image: str | None,
    retries: int | None = None,
    history_limit: int | None = None,
    image_pull_secrets: tuple[str, ...] = (),
) -> None:
    """Create (``exists=False``) or update a schedule from SOURCE; nothing runs now."""
    from bodywork_jupyter import deploying
    from bodywork_jupyter.targets import RunOptions

    if cron is not None:
        check_cron(cron)
    target = open_target(target_name, state_dir, context=context, namespace=namespace, image=image)
    prepared = deploying.prepare(
        source,
        branch,
        commit,
        params,
        target=target,
        image=image,
        image_pull_secrets=image_pull_secrets,
    )
    for warning in prepared.warnings:
        output.echo(output.style("warning: ", fg="yellow") + warning, err=True)
    plan = scheduled(prepared.plan, cron, target if exists else None)
    if name and name != plan.pipeline:
        output.echo(
            output.style("warning: ", fg="yellow") + f"--name {name}: a schedule is named "
            f"after its deployment, the pipeline '{plan.pipeline}' in bodywork.yaml - use that "
            "name with get, update, pause and delete",
            err=True,
        )
    stored = target.set_schedule(plan, RunOptions(max_parallel=max_parallel), exists=exists)
    verb = "updated" if exists else "created"
    output.ok(f"{verb} schedule '{stored.name}': {_said(stored)}")
    output.echo(
        f"its runs run {prepared.description} (nothing runs now; to run a newer commit, "
        "update the schedule)"
    )
    if retries is not None:
        output.echo(
            f"--retries {retries}: not used - a stage is retried as its 'retries' in "
            "bodywork.yaml says; a failed scheduled run waits for the next fire"
        )
    if history_limit is not None:
        output.echo(
            f"--history-limit {history_limit}: not used - every run is kept: "
            f"bodywork schedule history {stored.name}{_where(target_name, namespace)}"
        )


def check_cron(cron: str) -> None:
    """The words bodywork.yaml's ``schedule:`` gets for an expression that is not cron."""
    from pydantic import TypeAdapter, ValidationError

    from bodywork_jupyter.pipeline.schema_v2 import Cron

    try:
        TypeAdapter(Cron).validate_python(cron)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise BadInputError(f"--schedule: {message}") from None


def scheduled(plan: Plan, cron: str | None, target: Target | None) -> Plan:
    """``plan`` with the schedule to keep: ``--schedule``, else (updating, on ``target``)
    the one the deployment has, else bodywork.yaml's."""
    if cron is None and target is not None:
        cron = next((s.cron for s in target.schedules() if s.name == plan.pipeline), None)
    cron = cron or plan.schedule
    if not cron:
        raise BadInputError(
            f"pipeline '{plan.pipeline}' has no schedule in bodywork.yaml - give one: "
            "--schedule '0 3 * * *' (five fields, read in UTC)"
        )
    return plan.model_copy(update={"schedule": cron})


def _said(schedule: StoredSchedule) -> str:
    if schedule.paused:
        return f"'{schedule.cron}' (UTC), paused"
    return f"'{schedule.cron}' (UTC), next run {_utc(schedule.next_fire)} UTC"


def _skipped(count: int | None) -> str:
    if not count:
        return "-" if count is None else "0"
    return f"{count} fire times (a run was going, or it was paused or down: one run for them)"


def _opened(target: dict[str, Any]) -> Target:
    return open_target(
        target["target_name"],
        target["state_dir"],
        context=target["context"],
        namespace=target["namespace"],
    )


def run_pause(name: str, paused: bool, target: dict[str, Any]) -> None:
    stored = _opened(target).pause_schedule(name, paused)
    if paused:
        output.ok(f"paused schedule '{name}' (a run going goes on)")
        output.echo(f"resume it with: bodywork schedule resume {name}{_where_of(target)}")
    else:
        output.ok(f"resumed schedule '{name}': {_said(stored)}")


def run_delete(name: str, target: dict[str, Any]) -> None:
    _opened(target).delete_schedule(name)
    output.ok(f"deleted schedule '{name}' (the deployment stays; a run going goes on)")


def _without_local_namespace(target: dict[str, Any]) -> dict[str, Any]:
    """Bodywork 2.x always named a namespace; this machine has none: noted, left out."""
    if target["target_name"] == "local" and target.get("namespace"):
        output.echo(
            output.style("warning: ", fg="yellow")
            + f"--namespace {target['namespace']} names a cluster's namespace: left out on "
            "this machine (add --target kubernetes to keep the schedule there)",
            err=True,
        )
        target = {**target, "namespace": None}
    return target


def _where_of(target: dict[str, Any]) -> str:
    return _where(target["target_name"], target["namespace"])


# -- reads ------------------------------------------------------------------------------------


def run_list(target: dict[str, Any]) -> None:
    found = _opened(target).schedules()
    if not found:
        output.echo("no schedules")
        return
    output.echo(
        f"{'NAME':<24} {'SCHEDULE':<16} {'STATE':<7} {'NEXT (UTC)':<20} {'LAST RUN':<24} STATUS"
    )
    for s in found:
        state = "paused" if s.paused else "active"
        output.echo(
            f"{s.name:<24} {s.cron:<16} {state:<7} {_utc(s.next_fire):<20} "
            f"{s.last_run or '-':<24} {s.last_status or '-'}"
        )


def run_show(name: str, target: dict[str, Any]) -> None:
    schedule = _find(_opened(target).schedules(), name)
    last = "-"
    if schedule.last_run:
        last = f"{schedule.last_run} ({schedule.last_status or 'not recorded'})"
    kept = schedule.stored_as + (f" in {schedule.namespace}" if schedule.namespace else "")
    rows = [
        ("schedule", f"'{schedule.cron}' (read in UTC)"),
        ("state", "paused" if schedule.paused else "active"),
        ("next run", f"{_utc(schedule.next_fire)} UTC" if schedule.next_fire else "-"),
        ("last fired", f"{_utc(schedule.last_fire)} UTC" if schedule.last_fire else "-"),
        ("last run", last),
        ("skipped", _skipped(schedule.skipped)),
        ("runs", schedule.source or "-"),
        ("kept as", kept),
    ]
    for key, value in rows:
        output.echo(f"{key:<11} {value}")


def run_history(name: str, target: dict[str, Any]) -> None:
    opened = _opened(target)
    runs = opened.schedule_history(name)
    if not runs and not any(s.name == name for s in opened.schedules()):
        _find([], name)
    if not runs:
        output.echo("no scheduled runs yet")
        return
    output.echo(f"{'RUN':<24} {'STATUS':<10} {'STARTED':<20} MESSAGE")
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created))
        output.echo(f"{run.id:<24} {run.status:<10} {started:<20} {run.message}")


def run_logs(run_ref: str, target: dict[str, Any]) -> None:
    runs = reader(**target)
    run = runs.find_run(run_ref)
    for chunk in runs.follow(run.id, None, follow=False):
        for line in chunk.text.splitlines():
            output.echo(f"{chunk.stage:<12}| {line}")


def _find(schedules: Sequence[StoredSchedule], name: str) -> StoredSchedule:
    for schedule in schedules:
        if schedule.name == name:
            return schedule
    known = ", ".join(s.name for s in schedules) or "none"
    raise NotFoundError(f"no schedule '{name}' (schedules: {known})")


# -- registration -----------------------------------------------------------------------------


def register(cli: click.Group) -> None:
    @cli.group()
    def schedule() -> None:
        """Run a deployment on a cron schedule (read in UTC), on this machine or a cluster.

        A schedule is named after its deployment. 'bodywork deploy' of a pipeline with
        'schedule:' sets it (and runs once at once); 'schedule create' sets it without a run
        now. A run is never started beside another of the deployment: fires that come while
        one goes make one run when it ends.
        """

    @schedule.command("create")
    @source_options
    def create_(**options: Any) -> None:
        """Run the pipeline in SOURCE (a folder or git URL) on --schedule (no run now)."""
        run_set(False, **options)

    @schedule.command("update")
    @source_options
    def update_(**options: Any) -> None:
        """Change a schedule: what it runs (SOURCE) and, with --schedule, when."""
        run_set(True, **options)

    @schedule.command("list")
    @target_options
    def list_(**target: Any) -> None:
        """List schedules: when each runs next, its last run and its status."""
        run_list(target)

    @schedule.command("show")
    @click.argument("name")
    @target_options
    def show_(name: str, **target: Any) -> None:
        """Show schedule NAME: what it runs, when, its last run."""
        run_show(name, target)

    @schedule.command("history")
    @click.argument("name")
    @target_options
    def history_(name: str, **target: Any) -> None:
        """List the runs schedule NAME started, newest first."""
        run_history(name, target)

    @schedule.command("pause")
    @click.argument("name")
    @target_options
    def pause_(name: str, **target: Any) -> None:
        """Pause schedule NAME (a run going is not stopped)."""
        run_pause(name, True, target)

    @schedule.command("resume")
    @click.argument("name")
    @target_options
    def resume_(name: str, **target: Any) -> None:
        """Resume schedule NAME (a fire missed while paused makes one run at once)."""
        run_pause(name, False, target)

    @schedule.command("delete")
    @click.argument("name")
    @target_options
    def delete_(name: str, **target: Any) -> None:
        """Delete schedule NAME (the deployment and its history stay)."""
        run_delete(name, target)

    # Bodywork 3's spellings
    @click.command()
    @source_options
    @bodywork3_options
    def create_cronjob(**options: Any) -> None:
        """Bodywork 3: 'bodywork schedule create' (URL --name N --schedule S --branch B)."""
        run_set(False, **options)

    @click.command()
    @source_options
    @bodywork3_options
    def update_cronjob(**options: Any) -> None:
        """Bodywork 3: 'bodywork schedule update'."""
        run_set(True, **options)

    @click.command()
    @click.argument("name", required=False)
    @click.option("--history", is_flag=True, help="The runs it started.")
    @click.option("--logs", "logs_of", metavar="RUN", help="The logs of one of its runs.")
    @target_options
    def get_cronjobs(name: str | None, history: bool, logs_of: str | None, **target: Any) -> None:
        """Bodywork 3: 'bodywork schedule list', 'show NAME', 'history NAME'."""
        if history and logs_of:
            raise BadInputError("give --history or --logs RUN, not both")
        if logs_of:
            run_logs(logs_of, target)
        elif name is None:
            if history:
                raise BadInputError("--history of which schedule? - get cronjob NAME --history")
            run_list(target)
        elif history:
            run_history(name, target)
        else:
            run_show(name, target)

    @click.command()
    @click.argument("name")
    @target_options
    def delete_cronjob(name: str, **target: Any) -> None:
        """Bodywork 3: 'bodywork schedule delete NAME'."""
        run_delete(name, target)

    @cli.command("cronjob")
    @click.argument("action", type=click.Choice(["create", "delete", "display", "history", "logs"]))
    @click.option("--name", default="", help="The schedule (the pipeline's name), or a run.")
    @click.option("--schedule", "cron", metavar="CRON", help="Five cron fields, read in UTC.")
    @click.option("--git-repo-url", metavar="URL", help="The repository to run.")
    @click.option("--git-repo-branch", metavar="BRANCH", help="Its branch (default: its default).")
    @bodywork3_options
    @click.option("--ns", "ns", help="Bodywork 2.x's --namespace.")
    @target_options
    def cronjob_2x(
        action: str,
        name: str,
        cron: str | None,
        git_repo_url: str | None,
        git_repo_branch: str | None,
        retries: int | None,
        history_limit: int | None,
        ns: str | None,
        **target: Any,
    ) -> None:
        """Bodywork 2.x: 'bodywork cronjob create|delete|display|history|logs'."""
        target = _without_local_namespace({**target, "namespace": target["namespace"] or ns})
        if action == "create":
            if not git_repo_url:
                raise BadInputError("give --git-repo-url URL: the repository to run")
            run_set(
                False, git_repo_url, cron, name or None, git_repo_branch, None, (), 4,
                image=None, retries=retries, history_limit=history_limit, **target,
            )  # fmt: skip
        elif action == "display" and name:
            run_show(name, target)
        elif action == "display":
            run_list(target)
        elif not name:
            raise BadInputError(f"cronjob {action}: give --name NAME")
        elif action == "delete":
            run_delete(name, target)
        elif action == "history":
            run_history(name, target)
        else:
            run_logs(name, target)

    group_of(cli, "create", "Create a deployment, a secret or a schedule.").add_command(
        create_cronjob, "cronjob"
    )
    group_of(cli, "update", "Bodywork 3 spellings: update a secret or a schedule.").add_command(
        update_cronjob, "cronjob"
    )
    get = group_of(cli, "get", "List deployments, runs, secrets or schedules.")
    get.add_command(get_cronjobs, "cronjobs")
    get.add_command(get_cronjobs, "cronjob")
    group_of(cli, "delete", "Delete a deployment, a secret or a schedule.").add_command(
        delete_cronjob, "cronjob"
    )
