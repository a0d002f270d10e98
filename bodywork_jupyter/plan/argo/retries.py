"""A stage's retries and backoff as Argo's ``retryStrategy``.

``limit`` counts retries, as ``retries`` does (attempts = limit + 1). Every failure is
retried (``retryPolicy: Always``: an attempt past its deadline too, as the engine retries
a timeout) except the runner's bad-input exit code, 2, which the engine never retries
either: a missing file fails the same every time. Argo's backoff factor is a whole
number; a fraction is rounded (``notes`` says so).
"""

from __future__ import annotations

from bodywork_jupyter.pipeline.model import RetryPolicy
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_runner.errors import EXIT_BAD_INPUT


def whole_factor(policy: RetryPolicy) -> int:
    return max(1, round(policy.backoff_factor))


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def retry_strategy(policy: RetryPolicy) -> Manifest | None:
    """The ``retryStrategy`` of a batch stage's template (None: no retries)."""
    if policy.count <= 0:
        return None
    return {
        # IntOrString fields as strings: what Argo's own schema and examples use
        "limit": str(policy.count),
        "retryPolicy": "Always",
        "expression": f'lastRetry.exitCode != "{EXIT_BAD_INPUT}"',
        "backoff": {
            "duration": _duration(policy.backoff_seconds),
            "factor": str(whole_factor(policy)),
            "cap": _duration(policy.max_backoff_seconds),
        },
    }
