"""A service's port on this machine: free before it starts, else who holds it, by name.

Checked twice: when a run is submitted (nothing recorded or started yet; a port held by
the deployment's own current version is fine, a redeploy replaces it) and again by the
backend just before the service's processes start (a batch stage may have run for an
hour in between). Who holds a port is read by ``bodywork_runner.ports``.
"""

from __future__ import annotations

from collections.abc import Mapping

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan, PlannedStage
from bodywork_jupyter.plan.ports import check_one_machine, services
from bodywork_runner import ports


def listen_host(stage: PlannedStage) -> str:
    """Where the stage's declared port is bound here: a module binds every interface
    itself, as on a cluster; a notebook's proxy listens on loopback."""
    return "0.0.0.0" if stage.serves_itself else "127.0.0.1"


def port_taken(stage: PlannedStage) -> BadInputError | None:
    """The error to stop ``stage`` with when its port is taken now, else None."""
    port = stage.port
    if port is None or ports.port_free(port, listen_host(stage)):
        return None
    return BadInputError(held(stage.name, port))


def held(stage: str, port: int, by: str | None = None) -> str:
    """``port {port} of service '{stage}' is in use by ...`` and what to do about it."""
    return (
        f"port {port} of service '{stage}' is in use by {by or _holder(port)} - stop it, or "
        f"give '{stage}' another port (service.port in bodywork.yaml)"
    )


def not_ours(stage: str, port: int, root_pid: int | None) -> str | None:
    """Why what answers on ``port`` is not the service ``root_pid`` runs, or None when it is
    (or when this machine cannot tell)."""
    if root_pid is None or ports.listening_in_tree(port, root_pid) is not False:
        return None
    return f"{stage} is not what answers on its port: {held(stage, port)}"


def check_before_submit(plan: Plan, supervisors: Mapping[str, int]) -> None:
    """Raises BadInputError when ``plan`` cannot serve on this machine.

    Two of its services share a port (``plan.ports``), or a port is held by something other
    than this deployment's own supervisor and its processes. ``supervisors`` are the live
    deployments' supervisor pids, by deployment name, to name another deployment that holds
    one.
    """
    check_one_machine(plan)
    for stage in services(plan):
        port = stage.port
        if port is None or ports.port_free(port, listen_host(stage)):
            continue
        holders = [name for name, pid in supervisors.items() if ports.listening_in_tree(port, pid)]
        if plan.pipeline in holders:
            continue  # its current version: the supervisor swaps it for the new one
        if holders:
            other = holders[0]
            raise BadInputError(
                f"port {port} of service '{stage.name}' is in use by deployment '{other}' on "
                f"this machine - delete it (bodywork delete deployment {other}), or give "
                f"'{stage.name}' another port (service.port in bodywork.yaml)"
            )
        raise BadInputError(held(stage.name, port))


def _holder(port: int) -> str:
    found = ports.holder(port)
    return found.describe() if found is not None else "another program"
