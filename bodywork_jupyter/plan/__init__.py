"""Pipeline -> Plan: the one intermediate representation every backend renders from."""

from bodywork_jupyter.plan.model import Plan, PlannedStage, Probe
from bodywork_jupyter.plan.planner import DEFAULT_IMAGE, plan_pipeline

__all__ = ["DEFAULT_IMAGE", "Plan", "PlannedStage", "Probe", "plan_pipeline"]
