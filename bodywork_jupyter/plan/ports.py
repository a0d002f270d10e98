"""Ports on one machine: two services of a plan may not listen on the same one.

On a cluster every service has its own address (a Service, pods with their own IPs), so
Bodywork's projects may give two services port 5000 and reach each by its stage name.
On one machine one port has one listener: the local target refuses such a plan before
anything starts, saying why and what to do. Pure: it reads the plan only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan, PlannedStage


@dataclass(frozen=True)
class SharedPort:
    """Services of one plan that listen on the same port (stage names, in plan order)."""

    port: int
    stages: tuple[str, ...]

    def message(self) -> str:
        names = " and ".join(", ".join(f"'{s}'" for s in self.stages).rsplit(", ", 1))
        return (
            f"stages {names} are services on the same port {self.port}: on a cluster each "
            "service has its own address, but on this machine only one program can listen "
            f"on port {self.port}, so they cannot all run here - give each its own port "
            "(service.port in bodywork.yaml), or deploy to a cluster (--target kubernetes)"
        )


def services(plan: Plan) -> list[PlannedStage]:
    """The plan's service stages, in its order (then run_on_failure, were it one)."""
    every = [plan.stages[name] for name in plan.order]
    if plan.run_on_failure is not None:
        every.append(plan.run_on_failure)
    return [stage for stage in every if stage.service is not None]


def shared_ports(plan: Plan) -> list[SharedPort]:
    """Every port that more than one of the plan's services listens on."""
    by_port: dict[int, list[str]] = {}
    for stage in services(plan):
        assert stage.service is not None
        by_port.setdefault(stage.service.port, []).append(stage.name)
    return [SharedPort(port, tuple(names)) for port, names in by_port.items() if len(names) > 1]


def check_one_machine(plan: Plan) -> None:
    """Raises BadInputError when two services of ``plan`` would listen on one port."""
    shared = shared_ports(plan)
    if shared:
        raise BadInputError("; ".join(clash.message() for clash in shared))
