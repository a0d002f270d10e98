"""Container mode: a pod's containers run in their images under podman (runc).

The node agent's default runs a container's command as a process of this machine, which
never looks at the image. In container mode (``BODYWORK_TESTCLUSTER_RUNTIME=container``
for every pod, or the label ``testcluster.bodywork.dev/runtime: container`` on a
namespace for its pods) a container is ``podman run`` of its image instead, as a kubelet
with a container runtime does it:

- the image comes from podman's storage, pulled first as ``imagePullPolicy`` says (with
  the pod's ``imagePullSecrets`` as the auth file); a pull that fails is ``ErrImagePull``
  and then ``ImagePullBackOff``, as the kubelet reports them;
- the container joins the pod's network namespace (``--network ns:``) and gets the pod's
  hosts and resolv.conf, its hostname, environment, volume mounts (emptyDirs 0777 and
  fsGroup-owned, as the kubelet makes them), memory and CPU limits, and the security
  context (user and group, runAsNonRoot checked against the image's user, a read-only
  root, no new privileges, capabilities);
- its output is the ``podman run`` process's (attached), its exit code the container's
  (OOMKilled read from the container before it is removed).

podman runs here only with runc and explicit rlimits (../shared/notes/kubernetes-here.md),
so the agent writes its own containers.conf and hands it to every podman command.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.utils import parse_quantity

from bwtestcluster.agent.envvars import ConfigError

log = logging.getLogger("agent.containers")

#: a namespace with this label set to ``container`` runs its pods in their images
RUNTIME_LABEL = "testcluster.bodywork.dev/runtime"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""
#: a pull that takes longer is a failed one (the kubelet has no limit; a test has)
PULL_TIMEOUT = 600


#: variables podman (or the libraries it is built on) reads for itself
_PODMAN_READS = {
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG", "STORAGE_DRIVER", "STORAGE_OPTS", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE",
    "SSL_CERT_DIR", "GODEBUG", "GOMAXPROCS", "NOTIFY_SOCKET",
}  # fmt: skip
_PODMAN_PREFIXES = ("CONTAINERS_", "CONTAINER_", "PODMAN_", "BUILDAH_", "XDG_")


class PullError(Exception):
    """The image cannot be pulled: the message is the kubelet's text for ``reason``."""

    def __init__(self, message: str, reason: str = "ErrImagePull") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ImageConfig:
    """What the image says about running it (``podman image inspect``'s Config)."""

    entrypoint: list[str]
    cmd: list[str]
    working_dir: str
    user: str

    @property
    def runs_as_root(self) -> bool:
        name = self.user.split(":", 1)[0]
        return name in ("", "root", "0")


