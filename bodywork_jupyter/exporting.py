"""Exporting a pipeline for another system to run: what ``bodywork export argo`` calls.

``export_argo`` resolves the source as a deploy to a cluster does (``deploying.prepare``:
a folder's commit on its git remote, a URL at its commit), renders the Plan as Argo
objects (``plan.argo``), checks them (ours, and Argo's JSON Schema when one is given) and
returns the YAML; nothing is written unless every check passed. ``write_export`` writes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from bodywork_jupyter import deploying
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.files import atomic_write
from bodywork_jupyter.plan import Plan
from bodywork_jupyter.plan.argo import (
    DEFAULT_KUBECTL_IMAGE,
    DEFAULT_SERVICE_ACCOUNT,
    ArgoKind,
    ArgoOptions,
    ArgoSchema,
    document_label,
    export_notes,
    kubernetes_options,
    render_argo,
    validate_export,
)
from bodywork_jupyter.plan.kubernetes import deploy_namespace, to_yaml
from bodywork_jupyter.plan.kubernetes.manifest import Manifest


@dataclass(frozen=True)
class Exported:
    plan: Plan
    documents: list[Manifest]
    text: str  # the YAML, checked
    description: str  # e.g. "/home/me/repo at 1a2b3c4d from remote origin (...)"
    namespace: str
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """``Workflow iris-`` or ``WorkflowTemplate iris and CronWorkflow iris``."""
        return " and ".join(document_label(d) for d in self.documents)


def load_schema(path: Path) -> ArgoSchema:
    """Argo's ``schema.json`` from ``path``, ready to check with; BadInputError if not."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"--schema {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise BadInputError(f"--schema {path}: is not JSON ({exc})") from None
    try:
        return ArgoSchema(raw)
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadInputError(
            f"--schema {path}: {exc} - give Argo's api/jsonschema/schema.json"
        ) from None


def export_argo(
    where: str,
    branch: str | None = None,
    commit: str | None = None,
    params: Sequence[str] = (),
    *,
    kind: ArgoKind = "workflow",
    namespace: str | None = None,
    image: str | None = None,
    image_pull_secrets: Sequence[str] = (),
    python: str | None = None,
    requirements_as_of: str | None = None,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    git_secret: str | None = None,
    kubectl_image: str = DEFAULT_KUBECTL_IMAGE,
    schema: ArgoSchema | None = None,
) -> Exported:
    """The pipeline at ``where`` as checked Argo YAML of ``kind``; raises BadInputError
    (ExportCheckError when a check fails) before anything is returned. The workflow pulls
    with the pipeline's ``image_pull_secrets`` and these (each once)."""
    prepared = deploying.prepare(
        where,
        branch,
        commit,
        params,
        image=image,
        python=python,
        requirements_as_of=requirements_as_of,
        image_pull_secrets=image_pull_secrets,
        exported_as="an Argo export",
    )
    plan = prepared.plan
    target_namespace = deploy_namespace(namespace, plan)
    try:
        options = ArgoOptions(
            kind=kind,
            kubernetes=kubernetes_options(target_namespace, git_credentials_secret=git_secret),
            service_account=service_account,
            kubectl_image=kubectl_image,
        )
    except ValidationError as exc:
        words = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise BadInputError(f"cannot export to Argo: {words}") from None
    documents = render_argo(plan, options)
    validate_export(documents, schema)
    return Exported(
        plan=plan,
        documents=documents,
        text=to_yaml(documents),
        description=prepared.description,
        namespace=target_namespace,
        warnings=[*prepared.warnings, *export_notes(plan, options)],
    )


def write_export(path: Path, text: str) -> None:
    """Write the export to ``path`` in one step (never half a file)."""
    if not path.parent.is_dir():
        raise BadInputError(f"-o {path}: the folder {path.parent} does not exist - create it first")
    if path.is_dir():
        raise BadInputError(f"-o {path}: is a folder - give a file name")
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise BadInputError(f"-o {path}: cannot write it ({exc.strerror})") from None
