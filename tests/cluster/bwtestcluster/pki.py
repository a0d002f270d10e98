"""Certificates and the service-account key, made fresh with openssl at each start."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bwtestcluster.config import Config


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _key(name: str, cwd: Path) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=cwd)


def _cert(
    name: str, subject: str, cwd: Path, *, sans: list[str] | None = None, usage: str
) -> None:
    _key(name, cwd)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=cwd)
    ext = [f"extendedKeyUsage={usage}", "keyUsage=critical,digitalSignature,keyEncipherment"]
    if sans:
        ext.append("subjectAltName=" + ",".join(sans))
    (cwd / f"{name}.ext").write_text("\n".join(ext) + "\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "30", "-sha256", "-extfile", f"{name}.ext",
        "-out", f"{name}.crt", cwd=cwd,
    )  # fmt: skip


def generate(config: Config) -> None:
    """Write the CA and every certificate the cluster needs into ``config.pki_dir``."""
    pki = config.pki_dir
    pki.mkdir(parents=True, exist_ok=True)
    _key("ca", pki)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=bodywork-testcluster-ca",
        "-days", "30", "-sha256", "-out", "ca.crt",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=pki,
    )  # fmt: skip
    apiserver_sans = [
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        f"DNS:kubernetes.default.svc.{config.cluster_domain}",
        "DNS:localhost",
        "IP:127.0.0.1",
        f"IP:{config.kubernetes_service_ip}",
        f"IP:{config.bridge_ip}",
    ]
    _cert("apiserver", "/CN=kube-apiserver", pki, sans=apiserver_sans, usage="serverAuth")
    _cert("admin", "/O=system:masters/CN=bodywork-testcluster-admin", pki, usage="clientAuth")
    _cert(
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        pki,
        usage="clientAuth",
    )
    _cert(
        "kubelet",
        f"/O=system:nodes/CN=system:node:{config.node_name}",
        pki,
        sans=[f"IP:{config.bridge_ip}", f"DNS:{config.node_name}"],
        usage="serverAuth,clientAuth",
    )
    _key("sa", pki)
    _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for path in pki.glob("*.key"):
        path.chmod(0o600)


def kubeconfig(config: Config, cert: str, key: str) -> str:
    pki = config.pki_dir
    return f"""apiVersion: v1
kind: Config
clusters:
- name: bodywork-testcluster
  cluster:
    server: {config.server_url}
    certificate-authority: {pki / "ca.crt"}
contexts:
- name: bodywork-testcluster
  context:
    cluster: bodywork-testcluster
    user: admin
    namespace: default
current-context: bodywork-testcluster
users:
- name: admin
  user:
    client-certificate: {pki / cert}
    client-key: {pki / key}
"""
