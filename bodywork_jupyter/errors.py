"""The one exception hierarchy of bodywork-jupyter.

Every error we raise on purpose derives from ``BodyworkError``; the CLI turns each
into a message and an exit code, never a traceback::

    BodyworkError                 exit_code 1
    ├── BadInputError             exit_code 2: the user can fix it (config, arguments)
    │   ├── ConfigError           carries every Problem found, not just the first
    │   ├── TagError              a notebook's or module's stage tags are wrong
    │   ├── NotFoundError         no such run, deployment or stage (REST: 404)
    │   ├── ExportCheckError      an export (Argo YAML) failed its checks: nothing written
    │   └── StateFolderReadOnlyError  the local state folder is read-only or not ours to write
    └── TargetUnreachableError    exit_code 3: a cluster or git remote could not be reached
        └── StateFolderFullError  the local state folder has no room left (disk, quota) or
                                  its disk failed to write

Both state-folder errors also derive ``StateFolderError`` (folder, reason, advice), so a
caller that only asks "could the state folder be written?" catches one class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bodywork_jupyter.pipeline.problems import Problem


class BodyworkError(Exception):
    """Root of every error bodywork-jupyter raises on purpose."""

    exit_code = 1


class BadInputError(BodyworkError):
    """Input the user must fix: a config file, a notebook tag, a command-line argument."""

    exit_code = 2


class ConfigError(BadInputError):
    """A bodywork.yaml (or stage tags) with one or more problems, all collected."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


class TagError(BadInputError):
    """A notebook or module whose stage tags cannot be read or written."""


class NotFoundError(BadInputError):
    """A run, deployment or stage that does not exist (the message says what does)."""


class ExportCheckError(BadInputError):
    """An exported document (an Argo Workflow, ...) that failed its checks, so nothing was
    written: ``what`` names it, ``problems`` holds every Problem found (path: message)."""

    def __init__(self, what: str, problems: Sequence[Problem]) -> None:
        self.what = what
        self.problems = list(problems)
        lines = "\n".join(f"  {p.render()}" for p in self.problems)
        super().__init__(f"{what} did not pass its checks, so nothing was written:\n{lines}")


class TargetUnreachableError(BodyworkError):
    """A deployment target or a git remote that could not be reached."""

    exit_code = 3


class StateFolderError(BodyworkError):
    """The local target's state folder could not be written (``BODYWORK_STATE_DIR``).

    ``folder`` is the folder, ``reason`` what the system said, ``advice`` what to do; the
    message is one line with all three. Raised as one of the two subclasses.
    """

    def __init__(self, folder: Path, reason: str, advice: str) -> None:
        self.folder = folder
        self.reason = reason
        self.advice = advice
        super().__init__(f"the state folder {folder} cannot be written ({reason}) - {advice}")


class StateFolderReadOnlyError(StateFolderError, BadInputError):
    """A read-only state folder, or one this user may not write: the user points
    ``BODYWORK_STATE_DIR`` elsewhere (its history can still be read)."""

    exit_code = 2


class StateFolderFullError(StateFolderError, TargetUnreachableError):
    """A state folder with no room left (disk full, quota) or whose disk failed: the
    machine's trouble, as an unreachable target is."""

    exit_code = 3
