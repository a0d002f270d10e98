"""``bodywork secret`` on this machine: secrets kept in the state folder for the user only.

A secret NAME of group GROUP is the file ``STATE_DIR/secrets/GROUP-NAME.json`` (``NAME``
without a group: the one naming rule, ``plan.secret_refs.stored_name``, as in a cluster),
holding ``{"name", "group", "data": {KEY: VALUE}}``. The folder is 0700 and every file 0600,
as ``~/.ssh`` keeps its keys: only the user (and root) can read them. A change is written
to a temporary file in the folder and renamed over the old one, under a lock, so a reader
sees the old secret or the new one, never half of one.

Values leave this module only through ``values``, which the local backend calls when a
stage starts, to put them in that stage's environment. Nothing here prints or logs a value,
and no error message holds one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bodywork_jupyter.backends.local import layout
from bodywork_jupyter.engine import state_errors
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.plan.model import PlannedSecret
from bodywork_jupyter.plan.secret_refs import MissingSecret, described, stored_name
from bodywork_jupyter.targets.base import StoredSecret

FOLDER_MODE = 0o700
FILE_MODE = 0o600
WHERE = "on this machine"
_SUFFIX = ".json"
_LOCK = ".lock"


class SecretStore:
    """The secrets of one state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = layout.secrets_dir(state_dir)

    # -- changes ---------------------------------------------------------------------------------

    def create(self, name: str, group: str | None, data: Mapping[str, str]) -> StoredSecret:
        """Keep a new secret; refused if one of that name is here (update or delete it)."""
        group = group or None
        full = stored_name(name, group)
        _some(data)
        with self._locked():
            if self._path(full).exists():
                raise BadInputError(
                    f"{_shown(name, group)} exists already ({WHERE}) - change its keys with "
                    "'bodywork secret update', or delete it first"
                )
            self._write(full, {"name": name, "group": group, "data": dict(data)})
        return StoredSecret(name, group, tuple(sorted(data)), None, full)

    def update(self, name: str, group: str | None, data: Mapping[str, str]) -> StoredSecret:
        """Set ``data``'s keys in the secret; its other keys stay."""
        group = group or None
        full = stored_name(name, group)
        _some(data)
        with self._locked():
            record = self._existing(name, group, full, "create it with 'bodywork secret create'")
            record["data"] = {**record["data"], **data}
            self._write(full, record)
        return _stored(full, record)

    def delete(self, name: str, group: str | None) -> StoredSecret:
        group = group or None
        full = stored_name(name, group)
        with self._locked():
            record = self._existing(name, group, full, "nothing to do")
            self._path(full).unlink()
        return _stored(full, record)

    # -- reads -----------------------------------------------------------------------------------

    def list(self, group: str | None = None) -> list[StoredSecret]:
        """The secrets kept here (of ``group``): names and keys."""
        if group:
            stored_name("x", group)  # the same groups as in a cluster
        found = []
        for path in sorted(self.folder.glob(f"*{_SUFFIX}")):
            record = _read(path)
            if record is not None and (not group or record["group"] == group):
                found.append(_stored(path.name.removesuffix(_SUFFIX), record))
        return sorted(found, key=lambda s: (s.group or "", s.name))

    def keys_of(self, ref: PlannedSecret) -> tuple[str, ...] | None:
        """The keys of the secret a stage's reference names; None when it is not here."""
        record = self._record(ref)
        return None if record is None else tuple(sorted(record["data"]))

    def values(self, stage: str, secrets: Mapping[str, PlannedSecret]) -> dict[str, str]:
        """``stage``'s variables with their values (``secrets``: variable -> reference),
        read now. A secret or key gone since the deploy is refused, as a deploy is."""
        values: dict[str, str] = {}
        missing = []
        for env, ref in sorted(secrets.items()):
            record = self._record(ref)
            if record is None or ref.key not in record["data"]:
                keys = None if record is None else tuple(sorted(record["data"]))
                missing.append(MissingSecret(stage, env, ref, keys))
            else:
                values[env] = record["data"][ref.key]
        if missing:
            lines = ["a secret it reads is gone since the deploy:", *described(missing, WHERE)]
            raise BadInputError("\n".join(lines))
        return values

    # -- files -----------------------------------------------------------------------------------

    def _path(self, full: str) -> Path:
        return self.folder / f"{full}{_SUFFIX}"

    def _record(self, ref: PlannedSecret) -> dict[str, Any] | None:
        try:
            full = stored_name(ref.secret, ref.group)
        except BadInputError:
            return None  # no such name can be kept (and none may reach outside the folder)
        return _read(self._path(full))

    def _existing(self, name: str, group: str | None, full: str, hint: str) -> dict[str, Any]:
        record = _read(self._path(full))
        if record is None:
            known = ", ".join(_label(s) for s in self.list()) or "none"
            raise NotFoundError(
                f"no {_shown(name, group)} {WHERE} (secrets here: {known}) - {hint}"
            )
        return record

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The folder, made private (again), locked against other changes; a full or
        read-only state folder refuses the change as every write to it does."""
        with state_errors.translated(self.folder.parent):
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self.folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
            self.folder.chmod(FOLDER_MODE)  # also one made before, or under another umask
            fd = os.open(self.folder / _LOCK, os.O_RDWR | os.O_CREAT, FILE_MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _write(self, full: str, record: dict[str, Any]) -> None:
        """Replace the secret's file in one step: a temporary file (0600 from the start,
        never readable by others for a moment) renamed over it."""
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{full}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)
                json.dump(record, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self._path(full))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _read(path: Path) -> dict[str, Any] | None:
    """A secret's record; None when there is no such file. A file that is not one of ours
    is refused by its path (its contents are never shown)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise BadInputError(f"cannot read the secret file {path} ({why})") from None
    try:
        record = json.loads(text)
        valid = (
            isinstance(record, dict)
            and isinstance(record.get("name"), str)
            and isinstance(record.get("data"), dict)
            and all(isinstance(v, str) for v in record["data"].values())
        )
    except ValueError:
        valid = False
    if not valid:
        raise BadInputError(
            f"the secret file {path} was not written by 'bodywork secret' - delete it and "
            "create the secret again"
        )
    record.setdefault("group", None)
    return dict(record)


def _stored(full: str, record: Mapping[str, Any]) -> StoredSecret:
    return StoredSecret(
        name=record["name"],
        group=record.get("group") or None,
        keys=tuple(sorted(record["data"])),
        namespace=None,
        stored_as=full,
    )


def _some(data: Mapping[str, str]) -> None:
    if not data:
        raise BadInputError("no keys given - give at least one KEY=VALUE")


def _shown(name: str, group: str | None) -> str:
    return f"secret '{name}'" + (f" of group '{group}'" if group else "")


def _label(secret: StoredSecret) -> str:
    return f"{secret.name} (group {secret.group})" if secret.group else secret.name
