"""``bodywork export argo [PATH_OR_URL]``: the pipeline as Argo Workflows YAML.

Thin: the options go to ``exporting.export_argo`` (the same source rules as a deploy to a
cluster), the checked YAML to standard output or ``-o FILE``, what to do next to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from bodywork_jupyter.cli import output
from bodywork_jupyter.cli.options import group_of

if TYPE_CHECKING:  # the core is imported inside the command, so --help stays fast
    from bodywork_jupyter.plan import Plan

_KINDS = ("workflow", "template", "cron")


def register(cli: click.Group) -> None:
    export = group_of(cli, "export", "Export a pipeline for another system to run.")

    @export.command("argo")
    @click.argument("source", metavar="PATH_OR_URL", default=".")
    @click.option(
        "--kind",
        type=click.Choice(_KINDS),
        default="workflow",
        show_default=True,
        help="A Workflow (one run), a WorkflowTemplate, or a WorkflowTemplate and a "
        "CronWorkflow on the pipeline's schedule.",
    )
    @click.option(
        "-o",
        "--output",
        "out_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Write the YAML to FILE (default: standard output).",
    )
    @click.option(
        "--namespace",
        help="The namespace it runs in (default: the pipeline's namespace, else its name).",
    )
    @click.option("--image", help="Stage image to run every stage in (a stage's own wins).")
    @click.option(
        "--image-pull-secret",
        "image_pull_secrets",
        multiple=True,
        metavar="NAME",
        help="A Secret the workflow pulls its images with, after bodywork.yaml's "
        "image_pull_secrets (repeatable).",
    )
    @click.option("--branch", help="Export the head of this branch (a remote's, if not here).")
    @click.option("--commit", help="Export this commit.")
    @click.option(
        "--param",
        "params",
        multiple=True,
        metavar="STAGE.NAME=VALUE",
        help="A notebook parameter's default (argo submit -p STAGE_NAME=VALUE sets it per run).",
    )
    @click.option("--python", metavar="VERSION", help="The Python the stages need, e.g. 3.9.")
    @click.option(
        "--requirements-as-of",
        metavar="commit|DATE|none",
        help="Resolve requirements as of the commit's date, a date or now (none).",
    )
    @click.option(
        "--service-account",
        metavar="NAME",
        help="The workflow's service account (default: bodywork-argo; docs/users/argo.md "
        "gives its Role).",
    )
    @click.option(
        "--git-secret",
        metavar="NAME",
        help="A Secret with the runner's git credentials (BODYWORK_GIT_TOKEN, ...), for a "
        "private repository.",
    )
    @click.option(
        "--kubectl-image",
        metavar="IMAGE",
        help="The image that waits for a service's rollout with kubectl rollout status "
        "(default: the Kubernetes project's kubectl image).",
    )
    @click.option(
        "--schema",
        "schema_file",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="BODYWORK_ARGO_SCHEMA",
        help="Also check against Argo's JSON Schema (api/jsonschema/schema.json of your Argo "
        "version), unknown keys refused. Env: BODYWORK_ARGO_SCHEMA.",
    )
    def argo(
        source: str,
        kind: str,
        out_file: Path | None,
        namespace: str | None,
        image: str | None,
        image_pull_secrets: tuple[str, ...],
        branch: str | None,
        commit: str | None,
        params: tuple[str, ...],
        python: str | None,
        requirements_as_of: str | None,
        service_account: str | None,
        git_secret: str | None,
        kubectl_image: str | None,
        schema_file: Path | None,
    ) -> None:
        """Export the pipeline (PATH_OR_URL: a project folder, default '.', or a git URL)
        as Argo Workflows YAML, checked before it is written.

        Every stage fetches its code from git at the exported commit, as on --target
        kubernetes: a folder's commit must be on its git remote. Exit 2 on bad input or
        a failed check (nothing is written then).
        """
        from bodywork_jupyter import exporting
        from bodywork_jupyter.plan.argo import KINDS, options

        chosen = next(k for k in KINDS if k == kind)  # click's Choice, as the Literal
        schema = exporting.load_schema(schema_file) if schema_file else None
        exported = exporting.export_argo(
            source,
            branch,
            commit,
            params,
            kind=chosen,
            namespace=namespace,
            image=image,
            image_pull_secrets=image_pull_secrets,
            python=python,
            requirements_as_of=requirements_as_of,
            service_account=service_account or options.DEFAULT_SERVICE_ACCOUNT,
            git_secret=git_secret,
            kubectl_image=kubectl_image or options.DEFAULT_KUBECTL_IMAGE,
            schema=schema,
        )
        for warning in exported.warnings:
            output.echo(output.style("warning: ", fg="yellow") + warning, err=True)
        if out_file is None:
            click.echo(exported.text, nl=False)
            return
        exporting.write_export(out_file, exported.text)
        output.ok(f"exported {exported.description} as {exported.summary} to {out_file}")
        output.echo(_next_step(chosen, out_file, exported.namespace, exported.plan), err=True)


def _next_step(kind: str, path: Path, namespace: str, plan: Plan) -> str:
    from bodywork_jupyter.plan.argo import workflow_template_name

    if kind == "workflow":
        return f"run it with: argo submit -n {namespace} {path} (or kubectl create -f {path})"
    apply = f"kubectl apply -f {path}"
    if kind == "template":
        name = workflow_template_name(plan)
        run = f"argo submit -n {namespace} --from workflowtemplate/{name}"
        return f"add it with: {apply}, then run it with: {run}"
    return f"schedule it with: {apply}"
