"""``bodywork deploy``, ``get``, ``logs``, ``cancel``, ``delete``, and Bodywork 3's spellings:
``create|update deployment URL`` (with ``--async``, ``--bodywork-image``, ``--ssh``...: see
``bodywork3``), ``get deployment [NAME [SERVICE]]``, ``delete deployment NAME``.

Thin: every command opens the target named by ``--target`` through the registry,
changes things through it and reads through the one read service.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bodywork_jupyter.cli import bodywork3, live, output
from bodywork_jupyter.cli.options import stack
from bodywork_jupyter.engine.parallelism import (
    DEFAULT_MAX_PARALLEL,
    MAX_MAX_PARALLEL,
    MIN_MAX_PARALLEL,
)
from bodywork_jupyter.errors import BadInputError

if TYPE_CHECKING:  # the CLI imports the core inside commands, so --help stays fast
    from bodywork_jupyter.plan import Plan
    from bodywork_jupyter.reader import DeploymentView, RunReader
    from bodywork_jupyter.targets import Target


#: Which target, and where this machine keeps history: on every command that reads or changes.
target_options = stack(
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

#: ``--image-pull-secret`` of deploy and the schedule commands
image_pull_secret_option = click.option(
    "--image-pull-secret",
    "image_pull_secrets",
    multiple=True,
    metavar="NAME",
    help="A Secret the cluster pulls the images with, besides the namespace's and "
    "bodywork.yaml's (repeatable; cluster targets).",
)

deploy_options = stack(
    click.argument("source", metavar="TARGET", default="."),
    click.option(
        "--branch", help="Deploy the head of this branch (a remote's, if it is not checked out)."
    ),
    click.option("--commit", help="Deploy this commit."),
    target_options,
    click.option("--image", help="Stage image to run every stage in (cluster targets)."),
    image_pull_secret_option,
    click.option(
        "--ssh",
        "ssh_key",
        metavar="FILE",
        help="The private key git uses for an ssh URL, here and in the stages (on a cluster "
        "it is kept in a Secret: see configure-cluster --git-secret).",
    ),
    click.option(
        "--param",
        "params",
        multiple=True,
        metavar="STAGE.NAME=VALUE",
        help="Override a notebook parameter for this run.",
    ),
    click.option(
        "--python",
        metavar="VERSION",
        help="The Python the stages need, e.g. 3.9 (Bodywork's image ran 3.9): replaces the "
        "pipeline's python (a stage's own wins).",
    ),
    click.option(
        "--requirements-as-of",
        metavar="commit|DATE|none",
        help="Resolve requirements as of the commit's date, a date (2022-06-01) or now "
        "(none). Default: the pipeline's requirements_as_of; a 1.1 file: commit.",
    ),
    click.option(
        "--max-parallel",
        type=click.IntRange(MIN_MAX_PARALLEL, MAX_MAX_PARALLEL),
        default=DEFAULT_MAX_PARALLEL,
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
    ssh_key: str | None = None,
    unused: bodywork3.Unused | None = None,
    python: str | None = None,
    requirements_as_of: str | None = None,
    image_pull_secrets: tuple[str, ...] = (),
) -> None:
    from bodywork_jupyter import deploying
    from bodywork_jupyter.cli import gitkey
    from bodywork_jupyter.engine.started_by import os_user
    from bodywork_jupyter.reader import RunReader
    from bodywork_jupyter.targets import RunOptions

    target = open_target(target_name, state_dir, context=context, namespace=namespace, image=image)
    key = None
    if ssh_key is not None:
        if target.name != "local":  # its stages run elsewhere: not with this process's env
            raise gitkey.refused_on(target.name, ssh_key, _where(target_name, namespace))
        key = gitkey.read_key(ssh_key)
    with gitkey.given_to_git(key):  # this process's git, and a supervisor the deploy starts
        prepared = deploying.prepare(
            source,
            branch,
            commit,
            params,
            target=target,
            image=image,
            python=python,
            requirements_as_of=requirements_as_of,
            image_pull_secrets=image_pull_secrets,
        )
        notes = [*prepared.warnings, *(unused.notes(prepared.plan) if unused else [])]
        if image and target.name == "local":
            notes.append(
                f"image {image}: stages run on this machine's Python here, in no image - it "
                "is the stage image on a cluster (--target kubernetes)"
            )
        if key is not None:
            notes += _key_notes(RunReader(target), prepared.plan)
        for warning in notes:
            output.echo(output.style("warning: ", fg="yellow") + warning, err=True)
        run = deploying.submit(
            target, prepared, RunOptions(max_parallel=max_parallel), started_by=os_user()
        )
    output.echo(f"deploying {prepared.description} as '{prepared.plan.pipeline}' (run {run.id})")
    if detach:
        where = _where(target_name, namespace)
        output.echo(f"follow it with: bodywork logs {run.id} --follow{where}")
        return
    runs = RunReader(target)
    _report(runs, live.follow(runs, run.id), _where(target_name, namespace))


def _key_notes(runs: RunReader, plan: Plan) -> list[str]:
    """A deployment already running here keeps the supervisor it has, and the environment
    it was started with: the key given now does not reach its stages."""
    from bodywork_jupyter.engine import states
    from bodywork_jupyter.errors import NotFoundError

    try:
        view = runs.deployment(plan.pipeline)
    except NotFoundError:
        return []
    if view.status not in (states.RUNNING, states.SERVING, states.FAILING):
        return []
    return [
        f"deployment '{plan.pipeline}' is already {view.status} here: its stages get the git "
        "key its supervisor was started with, not this one (to change the key, delete the "
        f"deployment first: bodywork delete deployment {plan.pipeline})"
    ]


def _report(runs: RunReader, run_id: str, where: str = "") -> None:
    from bodywork_jupyter.engine import states
    from bodywork_jupyter.reader import kept_serving_note

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
    kept = runs.serving_instead(run)
    if kept is not None:
        output.echo(kept_serving_note(kept), err=True)
    sys.exit(1)


def _beside(service: str, ingresses: dict[str, str | None]) -> str:
    """`` (ingress: URL)`` for a service with an Ingress, else nothing."""
    from bodywork_jupyter.reader import ingress_note

    return f" ({ingress_note(ingresses[service])})" if service in ingresses else ""


# -- what the commands show (shared with the Bodywork 2.x spellings) ------------------------


def show_deployments(runs: RunReader) -> None:
    views = runs.deployments()
    if not views:
        output.echo("no deployments")
        return
    output.echo(f"{'NAME':<24} {'STATUS':<10} {'RUN':<24} {'SERVING':<32} SERVICES")
    for view in views:
        served = [f"{s}={u}{_beside(s, view.ingresses)}" for s, u in view.urls.items()]
        services = " ".join(served) or "-"
        run = view.run.id if view.run else "-"
        serving = serving_tag(view)
        output.echo(f"{view.name:<24} {view.status:<10} {run:<24} {serving:<32} {services}")
        for exit_ in view.exits.values():  # why it is failing, under its row
            output.echo(f"  {exit_.stage}: {exit_.message}")
            for line in exit_.log_tail:
                output.echo(f"    | {line}")


def serving_tag(view: DeploymentView) -> str:
    """The serving version in a table's cell: ``RUN@COMMIT``, ``-`` when nothing serves."""
    from bodywork_jupyter.reader import version_tag

    return version_tag(view.serving_run) if view.serving_run is not None else "-"


