"""Object names: DNS-1123 labels of at most 63 characters, stable and never colliding.

A name longer than its limit is cut and ends with a hash of the whole name
(``k8s_object_name``), so two long names never meet. A CronJob's limit is 52: its Jobs get
an 11-character suffix.
"""

from __future__ import annotations

import hashlib
import re

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan, PlannedStage

#: A CronJob's Jobs are named NAME-<11 characters>: the CronJob name must leave room.
CRONJOB_NAME_LIMIT = 52
NAME_LIMIT = 63
#: The longest object name (a DNS-1123 subdomain), e.g. a Secret's or a ServiceAccount's.
OBJECT_NAME_LIMIT = 253

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_STORE_RUN_ID = re.compile(r".*-([a-z0-9]{6,12})")
HASH_CHARS = 8


def digest(text: str) -> str:
    """The hash that ends a cut name or label value: 8 hex digits of SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def k8s_object_name(*parts: str, limit: int = NAME_LIMIT) -> str:
    """``parts`` joined by ``-`` as a DNS-1123 label of at most ``limit`` characters.

    Characters a label cannot hold become ``-``. A name longer than ``limit`` keeps its
    beginning and ends with ``-`` and 8 hex digits of the whole name's SHA-256, so it is
    stable (the same parts always give the same name) and two long names stay apart.
    """
    if limit < HASH_CHARS + 2:
        raise ValueError(f"a name limit of {limit} leaves no room for the hash suffix")
    joined = "-".join(parts)
    name = re.sub(r"[^a-z0-9]+", "-", joined.lower()).strip("-")
    if not name:
        raise BadInputError(f"{joined!r} cannot become a Kubernetes name - use letters or digits")
    if len(name) <= limit:
        return name
    head = name[: limit - HASH_CHARS - 1].rstrip("-")
    return f"{head}-{digest(joined)}"


def is_object_name(value: str) -> bool:
    """Whether ``value`` can name a Secret, a ServiceAccount, ... (a DNS-1123 subdomain)."""
    return len(value) <= OBJECT_NAME_LIMIT and DNS1123_SUBDOMAIN.fullmatch(value) is not None


def checked_object_name(value: str | None, what: str = "") -> str | None:
    """``value`` when it can name an object (None passes); else a ValueError saying so."""
    if value is not None and not is_object_name(value):
        raise ValueError(f"{what}{value!r} is not a Kubernetes object name (a-z, 0-9, '-', '.')")
    return value


def short_run_id(run_id: str) -> str:
    """The part of a run id that goes into object names.

    The run store's ids are ``YYYYMMDD-HHMMSS-xxxxxx``: the random tail names the run. Any
    other id gives its 8 first hex digits of SHA-256 (a short valid label is used as is).
    """
    lowered = run_id.lower()
    match = _STORE_RUN_ID.fullmatch(lowered)
    if match:
        return match.group(1)
    if len(lowered) <= 12 and DNS1123_LABEL.fullmatch(lowered):
        return lowered
    return digest(run_id)


def deploy_namespace(given: str | None, plan: Plan) -> str:
    """Where a plan goes on a cluster: ``--namespace``, else the pipeline's ``namespace``,
    else its Kubernetes name (as Bodywork did). The Kubernetes target and the Argo export."""
    return given or plan.namespace or plan.k8s_name


def job_name(plan: Plan, stage: PlannedStage, run_id: str, attempt: int) -> str:
    return k8s_object_name(plan.k8s_name, stage.k8s_name, short_run_id(run_id), str(attempt))


def deployment_name(stage: PlannedStage, run_id: str) -> str:
    return k8s_object_name(stage.k8s_name, short_run_id(run_id))


def service_name(stage: PlannedStage) -> str:
    """The stage's Kubernetes name, as is: ``http://STAGE:PORT`` from any other stage."""
    name = stage.k8s_name
    if len(name) > NAME_LIMIT or not _DNS1035_LABEL.fullmatch(name):
        raise BadInputError(
            f"stage {stage.name}: its Kubernetes name '{name}' cannot name a Service (it must "
            f"start with a letter and hold at most {NAME_LIMIT} of a-z, 0-9 and '-') - rename "
            f"the stage"
        )
    return name


def cronjob_name(plan: Plan) -> str:
    return k8s_object_name(plan.k8s_name, "schedule", limit=CRONJOB_NAME_LIMIT)


def plan_config_map_name(plan: Plan) -> str:
    return k8s_object_name(plan.k8s_name, "plan")
