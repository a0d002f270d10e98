"""A supervisor's writes when its state folder refuses them (full, or read-only).

A refused write must not take down what is serving: the supervisor keeps its services and
stops only the run whose event could not be recorded (the engine's ``cancel``). What it
could not write - that run's last events, a deployment's status - is held here in memory,
oldest first, and written as soon as the folder takes writes again (tried every
``RETRY_SECONDS``; a supervisor that leaves still tries for ``LEAVE_WITHIN_SECONDS``). The
stopped run's last event then says that it failed because its state folder could not be
written: without it the run would later be shown as lost. A heartbeat that cannot be
written is skipped: the next one says the same.

The supervisor's log is in the state folder too: its lines are written with ``say``,
which holds what a full folder refused and writes it with the next line that fits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bodywork_jupyter.engine.engine import Engine
from bodywork_jupyter.engine.store import Run, RunStore
from bodywork_jupyter.errors import StateFolderError

RETRY_SECONDS = 1.0
LEAVE_WITHIN_SECONDS = 30.0
#: Events held at most (a stopped run records few more); beyond, only a run's end is held.
MAX_HELD = 1000
#: A run's events after which nothing of it is driven any more.
RUN_FINAL = frozenset({"run.succeeded", "run.deployed", "run.failed", "run.cancelled"})
#: What a stopped run still records as its end; its last word is then ``run.failed``.
_STOPPED_ENDS = frozenset({"run.failed", "run.cancelled"})
_HELD_LOG_LINES = 200


@dataclass(frozen=True)
class HeldWrite:
    what: str  # for the log: "run 2026...: stage.succeeded", "deployment status"
    write: Callable[[], None]


class RecordingStore(RunStore):
    """The run store as a supervisor writes it: a write the state folder refuses is held
    and written later, and never raises.

    ``stop_run(run_id)`` is the supervisor's: it stops that run if it drives it (True) -
    set it once the supervisor exists.
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        super().__init__(state_dir)
        self.held: deque[HeldWrite] = deque()
        self.stop_run: Callable[[str], bool] = lambda run_id: False
        #: runs stopped because an event of theirs could not be written: why
        self.stopped: dict[str, StateFolderError] = {}
        self.dropped = 0  # events not held (beyond MAX_HELD)
        #: why the last write was refused (None: writes go through)
        self.refusal: StateFolderError | None = None

    # -- the writes a supervisor makes -----------------------------------------------------------

    def record(
        self,
        run_id: str,
        type_: str,
        stage: str | None = None,
        attempt: int | None = None,
        **data: Any,
    ) -> None:
        data.setdefault("time", time.time())  # its own time, also when written later
        why = self.stopped.get(run_id)
        if why is not None and type_ in _STOPPED_ENDS:  # the engine's end of a run we stopped
            type_, stage, attempt = "run.failed", None, None
            data = {"time": data["time"], "reason": "state_folder", "message": stopped_message(why)}
        if self.flush():  # earlier writes first: the order is kept
            try:
                super().record(run_id, type_, stage, attempt, **data)
                self._taken()
                return
            except StateFolderError as exc:
                self._refused(exc)
        self._hold_event(run_id, type_, stage, attempt, data)

    def set_deployment_status(
        self, deployment: str, status: str, unless: tuple[str, ...] = ()
    ) -> None:
        self._write(
            f"deployment {deployment}: status {status}",
            lambda: RunStore.set_deployment_status(self, deployment, status, unless),
        )

    def set_supervisor(self, deployment: str, pid: int | None, run_id: str | None = None) -> None:
        self._write(
            f"deployment {deployment}: supervisor {pid or 'gone'}",
            lambda: RunStore.set_supervisor(self, deployment, pid, run_id),
        )

    def heartbeat(self, deployment: str) -> None:
        try:
            if self.flush():
                super().heartbeat(deployment)
                self._taken()
        except StateFolderError as exc:
            self._refused(exc)

    def create_scheduled_run(
        self, deployment: str, target: str, fire: float, skipped: int
    ) -> Run | None:
        """None while the folder refuses it: the fire is acted on once it can be recorded."""
        try:
            if self.flush():
                run = super().create_scheduled_run(deployment, target, fire, skipped)
                self._taken()
                return run
        except StateFolderError as exc:
            self._refused(exc)
        return None

    # -- holding and writing later ---------------------------------------------------------------

    def flush(self) -> bool:
        """Write what is held, oldest first; True once nothing is held."""
        while self.held:
            held = self.held[0]
            try:
                held.write()
            except StateFolderError as exc:
                self._refused(exc)
                return False
            except Exception as exc:  # one write that can never land: the rest still can
                say(f"could not record {held.what} ({exc!r}): left out")
            else:
                self._taken()
            self.held.popleft()
        return True

    def _write(self, what: str, write: Callable[[], None]) -> None:
        if self.flush():
            try:
                write()
                self._taken()
                return
            except StateFolderError as exc:
                self._refused(exc)
        self._hold(HeldWrite(what, write))

    def _hold_event(
        self,
        run_id: str,
        type_: str,
        stage: str | None,
        attempt: int | None,
        data: dict[str, Any],
    ) -> None:
        error = self.refusal
        assert error is not None  # it is held because a write was refused
        if run_id not in self.stopped and type_ not in RUN_FINAL and self.stop_run(run_id):
            self.stopped[run_id] = error
            say(
                f"run {run_id} stopped: its {type_} event could not be recorded - {error}. "
                "Services of earlier runs keep serving; the run's last events are kept here "
                "and recorded once the folder takes writes again"
            )
        if len(self.held) >= MAX_HELD and type_ not in RUN_FINAL:
            self.dropped += 1
            return
        self._hold(
            HeldWrite(
                f"run {run_id}: {type_}",
                lambda: RunStore.record(self, run_id, type_, stage, attempt, **data),
            )
        )

    def _hold(self, write: HeldWrite) -> None:
        self.held.append(write)

    def _taken(self) -> None:
        if self.refusal is not None:
            self.refusal = None
            say(f"the state folder {self.state_dir} takes writes again")

    def _refused(self, exc: StateFolderError) -> None:
        """Say a refusal in the log once (again only if the reason changes)."""
        if self.refusal is None or str(self.refusal) != str(exc):
            say(f"could not write: {exc}")
        self.refusal = exc


