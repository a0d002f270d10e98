"""The node agent, a minimal kubelet: ``main`` (Node, Lease, pod watch), ``pods`` (one
worker per pod), ``envvars``, ``volumes``, ``probes``, ``logs`` (the kubelet's log
endpoint), ``services`` (ClusterIP rules and per-pod hosts files), ``provisioner`` (a hostPath
PersistentVolume for each claim of the cluster's StorageClass)."""
