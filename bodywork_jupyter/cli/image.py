"""``bodywork image build``: the stage image, for a team's own or an air-gapped registry.

Thin: the options make a BuildRequest and ``bodywork_jupyter.image.build`` runs the steps;
this prints them, the image and where it went. A missing tool exits 2 with the apt package
that provides it (docs/operators/stage-image.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import click

from bodywork_jupyter.cli import output


def register(cli: click.Group) -> None:
    @cli.group()
    def image() -> None:
        """The stage image every stage (and the in-cluster controller) runs in."""

    @image.command()
    @click.option("--tag", "-t", help="The image's name  [default: the built-in default image]")
    @click.option(
        "--push",
        metavar="REGISTRY",
        help="Push it to REGISTRY too (host[:port][/path]), as REGISTRY/<the tag's path>.",
    )
    @click.option(
        "--python",
        default="3.11",
        show_default=True,
        help="The image's Python: Debian's (3.11 bookworm, 3.13 trixie), or python:X-slim's.",
    )
    @click.option(
        "--builder",
        type=click.Choice(["auto", "debian", "dockerfile"]),
        default="auto",
        show_default=True,
        help="debian: from Debian's packages (root, mmdebstrap, buildah); dockerfile: "
        "docker/podman build with runner/Dockerfile; auto: debian where it can.",
    )
    @click.option(
        "--cache-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="BODYWORK_IMAGE_CACHE",
        help="Where the Debian base and downloads are kept  [default: /var/cache/bodywork-image]",
    )
    @click.option(
        "--debian-mirror",
        metavar="URL",
        help="The Debian mirror of the debian builder (a local one in an air-gapped network)"
        "  [default: http://deb.debian.org/debian]",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def build(
        tag: str | None,
        push: str | None,
        python: str,
        builder: str,
        cache_dir: Path | None,
        debian_mirror: str | None,
        as_json: bool,
    ) -> None:
        """Build the stage image (and push it): see docs/operators/stage-image.md."""
        from dataclasses import asdict, replace

        from bodywork_jupyter.image.build import Builder, BuildRequest, build_image

        request = BuildRequest(python=python, push=push, builder=cast(Builder, builder))
        if tag:
            request = replace(request, tag=tag)
        if cache_dir is not None:
            request = replace(request, cache_dir=cache_dir)
        if debian_mirror:
            request = replace(request, debian_mirror=debian_mirror)
        say = (lambda _: None) if as_json else (lambda text: output.echo(f"- {text}", err=True))
        result = build_image(request, say)
        if as_json:
            output.echo(json.dumps(asdict(result), indent=2))
            return
        cached = {
            (True, True): " (nothing changed: cached base and layer)",
            (True, False): " (cached base)",
        }.get((bool(result.base_cached), bool(result.layer_cached)), "")
        output.ok(
            f"built {result.tag} with the {result.builder} builder in "
            f"{result.seconds['total']:.0f} s{cached}"
        )
        if result.pushed:
            output.ok(f"pushed {result.pushed}")