def show_deployment(
    runs: RunReader, name: str, service: str | None, target_name: str, namespace: str | None
) -> None:
    """One deployment in detail (or one of its services): ``get deployment NAME [SERVICE]``.

    Services are described from the run that serves them (else the newest), stages from
    the newest run."""
    from bodywork_jupyter.cli import deployment_detail

    view = runs.deployment(name)
    where = target_name + (f" (namespace {namespace})" if namespace else "")
    newest, basis = view.run, view.serving_run or view.run
    planned = (runs.run(basis.id).plan.get("stages") or {}) if basis is not None else {}
    services = {n: s["service"] for n, s in planned.items() if s.get("service")}
    if service is not None:
        files = {n: str(s.get("file", "-")) for n, s in planned.items()}
        stages = runs.stages(basis.id) if basis is not None else []
        lines = deployment_detail.service_lines(view, service, stages, services, files, where)
    else:
        stages = runs.stages(newest.id) if newest is not None else []
        recent = runs.runs(name, limit=5)
        lines = deployment_detail.deployment_lines(view, stages, recent, services, where)
    for line in lines:
        output.echo(line)


def show_runs(runs: RunReader, deployment: str | None) -> None:
    found = runs.runs(deployment)
    if not found:
        output.echo("no runs")
        return
    from bodywork_jupyter.cli.deployment_detail import BY_WIDTH, by_cell

    output.echo(
        f"{'RUN':<24} {'DEPLOYMENT':<20} {'STATUS':<10} {'STARTED':<20} {'BY':<{BY_WIDTH}} MESSAGE"
    )
    for run in found:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created))
        output.echo(
            f"{run.id:<24} {run.deployment:<20} {run.status:<10} {started:<20} "
            f"{by_cell(run.started_by)} {run.message}".rstrip()
        )


def show_logs(runs: RunReader, run_ref: str, stage: str | None, follow: bool) -> None:
    run = runs.find_run(run_ref)
    if stage is not None:
        runs.stage(run.id, stage)
    for chunk in runs.follow(run.id, stage, follow=follow):
        for line in chunk.text.splitlines():
            output.echo(line if stage is not None else f"{chunk.stage:<12}| {line}")


