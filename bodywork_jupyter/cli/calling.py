"""``bodywork call DEPLOYMENT [STAGE]``: try a deployment's service from here.

On this machine the request goes straight to the service; on a cluster through the API
server's service proxy (the target knows how), so the same command works on both.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bodywork_jupyter.cli import output
from bodywork_jupyter.cli.runs import reader, target_options
from bodywork_jupyter.errors import BadInputError


def _body(data: str | None) -> bytes | None:
    """The JSON to send: as given, or from ``@FILE`` (``@-``: standard input); checked."""
    if data is None:
        return None
    if data.startswith("@"):
        name = data[1:]
        try:
            data = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInputError(f"--data @{name}: cannot read it ({exc.strerror})") from None
    try:
        json.loads(data)
    except ValueError as exc:
        raise BadInputError(f"--data is not JSON ({exc}) - give a JSON document") from None
    return data.encode()


def register(cli: click.Group) -> None:
    @cli.command("call")
    @click.argument("deployment")
    @click.argument("stage", required=False)
    @click.option(
        "--data",
        metavar="JSON|@FILE",
        help="POST this JSON (@FILE reads a file, @- standard input); without it, GET.",
    )
    @click.option("--path", default="/predict", show_default=True, help="The path to call.")
    @click.option("--timeout", type=float, default=30.0, show_default=True)
    @target_options
    def call(
        deployment: str,
        stage: str | None,
        data: str | None,
        path: str,
        timeout: float,
        **target: Any,
    ) -> None:
        """Send a request to a service of DEPLOYMENT and print its answer.

        STAGE may be left out when the deployment serves one service.
        """
        body = _body(data)
        if not path.startswith("/"):
            raise BadInputError(f"--path {path}: give a path starting with /")
        read = reader(**target)
        try:
            stage, url = read.service_url(deployment, stage)
            status, answer = read.target.call_service(url, path, body, timeout)
        finally:
            read.target.close()
        text = answer.decode("utf-8", errors="replace")
        if not 200 <= status < 300:
            output.fail(f"{stage}{path} answered {status}: {text.strip()[:2000]}")
            sys.exit(1)
        output.echo(text.rstrip("\n"))
