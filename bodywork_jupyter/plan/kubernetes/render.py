"""Every object of one run, for review, golden files and dry runs; and their YAML."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from bodywork_jupyter.plan.kubernetes.checks import require_git_source
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.kubernetes.networking import ingress, service
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions
from bodywork_jupyter.plan.kubernetes.schedule import cronjob, plan_config_map
from bodywork_jupyter.plan.kubernetes.workloads import deployment, job
from bodywork_jupyter.plan.model import Plan


def render_plan(
    plan: Plan,
    *,
    run_id: str,
    options: KubernetesOptions,
    controller_image: str | None = None,
) -> list[Manifest]:
    """Every object one run of ``plan`` can create, in the plan's order.

    The first attempt's Job of each batch stage (and of ``run_on_failure``); per service
    its Deployment, Service and any Ingress; with a schedule the plan's ConfigMap and the
    CronJob (running ``controller_image``, by default the first stage's image). For
    review, golden files and dry runs: the controller creates them one at a time.
    """
    require_git_source(plan)
    objects: list[Manifest] = []
    stages = [plan.stages[name] for name in plan.order]
    if plan.run_on_failure is not None:
        stages.append(plan.run_on_failure)
    for stage in stages:
        if stage.kind == "batch":
            objects.append(job(plan, stage, run_id=run_id, attempt=1, options=options))
            continue
        objects.append(deployment(plan, stage, run_id=run_id, options=options))
        objects.append(service(plan, stage, run_id=run_id, options=options))
        routed = ingress(plan, stage, options)
        if routed is not None:
            objects.append(routed)
    if plan.schedule:
        image = controller_image or stages[0].image
        objects.append(plan_config_map(plan, options=options))
        scheduled = cronjob(plan, options=options, image=image)
        if scheduled is not None:
            objects.append(scheduled)
    return objects


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors or aliases, multi-line text as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def to_yaml(objects: Iterable[Manifest]) -> str:
    """YAML documents, keys in the order rendered (``kubectl apply -f`` reads it).

    No line is folded: a long value (the stage spec) stays on one line.
    """
    return yaml.dump_all(list(objects), Dumper=_Dumper, sort_keys=False, width=1 << 20)
