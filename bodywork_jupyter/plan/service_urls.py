"""Where a stage reaches the plan's services: ``BODYWORK_SERVICE_<STAGE>_URL``, every target.

Every stage gets one variable per service stage of its plan, so code that reads
``os.environ["BODYWORK_SERVICE_SCORE_URL"]`` works wherever it runs. ``<STAGE>`` is the
stage's Kubernetes name upper-cased with ``-`` as ``_`` (``score-v2`` and ``score_v2``
give ``BODYWORK_SERVICE_SCORE_V2_URL``; two stages never share a Kubernetes name). The
value is ``http://HOST:PORT``: on this machine ``127.0.0.1`` (the service's declared
port is on loopback), on a cluster the stage's Service name, which is what a backend
passes as ``hosts``. Bodywork's spelling ``http://STAGE-NAME:PORT`` is the cluster's only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bodywork_jupyter.plan.model import Plan, PlannedStage
from bodywork_jupyter.plan.ports import services

#: The host every service is reached at on one machine.
LOOPBACK = "127.0.0.1"
PREFIX = "BODYWORK_SERVICE_"
SUFFIX = "_URL"


def url_variable(stage: PlannedStage) -> str:
    """The environment variable that holds ``stage``'s URL, e.g. BODYWORK_SERVICE_SCORE_URL."""
    return f"{PREFIX}{re.sub(r'[^A-Z0-9]', '_', stage.k8s_name.upper())}{SUFFIX}"


def service_url_env(plan: Plan, hosts: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{BODYWORK_SERVICE_<STAGE>_URL: http://HOST:PORT}`` for every service of ``plan``.

    ``hosts`` maps a stage name to the host it is reached at (a Kubernetes Service name);
    a stage it does not name, and every stage without ``hosts``, is on ``127.0.0.1``.
    """
    env: dict[str, str] = {}
    for stage in services(plan):
        assert stage.service is not None
        host = (hosts or {}).get(stage.name, LOOPBACK)
        env[url_variable(stage)] = f"http://{host}:{stage.service.port}"
    return env
