"""Why an install failed, in one line: which requirement, why, what to do.

The installer's whole output stays in the stage's log; this reads it (uv's or pip's
words) and says what a person needs to act on. A failure that will happen again on
every try (no such package, no wheel for this Python and no way to build one, a build
from source that outlives the stage's timeout, a conflict, a bad line) is bad input and
is never retried; an index that could not be reached may work the next time
(unreachable); anything else is a plain failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bodywork_runner.errors import BadInput, RunnerError, StageFailed, Unreachable

Kind = Literal["bad_input", "unreachable", "error"]

LOG_NOTE = "the installer's output is in the stage's log"

_PIN_FIX = (
    "pin a version that has a wheel for Python {python}, or give the stage the Python the "
    "pin was made for (python: in a 2.0 bodywork.yaml, bodywork deploy --python for 1.1)"
)

_NETWORK = re.compile(
    r"error sending request|Failed to fetch|dns error|tcp connect error|Connection refused|"
    r"Connection reset|timed out|Request failed after|NewConnectionError|Could not fetch URL|"
    r"Failed to establish a new connection|Max retries exceeded|Temporary failure in name "
    r"resolution|Name or service not known|Network is unreachable|No route to host",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class InstallFailure:
    kind: Kind
    message: str  # one line
    requirement: str | None = None

    def error(self) -> RunnerError:
        fields = {"requirement": self.requirement} if self.requirement else {}
        text = f"installing requirements failed: {self.message}; {LOG_NOTE}"
        if self.kind == "bad_input":
            return BadInput(text, **fields)
        if self.kind == "unreachable":
            return Unreachable(text, **fields)
        return StageFailed("error", text, **fields)


def explain(
    output: str, installer: str, exit_code: int, python: str, as_of: str | None = None
) -> InstallFailure:
    """What went wrong, from the installer's ``output`` (uv's or pip's)."""
    found = _uv(output, python, as_of) if installer == "uv" else _pip(output, python)
    if found is not None:
        return found
    if _NETWORK.search(output):
        return InstallFailure(
            "unreachable",
            f"the package index could not be reached ({_network_line(output)}) - check the "
            "network and the index settings (UV_INDEX_URL, PIP_INDEX_URL)",
        )
    return InstallFailure(
        "error", f"{installer} exited {exit_code}: {_last_error(output)} - see the log"
    )


# -- uv ------------------------------------------------------------------------------------

_UV_NOT_FOUND = re.compile(
    r"Because (\S+) was not found in the (?:package registry|provided package locations)"
)
_UV_NO_VERSION = re.compile(r"Because there is no version of (\S+?)(?: and |,|$)", re.MULTILINE)
_UV_NO_WHEELS = re.compile(
    r"Because (\S+) has no (?:usable wheels|wheels with a matching (?:Python ABI|Python "
    r"implementation|platform) tag)"
)
_UV_BUILD = re.compile(r"Failed to (?:download and )?build `([^`]+)`")
_UV_PARSE = re.compile(r"Failed to parse: `([^`]*)`")
_UV_PYTHON = re.compile(
    r"Because the (?:current|requested) Python version \(([^)]+)\) does not satisfy "
    r"(Python\S+) and (\S+) depends on"
)
_UV_EXCLUDED = re.compile(
    r"filtered by `exclude-newer`.*?The requested version, (\S+), was "
    r"published at (\d{4}-\d{2}-\d{2})",
    re.DOTALL,
)
_UV_CAUSE = re.compile(r"cause: (Because .+?)(?:, we can conclude|\n\s*\n|$)", re.DOTALL)


def _uv(output: str, python: str, as_of: str | None) -> InstallFailure | None:
    if _NETWORK.search(output) and "No solution found" not in output:
        return None  # the generic network words say it
    if match := _UV_PARSE.search(output):
        return _bad_line(match.group(1))
    if match := _UV_BUILD.search(output):
        return _build_failed(match.group(1), python)
    if match := _UV_NOT_FOUND.search(output):
        return _not_found(match.group(1))
    if match := _UV_NO_WHEELS.search(output):
        req = match.group(1)
        why = (
            "building from source is turned off"
            if "building from source is disabled" in output
            else "none of its wheels fits"
        )
        return InstallFailure(
            "bad_input",
            f"{req} has no wheel for Python {python} on this platform, and {why} - "
            + _PIN_FIX.format(python=python),
            req,
        )
    if match := _UV_PYTHON.search(output):
        running, needs, req = match.groups()
        return _wrong_python(req, needs, running)
    if match := _UV_NO_VERSION.search(output):
        req = match.group(1)
        excluded = _UV_EXCLUDED.search(output)
        if excluded:
            version, published = excluded.groups()
            cutoff = (as_of or "the requirements date")[:10]
            return InstallFailure(
                "bad_input",
                f"{req}: {version} was published on {published}, after the date the "
                f"requirements are resolved as of ({cutoff}) - pin an older version, or "
                "resolve them as of a later date (requirements_as_of in 2.0, bodywork "
                "deploy --requirements-as-of)",
                req,
            )
        return InstallFailure(
            "bad_input", f"{req}: no such version on the package index - pin one that exists", req
        )
    if "No solution found" in output and (match := _UV_CAUSE.search(output)):
        sentence = " ".join(match.group(1).split())
        return InstallFailure(
            "bad_input", f"the requirements conflict ({sentence}) - change the pins so they agree"
        )
    return None


