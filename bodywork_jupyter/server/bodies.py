"""Request bodies as pydantic models: a body that does not fit is a 400 listing each field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel

from bodywork_jupyter.engine.parallelism import (
    DEFAULT_MAX_PARALLEL,
    MAX_MAX_PARALLEL,
    MIN_MAX_PARALLEL,
)
from bodywork_jupyter.server.limits import MAX_NAME

#: A name (a branch, a target, a namespace, a parameter): as long as ``limits`` allows.
Name = Annotated[str, Field(max_length=MAX_NAME)]
#: A longer text (a URL, an image reference, a kubeconfig context).
Text = Annotated[str, Field(max_length=4096)]
#: The most image pull secrets a body may name (a pod needs one or two).
MAX_PULL_SECRETS = 32


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeployBody(_Body):
    """``POST deployments``."""

    path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="A folder relative to the server's root, or a git URL.",
        ),
    ]
    branch: Name | None = None
    commit: Name | None = None
    target: Name = Field("local", description="Where it runs (local: this machine).")
    context: Text | None = Field(None, description="kubeconfig context (cluster targets).")
    namespace: Name | None = Field(None, description="Namespace (cluster targets).")
    image: Text | None = Field(None, description="Stage image (cluster targets).")
    image_pull_secrets: list[Name] = Field(
        default_factory=list,
        max_length=MAX_PULL_SECRETS,
        description="Secrets the cluster pulls the images with, besides the namespace's and "
        "bodywork.yaml's (cluster targets; refused on local).",
    )
    params: dict[Name, JsonValue] = Field(
        default_factory=dict, description='Notebook parameters as {"stage.name": value}.'
    )
    max_parallel: Annotated[int, Field(ge=MIN_MAX_PARALLEL, le=MAX_MAX_PARALLEL)] = (
        DEFAULT_MAX_PARALLEL
    )

    def param_items(self) -> list[str]:
        """The parameters as the ``STAGE.NAME=VALUE`` items deploying.prepare takes."""
        import json

        return [f"{key}={json.dumps(value)}" for key, value in self.params.items()]


class GenerateBody(_Body):
    """``POST pipeline/generate``."""

    folder: Annotated[
        str, Field(max_length=4096, description="The project folder, relative to the root.")
    ] = "."
    check: bool = Field(False, description="Only report what would change; write nothing.")


class TagBody(RootModel[dict[str, Any]]):
    """``PUT stages/{path}``: the stage tag itself, e.g. ``{"stage": "train"}``."""


class CallBody(_Body):
    """``POST deployments/{name}/call``: a request to one of the deployment's services."""

    stage: Name | None = Field(None, description="The service (left out: its only one).")
    path: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^/")] = "/predict"
    body: JsonValue = Field(None, description="JSON to POST; null: a GET.")
    timeout: Annotated[float, Field(gt=0, le=300)] = 30.0


class ExportBody(_Body):
    """``POST pipeline/export``: the folder's pipeline as Argo YAML (``bodywork export argo``)."""

    folder: Annotated[
        str, Field(max_length=4096, description="The project folder, relative to the root.")
    ] = "."
    kind: Literal["workflow", "template", "cron"] = "workflow"
    namespace: Name | None = Field(None, description="The namespace it runs in.")
    image: Text | None = Field(None, description="Stage image (a stage's own wins).")
    image_pull_secrets: list[Name] = Field(
        default_factory=list,
        max_length=MAX_PULL_SECRETS,
        description="Secrets the workflow pulls its images with, after bodywork.yaml's.",
    )
    write: bool = Field(False, description="Write the YAML to ``output``; false: only return it.")
    output: Text | None = Field(
        None,
        description="The file to write, relative to the root (default: "
        "<folder>/<pipeline>-<kind>.yaml).",
    )
    overwrite: bool = Field(False, description="Replace a file that is not an earlier export.")
