"""Who started a run, in the words every target records (``Run.started_by``).

A deploy from a terminal, a notebook's magics or the Python API is started by the OS user
it runs as; one through the REST API by the Jupyter server's user (``server.base``); a
schedule's fire by the schedule. It is a name people read, never a credential.
"""

from __future__ import annotations

import getpass
import os

#: A longer name is cut: it is shown in tables and kept in every run record.
MAX_CHARS = 200


def os_user() -> str | None:
    """The OS user this process runs as: its login name, else its uid (a container user
    with no passwd entry and no $USER), else None."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no variable names it and the uid has no passwd entry
        getuid = getattr(os, "getuid", None)
        return f"uid {getuid()}" if getuid is not None else None
    return cut(name)


def by_schedule(deployment: str) -> str:
    """A run a deployment's schedule started (its schedule is named for the deployment)."""
    return cut(f"schedule {deployment}") or "schedule"


def cut(name: str | None) -> str | None:
    """``name`` as recorded: one line, at most ``MAX_CHARS``; None when nothing is left."""
    if name is None:
        return None
    text = " ".join(name.split())
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 3] + "..."
    return text or None
