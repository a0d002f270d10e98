"""``bodywork secret create|update|list|delete``, and Bodywork 3's spellings of them.

``bodywork create secret NAME --group G --data K=V --data K2=V2``, ``get secrets``,
``get secret NAME``, ``update secret`` and ``delete secret NAME --group G`` are the same
commands. Thin: the data is parsed here (``parse_data``, pure but for reading the files
and variables it is told to), then the target keeps the secret.

A value is never shown: not in output, not in an error (an item that is not KEY=VALUE is
named by its place, since what was typed may be a value), not in a hint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bodywork_jupyter.cli import output
from bodywork_jupyter.cli.options import group_of, stack
from bodywork_jupyter.errors import BadInputError, NotFoundError

if TYPE_CHECKING:  # the CLI imports the core inside commands, so --help stays fast
    from bodywork_jupyter.targets import Target
    from bodywork_jupyter.targets.base import StoredSecret


#: A key is what a stage reads as an environment variable.
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_RULE = "letters, digits and '_', not starting with a digit (e.g. DB_PASSWORD)"


# -- the data, parsed ----------------------------------------------------------------------


def parse_data(
    pairs: Sequence[str],
    from_env: Sequence[str] = (),
    from_file: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """KEY=VALUE items, keys read from ``environ`` (this process's environment unless
    given) and KEY=PATH files (their contents as they are) -> key -> value.

    Refused (``BadInputError``) with what to do, and never the value: an item without
    '=', a key that is no variable name, a key given twice, an empty value."""
    environ = os.environ if environ is None else environ
    data: dict[str, str] = {}

    def add(key: str, value: str, where: str) -> None:
        if key in data:
            raise BadInputError(f"{where}: key {key} is given twice - give each key once")
        if not value:
            raise BadInputError(
                f"{where}: key {key} has an empty value - give it one (an unset shell "
                "variable expands to nothing)"
            )
        if "\0" in value:
            raise BadInputError(f"{where}: key {key}'s value holds a NUL byte - not for env vars")
        data[key] = value

    for number, item in enumerate(pairs, 1):
        where = f"KEY=VALUE item {number}"
        key, sep, value = item.partition("=")
        if not sep:
            raise BadInputError(
                f"{where} has no '=' - give each as KEY=VALUE (what was typed is not shown: "
                "it may be a value)"
            )
        if not _KEY.match(key):
            raise BadInputError(f"{where}: the key before '=' is not a variable name - {_KEY_RULE}")
        add(key, value, where)
    for key in from_env:
        where = f"--from-env {key}"
        if not _KEY.match(key):
            raise BadInputError(f"--from-env: that is not a variable name - {_KEY_RULE}")
        if key not in environ:
            raise BadInputError(f"{where}: {key} is not set here - export it first")
        add(key, environ[key], where)
    for item in from_file:
        key, sep, path = item.partition("=")
        where = f"--from-file {key}"
        if not sep or not path or not _KEY.match(key):
            raise BadInputError(
                f"--from-file takes KEY=PATH, the key a variable name - {_KEY_RULE}"
            )
        add(key, _read(key, Path(path).expanduser()), where)
    if not data:
        raise BadInputError(
            "no keys given - give KEY=VALUE (or --from-env KEY, or --from-file KEY=PATH)"
        )
    return data


def _read(key: str, path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise BadInputError(
            f"--from-file {key}: cannot read {path} ({exc.strerror or type(exc).__name__})"
        ) from None
    except UnicodeDecodeError:
        raise BadInputError(
            f"--from-file {key}: {path} is not UTF-8 text - a stage reads it as an env variable"
        ) from None


# -- options --------------------------------------------------------------------------------


where_options = stack(
    click.option(
        "--group",
        "--secrets-group",
        "group",
        help="The secrets group: the pipeline's secrets_group in bodywork.yaml.",
    ),
    click.option(
        "--target",
        "target_name",
        default="local",
        show_default=True,
        help="Where the secret is kept: local (this machine, for its deploys) or kubernetes "
        "(k8s: the namespace you deploy to), as 'bodywork deploy --target'.",
    ),
    click.option("--context", help="kubeconfig context (kubernetes)."),
    click.option(
        "--namespace",
        help="The namespace you deploy to (kubernetes; default: the kubeconfig context's).",
    ),
)

data_options = stack(
    click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]..."),
    click.option(
        "--data", "data", multiple=True, metavar="KEY=VALUE", help="KEY=VALUE (Bodywork 3)."
    ),
    click.option(
        "--from-env",
        multiple=True,
        metavar="KEY",
        help="KEY's value from this machine's variable KEY (out of shell history).",
    ),
    click.option(
        "--from-file", multiple=True, metavar="KEY=PATH", help="KEY's value is PATH's contents."
    ),
)


@contextmanager
def _opened(target_name: str, context: str | None, namespace: str | None) -> Iterator[Target]:
    from bodywork_jupyter.targets import TargetOptions, open_target

    given = {k: v for k, v in {"context": context, "namespace": namespace}.items() if v}
    target = open_target(TargetOptions(name=target_name, **given))
    try:
        yield target
    finally:
        target.close()


def _named(secret: StoredSecret) -> str:
    group = f" of group '{secret.group}'" if secret.group else ""
    # a secret with no namespace is kept on this machine (the local target)
    where = "on this machine"
    if secret.namespace:
        where = f"Secret {secret.stored_as} in {secret.namespace}"
    return f"secret '{secret.name}'{group} ({where})"


def _table(secrets: Sequence[StoredSecret]) -> None:
    if not secrets:
        output.echo("no secrets")
        return
    namespaced = any(secret.namespace for secret in secrets)  # not on this machine
    header = f"{'NAMESPACE':<20} " if namespaced else ""
    output.echo(f"{'NAME':<24} {'GROUP':<16} {header}KEYS")
    for secret in secrets:
        group = secret.group or "-"
        namespace = f"{secret.namespace or '-':<20} " if namespaced else ""
        output.echo(f"{secret.name:<24} {group:<16} {namespace}{','.join(secret.keys)}")


# -- the commands ------------------------------------------------------------------------------


def run_create(name: str, group: str | None, **options: Any) -> None:
    data = _data(options)
    with _opened(**options) as target:
        secret = target.create_secret(name, data, group)
    output.ok(f"created {_named(secret)}: keys {', '.join(secret.keys)}")
    key = secret.keys[0]
    grouped = f" (and the pipeline's secrets_group: {secret.group})" if secret.group else ""
    output.echo(f"stages read it with secrets: {{{key}: {secret.name}}}{grouped}")


def run_update(name: str, group: str | None, **options: Any) -> None:
    data = _data(options)
    with _opened(**options) as target:
        secret = target.update_secret(name, data, group)
    output.ok(f"updated {_named(secret)}: keys {', '.join(secret.keys)}")
    output.echo(
        "stages started from now on read the new values (a service already serving keeps "
        "the old ones until it is deployed again)"
    )


def run_list(name: str | None, group: str | None, **options: Any) -> None:
    with _opened(**options) as target:
        found = target.list_secrets(group)
    if name is not None:
        found = [s for s in found if s.name == name]
        if not found:
            grouped = f" of group '{group}'" if group else ""
            raise NotFoundError(f"no secret '{name}'{grouped} - list them: bodywork secret list")
    _table(found)


def run_delete(name: str, group: str | None, **options: Any) -> None:
    with _opened(**options) as target:
        secret = target.delete_secret(name, group)
    output.ok(f"deleted {_named(secret)}")


def _data(options: dict[str, Any]) -> dict[str, str]:
    """Pops the data options off ``options``, parsed (before any cluster is reached)."""
    pairs = [*options.pop("pairs"), *options.pop("data")]
    return parse_data(pairs, options.pop("from_env"), options.pop("from_file"))


def register(cli: click.Group) -> None:
    @cli.group()
    def secret() -> None:
        """Keep secrets for stages to read as environment variables.

        A stage's 'secrets: {KEY: NAME}' in bodywork.yaml reads key KEY of secret NAME
        in the pipeline's secrets_group (give the same --group here). They are kept
        where the stages run: on this machine (--target local, the default; readable
        by you only) or in the namespace you deploy to (--target kubernetes). Values
        are never shown: list prints names and keys.
        """

    @secret.command("create")
    @click.argument("name")
    @data_options
    @where_options
    def create_(name: str, group: str | None, **options: Any) -> None:
        """Create secret NAME with keys KEY=VALUE... (refused if it exists)."""
        run_create(name, group, **options)

    @secret.command("update")
    @click.argument("name")
    @data_options
    @where_options
    def update_(name: str, group: str | None, **options: Any) -> None:
        """Set keys of secret NAME (its other keys stay)."""
        run_update(name, group, **options)

    @secret.command("list")
    @where_options
    def list_(group: str | None, **options: Any) -> None:
        """List secrets (of --group): names, groups and keys, never values."""
        run_list(None, group, **options)

    @secret.command("delete")
    @click.argument("name")
    @where_options
    def delete_(name: str, group: str | None, **options: Any) -> None:
        """Delete secret NAME."""
        run_delete(name, group, **options)

    # Bodywork 3's spellings: the same commands under create, get, update and delete
    group_of(cli, "create", "Create a deployment or a secret.").add_command(create_, "secret")
    update = group_of(cli, "update", "Bodywork 3 spelling: 'bodywork update secret NAME'.")
    update.add_command(update_, "secret")
    group_of(cli, "delete", "Delete a deployment or a secret.").add_command(delete_, "secret")

    @click.command()
    @click.argument("name", required=False)
    @where_options
    def get_secrets(name: str | None, group: str | None, **options: Any) -> None:
        """List secrets (or the keys of secret NAME), never values."""
        run_list(name, group, **options)

    get = group_of(cli, "get", "List deployments, runs or secrets.")
    get.add_command(get_secrets, "secrets")
    get.add_command(get_secrets, "secret")
