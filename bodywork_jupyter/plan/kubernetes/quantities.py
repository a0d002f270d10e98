"""A stage's resources in Kubernetes' units.

CPU cores become the canonical quantity: whole cores as ``"2"``, fractions as millicores
``"500m"`` (at least ``"1m"``). Memory in MB (10^6 bytes, the field's name) becomes
``"200M"``; GPUs become an ``nvidia.com/gpu`` limit (an extended resource's request is its
limit).
"""

from __future__ import annotations

import math

from bodywork_jupyter.pipeline.model import Resources
from bodywork_jupyter.plan.kubernetes.manifest import Manifest


def cpu_quantity(cores: float) -> str:
    """CPU cores in Kubernetes' canonical form: ``"2"`` or ``"500m"`` (at least ``"1m"``)."""
    millis = max(1, math.ceil(round(cores * 1000, 6)))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(megabytes: int) -> str:
    """Memory in MB (10^6 bytes, the unit the field names) as ``"200M"``."""
    return f"{megabytes}M"


def resources(spec: Resources) -> Manifest:
    """A container's ``resources``: requests, limits, GPUs as ``nvidia.com/gpu`` limits."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if spec.cpu_request is not None:
        requests["cpu"] = cpu_quantity(spec.cpu_request)
    if spec.memory_request_mb is not None:
        requests["memory"] = memory_quantity(spec.memory_request_mb)
    if spec.cpu_limit is not None:
        limits["cpu"] = cpu_quantity(spec.cpu_limit)
    if spec.memory_limit_mb is not None:
        limits["memory"] = memory_quantity(spec.memory_limit_mb)
    if spec.gpu:
        # extended resources cannot be overcommitted: the limit is the request too
        limits["nvidia.com/gpu"] = str(spec.gpu)
    out: Manifest = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out
