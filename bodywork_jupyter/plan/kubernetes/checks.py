"""What a plan and a stage must be before anything is rendered for a cluster."""

from __future__ import annotations

import re

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan, PlannedService, PlannedStage

#: an http(s) URL with a user (and maybe a token) in it
_HTTP_USERINFO = re.compile(r"https?://[^/@]+@", re.IGNORECASE)


def require_git_source(plan: Plan) -> None:
    """Refuse a plan whose code a cluster cannot fetch, or fetch the same every time."""
    source = plan.source
    if source.local_path or not source.repo:
        raise BadInputError(
            f"pipeline {plan.pipeline}: its code is a folder on this machine, which a "
            f"cluster cannot fetch - commit and push it, then deploy the repository (or "
            f"give a git URL)"
        )
    if _HTTP_USERINFO.match(source.repo):
        raise BadInputError(
            f"pipeline {plan.pipeline}: the repository URL holds credentials, which every "
            f"pod's spec would show - remove them from the URL and give them as the git "
            f"credentials Secret"
        )
    if not source.commit:
        raise BadInputError(
            f"pipeline {plan.pipeline}: {source.repo} is not pinned to a commit - deploy "
            f"a commit, so every pod runs the same code"
        )


def require_batch(stage: PlannedStage) -> None:
    if stage.kind != "batch":
        raise ValueError(f"stage {stage.name} is a {stage.kind} stage, not a batch stage")


def require_service(stage: PlannedStage) -> PlannedService:
    """The stage's service settings; a batch stage has none to render."""
    if stage.service is None:
        raise ValueError(f"stage {stage.name} is a batch stage, not a service")
    return stage.service