class Podman:
    """Rootful podman with the agent's own containers.conf."""

    def __init__(self, state_dir: Path) -> None:
        self.missing = (
            None
            if shutil.which("podman")
            else (
                "the test cluster's container mode needs podman (scripts/setup-image installs it)"
            )
        )
        folder = state_dir / "podman"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "TMPDIR": os.environ.get("TMPDIR", "/var/tmp"),
            "CONTAINERS_CONF": str(conf),
        }
        for key in ("CONTAINERS_REGISTRIES_CONF", "CONTAINERS_STORAGE_CONF"):
            if key in os.environ:
                self.env[key] = os.environ[key]

    def own(self, key: str) -> bool:
        """Whether podman itself reads ``key`` from its environment: a pod's value for it
        goes on the command line, never into podman's environment (a pod's TMPDIR, say,
        would be podman's own scratch folder)."""
        return key in self.env or key.upper() in _PODMAN_READS or key.startswith(
            _PODMAN_PREFIXES
        )

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def present(self, image: str) -> bool:
        return self._run("image", "exists", image).returncode == 0

    def pull(self, image: str, auth_file: Path | None) -> None:
        args = ["pull", "--quiet"]
        if auth_file is not None:
            args += ["--authfile", str(auth_file)]
        if _loopback_registry(image):
            args.append("--tls-verify=false")  # as Docker treats 127.0.0.0/8 registries
        try:
            done = self._run(*args, image, timeout=PULL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise PullError(f"pulling image {image!r} took over {PULL_TIMEOUT} s") from exc
        if done.returncode != 0:
            # podman's last line says why (the lines before it are its own retries)
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            said = lines[-1].removeprefix("Error: ") if lines else f"exit {done.returncode}"
            raise PullError(f'failed to pull and unpack image "{image}": {said}')

    def config(self, image: str) -> ImageConfig:
        done = self._run("image", "inspect", "--format", "{{json .Config}}", image)
        if done.returncode != 0:
            raise ConfigError(f"image {image!r} cannot be read: {done.stderr.strip()}")
        found = json.loads(done.stdout or "{}") or {}
        return ImageConfig(
            entrypoint=list(found.get("Entrypoint") or []),
            cmd=list(found.get("Cmd") or []),
            working_dir=str(found.get("WorkingDir") or ""),
            user=str(found.get("User") or ""),
        )

    def image_id(self, image: str) -> str | None:
        done = self._run("image", "inspect", "--format", "{{.Id}}", image)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def pid(self, name: str) -> int | None:
        """The container's first process on this machine (exec and probes enter it)."""
        done = self._run("container", "inspect", "--format", "{{.State.Pid}}", name)
        try:
            pid = int(done.stdout.strip())
        except ValueError:
            return None
        return pid if pid > 0 else None

    def oom_killed(self, name: str) -> bool:
        done = self._run("container", "inspect", "--format", "{{.State.OOMKilled}}", name)
        return done.stdout.strip() == "true"

    def signal(self, name: str, sig: str) -> None:
        self._run("kill", "--signal", sig, name)

    def remove(self, name: str) -> None:
        self._run("rm", "--force", "--time", "0", name)

    def remove_pod(self, uid: str) -> None:
        """Every container of a pod (a crashed worker's, an agent restart's)."""
        done = self._run("ps", "--all", "--quiet", "--filter", f"label=bwtc.pod-uid={uid}")
        for found in done.stdout.split():
            self.remove(found)


def _loopback_registry(image: str) -> bool:
    first = image.split("/", 1)[0] if "/" in image else ""
    host = first.rsplit(":", 1)[0] if first.count(":") == 1 else first
    return host in ("localhost", "127.0.0.1", "[::1]") or host.startswith("127.")


def wants_pull(container: client.V1Container, present: bool) -> bool:
    policy = container.image_pull_policy or (
        "Always" if _tag(container.image or "") in ("", "latest") else "IfNotPresent"
    )
    if policy == "Never":
        if not present:
            raise PullError(
                f'container image "{container.image}" is not present with pull policy of Never',
                "ErrImageNeverPull",
            )
        return False
    return policy == "Always" or not present


def _tag(image: str) -> str:
    if "@" in image:
        return "digest"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def auth_file(core: client.CoreV1Api, pod: client.V1Pod, folder: Path) -> Path | None:
    """The pod's imagePullSecrets as one containers-auth.json (0600), or None."""
    auths: dict[str, Any] = {}
    for ref in pod.spec.image_pull_secrets or []:
        try:
            secret = core.read_namespaced_secret(ref.name, pod.metadata.namespace)
        except client.ApiException:
            continue  # the kubelet goes on without a secret it cannot read
        data = secret.data or {}
        if ".dockerconfigjson" in data:
            found = json.loads(base64.b64decode(data[".dockerconfigjson"]))
            auths.update(found.get("auths") or {})
        elif ".dockercfg" in data:
            auths.update(json.loads(base64.b64decode(data[".dockercfg"])))
    if not auths:
        return None
    path = folder / "auth.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps({"auths": auths}))
    return path


def _security(pod: client.V1Pod, container: client.V1Container) -> dict[str, Any]:
    """The container's security context over the pod's (the fields that mean the same)."""
    merged: dict[str, Any] = {}
    for context in (pod.spec.security_context, container.security_context):
        if context is None:
            continue
        for key in ("run_as_user", "run_as_group", "run_as_non_root"):
            value = getattr(context, key, None)
            if value is not None:
                merged[key] = value
    pod_context = pod.spec.security_context
    if pod_context is not None:
        merged["fs_group"] = pod_context.fs_group
        merged["supplemental_groups"] = pod_context.supplemental_groups or []
    own = container.security_context
    if own is not None:
        merged.update(
            read_only=bool(own.read_only_root_filesystem),
            no_new_privileges=own.allow_privilege_escalation is False,
            privileged=bool(own.privileged),
            drop=list(own.capabilities.drop or []) if own.capabilities else [],
            add=list(own.capabilities.add or []) if own.capabilities else [],
        )
    return merged


def user_flag(security: Mapping[str, Any], image: ImageConfig, container: str) -> list[str]:
    user = security.get("run_as_user")
    group = security.get("run_as_group")
    if security.get("run_as_non_root"):
        if user == 0 or (user is None and image.runs_as_root):
            raise ConfigError(
                f"container has runAsNonRoot and image will run as root (container: {container})"
            )
        if user is None and not image.user.split(":", 1)[0].isdigit():
            raise ConfigError(
                f"container has runAsNonRoot and image has non-numeric user "
                f"({image.user}), cannot verify user is non-root (container: {container})"
            )
    if user is None and group is None:
        return []
    spec = str(user if user is not None else image.user.split(":", 1)[0] or 0)
    if group is not None:
        spec += f":{group}"
    return ["--user", spec]


def prepare_volume(path: Path, fs_group: int | None, empty_dir: bool) -> None:
    """As the kubelet leaves a volume: an emptyDir open to all (0777), and with fsGroup
    every file the group's, directories setgid so new files stay so."""
    if empty_dir:
        path.chmod(0o777)
    if fs_group is None or not path.is_dir():
        return
    root = path.stat()
    if root.st_gid == fs_group and root.st_mode & 0o2070 == 0o2070:
        return  # fsGroupChangePolicy OnRootMismatch: a shared cache is walked once
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            entry = Path(folder) / name
            if entry.is_symlink():
                continue
            os.chown(entry, -1, fs_group)
            mode = entry.stat().st_mode
            extra = 0o2070 if entry.is_dir() else 0o060
            entry.chmod((mode | extra) & 0o7777)
    os.chown(path, -1, fs_group)
    path.chmod((path.stat().st_mode | 0o2070) & 0o7777)


def _limits(container: client.V1Container) -> list[str]:
    limits = (container.resources.limits if container.resources else None) or {}
    flags: list[str] = []
    if "memory" in limits:
        flags += ["--memory", str(int(parse_quantity(limits["memory"])))]
    if "cpu" in limits:
        flags += ["--cpus", f"{float(parse_quantity(limits['cpu'])):.3f}"]
    return flags


def run_argv(
    *,
    name: str,
    pod: client.V1Pod,
    container: client.V1Container,
    image: ImageConfig,
    netns_path: str,
    etc_dir: Path,
    hostname: str,
    env: Mapping[str, str],
    inline: Collection[str],
    argv: Sequence[str],
    mounts: Sequence[tuple[Path, str, bool]],
    working_dir: str | None,
    ca_bundle: str = "",
) -> list[str]:
    """``podman run`` of one container in the pod's sandbox (attached: its output and
    exit code are the container's). Environment values (secrets among them) are not on
    the command line: ``--env KEY`` takes each from podman's own environment, where the
    caller puts them; only the ``inline`` keys, which podman's environment holds for
    itself (PATH, HOME), are given as ``KEY=VALUE``."""
    security = _security(pod, container)
    flags = [
        "run", "--name", name, "--label", f"bwtc.pod-uid={pod.metadata.uid}",
        "--network", f"ns:{netns_path}", "--hostname", hostname,
        "--no-hosts",
        "--volume", f"{etc_dir / 'hosts'}:/etc/hosts:ro",
        "--volume", f"{etc_dir / 'resolv.conf'}:/etc/resolv.conf:ro",
        "--pull", "never",
    ]  # fmt: skip
    if ca_bundle:  # the node's trust store (Config.ca_bundle)
        flags += ["--volume", f"{ca_bundle}:/etc/ssl/certs/ca-certificates.crt:ro"]
    flags += user_flag(security, image, container.name)
    if security.get("fs_group") is not None:
        flags += ["--group-add", str(security["fs_group"])]
    for group in security.get("supplemental_groups", []):
        flags += ["--group-add", str(group)]
    if security.get("read_only"):
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("no_new_privileges"):
        flags += ["--security-opt", "no-new-privileges"]
    if security.get("privileged"):
        flags.append("--privileged")
    for capability in security.get("drop", []):
        flags += ["--cap-drop", str(capability)]
    for capability in security.get("add", []):
        flags += ["--cap-add", str(capability)]
    flags += _limits(container)
    for source, target, read_only in mounts:
        flags += ["--volume", f"{source}:{target}{':ro' if read_only else ''}"]
    for key in sorted(env):
        flags += ["--env", f"{key}={env[key]}" if key in inline else key]
    if working_dir:
        flags += ["--workdir", working_dir]
    # the argv is complete (command/args over the image's entrypoint/cmd, $(VAR)s expanded)
    flags += ["--entrypoint", json.dumps(list(argv[:1])), container.image or "", *argv[1:]]
    log.debug("podman %s", shlex.join(flags[:4]))
    return ["podman", *flags]
