"""Pipeline -> Plan: the one intermediate representation every backend renders from.

Pure: no I/O, no processes, no Kubernetes. ``plan_pipeline`` resolves a Pipeline,
``apply_params`` applies ``--param`` overrides, and ``runner_spec`` turns a planned stage
and a backend's ``Placement`` into the runner's StageSpec. The Kubernetes renderers are
``bodywork_jupyter.plan.kubernetes``, imported by those who render (not at every start).
"""

from bodywork_jupyter.plan.model import (
    Plan,
    PlannedSecret,
    PlannedService,
    PlannedSource,
    PlannedStage,
    Probe,
)
from bodywork_jupyter.plan.params import apply_params
from bodywork_jupyter.plan.planner import DEFAULT_IMAGE, plan_pipeline
from bodywork_jupyter.plan.runner_spec import Placement, runner_spec

__all__ = [
    "DEFAULT_IMAGE",
    "Placement",
    "Plan",
    "PlannedSecret",
    "PlannedService",
    "PlannedSource",
    "PlannedStage",
    "Probe",
    "apply_params",
    "plan_pipeline",
    "runner_spec",
]
