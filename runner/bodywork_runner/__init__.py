"""The bodywork-jupyter stage runner.

One process per stage attempt: it fetches the stage's code (a git commit or a local
folder), prepares the stage's requirements, then runs the notebook or module as a batch
job or serves it. It reports progress as structured event lines on stdout (see
:mod:`bodywork_runner.events`) and ends with a documented exit code (see
:mod:`bodywork_runner.errors`). The same code runs locally and as the stage image's
entrypoint on Kubernetes.
"""

from bodywork_runner.events import EVENT_PREFIX, parse_event
from bodywork_runner.spec import ServiceSettings, Source, StageSpec

__version__ = "0.1.0"

__all__ = ["EVENT_PREFIX", "ServiceSettings", "Source", "StageSpec", "__version__", "parse_event"]
