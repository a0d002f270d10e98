"""``bodywork cache list|clear``: the stages' requirement environments, with their sizes.

Thin: the target says where its stages keep their environments on this machine (or
``--cache-dir`` names a folder), and the runner's ``env_cache`` lists or clears them. An
environment a running stage uses is never removed: clear says it was kept.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bodywork_jupyter.cli import output
from bodywork_jupyter.errors import BadInputError

if TYPE_CHECKING:
    from bodywork_runner.env_cache import CachedEnvironment


def _folder(target_name: str, state_dir: Path | None, cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return cache_dir
    from bodywork_jupyter.cli.runs import open_target

    target = open_target(target_name, state_dir)
    try:
        folder = target.environment_cache()
    finally:
        target.close()
    if folder is None:
        raise BadInputError(
            f"--target {target_name} keeps its stages' environments where they run, not on "
            "this machine (on a cluster: the namespace's cache volume, configure-cluster "
            "--cache-volume) - give --cache-dir for a folder of environments here"
        )
    return folder


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def age_text(when: float | None, now: float | None = None) -> str:
    """'3 min ago', '2 h ago', '5 d ago' ('-' when unknown)."""
    if when is None:
        return "-"
    delta = max(0.0, (now or time.time()) - when)
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60)):
        if delta >= seconds:
            return f"{int(delta // seconds)} {unit} ago"
    return "just now"


def _count(number: int) -> str:
    return f"{number} environment" + ("" if number == 1 else "s")


def _what(env: CachedEnvironment) -> str:
    if not env.complete:
        return "(being built)" if env.in_use else "(unfinished: removed on use or clear)"
    about = env.about
    packages = [*about.get("requirements", [])]
    if about.get("requirements_file"):
        packages.append(f"-r {about['requirements_file']}")
    text = " ".join(packages) or "-"
    if about.get("as_of"):
        text += f" (as of {str(about['as_of'])[:10]})"
    return text


def _json(env: CachedEnvironment) -> dict[str, Any]:
    about = env.about
    return {
        "key": env.key,
        "path": str(env.path),
        "size_bytes": env.size_bytes,
        "complete": env.complete,
        "in_use": env.in_use,
        "last_used": env.last_used,
        "python": about.get("python"),
        "installer": about.get("installer"),
        "requirements": about.get("requirements", []),
        "requirements_file": about.get("requirements_file"),
        "as_of": about.get("as_of"),
        "settings": about.get("settings", {}),  # credentials were removed when it was built
    }


def register(cli: click.Group) -> None:
    where = [
        click.option(
            "--target",
            "target_name",
            default="local",
            show_default=True,
            help="Whose stages' environments (local: this machine's deployments).",
        ),
        click.option(
            "--state-dir",
            type=click.Path(path_type=Path, file_okay=False),
            envvar="BODYWORK_STATE_DIR",
            help="The local target's state folder (its environments are in cache/).",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(path_type=Path, file_okay=False),
            help="A runner cache folder instead (e.g. ~/.cache/bodywork, BODYWORK_CACHE_DIR).",
        ),
    ]

    def options(function: Any) -> Any:
        for option in reversed(where):
            function = option(function)
        return function

    @cli.group()
    def cache() -> None:
        """The stages' requirement environments: list them, clear them."""

    @cache.command("list")
    @options
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def list_(
        target_name: str, state_dir: Path | None, cache_dir: Path | None, as_json: bool
    ) -> None:
        """List the environments, most recently used first, with their sizes."""
        from bodywork_runner.env_cache import list_environments

        folder = _folder(target_name, state_dir, cache_dir)
        found = list_environments(folder)
        if as_json:
            output.echo(json.dumps([_json(e) for e in found], indent=2))
            return
        total = sum(e.size_bytes for e in found)
        output.echo(f"{folder}: {_count(len(found))}, {size_text(total)}")
        if not found:
            return
        now = time.time()
        rows = [
            (
                e.key[:12],
                size_text(e.size_bytes),
                str(e.about.get("python", "-")),
                "in use" if e.in_use and e.complete else age_text(e.last_used, now),
                _what(e),
            )
            for e in found
        ]
        head = ("KEY", "SIZE", "PYTHON", "LAST USED", "REQUIREMENTS")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
        for row in [head, *rows]:
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])]
            output.echo("  ".join([*cells, row[4]]))

    @cache.command("clear")
    @click.argument("keys", nargs=-1)
    @options
    def clear(
        keys: tuple[str, ...], target_name: str, state_dir: Path | None, cache_dir: Path | None
    ) -> None:
        """Remove the environments no running stage uses (or those whose KEY starts so).

        The next stage that needs one builds it again."""
        from bodywork_runner.env_cache import clear as clear_cache

        folder = _folder(target_name, state_dir, cache_dir)
        done = clear_cache(folder, keys)
        if keys and not done.removed and not done.in_use:
            raise BadInputError(
                f"no environment in {folder} has a key starting with {' or '.join(keys)} - "
                "see bodywork cache list"
            )
        output.ok(
            f"removed {_count(len(done.removed))} ({size_text(done.freed_bytes)}) from {folder}"
        )
        for env in done.in_use:
            output.echo(f"kept {env.key[:12]}: a running stage uses it (or it is being built)")
