"""Deploying, whatever the target: what the CLI, the REST API, the magics and the API call.

``prepare`` turns what the user gave (a folder or git URL, a branch or commit,
parameter overrides) into a Plan, checking it against the target's source rules;
``submit`` hands the Plan to the target. Reading runs back is ``reader.RunReader``'s job.

Credentials in a git URL (``https://USER:TOKEN@host/...``) never reach a Plan. On a target
whose stages run on this machine, ``prepare`` keeps them as the deployment's secret (the
target's secret store) that every stage reads as the runner's git variables
(``url_credentials``), and a later deploy of the same pipeline without them deletes that
secret, so no stage fetches with credentials its deploy was not given. Here, in
``prepare``, so that every surface that plans (deploy, schedule) gets them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bodywork_jupyter import sources, url_credentials
from bodywork_jupyter.engine.started_by import cut
from bodywork_jupyter.engine.store import Run
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.pipeline.schema_v2 import PYTHON_PATTERN
from bodywork_jupyter.pipeline.service_examples import with_examples
from bodywork_jupyter.plan import Plan, apply_params, plan_pipeline
from bodywork_jupyter.plan.requirements_date import requirements_date
from bodywork_jupyter.targets.base import RunOptions, Target
from bodywork_jupyter.url_credentials import UrlCredentials
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
    image_pull_secrets: Sequence[str] = (),
    exported_as: str | None = None,
) -> Prepared:
    """The Plan of the pipeline in ``where`` (a folder or a git URL), ready for ``target``.

    A git source is read from a temporary checkout that is gone when this returns: the
    Plan pins the commit and every stage fetches the code itself. On a target whose
    stages fetch it with git (a cluster), a folder's commit must be on one of its
    repository's remotes, and the Plan fetches it from there: this machine's folder is
    not where a cluster can read it.

    ``python`` replaces the pipeline's Python (a stage's own wins); ``requirements_as_of``
    (commit, a date or none) replaces the pipeline's choice of the date requirements are
    resolved as of, which is said among the warnings. ``image_pull_secrets``
    (``--image-pull-secret``) are added to the pipeline's; a target whose stages pull no
    image refuses them.

    ``exported_as`` (no target: e.g. ``"an Argo export"``): the plan is exported for a
    cluster to run, so its source is resolved as for a cluster target's.
    """
    if python is not None and not re.match(PYTHON_PATTERN, python):
        raise BadInputError(f"--python {python}: give a Python version such as 3.9 or 3.9.18")
    check_image_pull_secrets(image_pull_secrets, target)
    on_remote = exported_as is not None or (target is not None and target.requires_git)
    with sources.resolve(where, branch, commit, on_remote=on_remote) as resolved:
        if target is not None:
            check_source(resolved.source, resolved.display_root, target)
        elif exported_as is not None:
            _require_git(resolved.source, resolved.display_root, f"in {exported_as}")
        # each service's example from its file, read while the (checked-out) files are here
        pipeline = with_examples(sources.load(resolved))
        dated = requirements_date(
            pipeline,
            requirements_as_of,
            resolved.committed,
            resolved.source.commit,
            resolved.display_root,
        )
        plan = plan_pipeline(
            pipeline,
            resolved.source,
            image=image,
            python=python,
            requirements_as_of=dated.as_of,
            image_pull_secrets=image_pull_secrets,
        )
        description, warnings = resolved.description, list(resolved.warnings)
        warnings += [dated.note] if dated.note else []
        credentials = resolved.credentials
    plan = apply_params(plan, params)
    keeps = target is not None and not target.requires_git  # its stages run on this machine
    if credentials is not None and keeps:
        plan = url_credentials.read_by_stages(plan)
    elif credentials is not None:
        warnings.append("the URL's git credentials are left out: nothing here keeps them")
    if target is not None:
        warnings += target.notes(plan)
        if keeps:  # last: only a plan that is ready keeps (or drops) them
            warnings += _keep_url_credentials(target, plan, credentials)
    return Prepared(plan, description, warnings)


def check_image_pull_secrets(names: Sequence[str], target: Target | None) -> None:
    """``--image-pull-secret``: refused, in one line, on a target whose stages pull no
    image (``--image`` is only noted there: Bodywork 3's scripts pass it); each must name a
    Secret."""
    if not names:
        return
    if target is not None and not target.pulls_images:
        given = " ".join(f"--image-pull-secret {name}" for name in names)
        raise BadInputError(
            f"{given}: means nothing on this machine - stages run on this machine's Python "
            "here, in no image, so nothing is pulled; it is for a cluster (--target "
            "kubernetes) or an Argo export (bodywork export argo)"
        )
    from bodywork_jupyter.plan.kubernetes.names import is_object_name  # a cluster's rule

    for name in names:
        if not is_object_name(name):
            raise BadInputError(
                f"--image-pull-secret {name!r}: is not a Kubernetes Secret name - give the "
                "Secret's name: lower-case letters, digits, '-' and '.', e.g. regcred"
            )


def _keep_url_credentials(
    target: Target, plan: Plan, credentials: UrlCredentials | None
) -> list[str]:
    """The URL's credentials kept as the deployment's secret (replacing the one kept
    before); without any, the one an earlier deploy kept is deleted. What to tell the user."""
    name, group = url_credentials.secret_name(plan), plan.secrets_group
    shown = f"secret '{name}'" + (f" of group '{group}'" if group else "")
    if credentials is not None:
        try:
            target.update_secret(name, credentials.environ(), group)
        except NotFoundError:
            target.create_secret(name, credentials.environ(), group)
        return [
            f"the URL's git credentials are kept in this machine's secret store ({shown}, a "
            "0600 file in the state folder), not in the plan or the run records: every stage "
            f"fetches the code with them; a deploy of '{plan.pipeline}' without them deletes "
            f"them (or: bodywork secret delete {name}{' --group ' + group if group else ''})"
        ]
    if not any(s.name == name and s.group == group for s in target.list_secrets(group)):
        return []
    target.delete_secret(name, group)
    return [
        f"deleted the git credentials an earlier deploy's URL gave '{plan.pipeline}' ({shown}): "
        "this deploy's URL has none, so its stages fetch the code without them (with "
        "BODYWORK_GIT_TOKEN if it is set where you deploy) - to use them, give them in the URL"
    ]


def check_source(source: Source, shown: str, target: Target) -> None:
    """A target whose stages fetch code with git cannot take a plain folder."""
    if target.requires_git:
        _require_git(source, shown, f"on --target {target.name}")


def _require_git(source: Source, shown: str, where: str) -> None:
    if source.repo is None:
        raise BadInputError(
            f"{shown}: is not in a git repository, and {where} every stage "
            "fetches its code with git - commit the project (git init; git add -A; git commit) "
            "and push it where the cluster can reach it, then deploy the repository's URL"
        )


def submit(
    target: Target,
    prepared: Prepared,
    options: RunOptions | None = None,
    *,
    started_by: str | None = None,
) -> Run:
    """Record a run of the prepared Plan on ``target``; it runs in the background.

    ``started_by``: who asks, kept with the run (cut to a line): every surface says, the
    CLI, the magics and the Python API ``engine.started_by.os_user()``, the REST API the
    Jupyter server's user (``BodyworkHandler.started_by``); None records nobody."""
    return target.submit(prepared.plan, options or RunOptions(), cut(started_by))
