"""``bodywork deploy``, ``get``, ``logs``, ``cancel``, ``delete`` (and Bodywork 3's spellings)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from bodywork_jupyter import deploying
from bodywork_jupyter.cli import live, output
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Run, RunStore
from bodywork_jupyter.errors import BadInputError

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="BODYWORK_STATE_DIR",
    help="Where run history lives (default: ~/.local/share/bodywork-jupyter).",
)


def _store(state_dir: Path | None) -> RunStore:
    store = RunStore(state_dir)
    deploying.refresh(store)
    return store


def deploy_options(function: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(
        [
            click.argument("target", default="."),
            click.option("--branch", help="Deploy the head of this branch."),
            click.option("--commit", help="Deploy this commit."),
            click.option(
                "--target",
                "where",
                default="local",
                show_default=True,
                help="Where the pipeline runs.",
            ),
            click.option(
                "--param",
                "params",
                multiple=True,
                metavar="STAGE.NAME=VALUE",
                help="Override a notebook parameter for this run.",
            ),
            click.option(
                "--detach",
                is_flag=True,
                help="Return at once; follow with 'bodywork logs RUN --follow'.",
            ),
            state_dir_option,
        ]
    ):
        function = option(function)
    return function


def run_deploy(
    target: str,
    branch: str | None,
    commit: str | None,
    where: str,
    params: tuple[str, ...],
    detach: bool,
    state_dir: Path | None,
    max_parallel: int = 4,
) -> None:
    prepared = deploying.prepare(target, branch, commit, params)
    for warning in prepared.warnings:
        output.echo(output.style("warning: ", fg="yellow") + warning, err=True)
    store = _store(state_dir)
    run = deploying.submit(store, prepared, where, max_parallel)
    output.echo(
        f"deploying {prepared.resolved.description} as '{prepared.plan.pipeline}' (run {run.id})"
    )
    if detach:
        output.echo(f"follow it with: bodywork logs {run.id} --follow")
        return
    final = live.follow(store, run.id, lambda: deploying.refresh(store))
    _report(store, final)


def _report(store: RunStore, run: Run) -> None:
    if run.status == states.DEPLOYED:
        for stage in store.stages(run.id):
            if stage.url:
                output.ok(f"{stage.stage} is serving at {stage.url}")
        output.echo(f"stop it with: bodywork delete deployment {run.deployment}")
        return
    if run.status == states.SUCCEEDED:
        output.ok(f"run {run.id} succeeded")
        return
    failed = [s for s in store.stages(run.id) if s.status == states.FAILED]
    for stage in failed:
        output.fail(f"{stage.stage}: {stage.message}")
        if stage.log_path:
            output.echo(f"  log: {stage.log_path}", err=True)
    output.fail(f"run {run.id} {run.status}: {run.message}")
    sys.exit(1)


def register(cli: click.Group) -> None:
    @cli.command()
    @deploy_options
    def deploy(**kwargs: object) -> None:
        """Deploy the pipeline in TARGET (a folder, default '.', or a git URL)."""
        run_deploy(**kwargs)  # type: ignore[arg-type]

    @cli.group()
    def create() -> None:
        """Bodywork 3 spelling: 'bodywork create deployment URL'."""

    @create.command("deployment")
    @deploy_options
    def create_deployment(**kwargs: object) -> None:
        """Same as 'bodywork deploy'."""
        run_deploy(**kwargs)  # type: ignore[arg-type]

    @cli.group()
    def get() -> None:
        """List deployments or runs."""

    @get.command("deployments")
    @state_dir_option
    def get_deployments(state_dir: Path | None) -> None:
        """List deployments and their services."""
        store = _store(state_dir)
        rows = store.deployments()
        if not rows:
            output.echo("no deployments")
            return
        output.echo(f"{'NAME':<24} {'STATUS':<10} {'RUN':<24} SERVICES")
        for deployment in rows:
            urls = []
            if deployment.current_run:
                urls = [
                    f"{s.stage}={s.url}"
                    for s in store.stages(deployment.current_run)
                    if s.url and s.status == states.READY
                ]
            status = deployment.status
            if deployment.supervisor_pid is None and status == "running":
                status = "stopped"
            output.echo(
                f"{deployment.name:<24} {status:<10} {deployment.current_run or '-':<24} "
                f"{' '.join(urls) or '-'}"
            )

    get.add_command(get_deployments, "deployment")

    @get.command("runs")
    @click.argument("deployment", required=False)
    @state_dir_option
    def get_runs(deployment: str | None, state_dir: Path | None) -> None:
        """List runs (of one deployment, or all), newest first."""
        store = _store(state_dir)
        runs = store.runs(deployment)
        if not runs:
            output.echo("no runs")
            return
        output.echo(f"{'RUN':<24} {'DEPLOYMENT':<20} {'STATUS':<10} {'STARTED':<20} MESSAGE")
        for run in runs:
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created))
            output.echo(
                f"{run.id:<24} {run.deployment:<20} {run.status:<10} {started:<20} {run.message}"
            )

    @cli.command()
    @click.argument("run_ref", metavar="RUN")
    @click.argument("stage", required=False)
    @click.option("--follow", "-f", is_flag=True, help="Keep printing until the run settles.")
    @state_dir_option
    def logs(run_ref: str, stage: str | None, follow: bool, state_dir: Path | None) -> None:
        """Print a run's logs (RUN: a run id, a prefix, or a deployment name)."""
        store = _store(state_dir)
        run = deploying.find_run(store, run_ref)
        names = [s.stage for s in store.stages(run.id)]
        if stage is not None and stage not in names:
            raise BadInputError(f"run {run.id} has no stage '{stage}' (stages: {', '.join(names)})")
        offsets: dict[str, int] = {}
        while True:
            for state in store.stages(run.id):
                if stage is not None and state.stage != stage:
                    continue
                if not state.log_path or not Path(state.log_path).exists():
                    continue
                with Path(state.log_path).open("rb") as handle:
                    handle.seek(offsets.get(state.log_path, 0))
                    chunk = handle.read()
                    offsets[state.log_path] = handle.tell()
                for line in chunk.decode("utf-8", errors="replace").splitlines():
                    if not line.startswith("::bodywork-event::"):
                        output.echo(f"{state.stage:<12}| {line}" if stage is None else line)
            current = store.get_run(run.id)
            assert current is not None
            if not follow or live.settled(current):
                break
            time.sleep(live.POLL_SECONDS)
            deploying.refresh(store)

    @cli.command()
    @click.argument("run_ref", metavar="RUN")
    @state_dir_option
    def cancel(run_ref: str, state_dir: Path | None) -> None:
        """Cancel a queued or running run (services already serving keep serving)."""
        store = _store(state_dir)
        run = deploying.find_run(store, run_ref)
        deploying.cancel_run(store, run)
        output.ok(f"cancelling run {run.id}")

    @cli.group()
    def delete() -> None:
        """Delete a deployment."""

    @delete.command("deployment")
    @click.argument("name")
    @state_dir_option
    def delete_deployment(name: str, state_dir: Path | None) -> None:
        """Stop a deployment's services and free their ports (history is kept)."""
        store = _store(state_dir)
        deploying.delete_deployment(store, name)
        output.ok(f"deleted deployment '{name}' (its services are stopped)")
