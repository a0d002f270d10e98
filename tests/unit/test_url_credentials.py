"""A git URL's credentials taken out of it, and the stages that read them back (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan, PlannedSecret
from bodywork_jupyter.url_credentials import (
    UrlCredentials,
    git_env,
    read_by_stages,
    secret_name,
    shown,
    split,
)


@pytest.mark.parametrize(
    ("given", "url", "username", "token"),
    [
        ("https://bot:s3cr3t@host/org/repo.git", "https://host/org/repo.git", "bot", "s3cr3t"),
        ("https://s3cr3t@host/org/repo.git", "https://host/org/repo.git", "x-access-token", "s3cr3t"),
        ("https://:s3cr3t@host/r", "https://host/r", "x-access-token", "s3cr3t"),
        ("http://u:p%40ss%3A@host:8080/r", "http://host:8080/r", "u", "p@ss:"),
        # an @ left unencoded in the token: the last one before the path ends the credentials
        ("https://u:p@ss@host/r", "https://host/r", "u", "p@ss"),
        ("HTTPS://u:t@Host", "HTTPS://Host", "u", "t"),
        ("https://u:t@host?x=1", "https://host?x=1", "u", "t"),
        ("https://oauth2:t:with:colons@gitlab.example/g/r.git", "https://gitlab.example/g/r.git",
         "oauth2", "t:with:colons"),
    ],
)  # fmt: skip
def test_the_credentials_are_taken_out_of_an_http_url(
    given: str, url: str, username: str, token: str
) -> None:
    clean, credentials = split(given)
    assert clean == url
    assert credentials == UrlCredentials(username, token)
    assert repr(credentials) == f"UrlCredentials(username={username!r})"  # no token
    assert credentials is not None
    assert credentials.environ() == {"BODYWORK_GIT_TOKEN": token, "BODYWORK_GIT_USERNAME": username}


@pytest.mark.parametrize(
    "given",
    [
        "https://github.com/org/repo.git",
        "https://host/path/with@at",
        "ssh://git@host/org/repo.git",  # a user name, no secret: ssh's key is the credential
        "git@github.com:org/repo.git",
        "file:///srv/repo.git",
    ],
)
def test_a_url_without_http_credentials_is_left_as_it_is(given: str) -> None:
    assert split(given) == (given, None)


def test_a_user_without_a_token_is_refused_without_naming_the_user() -> None:
    with pytest.raises(BadInputError) as caught:
        split("https://someone:@host/r.git")
    assert str(caught.value).startswith("https://***@host/r.git: the URL names a user but")
    assert "someone" not in str(caught.value)


def test_the_url_is_shown_with_stars_where_its_credentials_were() -> None:
    assert shown("https://host/org/repo.git") == "https://***@host/org/repo.git"
    assert shown("git@host:org/repo.git") == "git@host:org/repo.git"


def test_gits_environment_holds_the_token_only_as_a_variable() -> None:
    env = git_env(UrlCredentials("bot", "s3cr3t"))
    assert env["BODYWORK_GIT_TOKEN"] == "s3cr3t" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert [k for k, v in env.items() if "s3cr3t" in v] == ["BODYWORK_GIT_TOKEN"]
    # the helpers configured here are cleared first: none of them may store the token
    assert (env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"]) == ("credential.helper", "")


def plan(stages: dict[str, dict[str, Any]], run_on_failure: bool = False) -> Plan:
    def stage(name: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "k8s_name": name, "kind": "batch", "image": "i",
                "file": f"{name}.py", **extra}  # fmt: skip

    return Plan.model_validate(
        {
            "pipeline": "My Pipe",
            "k8s_name": "my-pipe",
            "source": {"repo": "https://host/r.git", "commit": "a" * 40},
            "secrets_group": "g",
            "order": list(stages),
            "stages": {name: stage(name, extra) for name, extra in stages.items()},
            "run_on_failure": stage("alert", {}) if run_on_failure else None,
        }
    )


def test_every_stage_reads_the_deployments_secret_as_the_runners_variables() -> None:
    given = plan(
        {"a": {"secrets": {"DB": {"group": "g", "secret": "db", "key": "PW"}}}, "b": {}},
        run_on_failure=True,
    )
    read = read_by_stages(given)

    assert secret_name(given) == "bodywork-git-my-pipe"
    wanted = {
        env: PlannedSecret(group="g", secret="bodywork-git-my-pipe", key=env)
        for env in ("BODYWORK_GIT_TOKEN", "BODYWORK_GIT_USERNAME")
    }
    assert read.stages["a"].secrets == {"DB": given.stages["a"].secrets["DB"], **wanted}
    assert read.stages["b"].secrets == wanted
    assert read.run_on_failure is not None and read.run_on_failure.secrets == wanted
    assert Plan.model_validate(read.model_dump(mode="json")) == read  # stored and read back
    assert given.stages["b"].secrets == {}  # the plan given is unchanged


@pytest.mark.parametrize(
    "extra",
    [
        {"env": {"BODYWORK_GIT_USERNAME": "me"}},
        {"secrets": {"BODYWORK_GIT_TOKEN": {"group": "g", "secret": "git", "key": "T"}}},
    ],
)
def test_a_stage_that_sets_the_git_variables_itself_is_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(BadInputError, match=r"stage a: sets BODYWORK_GIT_\w+ itself, and the URL"):
        read_by_stages(plan({"a": extra}))
