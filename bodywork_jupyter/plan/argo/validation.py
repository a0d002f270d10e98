"""Every check of an export, before anything is written: ours, then Argo's schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bodywork_jupyter.errors import ExportCheckError
from bodywork_jupyter.plan.argo.schema_check import ArgoSchema
from bodywork_jupyter.plan.argo.semantic_checks import check_documents, document_label


def validate_export(docs: Sequence[Any], schema: ArgoSchema | None = None) -> None:
    """Raise ExportCheckError naming every problem of ``docs`` (None: all is well)."""
    problems = check_documents(docs)
    if schema is not None:
        for doc in docs:
            problems += schema.problems(doc)
    if problems:
        what = " and ".join(document_label(d) for d in docs) or "the export"
        raise ExportCheckError(f"the exported {what}", problems)
