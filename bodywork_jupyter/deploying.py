"""Deploying, whatever the target: what the CLI, the REST API, the magics and the API call.

``prepare`` turns what the user gave (a folder or git URL, a branch or commit,
parameter overrides) into a Plan, checking it against the target's source rules;
``submit`` hands the Plan to the target. Reading runs back is ``reader.RunReader``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bodywork_jupyter import sources
from bodywork_jupyter.engine.store import Run
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.schema_v2 import PYTHON_PATTERN
from bodywork_jupyter.plan import Plan, apply_params, plan_pipeline
from bodywork_jupyter.plan.requirements_date import requirements_date
from bodywork_jupyter.targets.base import RunOptions, Target
from bodywork_runner.spec import Source


@dataclass(frozen=True)
class Prepared:
    plan: Plan
    description: str  # e.g. "/home/me/repo at 1a2b3c4d"
    warnings: list[str] = field(default_factory=list)


def prepare(
    where: str,
    branch: str | None = None,
    commit: str | None = None,
    params: Sequence[str] = (),
    *,
    target: Target | None = None,
    image: str | None = None,
    python: str | None = None,
    requirements_as_of: str | None = None,
) -> Prepared:
    """The Plan of the pipeline in ``where`` (a folder or a git URL), ready for ``target``.

    A git source is read from a temporary checkout that is gone when this returns: the
    Plan pins the commit and every stage fetches the code itself. On a target whose
    stages fetch it with git (a cluster), a folder's commit must be on one of its
    repository's remotes, and the Plan fetches it from there: this machine's folder is
    not where a cluster can read it.

    ``python`` replaces the pipeline's Python (a stage's own wins); ``requirements_as_of``
    (commit, a date or none) replaces the pipeline's choice of the date requirements are
    resolved as of, which is said among the warnings.
    """
    if python is not None and not re.match(PYTHON_PATTERN, python):
        raise BadInputError(f"--python {python}: give a Python version such as 3.9 or 3.9.18")
    on_remote = target is not None and target.requires_git
    with sources.resolve(where, branch, commit, on_remote=on_remote) as resolved:
        if target is not None:
            check_source(resolved.source, resolved.display_root, target)
        pipeline = sources.load(resolved)
        dated = requirements_date(
            pipeline,
            requirements_as_of,
            resolved.committed,
            resolved.source.commit,
            resolved.display_root,
        )
        plan = plan_pipeline(
            pipeline, resolved.source, image=image, python=python, requirements_as_of=dated.as_of
        )
        description, warnings = resolved.description, list(resolved.warnings)
        warnings += [dated.note] if dated.note else []
    plan = apply_params(plan, params)
    if target is not None:
        warnings += target.notes(plan)
    return Prepared(plan, description, warnings)


def check_source(source: Source, shown: str, target: Target) -> None:
    """A target whose stages fetch code with git cannot take a plain folder."""
    if target.requires_git and source.repo is None:
        raise BadInputError(
            f"{shown}: is not in a git repository, and on --target {target.name} every stage "
            "fetches its code with git - commit the project (git init; git add -A; git commit) "
            "and push it where the cluster can reach it, then deploy the repository's URL"
        )


def submit(target: Target, prepared: Prepared, options: RunOptions | None = None) -> Run:
    """Record a run of the prepared Plan on ``target``; it runs in the background."""
    return target.submit(prepared.plan, options or RunOptions())
