"""Targets: where a deployment lives and how it is read back (local now; more to come).

Surfaces (CLI, Python API, magics, REST) talk to a target only, through
``registry.open_target(TargetOptions)``; the engine talks to backends only.
"""

from bodywork_jupyter.targets.base import RunOptions, Target, TargetOptions
from bodywork_jupyter.targets.registry import open_target, target_names

__all__ = ["RunOptions", "Target", "TargetOptions", "open_target", "target_names"]
