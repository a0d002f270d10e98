"""Printing for the CLI: colour on a terminal, plain text otherwise (and with NO_COLOR)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import click

from bodywork_jupyter.pipeline.problems import Problem


def _colour() -> bool | None:
    return False if os.environ.get("NO_COLOR") else None  # None: click checks for a terminal


def echo(text: str = "", *, err: bool = False) -> None:
    click.echo(text, err=err, color=_colour())


def style(text: str, **kwargs: object) -> str:
    return click.style(text, **kwargs)  # type: ignore[arg-type]


def ok(text: str) -> None:
    echo(style("✓ ", fg="green", bold=True) + text)


def fail(text: str) -> None:
    echo(style("error: ", fg="red", bold=True) + text, err=True)


def problems(items: Iterable[Problem], *, err: bool = False) -> None:
    for problem in items:
        colour = "red" if problem.severity == "error" else "yellow"
        text = problem.render()
        head, sep, rest = text.partition(": ")
        echo(style(head, bold=True) + sep + style(rest, fg=colour) if sep else text, err=err)
