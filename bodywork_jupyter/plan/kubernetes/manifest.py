"""What every rendered object is: plain JSON-ready data that shares nothing."""

from __future__ import annotations

import json
from typing import Any

#: One rendered object: plain JSON-ready data.
Manifest = dict[str, Any]


def plain(obj: Manifest) -> Manifest:
    """A copy sharing nothing (not even with the caller's next object), JSON-ready."""
    copied: Manifest = json.loads(json.dumps(obj))
    return copied


def k8s_object(api_version: str, kind: str, metadata: Manifest, **fields: Any) -> Manifest:
    """One object as a plain copy: ``apiVersion``, ``kind``, ``metadata``, then ``fields``
    in the order given (the order ``to_yaml`` writes them in)."""
    return plain({"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields})
