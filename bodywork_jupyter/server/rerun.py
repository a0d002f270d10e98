"""Re-running a run: what ``POST runs/{run_id}/rerun`` submits again.

A run's record holds the plan it ran (the pinned commit, every stage's parameters with
the overrides it was deployed with, the image, the Python, the requirements date) and
its run options. Deploying its source again could not be faithful: a URL's credentials
and a cluster deploy's project folder are not in the record, and the folder's
bodywork.yaml may have changed since. So a re-run is that plan, submitted again through
the deploy path (``deploying.submit``), with the same options.
"""

from __future__ import annotations

from pydantic import ValidationError

from bodywork_jupyter.deploying import Prepared
from bodywork_jupyter.engine.store import Run
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan
from bodywork_jupyter.targets import RunOptions, Target


def again(run: Run, target: Target) -> tuple[Prepared, RunOptions]:
    """The plan and options of ``run`` (read with its plan), ready to submit to ``target``."""
    # a scheduled run's options say so too ("scheduled", "fire"): only the run options carry
    kept = {k: v for k, v in run.options.items() if k in RunOptions.model_fields}
    try:
        plan = Plan.model_validate(run.plan)
        options = RunOptions.model_validate(kept)
    except ValidationError:
        raise BadInputError(
            f"run {run.id} was recorded by another version of bodywork-jupyter and cannot "
            f"be run again as it is - deploy deployment '{run.deployment}' again instead"
        ) from None
    return Prepared(plan, f"run {run.id} again", target.notes(plan)), options
