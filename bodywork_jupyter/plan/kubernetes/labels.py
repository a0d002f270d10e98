"""Labels, annotations and the metadata that carries them.

Labels hold the Kubernetes names (as valid label values); the annotations hold the names
as written in bodywork.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.kubernetes.names import HASH_CHARS, NAME_LIMIT, digest
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions, OwnerReference
from bodywork_jupyter.plan.model import Plan, PlannedStage

APP = "bodywork-jupyter"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_RUN = "bodywork.dev/run"
LABEL_STAGE = "bodywork.dev/stage"
LABEL_COMMIT = "bodywork.dev/commit"
LABEL_ATTEMPT = "bodywork.dev/attempt"
#: The names as written in bodywork.yaml (labels hold the Kubernetes names).
ANNOTATION_PIPELINE = "bodywork.dev/pipeline"
ANNOTATION_STAGE = "bodywork.dev/stage"


def label_value(value: str) -> str:
    """``value`` as a valid label value: at most 63 characters of ``[-A-Za-z0-9_.]``,
    alphanumeric at both ends (an empty value is valid). Longer values are cut and end
    with a hash of the whole value, as names are."""
    cleaned = re.sub(r"[^-A-Za-z0-9_.]+", "-", value)
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    if len(cleaned) <= NAME_LIMIT:
        return cleaned
    head = re.sub(r"[^A-Za-z0-9]+$", "", cleaned[: NAME_LIMIT - HASH_CHARS - 1])
    return f"{head}-{digest(value)}"


def app_labels() -> dict[str, str]:
    """What marks an object as ours, whatever pipeline (if any) it belongs to."""
    return {LABEL_NAME: APP, LABEL_MANAGED_BY: APP}


def common_labels(plan: Plan, options: KubernetesOptions) -> dict[str, str]:
    """The labels every object of ``plan`` carries (the commit only for a git source)."""
    labels = {
        **app_labels(),
        LABEL_PART_OF: label_value(plan.k8s_name),
        LABEL_VERSION: label_value(options.version),
    }
    if plan.source.commit:
        labels[LABEL_COMMIT] = label_value(plan.source.commit)
    return labels


def stage_labels(
    plan: Plan, stage: PlannedStage, options: KubernetesOptions, run_id: str | None = None
) -> dict[str, str]:
    labels = {
        **common_labels(plan, options),
        LABEL_COMPONENT: label_value(stage.k8s_name),
        LABEL_STAGE: label_value(stage.k8s_name),
    }
    if run_id is not None:
        labels[LABEL_RUN] = label_value(run_id)
    return labels


def selector(plan: Plan, stage: PlannedStage, run_id: str) -> dict[str, str]:
    """The pods of one version of a service: the Deployment's selector and the Service's.

    Pointing the Service's selector at another run moves all traffic to that version's
    ready pods at once; the old version keeps serving until then (and after, if the new
    one never becomes ready, since the selector is then never changed).
    """
    return {
        LABEL_PART_OF: label_value(plan.k8s_name),
        LABEL_STAGE: label_value(stage.k8s_name),
        LABEL_RUN: label_value(run_id),
    }


def stage_annotations(plan: Plan, stage: PlannedStage) -> dict[str, str]:
    return {ANNOTATION_PIPELINE: plan.pipeline, ANNOTATION_STAGE: stage.name}


def metadata(
    name: str,
    namespace: str | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    owner: OwnerReference | None = None,
) -> Manifest:
    meta: Manifest = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:
        meta["ownerReferences"] = [owner.render()]
    return meta


def template(labels: dict[str, str], annotations: dict[str, str], spec: Manifest) -> Manifest:
    """A Job's or a pod's template: the labels and annotations it stamps, and its spec."""
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}
