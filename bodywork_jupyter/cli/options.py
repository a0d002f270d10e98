"""Click option groups: several options applied as one decorator, shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def stack(*options: Decorator) -> Decorator:
    """One decorator applying ``options`` in the order written (the first is outermost)."""

    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def group_of(cli: click.Group, name: str, help_text: str) -> click.Group:
    """The group ``name`` of ``cli`` (another module may have made it), else a new one."""
    found = cli.commands.get(name)
    if isinstance(found, click.Group):
        return found

    @cli.group(name, help=help_text)
    def made() -> None: ...

    return made
