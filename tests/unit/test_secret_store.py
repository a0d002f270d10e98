"""This machine's secrets: the store (files for the user only, written whole), a stage's
environment (what it inherits, and its secrets), and a plan's missing secrets (pure).

Real stages reading them are in tests/engine/test_local_secrets.py.
"""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from bodywork_jupyter.backends.local.secret_store import SecretStore
from bodywork_jupyter.backends.local.stage_env import stage_environment
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.plan.model import Plan, PlannedSecret
from bodywork_jupyter.plan.secret_refs import missing_secrets, refusal, stored_name

VALUE = "hunter2-Zq9"  # must never be in a message


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ref(secret: str, key: str, group: str | None = "g") -> PlannedSecret:
    return PlannedSecret(group=group, secret=secret, key=key)


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "state")


# -- the store ---------------------------------------------------------------------------------


def test_create_update_list_delete(store: SecretStore) -> None:
    made = store.create("db", "g", {"PASSWORD": VALUE, "USER": "me"})
    assert (made.name, made.group, made.keys, made.namespace, made.stored_as) == (
        "db", "g", ("PASSWORD", "USER"), None, "g-db",
    )  # fmt: skip
    store.create("solo", None, {"ONLY": "x"})
    assert [(s.name, s.group, s.keys) for s in store.list()] == [
        ("solo", None, ("ONLY",)),
        ("db", "g", ("PASSWORD", "USER")),
    ]
    assert [s.name for s in store.list("g")] == ["db"]
    assert store.list("other") == []

    updated = store.update("db", "g", {"PASSWORD": "newer", "EXTRA": "e"})
    assert updated.keys == ("EXTRA", "PASSWORD", "USER")  # the others stay
    assert store.values("s", {"P": ref("db", "PASSWORD"), "U": ref("db", "USER")}) == {
        "P": "newer",
        "U": "me",
    }
    assert store.keys_of(ref("db", "X")) == ("EXTRA", "PASSWORD", "USER")
    assert store.keys_of(ref("db", "X", group=None)) is None  # "db" is not "g-db"

    gone = store.delete("db", "g")
    assert (gone.name, gone.keys) == ("db", ("EXTRA", "PASSWORD", "USER"))
    assert [s.name for s in store.list()] == ["solo"]


def test_files_are_for_the_user_only_and_hold_no_leftovers(store: SecretStore) -> None:
    store.folder.parent.mkdir(parents=True)
    store.folder.mkdir(mode=0o755)  # made before, too open: tightened on the next change
    store.create("db", "g", {"PASSWORD": VALUE})
    store.update("db", "g", {"PASSWORD": VALUE + "2"})
    assert mode(store.folder) == 0o700
    files = sorted(p.name for p in store.folder.iterdir())
    assert files == [".lock", "g-db.json"]  # no temporary file left
    for path in store.folder.iterdir():
        assert mode(path) == 0o600, path
    record = json.loads((store.folder / "g-db.json").read_text(encoding="utf-8"))
    assert record == {"name": "db", "group": "g", "data": {"PASSWORD": VALUE + "2"}}


