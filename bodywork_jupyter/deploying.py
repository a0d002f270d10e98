"""Deployments as a service: what the CLI, the REST API and the magics all call.

``prepare`` turns what the user gave (a folder or git URL, a branch or commit,
parameter overrides) into a Plan; ``submit`` records a run and makes sure a
supervisor runs it; the rest read or change runs and deployments in the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from bodywork_jupyter.backends.git_source import ResolvedSource, resolve
from bodywork_jupyter.backends.local import supervisor
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Deployment, Run, RunStore, pid_alive
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.pipeline.model import Pipeline
from bodywork_jupyter.plan import Plan, plan_pipeline

TARGETS = ("local",)


@dataclass
class Prepared:
    resolved: ResolvedSource
    pipeline: Pipeline
    plan: Plan
    warnings: list[str] = field(default_factory=list)


def prepare(
    target: str,
    branch: str | None = None,
    commit: str | None = None,
    params: list[str] | tuple[str, ...] = (),
) -> Prepared:
    resolved = resolve(target, branch, commit)
    pipeline = load_pipeline(resolved.project_root)
    plan = plan_pipeline(pipeline, resolved.source)
    plan = apply_params(plan, params)
    return Prepared(resolved, pipeline, plan, list(resolved.warnings))


def apply_params(plan: Plan, params: list[str] | tuple[str, ...]) -> Plan:
    """``STAGE.NAME=VALUE`` overrides of notebook parameters (YAML-typed values)."""
    stages = dict(plan.stages)
    for item in params:
        key, sep, raw = item.partition("=")
        stage_name, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise BadInputError(f"--param {item!r}: write STAGE.NAME=VALUE, e.g. train.n=3")
        if stage_name not in stages:
            known = ", ".join(stages)
            raise BadInputError(f"--param {item!r}: no stage '{stage_name}' (stages: {known})")
        try:
            value: Any = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        stage = stages[stage_name]
        spec = dict(stage.spec)
        spec["parameters"] = {**spec.get("parameters", {}), name: value}
        stages[stage_name] = stage.model_copy(update={"spec": spec})
    return plan.model_copy(update={"stages": stages})


def submit(
    store: RunStore, prepared: Prepared, target: str = "local", max_parallel: int = 4
) -> Run:
    if target not in TARGETS:
        raise BadInputError(f"--target {target}: not available yet (targets: {', '.join(TARGETS)})")
    plan = prepared.plan
    run = store.create_run(
        plan.pipeline,
        plan.pipeline,
        target,
        plan.source,
        plan.model_dump(mode="json"),
        {"max_parallel": max_parallel},
    )
    ensure_supervisor(store, plan.pipeline)
    return run


def ensure_supervisor(store: RunStore, deployment: str) -> None:
    if not supervisor.supervisor_running(store, deployment):
        supervisor.spawn(store, deployment)


def refresh(store: RunStore) -> None:
    """Mark runs whose supervisor died as lost (history must not say 'running' forever)."""
    store.mark_lost_runs()


def delete_deployment(store: RunStore, name: str, timeout: float = 60.0) -> Deployment:
    deployment = store.get_deployment(name)
    if deployment is None or deployment.status == "deleted":
        known = ", ".join(d.name for d in store.deployments()) or "none"
        raise BadInputError(f"no deployment '{name}' (deployments: {known})")
    store.set_deployment_status(name, "deleting")
    pid = deployment.supervisor_pid
    if pid and pid_alive(pid):
        import os
        import signal

        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while supervisor.supervisor_running(store, name) and time.monotonic() < deadline:
            time.sleep(0.1)
    store.set_deployment_status(name, "deleted")
    refresh(store)
    updated = store.get_deployment(name)
    assert updated is not None
    return updated


def cancel_run(store: RunStore, run: Run) -> None:
    if run.status not in (states.QUEUED, states.RUNNING):
        raise BadInputError(
            f"run {run.id} is {run.status}; only queued or running runs can be cancelled"
        )
    store.request_cancel(run.id)


def find_run(store: RunStore, ref: str) -> Run:
    run = store.find_run(ref)
    if run is None:
        deployment = store.get_deployment(ref)
        if deployment is not None and deployment.current_run:
            run = store.get_run(deployment.current_run)
        elif deployment is not None:
            runs = store.runs(ref, limit=1)
            run = runs[0] if runs else None
    if run is None:
        raise BadInputError(
            f"no run '{ref}' - give a run id (see 'bodywork get runs') or a deployment name"
        )
    return run
