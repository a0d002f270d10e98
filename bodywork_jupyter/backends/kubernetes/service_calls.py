"""A request to a service from outside the cluster: through the API server's service proxy.

An in-cluster URL (``http://SERVICE.NAMESPACE.svc.cluster.local:PORT``) does not resolve
here; the API server proxies to the Service with the caller's own credentials (it needs
``services/proxy``), so no port-forward and no Ingress are needed to try a service.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.errors import BadInputError

_SUFFIX = ".svc.cluster.local"


def proxy_path(url: str, path: str) -> str:
    """The API server path that proxies ``path`` of the service at ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.endswith(_SUFFIX) or host.count(".") != 4 or parts.port is None:
        raise BadInputError(f"{url} is not a service URL of this cluster")
    service, namespace = host[: -len(_SUFFIX)].split(".")
    return f"/api/v1/namespaces/{namespace}/services/{service}:{parts.port}/proxy{path}"


def call_service(
    cluster: Cluster, url: str, path: str, body: bytes | None, timeout: float
) -> tuple[int, bytes]:
    api = cluster.api_client
    method = "POST" if body is not None else "GET"
    headers = {"Content-Type": "application/json"} if body is not None else {}
    # param_serialize signs the request as every other call of the client is signed
    serialized: Any = api.param_serialize(
        method, proxy_path(url, path), header_params=headers, auth_settings=["BearerToken"]
    )
    verb, full_url, signed, _, _ = serialized
    with cluster.translated():
        # the client serialises a JSON body itself: give it the document
        document = None if body is None else json.loads(body)
        answer: Any = api.call_api(
            verb, full_url, header_params=signed, body=document, _request_timeout=timeout
        )
        answer.read()
    return int(answer.status), bytes(answer.data)
