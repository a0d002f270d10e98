"""How a service stage is reached: its Service (the stable name) and an optional Ingress."""

from __future__ import annotations

from bodywork_jupyter.plan.kubernetes.checks import require_git_source, require_service
from bodywork_jupyter.plan.kubernetes.labels import (
    metadata,
    selector,
    stage_annotations,
    stage_labels,
)
from bodywork_jupyter.plan.kubernetes.manifest import Manifest, k8s_object
from bodywork_jupyter.plan.kubernetes.names import service_name
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions, OwnerReference
from bodywork_jupyter.plan.model import Plan, PlannedStage


def service(
    plan: Plan,
    stage: PlannedStage,
    *,
    run_id: str,
    options: KubernetesOptions,
    owner: OwnerReference | None = None,
) -> Manifest:
    """A v1 ClusterIP Service named exactly the stage's Kubernetes name.

    Its selector names the run whose pods take the traffic (see ``selector``): moving
    traffic to a new version is a patch of ``spec.selector`` (and of the run label).
    """
    require_git_source(plan)
    planned = require_service(stage)
    return k8s_object(
        "v1",
        "Service",
        metadata(
            service_name(stage),
            options.namespace,
            stage_labels(plan, stage, options, run_id),
            stage_annotations(plan, stage),
            owner,
        ),
        spec={
            "type": "ClusterIP",
            "selector": selector(plan, stage, run_id),
            "ports": [
                {
                    "name": "service",
                    "port": planned.port,
                    "targetPort": planned.port,
                    "protocol": "TCP",
                }
            ],
        },
    )


def ingress_path(plan: Plan, stage: PlannedStage) -> str:
    """``/<pipeline>/<stage>``, as Bodywork routed a service's ingress."""
    return f"/{plan.k8s_name}/{stage.k8s_name}"


def ingress(
    plan: Plan,
    stage: PlannedStage,
    options: KubernetesOptions,
    *,
    owner: OwnerReference | None = None,
) -> Manifest | None:
    """A networking.k8s.io/v1 Ingress for a service that asks for one, else None.

    The path is a ``Prefix`` match; requests reach the service with the prefix still on
    them unless the ingress controller is told to strip it (``ingress_annotations``).
    """
    planned = stage.service
    if planned is None or not planned.ingress:
        return None
    require_git_source(plan)
    spec: Manifest = {}
    if options.ingress_class:
        spec["ingressClassName"] = options.ingress_class
    backend = {"service": {"name": service_name(stage), "port": {"number": planned.port}}}
    spec["rules"] = [
        {
            "http": {
                "paths": [
                    {"path": ingress_path(plan, stage), "pathType": "Prefix", "backend": backend}
                ]
            }
        }
    ]
    annotations = {**stage_annotations(plan, stage), **options.ingress_annotations}
    return k8s_object(
        "networking.k8s.io/v1",
        "Ingress",
        metadata(
            service_name(stage),
            options.namespace,
            stage_labels(plan, stage, options),
            annotations,
            owner,
        ),
        spec=spec,
    )