def delete_deployment(
    name: str, target_name: str, state_dir: Path | None, context: str | None, namespace: str | None
) -> None:
    target = open_target(target_name, state_dir, context=context, namespace=namespace)
    target.delete(name)
    output.ok(f"deleted deployment '{name}' (its services are stopped)")


def one_service_refused(name: str, service: str) -> BadInputError:
    """Bodywork's docs showed deleting one service of a deployment: not a thing here."""
    return BadInputError(
        f"a deployment's services are deleted with it, not one by one - delete deployment "
        f"'{name}' (bodywork delete deployment {name}), or take stage {service} out of "
        "bodywork.yaml and deploy again: a redeploy stops the services the new version no "
        "longer has"
    )


def nothing_to_delete(job: str) -> None:
    """Bodywork's --async deployment was a workflow-controller Job left to clean up."""
    output.ok(
        f"nothing to delete for '{job}': a run here leaves no job behind, only its history "
        "(bodywork get runs) - to stop a run that is going: bodywork cancel RUN"
    )


# -- the commands ----------------------------------------------------------------------------


def register(cli: click.Group) -> None:
    @cli.command()
    @deploy_options
    def deploy(**kwargs: Any) -> None:
        """Deploy the pipeline in TARGET (a folder, default '.', or a git URL)."""
        run_deploy(**kwargs)

    @cli.group()
    def create() -> None:
        """Bodywork 3's spellings: 'bodywork create deployment URL' (a secret, a cronjob)."""

    @create.command("deployment")
    @deploy_options
    @bodywork3.options
    def create_deployment(**given: Any) -> None:
        """Same as 'bodywork deploy' (Bodywork 3's options too: --async, --bodywork-image)."""
        kwargs, unused = bodywork3.ours(given)
        run_deploy(**kwargs, unused=unused)

    @cli.group()
    def update() -> None:
        """Bodywork 3's spellings: 'bodywork update deployment URL' (a secret, a cronjob)."""

    @update.command("deployment")
    @deploy_options
    @bodywork3.options
    def update_deployment(**given: Any) -> None:
        """Deploy again: the same as 'bodywork deploy' (a redeploy swaps in the new version
        once its services are ready)."""
        kwargs, unused = bodywork3.ours(given)
        run_deploy(**kwargs, unused=unused)

    @cli.group()
    def get() -> None:
        """List deployments or runs, or show one deployment (Bodywork 3's spellings)."""

    @get.command("deployments")
    @click.argument("name", required=False)
    @click.argument("service", required=False)
    @click.option(
        "--async",
        "asynchronous",
        is_flag=True,
        help="Bodywork 3: list the runs (its --async workflow jobs), as 'get runs' does.",
    )
    @click.option(
        "--logs",
        "logs_of",
        metavar="RUN",
        help="Bodywork 3: print run RUN's logs, as 'bodywork logs RUN' does.",
    )
    @target_options
    def get_deployments(
        name: str | None,
        service: str | None,
        asynchronous: bool,
        logs_of: str | None,
        **target: Any,
    ) -> None:
        """List deployments and their services; NAME: that one in detail (its stages,
        services, URLs and last runs); NAME SERVICE: that service."""
        runs = reader(**target)
        if logs_of is not None:
            show_logs(runs, logs_of, None, follow=False)
        elif asynchronous:
            show_runs(runs, name)
        elif name is None:
            show_deployments(runs)
        else:
            show_deployment(runs, name, service, runs.target.name, target.get("namespace"))

    get.add_command(get_deployments, "deployment")

    @get.command("runs")
    @click.argument("deployment", required=False)
    @target_options
    def get_runs(deployment: str | None, **target: Any) -> None:
        """List runs (of one deployment, or all), newest first."""
        show_runs(reader(**target), deployment)

    @cli.command()
    @click.argument("run_ref", metavar="RUN")
    @click.argument("stage", required=False)
    @click.option("--follow", "-f", is_flag=True, help="Keep printing until the run settles.")
    @target_options
    def logs(run_ref: str, stage: str | None, follow: bool, **target: Any) -> None:
        """Print a run's logs (RUN: a run id, a prefix, or a deployment name)."""
        show_logs(reader(**target), run_ref, stage, follow)

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
        """Delete a deployment (Bodywork 3's spellings)."""

    @delete.command("deployment")
    @click.argument("name")
    @click.argument("service", required=False)
    @click.option(
        "--async",
        "asynchronous",
        is_flag=True,
        help="Bodywork 3: NAME is an --async workflow job (there is none to delete here).",
    )
    @target_options
    def delete_deployment_(
        name: str, service: str | None, asynchronous: bool, **target: Any
    ) -> None:
        """Stop a deployment's services and remove what it made (locally, history is kept)."""
        if asynchronous:
            nothing_to_delete(name)
        elif service is not None:
            raise one_service_refused(name, service)
        else:
            delete_deployment(name, **target)

    delete.add_command(delete_deployment_, "deployments")
