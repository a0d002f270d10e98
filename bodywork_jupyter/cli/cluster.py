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
        "--data-volume",
        metavar="pvc:NAME|none",
        help="A claim shared by a deployment's stages as BODYWORK_DATA_DIR (folder "
        "<deployment>), as on this machine; made (ReadWriteMany, 10Gi) if missing.",
    )
    @click.option(
        "--cache-volume",
        metavar="pvc:NAME|none",
        help="A claim for requirement environments and downloads, shared by every stage "
        "pod; made (ReadWriteMany, 10Gi) if missing.",
    )
    @click.option("--image", help="The stage image of deploys that name none ('' clears).")
    @click.option(
        "--image-pull-secret",
        "image_pull_secrets",
        multiple=True,
        help="A Secret for pulling the stage image (repeatable; '' clears).",
    )
    @click.option(
        "--git-secret",
        help="A Secret with the runner's git credentials (BODYWORK_GIT_TOKEN, ...; '' clears).",
    )
    @click.option("--ingress-class", help="The IngressClass of service Ingresses ('' clears).")
    @click.option(
        "--target",
        "target_name",
        default="kubernetes",
        show_default=True,
        help="The cluster target to set up.",
    )
    def configure_cluster(
        namespace: str | None,
        context: str | None,
        target_name: str,
        data_volume: str | None,
        cache_volume: str | None,
        image: str | None,
        image_pull_secrets: tuple[str, ...],
        git_secret: str | None,
        ingress_class: str | None,
    ) -> None:
        """Create a namespace's service accounts, Role and RoleBinding (no ClusterRole),
        and keep its settings for every deploy there.

        Run it once per namespace, as someone who may create namespaces and RBAC; the
        namespace may exist already. Run it again to change a setting: settings not given
        stay as they are.
        """
        from bodywork_jupyter.targets import ClusterChanges, TargetOptions, open_target

        given = {k: v for k, v in {"namespace": namespace, "context": context}.items() if v}
        changes = ClusterChanges(
            data_volume=data_volume,
            cache_volume=cache_volume,
            image=image,
            image_pull_secrets=tuple(s for s in image_pull_secrets if s)
            if image_pull_secrets
            else None,
            git_secret=git_secret,
            ingress_class=ingress_class,
        )
        target = open_target(TargetOptions(name=target_name, **given))
        try:
            made = target.configure(changes)
        finally:
            target.close()
        for item in made:
            output.echo(
                f"  {item.removeprefix('setting ')}"
                if item.startswith("setting ")
                else f"  applied {item}"
            )
        configured = next(
            (m.split("/", 1)[1] for m in made if m.startswith("Namespace/")), namespace
        )
        output.ok(f"namespace {configured} is set up for bodywork")
        output.echo(
            f"deploy there with: bodywork deploy URL --target {target_name} "
            f"--namespace {configured}"
        )
