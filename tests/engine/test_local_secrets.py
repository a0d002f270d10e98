"""Secrets on this machine, with real supervisors, runners and kernels.

A stage gets the secrets it declares (``secrets: {KEY: NAME}`` and ``{secret, key}``), read
from this machine's store, and nothing else of the deploying shell; a missing secret
refuses the deploy before anything is recorded or started. Every value is a fresh random
string that no output, log, executed notebook, run record or other file of the state
folder may hold (the secrets folder aside: 0700, its files 0600).
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.engine.helpers import Bodywork, run_id_of
from tests.projects import notebook, write_yaml

#: What a stage reports of its environment: written to the data folder, digests only.
REPORT = """\
import hashlib, json, os, pathlib
def digest(name):
    value = os.environ.get(name)
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()
report = {{
    "token": digest("MY_TOKEN"), "renamed": digest("RENAMED"),
    "shell": "MY_SHELL_SECRET" in os.environ, "path": "PATH" in os.environ,
    "home": "HOME" in os.environ, "installer": os.environ.get("PIP_DEFAULT_TIMEOUT"),
}}
pathlib.Path(os.environ["BODYWORK_DATA_DIR"], "{stage}.json").write_text(json.dumps(report))
print("{stage} reported")
"""

CONFIG = """\
version: "2.0"
pipeline: {name: sekrit, secrets_group: tst}
stages:
  nb:
    path: nb.ipynb
    secrets: {MY_TOKEN: creds, RENAMED: {secret: creds, key: API_KEY}}
  mod:
    path: mod.py
    depends_on: [nb]
    secrets: {MY_TOKEN: creds}
"""


def value() -> str:
    return f"v-{uuid.uuid4().hex}"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def project(folder: Path) -> Path:
    notebook(folder / "nb.ipynb", REPORT.format(stage="nb"))
    (folder / "mod.py").write_text(REPORT.format(stage="mod"), encoding="utf-8")
    write_yaml(folder, CONFIG)
    return folder


def shown(result: subprocess.CompletedProcess[str], *values: str) -> str:
    """What a command printed, which must hold none of ``values``."""
    text = result.stdout + result.stderr
    for secret in values:
        assert secret not in text, f"a secret value was shown:\n{text}"
    return text


def files_holding(state: Path, *values: str) -> list[str]:
    """The state folder's files (the secrets folder aside) holding one of ``values``."""
    found = []
    for path in state.rglob("*"):
        if path.is_file() and "secrets" not in path.relative_to(state).parts:
            data = path.read_bytes()
            if any(v.encode() in data for v in values):
                found.append(str(path.relative_to(state)))
    return found


def test_a_stage_gets_the_secrets_it_declares_and_nothing_of_the_shell(
    tmp_path: Path, bw: Bodywork, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, api_key, shell_secret = value(), value(), value()
    values = (token, api_key, shell_secret)
    folder = project(tmp_path / "project")
    made = bw("secret", "create", "creds", f"MY_TOKEN={token}", f"API_KEY={api_key}",
              "--group", "tst")  # fmt: skip
    assert made.returncode == 0, shown(made, *values)
    assert "(on this machine)" in shown(made, *values)

    # the deploying shell has a secret of its own, and an installer setting
    monkeypatch.setenv("MY_SHELL_SECRET", shell_secret)
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "61")
    deployed = bw("deploy", folder)
    assert deployed.returncode == 0, shown(deployed, *values)
    run_id = run_id_of(deployed)

    data = bw.state_dir / "deployments" / "sekrit" / "data"
    reports = {s: json.loads((data / f"{s}.json").read_text()) for s in ("nb", "mod")}
    assert reports["nb"] == {
        "token": sha(token), "renamed": sha(api_key),  # {secret: creds, key: API_KEY}
        "shell": False, "path": True, "home": True, "installer": "61",
    }  # fmt: skip
    assert reports["mod"] == {
        "token": sha(token), "renamed": None,  # not declared by this stage
        "shell": False, "path": True, "home": True, "installer": "61",
    }  # fmt: skip

    outputs = [
        shown(bw("logs", run_id, "nb"), *values),
        shown(bw("logs", run_id, "mod"), *values),
        shown(bw("get", "runs"), *values),
        shown(bw("get", "deployments"), *values),
        shown(bw("secret", "list"), *values),
    ]
    assert "nb reported" in outputs[0] and "mod reported" in outputs[1]
    assert files_holding(bw.state_dir, *values) == []  # store, plan, spec, logs, notebook

    secrets = bw.state_dir / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert [p.name for p in secrets.glob("*.json")] == ["tst-creds.json"]
    for path in secrets.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_missing_secret_refuses_the_deploy_before_anything_runs(
    tmp_path: Path, bw: Bodywork
) -> None:
    folder = project(tmp_path / "project")
    secret = value()

    missing = bw("deploy", folder)
    assert missing.returncode == 2, shown(missing)
    text = shown(missing)
    assert "Traceback" not in text
    assert (
        "error: nothing was deployed: --target local does not hold every secret the stages read"
    ) in text
    assert (
        "- secret 'creds' of group 'tst', keys MY_TOKEN, API_KEY (read by stage 'nb' as "
        "MY_TOKEN, RENAMED, stage 'mod' as MY_TOKEN): there is no such secret on this machine "
        "- create it: bodywork secret create creds MY_TOKEN=VALUE API_KEY=VALUE --group tst"
    ) in text

    # a key missing: the secret is there without API_KEY
    made = bw("secret", "create", "creds", f"MY_TOKEN={secret}", "--group", "tst")
    assert made.returncode == 0, shown(made, secret)
    no_key = bw("deploy", folder)
    assert no_key.returncode == 2, shown(no_key, secret)
    assert (
        "- secret 'creds' of group 'tst', key API_KEY (read by stage 'nb' as RENAMED): the "
        "secret has only keys MY_TOKEN - add it: bodywork secret update creds API_KEY=VALUE "
        "--group tst"
    ) in shown(no_key, secret)

    # nothing was recorded or started
    store = bw.store()
    assert store.deployments(include_deleted=True) == []
    assert store.runs() == []
    for started in ("runs", "supervisors", "deployments"):
        assert not (bw.state_dir / started).exists(), started
