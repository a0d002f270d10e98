"""``pipeline/export``: a folder's pipeline as Argo Workflows YAML, as ``bodywork export argo``.

Thin: the body goes to ``exporting.export_argo`` (the CLI's function, so both give the
same YAML), in a worker thread (it runs git). ``write`` writes it under the root; a file
already there is replaced only when it is an earlier export (every document labelled as
ours), or when the body says ``overwrite``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from jupyter_server.auth.decorator import authorized
from tornado import web

from bodywork_jupyter import exporting
from bodywork_jupyter.errors import ExportCheckError
from bodywork_jupyter.plan.kubernetes.labels import APP, LABEL_MANAGED_BY
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.server import views
from bodywork_jupyter.server.base import BodyworkHandler
from bodywork_jupyter.server.bodies import ExportBody
from bodywork_jupyter.server.errors import ApiError

_RUNNABLE = ("Workflow", "WorkflowTemplate", "CronWorkflow")


class ExportHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.parse(ExportBody)
        folder = self.inside_root(body.folder)
        chosen = self.inside_root(body.output, must_exist=False) if body.output else None
        if body.write and chosen is not None:  # before the export: it runs git
            _check_output(chosen, self.root)
        self.reply(await asyncio.to_thread(self._export, folder, chosen, body))

    def _export(self, folder: Path, chosen: Path | None, body: ExportBody) -> dict[str, Any]:
        try:
            exported = exporting.export_argo(
                str(folder),
                kind=body.kind,
                namespace=body.namespace,
                image=body.image,
                image_pull_secrets=body.image_pull_secrets,
            )
        except ExportCheckError as exc:
            problems = [views.problem(p, self.root) for p in exc.problems]
            raise ApiError(
                f"{exc.what} did not pass its checks: nothing was written", problems
            ) from None
        path = None
        if body.write:
            path = chosen or folder / f"{exported.plan.k8s_name}-{body.kind}.yaml"
            shown = views.root_relative(str(path), self.root)
            if path.is_file() and not body.overwrite and not _earlier_export(path):
                raise ApiError(
                    f"{shown}: already exists and is not an earlier export - give another "
                    "output, or overwrite: true to replace it"
                )
            exporting.write_export(path, exported.text)
        return {
            "kind": body.kind,
            "name": _name(exported.documents),
            "yaml": exported.text,
            "written": path is not None,
            "path": views.root_relative(str(path), self.root) if path else None,
            "warnings": exported.warnings,
        }


def _check_output(path: Path, root: Path) -> None:
    """The messages name paths as the client gave them (under the root), not the CLI's -o."""
    shown = views.root_relative(str(path), root)
    if path.is_dir():
        raise ApiError(f"output {shown}: is a folder - give a file name")
    if not path.parent.is_dir():
        parent = views.root_relative(str(path.parent), root)
        raise ApiError(f"output {shown}: the folder {parent} does not exist - create it first")


def _name(documents: list[Manifest]) -> str | None:
    """The name of what runs: the Workflow's ``generateName``, the template's or the
    CronWorkflow's name (a cron export's template comes first)."""
    for doc in reversed(documents):
        if doc.get("kind") in _RUNNABLE:
            meta = doc.get("metadata") or {}
            return str(meta.get("name") or meta.get("generateName") or "") or None
    return None


def _earlier_export(path: Path) -> bool:
    """Whether ``path`` holds only objects of ours (what an export writes): safe to replace."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return bool(documents) and all(
        isinstance(d, dict)
        and isinstance(d.get("metadata"), dict)
        and isinstance(d["metadata"].get("labels"), dict)
        and d["metadata"]["labels"].get(LABEL_MANAGED_BY) == APP
        for d in documents
    )
