"""bodywork-jupyter's test cluster: a real Kubernetes control plane on this machine.

Test infrastructure only, never part of the wheel. The pieces:

- ``build``: builds (once, cached) the control-plane binary from ``tests/cluster/go.mod``;
- ``pki``: the CA, serving and client certificates and the service-account key (openssl);
- ``network``: the pod bridge, per-pod network namespaces and the Service rules (iptables);
- ``controlplane``: starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler
  and the node agent, and stops them (``up`` / ``down``);
- ``agent``: the node agent (a minimal kubelet): registers a Node and runs the pods bound
  to it as local processes, one network namespace per pod;
- ``__main__``: the command line behind ``scripts/testcluster``.
"""

from __future__ import annotations

from bwtestcluster.config import Config

__all__ = ["Config"]
