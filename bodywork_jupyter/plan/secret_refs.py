"""A plan's secret references: the name a secret is kept under, and which ones are missing.

One rule for every target: secret NAME of group GROUP is kept as ``GROUP-NAME`` (``NAME``
without a group), the name ``PlannedSecret.k8s_secret_name`` gives a stage's reference, as
Bodywork named its Secrets. A name must also be a Kubernetes name, so a secret kept on this
machine can be kept in a cluster under the same name.

Before anything of a run is recorded or started, a target reads which keys each referenced
secret holds (``keys_of``) and refuses the deploy with ``refusal`` when one is missing:
every missing key named, with the command that creates it. Pure: the target does the reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan, PlannedSecret

#: A Secret's name is a DNS-1123 subdomain; a group is also a label value (63 characters).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
NAME_LIMIT = 253
GROUP_LIMIT = 63

#: The keys a target holds for a secret reference; None when it has no such secret.
KeysOf = Callable[[PlannedSecret], Collection[str] | None]


def stored_name(name: str, group: str | None) -> str:
    """The name secret NAME of GROUP is kept under; refused with how to fix it unless
    Kubernetes accepts it as a Secret's name (and GROUP as a label value)."""
    group = group or None
    for what, value, limit in (("secret name", name, NAME_LIMIT), ("--group", group, GROUP_LIMIT)):
        if value is not None and (not _NAME.match(value) or len(value) > limit):
            raise BadInputError(
                f"{what} {value!r}: not a Kubernetes name - use lowercase letters, digits, "
                f"'-' and '.', starting and ending with a letter or digit, at most {limit} "
                "characters"
            )
    full = PlannedSecret(group=group, secret=name, key="").k8s_secret_name  # no key in it
    if len(full) > NAME_LIMIT:
        raise BadInputError(
            f"secret {full!r}: GROUP-NAME is longer than {NAME_LIMIT} characters - shorten it"
        )
    return full


def is_stored_name(ref: PlannedSecret) -> bool:
    """Whether a stage's reference can name a kept secret at all (else it is missing)."""
    try:
        stored_name(ref.secret, ref.group)
    except BadInputError:
        return False
    return True


@dataclass(frozen=True)
class MissingSecret:
    """A stage's variable whose secret, or whose key in it, the target does not hold."""

    stage: str
    env: str  # the variable the stage reads
    ref: PlannedSecret
    keys: tuple[str, ...] | None  # the keys the secret has; None: no such secret


def references(plan: Plan) -> Iterator[tuple[str, str, PlannedSecret]]:
    """(stage, variable, reference) for every secret a stage of ``plan`` reads."""
    stages = [*plan.stages.values(), *([plan.run_on_failure] if plan.run_on_failure else [])]
    for stage in stages:
        for env, ref in sorted(stage.secrets.items()):
            yield stage.name, env, ref


def missing_secrets(plan: Plan, keys_of: KeysOf) -> list[MissingSecret]:
    """The references of ``plan`` the target cannot resolve (each secret read once)."""
    known: dict[tuple[str | None, str], tuple[str, ...] | None] = {}
    missing = []
    for stage, env, ref in references(plan):
        where = (ref.group, ref.secret)
        if where not in known:
            found = keys_of(ref) if is_stored_name(ref) else None
            known[where] = None if found is None else tuple(sorted(found))
        keys = known[where]
        if keys is None or ref.key not in keys:
            missing.append(MissingSecret(stage, env, ref, keys))
    return missing


def refusal(
    missing: list[MissingSecret], target: str, where: str, flags: str = ""
) -> BadInputError:
    """The deploy's refusal (exit 2): one line per missing secret, and how to make it.

    ``where`` says where the target looked (``on this machine``, ``in namespace NS``);
    ``flags`` are added to the suggested command (``--target kubernetes --namespace NS``).
    """
    header = f"nothing was deployed: --target {target} does not hold every secret the stages read"
    return BadInputError("\n".join([header, *described(missing, where, flags)]))


def described(missing: list[MissingSecret], where: str, flags: str = "") -> list[str]:
    """One line per missing secret: its missing keys, the stages that read them, and the
    one command that makes them all."""
    by_secret: dict[tuple[str | None, str], list[MissingSecret]] = {}
    for item in missing:
        by_secret.setdefault((item.ref.group, item.ref.secret), []).append(item)
    lines = []
    for (group, secret), items in by_secret.items():
        keys = list(dict.fromkeys(item.ref.key for item in items))
        readers: dict[str, list[str]] = {}
        for item in items:
            readers.setdefault(item.stage, []).append(item.env)
        read_by = ", ".join(
            f"stage '{stage}' as {', '.join(envs)}" for stage, envs in readers.items()
        )
        shown = f"secret '{secret}'" + (f" of group '{group}'" if group else "")
        head = f"- {shown}, key{'s' if len(keys) > 1 else ''} {', '.join(keys)} (read by {read_by})"
        command = " ".join(
            [secret, *(f"{key}=VALUE" for key in keys), *([f"--group {group}"] if group else [])]
            + ([flags] if flags else [])
        )
        try:
            stored_name(secret, group)
        except BadInputError as exc:
            lines.append(f"{head}: cannot be kept as a secret - {exc}")
            continue
        has = items[0].keys
        if has is None:
            lines.append(
                f"{head}: there is no such secret {where} - create it: "
                f"bodywork secret create {command}"
            )
        else:
            lines.append(
                f"{head}: the secret has only keys {', '.join(has)} - add "
                f"{'them' if len(keys) > 1 else 'it'}: bodywork secret update {command}"
            )
    return lines
