"""Which target a request reads: ``?target=``, ``?context=``, ``?namespace=``.

The same three settings the CLI's ``--target``, ``--context`` and ``--namespace`` give
``open_target``, so a run deployed from the panel to a kubeconfig context is read back
from that context, as ``bodywork logs RUN --context CTX`` reads it.
"""

from __future__ import annotations

from typing import NamedTuple

from bodywork_jupyter.server.errors import ApiError
from bodywork_jupyter.targets.registry import destinations


class Where(NamedTuple):
    """A target and its settings; the extension keeps one open target per Where."""

    target: str = "local"
    context: str | None = None
    namespace: str | None = None


LOCAL = Where()


def where_from_query(target: str, context: str | None, namespace: str | None) -> Where:
    """The request's Where, or a 400 that says what to send instead. Context and namespace
    place a cluster target; this machine has neither."""
    context, namespace = context or None, namespace or None
    if target == "local":
        if context or namespace:
            given = "?context=" if context else "?namespace="
            raise ApiError(
                f"{given} names a place on a cluster, not on this machine - "
                "send it with ?target=kubernetes, or leave it out"
            )
        return LOCAL
    if context is not None:
        check_context(context)
    return Where(target, context, namespace)


def check_context(context: str) -> None:
    """``context`` is one of the kubeconfig's (read from the file; no cluster is asked)."""
    names = [d.context for d in destinations() if d.context]
    if context not in names:
        have = f"its contexts: {', '.join(names)}" if names else "it has no contexts"
        raise ApiError(
            f"?context={context}: not in the kubeconfig (KUBECONFIG or ~/.kube/config; {have})"
        )
