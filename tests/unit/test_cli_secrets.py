"""``bodywork secret``: its data parsed (pure), and what the CLI refuses before any cluster.

The cluster side (create, list, update, delete; a secret reaching a stage) is in
tests/k8s/test_secrets.py; this machine's store in tests/unit/test_secret_store.py, and
secrets reaching local stages in tests/engine/test_local_secrets.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bodywork_jupyter.backends.kubernetes.secrets import secret_name, secret_object
from bodywork_jupyter.cli.secrets import parse_data
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import PlannedSecret

ROOT = Path(__file__).resolve().parents[2]
VALUE = "hunter2-Zq9"  # must never be printed


def bodywork(*args: str, state_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    if state_dir is not None:
        env["BODYWORK_STATE_DIR"] = str(state_dir)
    return subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def refused(*args: object, **kwargs: object) -> str:
    with pytest.raises(BadInputError) as caught:
        parse_data(*args, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert VALUE not in message
    return message


def test_key_value_items_env_variables_and_files(tmp_path: Path) -> None:
    key_file = tmp_path / "id"
    key_file.write_text(f"-----KEY-----\n{VALUE}\n", encoding="utf-8")
    data = parse_data(
        [f"A={VALUE}", "B=x=y", "C_2= spaced "],
        from_env=["TOKEN"],
        from_file=[f"SSH_KEY={key_file}"],
        environ={"TOKEN": VALUE},
    )
    assert data == {
        "A": VALUE,
        "B": "x=y",  # only the first '=' splits
        "C_2": " spaced ",
        "TOKEN": VALUE,
        "SSH_KEY": f"-----KEY-----\n{VALUE}\n",  # as it is, newline and all
    }


@pytest.mark.parametrize(
    ("pairs", "words"),
    [
        ([VALUE], "item 1 has no '='"),
        (["A=1", VALUE], "item 2 has no '='"),
        ([f"1A={VALUE}"], "item 1: the key before '=' is not a variable name"),
        ([f"my-key={VALUE}"], "not a variable name"),
        ([f"={VALUE}"], "not a variable name"),
        (["A="], "key A has an empty value"),
        ([f"A={VALUE}", f"A={VALUE}"], "key A is given twice"),
        ([], "no keys given"),
    ],
)
def test_bad_items_are_refused_naming_their_place_never_their_value(
    pairs: list[str], words: str
) -> None:
    assert words in refused(pairs, environ={})


def test_bad_env_and_file_sources_are_refused(tmp_path: Path) -> None:
    assert "TOKEN is not set here" in refused([], from_env=["TOKEN"], environ={})
    assert "empty value" in refused([], from_env=["TOKEN"], environ={"TOKEN": ""})
    assert "not a variable name" in refused([], from_env=["NOT-A-NAME"], environ={})
    assert "given twice" in refused([f"TOKEN={VALUE}"], from_env=["TOKEN"], environ={"TOKEN": "x"})
    missing = tmp_path / "nope"
    assert f"cannot read {missing}" in refused([], from_file=[f"K={missing}"], environ={})
    assert "KEY=PATH" in refused([], from_file=[str(missing)], environ={})
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe")
    assert "not UTF-8 text" in refused([], from_file=[f"K={binary}"], environ={})


def test_the_secret_name_is_the_one_a_stage_reference_resolves_to() -> None:
    for group in ("creds", None):
        planned = PlannedSecret(group=group, secret="db", key="PASSWORD")
        assert secret_name("db", group) == planned.k8s_secret_name
    assert secret_name("db", "") == "db"
    obj = secret_object("ns", "db", "creds", {"PASSWORD": VALUE})
    assert obj["metadata"]["name"] == "creds-db"
    assert obj["metadata"]["labels"]["bodywork.dev/secret-group"] == "creds"
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "bodywork-jupyter"
    assert VALUE not in str(obj)  # base64 only: in the request body, nowhere else
    for name, group in (("Bad_Name", None), ("db", "Group"), ("db", "g" * 64), ("-db", None)):
        with pytest.raises(BadInputError, match="not a Kubernetes name"):
            secret_name(name, group)


@pytest.mark.parametrize(
    "args",
    [
        ["secret", "create", "db", VALUE],
        ["secret", "update", "db", f"9X={VALUE}"],
        ["create", "secret", "db", "--group", "g", "--data", VALUE],
        ["update", "secret", "db", "--group", "g", "--data", f"A={VALUE}", "A=again"],
        ["secret", "create", "db"],
    ],
)
def test_bad_data_exits_2_before_any_cluster_and_shows_no_value(args: list[str]) -> None:
    result = bodywork(*args)  # no kubeconfig here: the data is refused first
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ")
    assert VALUE not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_secrets_are_kept_on_this_machine_by_default(tmp_path: Path) -> None:
    state = tmp_path / "state"

    def shown(*args: str, code: int = 0) -> str:
        result = bodywork(*args, state_dir=state)
        assert result.returncode == code, result.stdout + result.stderr
        assert VALUE not in result.stdout + result.stderr
        return result.stdout + result.stderr

    made = shown("create", "secret", "db", "--group", "g", "--data", f"PASSWORD={VALUE}")
    assert "created secret 'db' of group 'g' (on this machine): keys PASSWORD" in made
    assert (state / "secrets" / "g-db.json").is_file()
    assert shown("secret", "list", "--target", "local").splitlines() == [
        f"{'NAME':<24} {'GROUP':<16} KEYS",  # no NAMESPACE column: there is none here
        f"{'db':<24} {'g':<16} PASSWORD",
    ]
    assert "db" in shown("get", "secret", "db", "--group", "g")
    refused = shown("secret", "list", "--namespace", "ns", code=2)
    assert "--namespace ns: applies to a cluster target, not to 'local'" in refused
    assert "deleted secret 'db' of group 'g'" in shown("delete", "secret", "db", "--group", "g")
    assert shown("get", "secrets").strip() == "no secrets"


@pytest.mark.parametrize(
    "command",
    [["secret"], ["secret", "create"], ["secret", "list"], ["create", "secret"],
     ["get", "secrets"], ["update", "secret"], ["delete", "secret"]],
)  # fmt: skip
def test_help(command: list[str]) -> None:
    result = bodywork(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: bodywork" in result.stdout
