"""``bodywork configure-cluster``: set a namespace up for deployments (Bodywork 3's spelling).

Thin like every command: it opens the target through the registry and asks it to
configure itself; the target says what it made.
"""

from __future__ import annotations

import click

from bodywork_jupyter.cli import output


def register(cli: click.Group) -> None:
    @cli.command("configure-cluster")
    @click.option(
        "--namespace",
        help="The namespace to set up (default: the kubeconfig context's).",
    )
    @click.option("--context", help="kubeconfig context.")
    @click.option(
        "--target",
        "target_name",
        default="kubernetes",
        show_default=True,
        help="The cluster target to set up.",
    )
    def configure_cluster(namespace: str | None, context: str | None, target_name: str) -> None:
        """Create a namespace's service accounts, Role and RoleBinding (no ClusterRole).

        Run it once per namespace, as someone who may create namespaces and RBAC; the
        namespace may exist already.
        """
        from bodywork_jupyter.targets import TargetOptions, open_target

        given = {k: v for k, v in {"namespace": namespace, "context": context}.items() if v}
        target = open_target(TargetOptions(name=target_name, **given))
        try:
            made = target.configure()
        finally:
            target.close()
        for item in made:
            output.echo(f"  applied {item}")
        configured = next(
            (m.split("/", 1)[1] for m in made if m.startswith("Namespace/")), namespace
        )
        output.ok(f"namespace {configured} is set up for bodywork")
        output.echo(
            f"deploy there with: bodywork deploy URL --target {target_name} "
            f"--namespace {configured}"
        )
