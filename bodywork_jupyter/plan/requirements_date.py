"""The date a deploy resolves requirements as of, and what the deploy says about it (pure).

Bodywork's projects pin a few packages and leave their dependencies open (``flask==2.1.2``
with any werkzeug): resolved today, they get a werkzeug that flask 2.1 cannot import. So
a 1.1 file is resolved as of its commit's date, as when it was written; a 2.0 file opts
in with ``pipeline.requirements_as_of``; ``bodywork deploy --requirements-as-of`` decides
for one deploy. A date means that whole day (UTC): packages published after it are left
out (uv's ``exclude-newer``).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.model import Pipeline

#: What ``--requirements-as-of`` takes (and ``pipeline.requirements_as_of``, but ``none``).
CHOICES = "commit, a date (2022-06-01) or none"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFF = "--requirements-as-of none"


@dataclass(frozen=True)
class RequirementsDate:
    as_of: str | None  # RFC 3339 UTC, the end of the day; None: resolved as of now
    note: str | None  # for the deploy's output: the date, where it came from, how to turn it off


def requirements_date(
    pipeline: Pipeline,
    option: str | None,
    committed: datetime.datetime | None,
    commit: str | None,
    shown: str = "the project",
) -> RequirementsDate:
    """Which date ``pipeline``'s requirements are resolved as of, deployed from a commit made
    at ``committed`` (None: a plain folder), with ``--requirements-as-of`` ``option``."""
    setting = option.strip().lower() if option else pipeline.requirements_as_of
    if setting is not None and setting != "none" and setting != "commit":
        _check_date(setting)
    if setting is None or setting == "none" or not _has_requirements(pipeline):
        return RequirementsDate(None, None)
    where = "--requirements-as-of" if option else _where(pipeline)
    if setting == "commit":
        if committed is None:
            return RequirementsDate(
                None,
                f"requirements are resolved as of today: {shown} is not a git repository, so "
                f"it has no commit date to resolve them as of ({where}) - give "
                "--requirements-as-of DATE to resolve them as of a date",
            )
        day = committed.astimezone(datetime.UTC).date()
        when = f"{day.isoformat()}, the date of commit {(commit or '?')[:8]} ({where})"
    else:
        day = datetime.date.fromisoformat(setting)
        when = f"{day.isoformat()} ({where})"
    return RequirementsDate(
        _end_of(day),
        f"requirements are resolved as of {when}: packages published later are left out - "
        f"deploy with {_OFF} to resolve them as of today",
    )


def _check_date(value: str) -> None:
    try:
        if _DATE.match(value):
            datetime.date.fromisoformat(value)
            return
    except ValueError:
        pass
    raise BadInputError(f"--requirements-as-of {value}: give {CHOICES}")


def _end_of(day: datetime.date) -> str:
    """The first moment after ``day`` (UTC): uv leaves out what was published from then on."""
    return f"{(day + datetime.timedelta(days=1)).isoformat()}T00:00:00Z"


def _has_requirements(pipeline: Pipeline) -> bool:
    return any(s.requirements or s.requirements_file for s in pipeline.stages.values())


def _where(pipeline: Pipeline) -> str:
    if pipeline.source_version == "2.0":
        return "pipeline.requirements_as_of"
    return f"a Bodywork {pipeline.source_version} file: as when it was written"
