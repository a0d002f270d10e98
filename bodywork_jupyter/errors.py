"""The one exception hierarchy of bodywork-jupyter.

Every error we raise on purpose derives from ``BodyworkError``; the CLI turns each
into a message and an exit code, never a traceback::

    BodyworkError                 exit_code 1
    ├── BadInputError             exit_code 2: the user can fix it (config, arguments)
    │   ├── ConfigError           carries every Problem found, not just the first
    │   ├── TagError              a notebook's or module's stage tags are wrong
    │   └── NotFoundError         no such run, deployment or stage (REST: 404)
    └── TargetUnreachableError    exit_code 3: a cluster or git remote could not be reached
"""

from __future__ import annotations

from collections.abc import Sequence
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


class TargetUnreachableError(BodyworkError):
    """A deployment target or a git remote that could not be reached."""

    exit_code = 3