def stopped_message(why: StateFolderError) -> str:
    """The last word of a run stopped because its state folder could not be written."""
    return (
        f"stopped: the state folder {why.folder} could not be written ({why.reason}) - "
        f"{why.advice}, then deploy again"
    )


async def keep_writing(store: RunStore) -> None:
    """Every ``RETRY_SECONDS``, write what a supervisor's store holds."""
    while True:
        await asyncio.sleep(RETRY_SECONDS)
        if isinstance(store, RecordingStore) and store.held:
            store.flush()
        say_held()


async def settle(store: RunStore, within: float = LEAVE_WITHIN_SECONDS) -> None:
    """Before a supervisor leaves: what its store holds is written if the folder takes it
    ``within`` seconds; else the log says what is lost."""
    if not isinstance(store, RecordingStore):
        return
    deadline = time.monotonic() + within
    while not store.flush() and time.monotonic() < deadline:
        await asyncio.sleep(RETRY_SECONDS)
    if store.held:
        say(
            f"leaving with {len(store.held)} writes the state folder {store.state_dir} did not "
            f"take within {within:g}s (first: {store.held[0].what}); its runs will show as lost"
        )


# -- the supervisor's log --------------------------------------------------------------------------

_log_held: deque[bytes] = deque(maxlen=_HELD_LOG_LINES)


def say(message: str) -> None:
    """A line in the supervisor's log (its stdout); held while the folder is full."""
    _log_held.append(f"[{time.strftime('%H:%M:%S')}] {message}\n".encode())
    say_held()


def say_held() -> None:
    """Write the log lines held so far, oldest first, as far as the folder takes them."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()  # what print() buffered goes first
    while _log_held:
        line = _log_held[0]
        try:
            written = os.write(sys.stdout.fileno(), line)
        except (OSError, ValueError):
            return
        if written < len(line):
            _log_held[0] = line[written:]
            return
        _log_held.popleft()


def engine_stopper(current: Callable[[], Engine[Any] | None]) -> Callable[[str], bool]:
    """``RecordingStore.stop_run`` for a supervisor: cancel the engine ``current()`` gives,
    if it drives that run (its stages stop; services of earlier runs are not its)."""

    def stop(run_id: str) -> bool:
        engine = current()
        if engine is None or engine.run_id != run_id:
            return False
        engine.cancel()
        return True

    return stop
