"""A git URL's own credentials (``https://USER:TOKEN@host/...``, ``https://TOKEN@host/...``).

On this machine (``--target local``) they are taken out of the URL before anything is
planned or recorded: the plan fetches the URL without them, and every stage of it reads them
as the runner's git variables (``BODYWORK_GIT_TOKEN``, ``BODYWORK_GIT_USERNAME``, as a
cluster's ``--git-secret`` gives them) from a secret of the deployment kept in the state
folder's secret store (``secret_name``: 0600 files, read as a stage starts). The plan names
that secret, never its values. The deploying process's own git (reading bodywork.yaml) gets
them through its environment (``git_env``), never through a URL or argv.

A cluster refuses such a URL instead (``plan.kubernetes.checks``): its token would be in
every pod's spec. Pure: ``deploying`` keeps and forgets the secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan, PlannedSecret, PlannedStage
from bodywork_runner.source import TOKEN_ENV, USERNAME_ENV

__all__ = ["UrlCredentials", "git_env", "read_by_stages", "secret_name", "shown", "split"]

#: The runner's user name when only a token is given (its GIT_ASKPASS says the same).
DEFAULT_USERNAME = "x-access-token"
#: The variables the secret's keys become in a stage, as the runner reads them.
KEYS = (TOKEN_ENV, USERNAME_ENV)
_SECRET_PREFIX = "bodywork-git-"
_HTTP = re.compile(r"^(https?://)(.*)$", re.IGNORECASE | re.DOTALL)
#: git's credential helper for the deploying process: it answers from the fetch's own
#: environment, so the token is in no file, URL or argv (and no other helper stores it)
_HELPER = (
    '!f() { test "$1" = get || return 0; '
    + r"printf 'username=%s\npassword=%s\n' "
    + f'"${USERNAME_ENV}" "${TOKEN_ENV}"; }}; f'
)


@dataclass(frozen=True)
class UrlCredentials:
    """The user name and token a URL held; the token is never in a repr."""

    username: str
    token: str = field(repr=False)

    def environ(self) -> dict[str, str]:
        """As the runner's git variables (the keys of the deployment's secret)."""
        return {TOKEN_ENV: self.token, USERNAME_ENV: self.username}


def split(url: str) -> tuple[str, UrlCredentials | None]:
    """``url`` without the user name and token of an http(s) URL, and them (percent-decoded);
    ``(url, None)`` when it holds none. Only a token (``https://TOKEN@host``) is read with
    the runner's user name, ``x-access-token``. The last ``@`` before the path ends them, so
    an unencoded ``@`` in a token is not left in the URL."""
    match = _HTTP.match(url)
    if match is None:
        return url, None
    scheme, rest = match.groups()
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    end = min(ends, default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    if not at:
        return url, None
    clean = f"{scheme}{host}{rest[end:]}"
    user, colon, token = userinfo.partition(":")
    if not colon:
        user, token = "", user
    if not token:
        raise BadInputError(
            f"{shown(clean)}: the URL names a user but holds no token - give the token "
            "(https://USER:TOKEN@host/...), or leave the credentials out of the URL"
        )
    return clean, UrlCredentials(unquote(user) or DEFAULT_USERNAME, unquote(token))


def shown(url: str) -> str:
    """A URL whose credentials were taken out, as a person sees it: ``https://***@host/...``."""
    match = _HTTP.match(url)
    return url if match is None else f"{match.group(1)}***@{match.group(2)}"


def git_env(credentials: UrlCredentials) -> dict[str, str]:
    """What git in this process needs to fetch with ``credentials``: their variables and a
    credential helper that reads them (after the helpers configured here are cleared)."""
    return {
        **credentials.environ(),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": "credential.helper",
        "GIT_CONFIG_VALUE_1": _HELPER,
    }


def secret_name(plan: Plan) -> str:
    """The secret (of the plan's secrets group) that keeps the deployment's URL credentials."""
    return f"{_SECRET_PREFIX}{plan.k8s_name}"


def read_by_stages(plan: Plan) -> Plan:
    """``plan`` with every stage (and ``run_on_failure``) reading the deployment's URL
    credentials as the runner's git variables; refused for a stage that sets them itself."""
    name = secret_name(plan)

    def reading(stage: PlannedStage) -> PlannedStage:
        clash = sorted(set(KEYS) & (set(stage.env) | set(stage.secrets)))
        if clash:
            raise BadInputError(
                f"stage {stage.name}: sets {', '.join(clash)} itself, and the URL holds git "
                "credentials too - give them one way: take them out of the URL, or out of "
                "the stage"
            )
        refs = {env: PlannedSecret(group=plan.secrets_group, secret=name, key=env) for env in KEYS}
        return stage.model_copy(update={"secrets": {**stage.secrets, **refs}})

    failure = plan.run_on_failure
    return plan.model_copy(
        update={
            "stages": {key: reading(stage) for key, stage in plan.stages.items()},
            "run_on_failure": None if failure is None else reading(failure),
        }
    )
