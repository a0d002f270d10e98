"""HTTP-only errors, and the one table that turns any error into a status and a JSON body.

Every handler raises; ``base.BodyworkHandler.write_error`` calls ``translate``::

    NotFoundError            404  a deployment, run, stage or file that does not exist
                                  (ours here, or bodywork_jupyter.errors.NotFoundError)
    ForbiddenError           403  a path outside the server's root
    ConfigError              400  with every Problem in ``problems``
    BadInputError            400  (TagError too)
    pydantic ValidationError 400  a request body that does not fit its model
    TargetUnreachableError   502  a git remote or cluster that could not be reached
    tornado HTTPError        its own status (auth: 403)
    anything else            500  a bug: logged with its traceback
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from tornado.web import HTTPError

from bodywork_jupyter.errors import BadInputError, ConfigError, TargetUnreachableError
from bodywork_jupyter.errors import NotFoundError as MissingError


class ApiError(Exception):
    """An error with an HTTP status; the message is shown to the user."""

    status = 400

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class NotFoundError(ApiError):
    status = 404


class ForbiddenError(ApiError):
    status = 403


@dataclass
class ErrorReply:
    status: int
    error: str
    problems: list[dict[str, Any]] = field(default_factory=list)
    expected: bool = True  # False: a bug, log its traceback

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "problems": self.problems}


def translate(exc: BaseException | None, status: int) -> ErrorReply:
    """The status and JSON body for an exception raised by a handler."""
    if isinstance(exc, ApiError):
        return ErrorReply(exc.status, str(exc), exc.problems)
    if isinstance(exc, ConfigError):
        problems = [p.to_dict() for p in exc.problems]
        count = len(exc.problems)
        return ErrorReply(400, f"{count} problem{'s' if count != 1 else ''} found", problems)
    if isinstance(exc, MissingError):
        return ErrorReply(404, str(exc))
    if isinstance(exc, BadInputError):
        return ErrorReply(400, str(exc))
    if isinstance(exc, ValidationError):
        return ErrorReply(400, "the request body is not valid", body_problems(exc))
    if isinstance(exc, TargetUnreachableError):
        return ErrorReply(502, str(exc))
    if isinstance(exc, HTTPError):
        return ErrorReply(exc.status_code, exc.log_message or _reason(exc.status_code))
    return ErrorReply(status, _reason(status), expected=exc is None)


def body_problems(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as Problems (file ``request body``, path the field's dotted path)."""
    out = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        out.append(
            {
                "file": "request body",
                "line": 0,
                "path": path,
                "message": error["msg"],
                "hint": "see the OpenAPI document (bodywork_jupyter/server/openapi.yaml)",
                "severity": "error",
            }
        )
    return out


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"
