"""Targets: where a deployment lives and how it is read back (this machine, Kubernetes).

Surfaces (CLI, Python API, magics, REST) talk to a target only, through
``registry.open_target(TargetOptions)``; the engine talks to backends only.
"""

from bodywork_jupyter.targets.base import ClusterChanges, RunOptions, Target, TargetOptions
from bodywork_jupyter.targets.registry import open_target, target_names

__all__ = ["ClusterChanges", "RunOptions", "Target", "TargetOptions", "open_target", "target_names"]
