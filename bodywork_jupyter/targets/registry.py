"""The target registry: the one place outside ``backends/`` that knows each target's module.

Targets are imported when first opened, so ``bodywork --help`` stays fast and a
target's dependencies (a cluster client) are only needed by those who use it.
Tests add fake targets at this seam with ``register``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.targets.base import Target, TargetOptions

TargetFactory = Callable[[TargetOptions], Target]


def _local(options: TargetOptions) -> Target:
    from bodywork_jupyter.backends.local.target import LocalTarget

    return LocalTarget(options)


def _kubernetes(options: TargetOptions) -> Target:
    from bodywork_jupyter.backends.kubernetes.target import KubernetesTarget

    return KubernetesTarget(options)


_FACTORIES: dict[str, TargetFactory] = {
    "local": _local,
    "kubernetes": _kubernetes,
    "k8s": _kubernetes,  # an alias
}
#: Targets that are planned but not built yet, and what to use meanwhile.
_COMING = {
    "argo": "deploying to Argo Workflows is not available yet - export the pipeline with "
    "'bodywork export argo' and submit that with 'argo submit'",
}


@dataclass(frozen=True)
class Destination:
    """One place a deploy can go from here, as a deploy dialog offers it."""

    target: str  # --target
    label: str
    context: str | None = None  # --context (a cluster target)
    namespace: str | None = None  # the context's namespace, if it names one
    current: bool = False  # the kubeconfig's current context


#: Not a deploy: the dialog offers it, and exports (``bodywork export argo``) instead.
EXPORT_ARGO = Destination("argo", "Export to Argo Workflows (a YAML file)")


def destinations() -> list[Destination]:
    """This machine, then each context of the kubeconfig (when the Kubernetes client is
    installed; read from the file, no cluster is asked), then the export to Argo."""
    return [Destination("local", "this machine"), *_kubeconfig_destinations(), EXPORT_ARGO]


def _kubeconfig_destinations() -> list[Destination]:
    if importlib.util.find_spec("kubernetes") is None:
        return []  # the [kubernetes] extra is not installed: no cluster to offer
    from bodywork_jupyter.backends.kubernetes.cluster import kubeconfig_contexts

    found = []
    for context, namespace, current in kubeconfig_contexts():
        where = f" (namespace {namespace})" if namespace else ""
        found.append(
            Destination("kubernetes", f"Kubernetes: {context}{where}", context, namespace, current)
        )
    return found


def register(name: str, factory: TargetFactory) -> None:
    """Make ``--target NAME`` open ``factory(options)``."""
    _FACTORIES[name] = factory


def unregister(name: str) -> None:
    _FACTORIES.pop(name, None)


def target_names() -> tuple[str, ...]:
    return tuple(_FACTORIES)


def open_target(options: TargetOptions | None = None) -> Target:
    """The target ``options.name`` names, opened with ``options``; a clear error otherwise."""
    options = options or TargetOptions()
    factory = _FACTORIES.get(options.name)
    if factory is None:
        known = ", ".join(_FACTORIES)
        why = _COMING.get(options.name, "no such target")
        raise BadInputError(f"--target {options.name}: {why} (targets: {known})")
    return factory(options)
