"""``--ssh FILE`` (Bodywork 3's ``create deployment --ssh``): a private key for git over ssh.

On this machine the key is read here and handed on as ``BODYWORK_GIT_SSH_KEY``, the
variable the runner's git reads (``bodywork_runner.source.git_credentials``), for as long
as the deploy runs: this process's git (resolving the source) uses it, and so does every
stage of a supervisor the deploy starts, which inherits this process's environment (the
runner writes the key to a 0600 file for each fetch, and removes the variable before the
stage's code runs). It is never printed, logged, or written into a record.

A cluster keeps the key in a Secret named by the namespace's settings instead
(``configure-cluster --git-secret``): ``--ssh`` there is refused with the commands that
keep it there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bodywork_jupyter.errors import BadInputError
from bodywork_runner.source import SSH_KEY_ENV

#: The Secret the refusal on a cluster suggests (any name does).
SECRET_NAME = "git-ssh"


def read_key(given: str) -> str:
    """The private key in file ``given``; refused (never quoting the file) unless it is one."""
    if given.lstrip().startswith("-----BEGIN"):
        # Bodywork's docs once showed --ssh "$(cat KEY)": never echo what was typed
        raise BadInputError(
            "--ssh takes the key's file, not the key itself (an argument is kept in shell "
            "history and shown by ps) - give its path, e.g. --ssh ~/.ssh/id_ed25519"
        )
    path = Path(given).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(f"--ssh {given}: no such file - give the private key's path") from None
    except IsADirectoryError:
        raise BadInputError(f"--ssh {given}: is a folder - give the private key's file") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not text"
        raise BadInputError(f"--ssh {given}: cannot read it ({why})") from None
    if "PRIVATE KEY" not in text:
        public = (
            " (that is a public key: give the file without .pub)"
            if text.startswith(("ssh-", "ecdsa-", "sk-"))
            else ""
        )
        raise BadInputError(
            f"--ssh {given}: is not a private key{public} - give the private key git uses "
            "for the repository"
        )
    return text


def refused_on(target_name: str, given: str, where: str) -> BadInputError:
    """--ssh on a target whose stages run elsewhere: the key belongs in a Secret there."""
    return BadInputError(
        f"--ssh: on --target {target_name} the stages' git key is kept in a Secret of the "
        "namespace, not sent with each deploy - keep it there once, then deploy without --ssh:\n"
        f"  bodywork secret create {SECRET_NAME} --from-file {SSH_KEY_ENV}={given}{where}\n"
        f"  bodywork configure-cluster --git-secret {SECRET_NAME}{where}"
    )


@contextmanager
def given_to_git(key: str | None) -> Iterator[None]:
    """``key`` as ``BODYWORK_GIT_SSH_KEY`` in this process's environment while the block
    runs (nothing without a key); the variable as it was afterwards."""
    if key is None:
        yield
        return
    before = os.environ.get(SSH_KEY_ENV)
    os.environ[SSH_KEY_ENV] = key
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SSH_KEY_ENV, None)
        else:
            os.environ[SSH_KEY_ENV] = before
