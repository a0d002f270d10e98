"""Volumes: made as directories under the pod's dir, bind-mounted into its containers.

A container's process runs in the mount namespace ``ip netns exec`` makes (its mounts do
not reach the host), so a volume is a ``mount --bind`` done there before the command is
exec'd. A mount point that does not exist on this machine is made first and removed when
the last pod using it goes (reference-counted: removing a mount point would detach it in
every pod's namespace).

Supported: emptyDir, configMap, secret, downwardAPI, projected (serviceAccountToken,
configMap, secret, downwardAPI: the service-account volume every pod gets), hostPath,
persistentVolumeClaim (bound to a hostPath or local PV: ``provisioner.py`` makes them).
Contents are written once, when the pod starts.
"""

from __future__ import annotations

import base64
import shlex
import threading
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from kubernetes import client

from bwtestcluster.agent.envvars import ConfigError, field_value


class MountPoints:
    """Directories and files made on this machine to mount onto, shared by pods."""

    def __init__(self) -> None:
        self._refs: dict[Path, int] = {}
        self._lock = threading.Lock()

    def acquire(self, target: Path, is_file: bool) -> list[Path]:
        with self._lock:
            made: list[Path] = []
            missing = [p for p in [target, *target.parents] if not p.exists() and p not in self._refs]
            for path in reversed(missing):
                if path == target and is_file:
                    path.touch()
                else:
                    path.mkdir()
                made.append(path)
            owned = [p for p in [target, *target.parents] if p in self._refs] + made
            for path in owned:
                self._refs[path] = self._refs.get(path, 0) + 1
            return owned

    def release(self, paths: Iterable[Path]) -> None:
        with self._lock:
            # deepest first, so a directory is empty when its turn comes
            for path in sorted(paths, key=lambda p: len(p.parts), reverse=True):
                count = self._refs.get(path, 0) - 1
                if count > 0:
                    self._refs[path] = count
                    continue
                self._refs.pop(path, None)
                try:
                    path.unlink() if path.is_file() else path.rmdir()
                except OSError:
                    pass


def _write(directory: Path, files: dict[str, bytes], mode: int | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for relative, data in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode if mode is not None else 0o644)


def _select(
    data: dict[str, bytes], items: list[Any] | None, what: str, optional: bool
) -> dict[str, bytes]:
    if not items:
        return dict(data)
    chosen: dict[str, bytes] = {}
    for item in items:
        if item.key not in data:
            if optional:
                continue
            raise ConfigError(f"{what}: no key {item.key!r}")
        chosen[item.path] = data[item.key]
    return chosen


def _host_path(host: Path, kind: str) -> Path:
    if not host.exists() and kind in ("DirectoryOrCreate", ""):
        if kind == "":
            raise ConfigError(f"hostPath {host} does not exist")
        host.mkdir(parents=True, exist_ok=True)
    return host


def read_only_volumes(pod: client.V1Pod) -> frozenset[str]:
    """Volumes every mount of which is read-only: a claim the pod mounts ``readOnly``."""
    return frozenset(
        v.name
        for v in (pod.spec.volumes if pod.spec else None) or []
        if v.persistent_volume_claim is not None and v.persistent_volume_claim.read_only
    )


