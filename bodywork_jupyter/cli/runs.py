"""``bodywork deploy``, ``get``, ``logs``, ``cancel``, ``delete`` (and Bodywork 3's spellings).

Thin: every command opens the target named by ``--target`` through the registry,
changes things through it and reads through the one read service.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bodywork_jupyter.cli import live, output

if TYPE_CHECKING:  # the CLI imports the core inside commands, so --help stays fast
    from bodywork_jupyter.reader import RunReader
    from bodywork_jupyter.targets import Target

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _stack(*options: Decorator) -> Decorator:
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


#: Which target, and where this machine keeps history: on every command that reads or changes.
target_options = _stack(
    click.option(
        "--target",
        "target_name",
        default="local",
        show_default=True,
        help="Where the deployment lives (local: this machine; kubernetes, or k8s: a cluster).",
    ),
    click.option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="BODYWORK_STATE_DIR",
        help="Where this machine keeps run history (default: ~/.local/share/bodywork-jupyter).",
    ),
    click.option("--context", help="kubeconfig context (cluster targets)."),
    click.option("--namespace", help="Namespace (cluster targets)."),
)

deploy_options = _stack(
    click.argument("source", metavar="TARGET", default="."),
    click.option("--branch", help="Deploy the head of this branch."),
    click.option("--commit", help="Deploy this commit."),
    target_options,
    click.option("--image", help="Stage image to run every stage in (cluster targets)."),
    click.option(
        "--param",
        "params",
        multiple=True,
        metavar="STAGE.NAME=VALUE",
        help="Override a notebook parameter for this run.",
    ),
    click.option(
        "--max-parallel",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="At most this many stages run at once.",
    ),
    click.option(
        "--detach",
        is_flag=True,
        help="Return at once; follow with 'bodywork logs RUN --follow'.",
    ),
)


def open_target(target_name: str, state_dir: Path | None, **settings: str | None) -> Target:
    from bodywork_jupyter.targets import TargetOptions
    from bodywork_jupyter.targets import open_target as open_registered

    given = {k: v for k, v in settings.items() if v}
    target = open_registered(TargetOptions(name=target_name, state_dir=state_dir, **given))
    target.refresh()
    return target


def reader(
    target_name: str, state_dir: Path | None, context: str | None, namespace: str | None
) -> RunReader:
    from bodywork_jupyter.reader import RunReader

    return RunReader(open_target(target_name, state_dir, context=context, namespace=namespace))


def _where(target_name: str, namespace: str | None) -> str:
    """The options that name the target again in a hint (none for local)."""
    if target_name == "local":
        return ""
    return f" --target {target_name}" + (f" --namespace {namespace}" if namespace else "")


def run_deploy(
    source: str,
    branch: str | None,
    commit: str | None,
    target_name: str,
    state_dir: Path | None,
    context: str | None,
    namespace: str | None,
    image: str | None,
    params: tuple[str, ...],
    max_parallel: int,
    detach: bool,
) -> None:
    from bodywork_jupyter import deploying
    from bodywork_jupyter.reader import RunReader
    from bodywork_jupyter.targets import RunOptions

    target = open_target(
        target_name, state_dir, context=context, namespace=namespace, image=image
    )
    prepared = deploying.prepare(source, branch, commit, params, target=target, image=image)
    for warning in prepared.warnings:
        output.echo(output.style("warning: ", fg="yellow") + warning, err=True)
    run = deploying.submit(target, prepared, RunOptions(max_parallel=max_parallel))
    output.echo(f"deploying {prepared.description} as '{prepared.plan.pipeline}' (run {run.id})")
    if detach:
        where = _where(target_name, namespace)
        output.echo(f"follow it with: bodywork logs {run.id} --follow{where}")
        return
    runs = RunReader(target)
    _report(runs, live.follow(runs, run.id), _where(target_name, namespace))


def _report(runs: RunReader, run_id: str, where: str = "") -> None:
    from bodywork_jupyter.engine import states

    run = runs.run(run_id)
    if run.status == states.DEPLOYED:
        ingresses = runs.ingress_urls(run.id)
        for name, url in runs.urls(run.id).items():
            output.ok(f"{name} is serving at {url}{_beside(name, ingresses)}")
        output.echo(f"stop it with: bodywork delete deployment {run.deployment}{where}")
        return
    if run.status == states.SUCCEEDED:
        output.ok(f"run {run.id} succeeded")
        return
    for stage in runs.stages(run.id):
        if stage.status == states.FAILED:
            output.fail(f"{stage.stage}: {stage.message}")
            output.echo(f"  log: bodywork logs {run.id} {stage.stage}{where}", err=True)
    output.fail(f"run {run.id} {run.status}: {run.message}")
    sys.exit(1)


def _beside(service: str, ingresses: dict[str, str | None]) -> str:
    """`` (ingress: URL)`` for a service with an Ingress, else nothing."""
    from bodywork_jupyter.reader import ingress_note

    return f" ({ingress_note(ingresses[service])})" if service in ingresses else ""


def register(cli: click.Group) -> None:
    @cli.command()
    @deploy_options
    def deploy(**kwargs: Any) -> None:
        """Deploy the pipeline in TARGET (a folder, default '.', or a git URL)."""
        run_deploy(**kwargs)

    @cli.group()
    def create() -> None:
        """Bodywork 3 spelling: 'bodywork create deployment URL'."""

    @create.command("deployment")
    @deploy_options
    def create_deployment(**kwargs: Any) -> None:
        """Same as 'bodywork deploy'."""
        run_deploy(**kwargs)

    @cli.group()
    def get() -> None:
        """List deployments or runs."""

    @get.command("deployments")
    @target_options
    def get_deployments(**target: Any) -> None:
        """List deployments and their services."""
        views = reader(**target).deployments()
        if not views:
            output.echo("no deployments")
            return
        output.echo(f"{'NAME':<24} {'STATUS':<10} {'RUN':<24} SERVICES")
        for view in views:
            served = [f"{s}={u}{_beside(s, view.ingresses)}" for s, u in view.urls.items()]
            services = " ".join(served) or "-"
            run = view.run.id if view.run else "-"
            output.echo(f"{view.name:<24} {view.status:<10} {run:<24} {services}")

    get.add_command(get_deployments, "deployment")

    @get.command("runs")
    @click.argument("deployment", required=False)
    @target_options
    def get_runs(deployment: str | None, **target: Any) -> None:
        """List runs (of one deployment, or all), newest first."""
        runs = reader(**target).runs(deployment)
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
    @target_options
    def logs(run_ref: str, stage: str | None, follow: bool, **target: Any) -> None:
        """Print a run's logs (RUN: a run id, a prefix, or a deployment name)."""
        runs = reader(**target)
        run = runs.find_run(run_ref)
        if stage is not None:
            runs.stage(run.id, stage)
        for chunk in runs.follow(run.id, stage, follow=follow):
            for line in chunk.text.splitlines():
                output.echo(line if stage is not None else f"{chunk.stage:<12}| {line}")

    @cli.command()
    @click.argument("run_ref", metavar="RUN")
    @target_options
    def cancel(run_ref: str, **target: Any) -> None:
        """Cancel a queued or running run (services already serving keep serving)."""
        runs = reader(**target)
        run = runs.find_run(run_ref)
        runs.target.cancel(run.id)
        output.ok(f"cancelling run {run.id}")

    @cli.group()
    def delete() -> None:
        """Delete a deployment."""

    @delete.command("deployment")
    @click.argument("name")
    @target_options
    def delete_deployment(
        name: str,
        target_name: str,
        state_dir: Path | None,
        context: str | None,
        namespace: str | None,
    ) -> None:
        """Stop a deployment's services and remove what it made (locally, history is kept)."""
        target = open_target(target_name, state_dir, context=context, namespace=namespace)
        target.delete(name)
        output.ok(f"deleted deployment '{name}' (its services are stopped)")
