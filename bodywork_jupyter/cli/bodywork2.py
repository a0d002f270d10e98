"""Bodywork 2.x's spellings: ``bodywork deployment create|display|logs|delete_job``,
``service display|delete``, ``workflow``, ``setup-namespace``, ``stage`` and ``debug``.

Each is one of our commands under its old name (``runs`` does the work). Bodywork 2.x ran
on a cluster only, so it asked for ``--namespace`` every time: here the target is
``--target`` (this machine by default), and on this machine a namespace is noted and left
out. Its ``deployment create`` started the workflow controller in the cluster and
returned (our ``--detach``), unless ``--local-workflow-controller`` followed it from
here. (``secret`` and ``cronjob`` are the secrets' and schedules' commands.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from bodywork_jupyter.cli import bodywork3, output, runs
from bodywork_jupyter.cli.options import stack
from bodywork_jupyter.engine.parallelism import DEFAULT_MAX_PARALLEL
from bodywork_jupyter.errors import BadInputError

where_options = stack(
    click.option("--namespace", "--ns", "namespace", help="Namespace (cluster targets)."),
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
        help="Where this machine keeps run history.",
    ),
    click.option("--context", help="kubeconfig context (cluster targets)."),
)

name_option = click.option("--name", default="", help="The workflow job's name (Bodywork 2.x).")


def _where(**target: Any) -> dict[str, Any]:
    """The target options, without the namespace Bodywork 2.x always asked for when the
    target is this machine (which has none)."""
    if target["target_name"] == "local" and target.get("namespace"):
        output.echo(
            output.style("warning: ", fg="yellow")
            + f"--namespace {target['namespace']} names a cluster's namespace: left out on "
            "this machine (add --target kubernetes to deploy there)",
            err=True,
        )
        target = {**target, "namespace": None}
    return target


def register(cli: click.Group) -> None:
    @cli.group(context_settings={"help_option_names": ["-h", "--help"]})
    def deployment() -> None:
        """Bodywork 2.x spelling: 'bodywork deployment create|display|logs|delete_job'."""

    @deployment.command("create")
    @click.option("--git-repo-url", metavar="URL", help="The repository to deploy.")
    @click.option("--git-repo-branch", metavar="BRANCH", help="Its branch (default: its default).")
    @click.option(
        "--retries", type=click.IntRange(0), help="Bodywork 2.x's workflow retries (not used)."
    )
    @click.option(
        "--local-workflow-controller",
        "--local",
        "-L",
        "follow",
        is_flag=True,
        help="Follow the run here until it settles (else: return at once, as --detach).",
    )
    @name_option
    @where_options
    def create(
        git_repo_url: str | None,
        git_repo_branch: str | None,
        retries: int | None,
        follow: bool,
        name: str,
        **target: Any,
    ) -> None:
        """Deploy --git-repo-url: 'bodywork deploy URL --branch BRANCH --detach'."""
        if not git_repo_url:
            raise BadInputError("give --git-repo-url URL: the repository to deploy")
        runs.run_deploy(
            git_repo_url,
            git_repo_branch,
            None,
            image=None,
            params=(),
            max_parallel=DEFAULT_MAX_PARALLEL,
            detach=not follow,
            unused=bodywork3.Unused(retries=retries, job_name=name or None),
            **_where(**target),
        )

    @deployment.command("display")
    @name_option
    @where_options
    def display(name: str, **target: Any) -> None:
        """List the runs (of deployment --name): 'bodywork get runs [NAME]'."""
        runs.show_runs(runs.reader(**_where(**target)), name or None)

    @deployment.command("logs")
    @name_option
    @where_options
    def logs(name: str, **target: Any) -> None:
        """Print a run's logs (--name: a run, or a deployment's newest): 'bodywork logs'."""
        if not name:
            raise BadInputError("give --name RUN: a run id, or a deployment's name")
        runs.show_logs(runs.reader(**_where(**target)), name, None, follow=False)

    @deployment.command("delete_job")
    @name_option
    @where_options
    def delete_job(name: str, **target: Any) -> None:
        """Nothing to do: a run here leaves no workflow job behind."""
        runs.nothing_to_delete(name or "the job")

    deployment.add_command(delete_job, "delete-job")

    @cli.group(context_settings={"help_option_names": ["-h", "--help"]})
    def service() -> None:
        """Bodywork 2.x spelling: 'bodywork service display|delete'."""

    @service.command("display")
    @name_option
    @where_options
    def display_services(name: str, **target: Any) -> None:
        """List the services of every deployment, where they answer and the version that
        answers there (RUN@COMMIT, as 'get deployments' shows it)."""
        views = runs.reader(**_where(**target)).deployments()
        rows = [
            (f"{v.name}/{s}", url, runs.serving_tag(v))
            for v in views
            for s, url in v.urls.items()
            if name in ("", s)
        ]
        if not rows:
            output.echo("no services")
            return
        output.echo(f"{'DEPLOYMENT/SERVICE':<40} {'URL':<40} SERVING")
        for shown, url, serving in rows:
            output.echo(f"{shown:<40} {url:<40} {serving}")

    @service.command("delete")
    @name_option
    @where_options
    def delete_service(name: str, **target: Any) -> None:
        """Refused: a deployment's services are deleted with it."""
        views = runs.reader(**_where(**target)).deployments() if name else []
        owners = [v.name for v in views if name in v.urls]
        owner = owners[0] if len(owners) == 1 else "DEPLOYMENT"
        raise runs.one_service_refused(owner, name or "SERVICE")

    @cli.command()
    @click.argument("git_repo_url", metavar="URL")
    @click.argument("git_repo_branch", metavar="BRANCH", required=False)
    @click.option("--bodywork-docker-image", metavar="IMAGE", help="Same as --image.")
    @where_options
    def workflow(
        git_repo_url: str,
        git_repo_branch: str | None,
        bodywork_docker_image: str | None,
        **target: Any,
    ) -> None:
        """Bodywork 2.x spelling: deploy URL at BRANCH and follow it ('bodywork deploy')."""
        runs.run_deploy(
            git_repo_url,
            git_repo_branch,
            None,
            image=bodywork_docker_image,
            params=(),
            max_parallel=DEFAULT_MAX_PARALLEL,
            detach=False,
            **_where(**target),
        )

    @cli.command("setup-namespace")
    @click.argument("namespace")
    @click.option("--context", help="kubeconfig context.")
    @click.option("--target", "target_name", default="kubernetes", show_default=True)
    @click.pass_context
    def setup_namespace(
        ctx: click.Context, namespace: str, context: str | None, target_name: str
    ) -> None:
        """Bodywork 2.x spelling: 'bodywork configure-cluster --namespace NAMESPACE'."""
        configure = cli.commands["configure-cluster"]
        ctx.invoke(configure, namespace=namespace, context=context, target_name=target_name)

    @cli.command(hidden=True, context_settings={"ignore_unknown_options": True})
    @click.argument("words", nargs=-1, type=click.UNPROCESSED)
    def stage(words: tuple[str, ...]) -> None:
        """Bodywork's own: ran one stage inside its containers (refused)."""
        raise BadInputError(
            "'bodywork stage' ran one stage inside Bodywork's own containers; here a "
            "deployment starts each stage's runner itself - deploy the pipeline: bodywork "
            "deploy URL [--branch BRANCH]"
        )

    @cli.command(hidden=True)
    @click.argument("seconds", type=click.IntRange(0), default=600)
    def debug(seconds: int) -> None:
        """Bodywork's: sleep SECONDS (a container to open a shell in)."""
        output.echo(f"sleeping for {seconds}s")
        time.sleep(seconds)