def test_concurrent_updates_lose_no_key(store: SecretStore) -> None:
    store.create("db", None, {"K0": "0"})
    threads = [
        threading.Thread(target=store.update, args=("db", None, {f"K{i}": str(i)}))
        for i in range(1, 17)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.keys_of(ref("db", "K0", None)) == tuple(sorted(f"K{i}" for i in range(17)))


def test_refusals_say_what_to_do_and_show_no_value(store: SecretStore) -> None:
    store.create("db", "g", {"PASSWORD": VALUE})
    cases = [
        (lambda: store.create("db", "g", {"PASSWORD": VALUE}), BadInputError,
         "secret 'db' of group 'g' exists already (on this machine) - change its keys with "
         "'bodywork secret update'"),
        (lambda: store.update("nope", None, {"A": VALUE}), NotFoundError,
         "no secret 'nope' on this machine (secrets here: db (group g)) - create it with "
         "'bodywork secret create'"),
        (lambda: store.delete("db", None), NotFoundError, "no secret 'db' on this machine"),
        (lambda: store.create("Bad_Name", None, {"A": VALUE}), BadInputError,
         "not a Kubernetes name"),
        (lambda: store.create("../x", None, {"A": VALUE}), BadInputError, "not a Kubernetes name"),
        (lambda: store.list("Bad Group"), BadInputError, "not a Kubernetes name"),
        (lambda: store.create("x", None, {}), BadInputError, "no keys given"),
    ]  # fmt: skip
    for call, kind, words in cases:
        with pytest.raises(kind) as caught:
            call()
        assert words in str(caught.value)
        assert VALUE not in str(caught.value)


def test_a_file_not_ours_is_refused_by_its_path_not_its_contents(store: SecretStore) -> None:
    store.create("db", None, {"A": "a"})
    (store.folder / "db.json").write_text(f"{VALUE} is not JSON", encoding="utf-8")
    with pytest.raises(BadInputError, match="was not written by 'bodywork secret'") as caught:
        store.keys_of(ref("db", "A", None))
    assert VALUE not in str(caught.value)


def test_a_reference_that_is_no_secret_name_reads_nothing(
    store: SecretStore, tmp_path: Path
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "x.json").write_text('{"name": "x", "data": {"A": "a"}}')
    assert store.keys_of(ref("../x", "A", None)) is None  # never outside the folder


def test_values_refuse_a_secret_gone_since_the_deploy(store: SecretStore) -> None:
    store.create("db", "g", {"PASSWORD": VALUE})
    with pytest.raises(BadInputError) as caught:
        store.values("train", {"P": ref("db", "PASSWORD"), "T": ref("db", "TOKEN")})
    message = str(caught.value)
    assert message.startswith("a secret it reads is gone since the deploy:")
    assert "key TOKEN (read by stage 'train' as T): the secret has only keys PASSWORD" in message
    assert "bodywork secret update db TOKEN=VALUE --group g" in message
    assert VALUE not in message


# -- a stage's environment ------------------------------------------------------------------------


def test_a_stage_inherits_only_what_it_needs_and_gets_its_secrets() -> None:
    environ = {
        "PATH": "/bin", "HOME": "/home/me", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "SSL_CERT_FILE": "/ca.pem", "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost",
        "PIP_INDEX_URL": "https://pypi.example/simple", "UV_INDEX_URL": "https://uv.example",
        "BODYWORK_RUNNER_INSTALLER": "pip",
        "MY_SHELL_SECRET": VALUE, "AWS_SECRET_ACCESS_KEY": VALUE, "JPY_SESSION_NAME": "x",
        "BODYWORK_STATE_DIR": "/state", "PYTHONPATH": "/elsewhere",
    }  # fmt: skip
    env = stage_environment(environ, {"DB_PASSWORD": "pw"})
    assert env == {
        "PATH": "/bin", "HOME": "/home/me", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "SSL_CERT_FILE": "/ca.pem", "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost",
        "PIP_INDEX_URL": "https://pypi.example/simple", "UV_INDEX_URL": "https://uv.example",
        "BODYWORK_RUNNER_INSTALLER": "pip",
        "DB_PASSWORD": "pw", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip


# -- a plan's missing secrets (pure) --------------------------------------------------------------


def plan(stages: dict[str, dict[str, PlannedSecret]]) -> Plan:
    return Plan.model_validate(
        {
            "pipeline": "p",
            "k8s_name": "p",
            "source": {"local_path": "/x"},
            "secrets_group": "g",
            "order": list(stages),
            "stages": {
                name: {"name": name, "k8s_name": name, "kind": "batch", "image": "i",
                       "file": f"{name}.ipynb", "secrets": secrets}
                for name, secrets in stages.items()
            },
        }
    )  # fmt: skip


def test_missing_secrets_are_named_with_the_command_that_makes_them() -> None:
    held = {"g-db": ("USER",)}
    reads: list[str] = []

    def keys_of(reference: PlannedSecret) -> tuple[str, ...] | None:
        reads.append(reference.k8s_secret_name)
        return held.get(reference.k8s_secret_name)

    wanted = plan(
        {
            "a": {"USER": ref("db", "USER"), "PW": ref("db", "PASSWORD"), "T": ref("api", "TOKEN")},
            "b": {"TOKEN": ref("api", "TOKEN"), "KEY": ref("api", "KEY")},
        }
    )
    missing = missing_secrets(wanted, keys_of)
    assert sorted(reads) == ["g-api", "g-db"]  # each secret read once
    assert [(m.stage, m.env) for m in missing] == [
        ("a", "PW"),
        ("a", "T"),
        ("b", "KEY"),
        ("b", "TOKEN"),
    ]
    message = str(refusal(missing, "local", "on this machine"))
    assert message.splitlines() == [
        "nothing was deployed: --target local does not hold every secret the stages read",
        "- secret 'db' of group 'g', key PASSWORD (read by stage 'a' as PW): the secret has "
        "only keys USER - add it: bodywork secret update db PASSWORD=VALUE --group g",
        "- secret 'api' of group 'g', keys TOKEN, KEY (read by stage 'a' as T, stage 'b' as "
        "KEY, TOKEN): there is no such secret on this machine - create it: bodywork secret "
        "create api TOKEN=VALUE KEY=VALUE --group g",
    ]
    assert missing_secrets(plan({"a": {}}), keys_of) == []


def test_a_reference_that_cannot_be_a_secret_name_says_so() -> None:
    missing = missing_secrets(plan({"a": {"X": ref("Bad_Name", "X")}}), lambda r: ("X",))
    message = str(refusal(missing, "local", "on this machine"))
    assert "'Bad_Name' of group 'g', key X (read by stage 'a' as X): cannot be kept" in message
    assert "not a Kubernetes name" in message


def test_the_stored_name_is_a_stage_references_name() -> None:
    for group in ("creds", None):
        assert stored_name("db", group) == ref("db", "K", group).k8s_secret_name
    with pytest.raises(BadInputError, match="longer than 253"):
        stored_name("d" * 200, "g" * 60)
