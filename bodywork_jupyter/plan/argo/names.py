"""Names in an Argo export, within Argo's limits.

Objects: a Workflow is ``generateName``d (Argo adds 5 characters, the name stays within 63),
a WorkflowTemplate is named like the pipeline (63), a CronWorkflow at most 52 (its
Workflows get ``-<10-digit time>``). Long names are cut and end with a hash, as the
Kubernetes target's are. Templates and DAG tasks are the stages' Kubernetes names (Argo
allows 128 of ``[a-zA-Z0-9-]``); a workflow parameter is ``STAGE_NAME``.
"""

from __future__ import annotations

import re

from bodywork_jupyter.plan.kubernetes.names import CRONJOB_NAME_LIMIT, NAME_LIMIT, k8s_object_name
from bodywork_jupyter.plan.model import Plan, PlannedStage

#: The DAG of the pipeline's stages, and the exit handler that runs ``run_on_failure``.
ENTRYPOINT = "pipeline"
EXIT_HANDLER = "on-exit"
#: What Argo appends to a ``generateName``.
GENERATED_CHARS = 5
CRON_WORKFLOW_NAME_LIMIT = CRONJOB_NAME_LIMIT
#: Templates, DAG tasks (Argo's workflowFieldNameFmt and its length limit).
FIELD_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
FIELD_NAME_LIMIT = 128
#: Workflow parameters (Argo's paramOrArtifactNameRegex).
PARAMETER_NAME = re.compile(r"[-a-zA-Z0-9_]+")


def generate_name(plan: Plan) -> str:
    """A Workflow's ``generateName``: ``<pipeline>-``, leaving Argo room for its suffix."""
    return k8s_object_name(plan.k8s_name, limit=NAME_LIMIT - GENERATED_CHARS - 1) + "-"


def workflow_template_name(plan: Plan) -> str:
    return k8s_object_name(plan.k8s_name)


def cron_workflow_name(plan: Plan) -> str:
    return k8s_object_name(plan.k8s_name, limit=CRON_WORKFLOW_NAME_LIMIT)


def stage_template_name(stage: PlannedStage) -> str:
    """A stage's template, and its task in the DAG: the stage's Kubernetes name."""
    return stage.k8s_name


def part_template_name(stage: PlannedStage, part: str) -> str:
    """One step of a service stage (``predict-deployment``, ``predict-rollout``)."""
    return f"{stage.k8s_name}-{part}"


def parameter_name(stage: PlannedStage, key: str) -> str:
    """``train_n_estimators``: a Kubernetes name holds no ``_``, so the first one splits it."""
    return f"{stage.k8s_name}_{key}"
