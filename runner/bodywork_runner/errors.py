"""The runner's exceptions, one root, each with its exit code and event fields.

::

    RunnerError                 a stage attempt ended without success
    ├── BadInput                exit 2, reason ``bad_input``: spec, stage file, requirements
    ├── Unreachable             exit 3, reason ``unreachable``: the git remote
    └── StageFailed             exit 1, reason ``error``, ``exit``, ``timeout``,
                                ``kernel_died`` or ``terminated``
"""

from __future__ import annotations

from typing import Any, Literal

Reason = Literal[
    "error", "exit", "timeout", "kernel_died", "terminated", "bad_input", "unreachable"
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


class RunnerError(Exception):
    """Root of the runner's expected failures; ``fields`` go into the ``stage.failed`` event."""

    reason: Reason = "error"
    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def event_fields(self) -> dict[str, Any]:
        return {"reason": self.reason, "message": self.message, **self.fields}


class BadInput(RunnerError):
    reason: Reason = "bad_input"
    exit_code = EXIT_BAD_INPUT


class Unreachable(RunnerError):
    reason: Reason = "unreachable"
    exit_code = EXIT_UNREACHABLE


class StageFailed(RunnerError):
    def __init__(self, reason: Reason, message: str, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.reason = reason
