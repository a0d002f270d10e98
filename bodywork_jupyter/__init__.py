"""bodywork-jupyter: deploy notebook pipelines (batch stages and services) from Jupyter.

The Python API (``deploy``, ``get_run``, ``deployments``, ``deployment``, ``delete``,
``Run``) is loaded on first use, so ``import bodywork_jupyter`` (and the CLI) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bodywork_jupyter._version import __version__

if TYPE_CHECKING:
    from bodywork_jupyter.api import Run, delete, deploy, deployment, deployments, get_run

__all__ = ["Run", "__version__", "delete", "deploy", "deployment", "deployments", "get_run"]


def __getattr__(name: str) -> Any:
    if name in {"Run", "delete", "deploy", "deployment", "deployments", "get_run"}:
        from bodywork_jupyter import api

        return getattr(api, name)
    raise AttributeError(f"module 'bodywork_jupyter' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Jupyter server finds the REST API extension here (enabled on install)."""
    from bodywork_jupyter.server.extension import BodyworkExtension

    return [{"module": "bodywork_jupyter", "app": BodyworkExtension}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext bodywork_jupyter``: the ``%bodywork`` magics."""
    from bodywork_jupyter.magics import load_ipython_extension as load

    load(ipython)