class VolumeMaker:
    def __init__(self, core: client.CoreV1Api, pod: client.V1Pod, root: Path) -> None:
        self.core = core
        self.pod = pod
        self.root = root
        self.namespace: str = pod.metadata.namespace

    def _configmap(self, name: str, optional: bool) -> dict[str, bytes] | None:
        try:
            cm = self.core.read_namespaced_config_map(name, self.namespace)
        except client.ApiException as exc:
            if exc.status == 404 and optional:
                return None
            raise ConfigError(f'configmap "{name}" not found') from exc
        data = {k: v.encode() for k, v in (cm.data or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (cm.binary_data or {}).items()})
        return data

    def _secret(self, name: str, optional: bool) -> dict[str, bytes] | None:
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except client.ApiException as exc:
            if exc.status == 404 and optional:
                return None
            raise ConfigError(f'secret "{name}" not found') from exc
        return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}

    def _downward(self, items: list[Any]) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for item in items or []:
            if item.field_ref is not None:
                files[item.path] = field_value(self.pod, item.field_ref.field_path).encode()
        return files

    def _token(self, source: client.V1ServiceAccountTokenProjection) -> bytes:
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[source.audience] if source.audience else [],
                expiration_seconds=source.expiration_seconds or 3607,
                bound_object_ref=client.V1BoundObjectReference(
                    kind="Pod", api_version="v1", name=self.pod.metadata.name,
                    uid=self.pod.metadata.uid,
                ),
            )
        )  # fmt: skip
        account = self.pod.spec.service_account_name or "default"
        token = self.core.create_namespaced_service_account_token(account, self.namespace, request)
        return token.status.token.encode()

    def _claimed(self, claim: str) -> Path:
        """The folder of the PersistentVolume bound to ``claim``, as the kubelet checks it."""
        what = f'persistentvolumeclaim "{claim}"'
        try:
            pvc = self.core.read_namespaced_persistent_volume_claim(claim, self.namespace)
        except client.ApiException as exc:
            raise ConfigError(
                f"{what} not found" if exc.status == 404 else f"{what}: {exc.reason}"
            ) from exc
        assert pvc.metadata is not None and pvc.spec is not None  # set on what the API returns
        if pvc.metadata.deletion_timestamp is not None:
            raise ConfigError(f"{what} is being deleted")
        phase = pvc.status.phase if pvc.status else None
        name = pvc.spec.volume_name
        if phase != "Bound" or not name:
            raise ConfigError(
                f"{what} is not bound (phase {phase or 'Pending'}): no PersistentVolume "
                "serves it yet (kubectl describe pvc says why)"
            )
        try:
            pv = self.core.read_persistent_volume(name)
        except client.ApiException as exc:
            raise ConfigError(f'{what}: persistentvolume "{name}": {exc.reason}') from exc
        spec = pv.spec
        assert spec is not None
        if spec.claim_ref is None or spec.claim_ref.uid != pvc.metadata.uid:
            raise ConfigError(f'{what}: persistentvolume "{name}" is bound to another claim')
        if spec.host_path is not None:
            return _host_path(Path(spec.host_path.path), spec.host_path.type or "")
        if spec.local is not None:
            return _host_path(Path(spec.local.path), "")
        raise ConfigError(
            f'{what}: persistentvolume "{name}" is neither hostPath nor local, '
            "the only kinds this node can mount"
        )

    def make(self, volume: client.V1Volume) -> Path:
        """Materialise one volume; returns the directory (or file) to bind."""
        path = self.root / volume.name
        if volume.empty_dir is not None:
            path.mkdir(parents=True, exist_ok=True)
        elif volume.host_path is not None:
            return _host_path(Path(volume.host_path.path), volume.host_path.type or "")
        elif volume.persistent_volume_claim is not None:
            return self._claimed(volume.persistent_volume_claim.claim_name)
        elif volume.config_map is not None:
            src = volume.config_map
            data = self._configmap(src.name, bool(src.optional)) or {}
            what = f"configmap {src.name}"
            _write(path, _select(data, src.items, what, bool(src.optional)), src.default_mode)
        elif volume.secret is not None:
            src = volume.secret
            data = self._secret(src.secret_name, bool(src.optional)) or {}
            what = f"secret {src.secret_name}"
            _write(path, _select(data, src.items, what, bool(src.optional)), src.default_mode)
        elif volume.downward_api is not None:
            _write(path, self._downward(volume.downward_api.items), volume.downward_api.default_mode)
        elif volume.projected is not None:
            files: dict[str, bytes] = {}
            for source in volume.projected.sources or []:
                if source.service_account_token is not None:
                    files[source.service_account_token.path] = self._token(
                        source.service_account_token
                    )
                elif source.config_map is not None:
                    cm = source.config_map
                    data = self._configmap(cm.name, bool(cm.optional)) or {}
                    files.update(_select(data, cm.items, f"configmap {cm.name}", bool(cm.optional)))
                elif source.secret is not None:
                    sec = source.secret
                    data = self._secret(sec.name, bool(sec.optional)) or {}
                    files.update(_select(data, sec.items, f"secret {sec.name}", bool(sec.optional)))
                elif source.downward_api is not None:
                    files.update(self._downward(source.downward_api.items))
            _write(path, files, volume.projected.default_mode)
        else:
            raise ConfigError(f"volume {volume.name!r}: this kind of volume is not supported")
        return path


def mounts(
    container: client.V1Container, sources: Mapping[str, Path], read_only: Collection[str]
) -> list[tuple[Path, str, bool]]:
    """The container's volume mounts as (source on this machine, target, read-only);
    mounts of the volumes named in ``read_only`` are read-only whatever they say."""
    found: list[tuple[Path, str, bool]] = []
    for mount in container.volume_mounts or []:
        if mount.name not in sources:
            raise ConfigError(f"volume mount {mount.name!r} names no volume of the pod")
        source = sources[mount.name]
        if mount.sub_path:
            source = source / mount.sub_path
            if not source.exists():
                source.mkdir(parents=True)
                if source.parent.stat().st_mode & 0o2000:
                    # in a volume fsGroup owns (setgid: the group is inherited), the new
                    # folder is the group's to write, as the volume is
                    source.chmod(0o2775)
        found.append((source, mount.mount_path, bool(mount.read_only) or mount.name in read_only))
    return found


def mount_script(
    container: client.V1Container,
    sources: dict[str, Path],
    points: MountPoints,
    read_only: Collection[str] = frozenset(),
) -> tuple[list[str], list[Path]]:
    """Shell lines binding the container's volume mounts, and the mount points it took;
    mounts of the volumes named in ``read_only`` are read-only whatever they say."""
    lines: list[str] = []
    taken: list[Path] = []
    resolved = mounts(container, sources, read_only)
    for source, mount_path, ro in sorted(resolved, key=lambda m: len(Path(m[1]).parts)):
        target = Path(mount_path)
        taken += points.acquire(target, source.is_file())
        quoted_src, quoted_dst = shlex.quote(str(source)), shlex.quote(str(target))
        make = "touch" if source.is_file() else "mkdir -p"
        lines.append(f"[ -e {quoted_dst} ] || {make} {quoted_dst}")
        lines.append(f"mount --bind {quoted_src} {quoted_dst}")
        if ro:
            lines.append(f"mount -o remount,bind,ro {quoted_dst}")
    return lines, taken
