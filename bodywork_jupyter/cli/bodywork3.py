"""Bodywork 3's options of ``create deployment`` and ``update deployment``, read as ours.

``--async`` is ``--detach`` and ``--bodywork-image`` is ``--image``. ``--retries``,
``--group`` and ``--async-job-name`` set up Bodywork's workflow-controller Job, which has
no counterpart here (a deployment is named after its pipeline, and each batch stage
retries as bodywork.yaml says): they are accepted, so a Bodywork script runs unchanged,
and the deploy says what became of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from bodywork_jupyter.cli.options import stack
from bodywork_jupyter.errors import BadInputError

if TYPE_CHECKING:
    from bodywork_jupyter.plan import Plan


options = stack(
    click.option("--async", "asynchronous", is_flag=True, help="Bodywork 3: same as --detach."),
    click.option("--bodywork-image", metavar="IMAGE", help="Bodywork 3: same as --image."),
    click.option(
        "--retries",
        type=click.IntRange(0),
        help="Bodywork 3: retries of the whole --async deployment (not used: each batch "
        "stage retries as bodywork.yaml says).",
    ),
    click.option(
        "--group",
        "--secrets-group",
        "group",
        metavar="GROUP",
        help="Bodywork 3: the group of the --async job's git key Secret (not used: stages "
        "read the pipeline's secrets_group).",
    ),
    click.option(
        "--async-job-name",
        "--name",
        "job_name",
        metavar="NAME",
        help="Bodywork 3: the --async job's name (not used: a deployment is named after "
        "its pipeline).",
    ),
)


@dataclass(frozen=True)
class Unused:
    """What Bodywork 3 asked for that a deploy here does not use."""

    retries: int | None = None
    group: str | None = None
    job_name: str | None = None

    def notes(self, plan: Plan) -> list[str]:
        """One line for each, naming what is done here instead."""
        said = []
        if self.retries is not None:
            batch = [n for n in plan.order if plan.stages[n].kind == "batch"]
            counts = ", ".join(f"{n}: {plan.stages[n].retries.count}" for n in batch) or "none"
            said.append(
                f"--retries {self.retries}: Bodywork retried a whole --async deployment; here "
                f"each batch stage retries as bodywork.yaml says ({counts}) - --retries is not "
                "used"
            )
        if self.group is not None and self.group != plan.secrets_group:
            said.append(
                f"--group {self.group}: Bodywork's --async job looked for its git key's Secret "
                "there; here the stages read their secrets from the pipeline's secrets_group "
                f"({plan.secrets_group or 'none'}) and the git key is --ssh's - --group is "
                "not used"
            )
        if self.job_name is not None and self.job_name != plan.pipeline:
            said.append(
                f"--name {self.job_name}: Bodywork named its --async job so; here the "
                f"deployment is named after its pipeline: '{plan.pipeline}' (bodywork logs "
                f"{plan.pipeline} follows its newest run)"
            )
        return said


def ours(given: dict[str, Any]) -> tuple[dict[str, Any], Unused]:
    """``given`` (our deploy options and Bodywork 3's) as our deploy's keyword arguments,
    and what is left unused."""
    kwargs = dict(given)
    asynchronous = kwargs.pop("asynchronous")
    bodywork_image = kwargs.pop("bodywork_image")
    if bodywork_image and kwargs["image"] and bodywork_image != kwargs["image"]:
        raise BadInputError("--image and --bodywork-image name different images - give one")
    kwargs["image"] = kwargs["image"] or bodywork_image
    kwargs["detach"] = kwargs["detach"] or asynchronous
    unused = Unused(kwargs.pop("retries"), kwargs.pop("group"), kwargs.pop("job_name"))
    return kwargs, unused
