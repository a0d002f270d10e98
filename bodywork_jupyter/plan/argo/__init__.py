"""Plan -> Argo Workflows objects, as plain dicts: the same Plan the other targets run.

Pure like the rest of ``plan/``. The Kubernetes target's renderers make every piece that
reaches a pod or the cluster (the stage container and its runner spec, the services'
Deployment, Service and Ingress), so the two cannot drift apart; this package arranges
them as Argo wants them. One module per decision: ``options`` (the export's choices),
``names`` (Argo's limits), ``parameters`` (notebook parameters as workflow arguments),
``variables`` (``{{`` in a plan refused), ``retries`` (retryStrategy), ``pod_templates``
(a pod as a template's fields), ``stage_templates`` (a batch stage's container template),
``service_templates`` (apply the service's objects, wait for the rollout), ``workflow``
(the DAG, the exit handler, the three kinds), ``render`` (one export), ``access`` (the
workflow's Role), and the checks:
``semantic_checks`` (ours), ``schema_check`` (Argo's JSON Schema, tightened) and
``validation`` (both, raising ``ExportCheckError``). See docs/users/argo.md.
"""

from bodywork_jupyter.plan.argo.access import workflow_access
from bodywork_jupyter.plan.argo.names import (
    ENTRYPOINT,
    EXIT_HANDLER,
    cron_workflow_name,
    generate_name,
    workflow_template_name,
)
from bodywork_jupyter.plan.argo.options import (
    DEFAULT_KUBECTL_IMAGE,
    DEFAULT_SERVICE_ACCOUNT,
    KINDS,
    ArgoKind,
    ArgoOptions,
    kubernetes_options,
)
from bodywork_jupyter.plan.argo.parameters import WorkflowParameter, workflow_parameters
from bodywork_jupyter.plan.argo.render import export_notes, render_argo
from bodywork_jupyter.plan.argo.schema_check import ArgoSchema, tightened
from bodywork_jupyter.plan.argo.semantic_checks import check_documents, document_label
from bodywork_jupyter.plan.argo.service_templates import SERVICE_RUN_ID
from bodywork_jupyter.plan.argo.validation import validate_export
from bodywork_jupyter.plan.argo.workflow import cron_workflow, workflow, workflow_template

__all__ = [
    "DEFAULT_KUBECTL_IMAGE",
    "DEFAULT_SERVICE_ACCOUNT",
    "ENTRYPOINT",
    "EXIT_HANDLER",
    "KINDS",
    "SERVICE_RUN_ID",
    "ArgoKind",
    "ArgoOptions",
    "ArgoSchema",
    "WorkflowParameter",
    "check_documents",
    "cron_workflow",
    "cron_workflow_name",
    "document_label",
    "export_notes",
    "generate_name",
    "kubernetes_options",
    "render_argo",
    "tightened",
    "validate_export",
    "workflow",
    "workflow_access",
    "workflow_parameters",
    "workflow_template",
    "workflow_template_name",
]