# -- pip -----------------------------------------------------------------------------------

_PIP_NO_MATCH = re.compile(
    r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)"
)
_PIP_INVALID = re.compile(r"ERROR: Invalid requirement: '([^']*)'")
_PIP_PYTHON = re.compile(
    r"ERROR: Package '([^']+)' requires a different Python: (\S+) not in '([^']+)'"
)
_PIP_BUILD = re.compile(
    r"Failed building wheel for (\S+)|Could not build wheels for (\S+?)[,\s]|"
    r"(?:Getting requirements to build wheel|Preparing metadata \(pyproject\.toml\)|"
    r"python setup\.py egg_info) did not run successfully"
)
_PIP_COLLECTING = re.compile(r"^\s*(?:Collecting|Processing) (\S+)", re.MULTILINE)
_PIP_CONFLICT = re.compile(r"ResolutionImpossible|conflicting dependencies")


def _pip(output: str, python: str) -> InstallFailure | None:
    if match := _PIP_INVALID.search(output):
        return _bad_line(match.group(1))
    if match := _PIP_PYTHON.search(output):
        req, running, needs = match.groups()
        return _wrong_python(req, f"Python{needs}", running)
    if match := _PIP_NO_MATCH.search(output):
        req, versions = match.group(1), match.group(2).strip()
        if _NETWORK.search(output):
            return None  # "none" because the index could not be read
        if versions in ("", "none"):
            return _not_found(req, files=True)
        newest = ", ".join(v.strip() for v in versions.split(",")[-3:])
        return InstallFailure(
            "bad_input",
            f"{req}: no version on the package index matches (newest there: {newest}) - pin "
            "one that exists for Python " + python,
            req,
        )
    if match := _PIP_BUILD.search(output):
        req = match.group(1) or match.group(2)
        if req is None:
            collecting = _PIP_COLLECTING.findall(output[: match.start()])
            req = _requirement_of(collecting[-1]) if collecting else "a requirement"
        return _build_failed(req, python)
    if _PIP_CONFLICT.search(output):
        return InstallFailure(
            "bad_input",
            f"the requirements conflict ({_last_error(output)}) - change the pins so they agree",
        )
    return None


_ARCHIVES = (".tar.gz", ".zip", ".tar.bz2", ".whl")


def _requirement_of(collected: str) -> str:
    """``numpy==1.19.5``, or a file's project and version (``./x/brokenpkg-1.0.tar.gz``)."""
    name = collected.rsplit("/", 1)[-1]
    for suffix in _ARCHIVES:
        if name.endswith(suffix):
            stem = name.removesuffix(suffix)
            project, _, version = stem.rpartition("-")
            return f"{project}=={version}" if project else stem
    return name


# -- shared words --------------------------------------------------------------------------


def _not_found(req: str, files: bool = False) -> InstallFailure:
    what = (
        "no such package on the package index, or none of its files fit this Python"
        if files
        else "no such package on the package index"
    )
    return InstallFailure(
        "bad_input",
        f"{req}: {what} - check the name (and UV_INDEX_URL / PIP_INDEX_URL if it lives on "
        "another index)",
        req,
    )


def _wrong_python(req: str, needs: str, running: str) -> InstallFailure:
    return InstallFailure(
        "bad_input",
        f"{req} needs {needs} and the stage runs Python {running} - pin a version made for "
        f"Python {running}, or give the stage the Python it needs (python:)",
        req,
    )


def _build_failed(req: str, python: str) -> InstallFailure:
    return InstallFailure(
        "bad_input",
        f"{req} has no wheel for Python {python} on this platform, and building it from "
        "source failed - " + _PIN_FIX.format(python=python),
        req,
    )


def build_timed_out(req: str, python: str, timeout: float) -> InstallFailure:
    """The stage's timeout ran out while ``req`` was being built from source."""
    if req.endswith(_ARCHIVES):  # pip names a found archive by its path
        req = _requirement_of(req)
    local = " @ " in req or req.startswith((".", "/", "file:"))
    why = "" if local else f" (it has no wheel for Python {python} on this platform)"
    fix = "give the stage a longer timeout" if local else _PIN_FIX.format(python=python)
    return InstallFailure(
        "bad_input",
        f"{req} was still being built from source{why} when the stage's timeout "
        f"({timeout:g}s) ran out, and every try would build it again - {fix}",
        req,
    )


def _bad_line(line: str) -> InstallFailure:
    return InstallFailure(
        "bad_input",
        f"'{line}' is not a requirement (pip's syntax: name, name==1.2, name>=1.2) - fix the line",
    )


def _network_line(output: str) -> str:
    lines = [line.strip().removeprefix("cause: ") for line in output.splitlines()]
    urls = [line for line in lines if "://" in line and _NETWORK.search(line)]
    causes = [line for line in lines if _NETWORK.search(line)]
    picked = urls[-1] if urls else causes[-1] if causes else "no answer"
    return picked[:160]


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error", "cause"))]
    picked = errors[-1] if errors else lines[-1] if lines else "no output"
    return picked.removeprefix("cause: ")[:200]
