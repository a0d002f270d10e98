"""Batch notebook stages: papermill runs the notebook on a kernel of the stage's interpreter.

The kernel is always this process's interpreter (a kernelspec written for the run comes
first on ``JUPYTER_PATH``), so a ``python3`` kernelspec that a user installed elsewhere
cannot send the notebook to another Python. A stop (SIGTERM, the timeout) interrupts the
running cell, stops the kernel cleanly, and kills it only if it does not stop in time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bodywork_runner.errors import Reason, StageFailed
from bodywork_runner.events import Emitter, LogWriter, strip_ansi
from bodywork_runner.notebook_events import emit_notebook
from bodywork_runner.spec import StageSpec
from bodywork_runner.stopping import Stopper

log = logging.getLogger(__name__)

#: seconds between interrupting the kernel and killing it, and between killing it and giving up
GRACE_SECONDS = 5.0
#: how often a kernel told to shut down is checked for its exit
SHUTDOWN_POLL_SECONDS = 0.01


class _StopBeforeCell(Exception):
    """Raised from the cell-start hook: the stage was stopped between two cells."""


class _Run:
    """One notebook execution: its hooks for nbclient, and the watchdog that stops it."""

    def __init__(self, emitter: Emitter, stopper: Stopper) -> None:
        self.emitter = emitter
        self.stopper = stopper
        self.client: Any = None
        self.numbers: dict[int, int] = {}  # cell index -> 1-based code cell number
        self.done = threading.Event()
        self.kernel_log: Path | None = None  # where the kernel's own stderr goes

    # nbclient hooks ----------------------------------------------------------------------
    def on_notebook_start(self, notebook: Any, **_: Any) -> None:
        code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        self.numbers = {index: n for n, index in enumerate(code, start=1)}

    def on_cell_start(self, cell: Any, cell_index: int, **_: Any) -> None:
        if self.stopper.event.is_set():
            raise _StopBeforeCell

    def on_cell_executed(self, cell: Any, cell_index: int, execute_reply: Any, **_: Any) -> None:
        content = (execute_reply or {}).get("content", {})
        status = content.get("status", "ok")
        if status == "error":
            sys.stderr.write(strip_ansi("\n".join(content.get("traceback", []))) + "\n")
            sys.stderr.flush()
        self.emitter.emit(
            "cell.finished",
            index=self.numbers.get(cell_index, cell_index + 1),
            total=len(self.numbers),
            status=status,
        )

    # the watchdog ------------------------------------------------------------------------
    def watch(self, timeout: float | None) -> None:
        if not self.stopper.event.wait(timeout):
            self.stopper.request("timeout", f"the stage ran longer than {timeout:g} s")
        started = time.monotonic()
        killed = False
        wait = 0.0
        while not self.done.wait(wait):
            wait = 1.0
            elapsed = time.monotonic() - started
            if elapsed < GRACE_SECONDS:
                self._signal_kernel(signal.SIGINT, group=False)
            elif not killed:
                log.warning("the kernel did not stop within %g s: killing it", GRACE_SECONDS)
                self._signal_kernel(signal.SIGKILL, group=True)
                killed = True
            elif elapsed > 3 * GRACE_SECONDS:
                failure = self.stopper.failure()
                self.emitter.emit("stage.failed", **failure.event_fields())
                os._exit(failure.exit_code)

    def _signal_kernel(self, signum: int, *, group: bool) -> None:
        km = getattr(self.client, "km", None)
        provisioner = getattr(km, "provisioner", None)
        pid, pgid = getattr(provisioner, "pid", None), getattr(provisioner, "pgid", None)
        try:
            if group and pgid:
                os.killpg(pgid, signum)
            elif pid:
                os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _engine(run: _Run) -> type:
    """A papermill engine that runs nbclient with the hooks of ``run``."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine

    class BodyworkEngine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            client = PapermillNotebookClient(
                nb_man,
                kernel_name=kernel_name,
                kernel_manager_class=_ipc_kernel_manager(run.kernel_log),
                startup_timeout=kwargs.get("start_timeout", 60),
                timeout=None,
                log=logging.getLogger("papermill"),
                stdout_file=kwargs.get("stdout_file"),
                stderr_file=kwargs.get("stderr_file"),
                on_notebook_start=run.on_notebook_start,
                on_cell_start=run.on_cell_start,
                on_cell_executed=run.on_cell_executed,
            )
            run.client = client
            return client.execute()

    return BodyworkEngine


def _ipc_kernel_manager(kernel_log: Path | None) -> type:
    """A kernel manager talking to its kernel over Unix sockets in a private folder.

    TCP kernels pick their ports by binding and releasing them: several kernels started
    at the same moment can collide and never answer. Sockets in a folder of our own
    cannot, and nothing listens on the network.

    The kernel's own stderr (its internal logging, e.g. a noisy shutdown) goes to
    ``kernel_log`` rather than the stage log: what the notebook prints reaches the stage
    log through the kernel's output messages anyway.
    """
    import atexit

    from jupyter_client.manager import AsyncKernelManager

    folder = tempfile.mkdtemp(prefix="bodywork-kernel-")
    atexit.register(shutil.rmtree, folder, True)

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", str(Path(folder) / "kernel"))
            kwargs.setdefault("client_class", "bodywork_runner.kernel_client.ReadyKernelClient")
            super().__init__(**kwargs)

        async def _async_finish_shutdown(
            self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
        ) -> None:
            # jupyter_client looks every 0.1 s whether the kernel has exited: the stage
            # ends up to that much later than its kernel did
            await super()._async_finish_shutdown(waittime, SHUTDOWN_POLL_SECONDS, restart)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            target = kernel_log if kernel_log is not None else Path(os.devnull)
            with target.open("ab") as stderr:
                kw.setdefault("stderr", stderr)
                if not _launch_forked(self, kernel_cmd, kw):
                    await super()._async_launch_kernel(_cold_command(kernel_cmd), **kw)

    return IPCKernelManager


def _cold_command(kernel_cmd: list[str]) -> list[str]:
    """A cold kernel of this interpreter starts with our launcher, which ends it as a
    forked kernel ends (``bodywork_runner.kernel_launcher``: no 3 s wait at its exit)."""
    if kernel_cmd[:3] == [sys.executable, "-m", "ipykernel_launcher"]:
        return [sys.executable, "-m", "bodywork_runner.kernel_launcher", *kernel_cmd[3:]]
    return kernel_cmd


def _launch_forked(km: Any, kernel_cmd: list[str], kw: dict[str, Any]) -> bool:
    """Start the kernel forked from the kernel server of this interpreter, if there is one
    (``bodywork_runner.kernelserver``); False: start it cold.

    Only our own ``python3`` kernel on this interpreter qualifies: the server has imported
    that kernel's packages. The kernel gets what a cold one would: the same environment
    (with ``JPY_PARENT_PID``), working folder, stdout and stderr.
    """
    from bodywork_runner.kernelserver import SERVER_ENV, SWITCH_ENV, ForkedKernel

    server = os.environ.get(SERVER_ENV)
    if not server or os.environ.get(SWITCH_ENV) == "0":
        return False
    if kernel_cmd[:3] != [sys.executable, "-m", "ipykernel_launcher"]:
        return False
    env = {**(kw.get("env") or os.environ), "JPY_PARENT_PID": str(os.getpid())}
    env.pop(SERVER_ENV, None)
    cwd = str(kw.get("cwd") or Path.cwd())
    try:
        process = ForkedKernel.start(server, kernel_cmd[3:], env, cwd, [1, kw["stderr"].fileno()])
    except (OSError, ValueError) as exc:
        log.debug("the kernel starts cold: %s", exc)
        return False
    provisioner = km.provisioner
    provisioner.process = process
    provisioner.pid = provisioner.pgid = process.pid  # its own session, as a cold kernel's
    provisioner.cwd = cwd
    km._reconcile_connection_info(provisioner.connection_info)
    return True


def _import_papermill_quickly() -> None:
    """Import papermill without jsonschema's optional rfc3987-syntax checker.

    jsonschema imports it when present (Jupyter installs it) and it builds a grammar on
    import: about a second per stage, for format checks papermill never makes.
    """
    blocked = "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import papermill  # noqa: F401
    finally:
        if blocked and sys.modules.get("rfc3987_syntax") is None:
            del sys.modules["rfc3987_syntax"]  # user code may still import it


def run_notebook(
    spec: StageSpec,
    project_dir: Path,
    emitter: Emitter,
    stopper: Stopper,
    kernel_python: str | None = None,
) -> Path | None:
    """Executes the notebook; the executed notebook's path (None when not written).

    The kernel runs on ``kernel_python`` (default: this interpreter), e.g. a stage
    environment of another Python version, which has ipykernel installed.

    Raises StageFailed for a failing cell, a kernel death, the timeout or a stop.
    """
    _import_papermill_quickly()
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError

    output = None
    if spec.artifacts_dir:
        output = Path(spec.artifacts_dir) / f"{spec.stage}.ipynb"
        output.parent.mkdir(parents=True, exist_ok=True)
    run = _Run(emitter, stopper)
    run.kernel_log = output.parent / "kernel.log" if output is not None else None
    papermill_engines.register("bodywork", _engine(run))
    watchdog = threading.Thread(target=run.watch, args=(spec.timeout_seconds,), daemon=True)
    watchdog.start()
    try:
        with _own_kernelspec(kernel_python or sys.executable):
            papermill.execute_notebook(
                str(project_dir / spec.file),
                str(output) if output else None,
                parameters=spec.parameters or None,
                engine_name="bodywork",
                kernel_name=_kernel_name(project_dir / spec.file),
                cwd=str((project_dir / spec.file).parent),  # as in Jupyter: its folder
                progress_bar=False,
                stdout_file=LogWriter(sys.stdout),
                stderr_file=LogWriter(sys.stderr),
            )
    except PapermillExecutionError as exc:
        _fail_if_stopped(stopper, output)
        raise _cell_failure(run, exc, output) from None
    except DeadKernelError:
        _fail_if_stopped(stopper, output)
        raise StageFailed(
            "kernel_died",
            "the kernel died while running the notebook (os._exit, a crash, or out of memory?)",
            **_artifact(output),
        ) from None
    except _StopBeforeCell:
        _fail_if_stopped(stopper, output)
        raise
    except RuntimeError as exc:
        _fail_if_stopped(stopper, output)
        if "didn't respond" not in str(exc):
            raise
        raise StageFailed(
            "kernel_died",
            f"the kernel did not start ({exc}) - is the machine overloaded? "
            "retries (stage 'retries') start it again",
            **_artifact(output),
        ) from None
    finally:
        run.done.set()
        if spec.emit_notebook:  # its folder may go with the stage (a pod's emptyDir)
            emit_notebook(emitter, output)
    _fail_if_stopped(stopper, output)
    return output


def _fail_if_stopped(stopper: Stopper, output: Path | None) -> None:
    if stopper.reason is not None:
        failure = stopper.failure()
        failure.fields.update(_artifact(output))
        raise failure


def _artifact(output: Path | None) -> dict[str, str]:
    return {"notebook": str(output)} if output and output.is_file() else {}


def _cell_failure(run: _Run, exc: Any, output: Path | None) -> StageFailed:
    number = run.numbers.get(exc.cell_index, exc.exec_count)
    ename, evalue = str(exc.ename), str(exc.evalue)
    traceback = strip_ansi("\n".join(exc.traceback or []))
    fields: dict[str, Any] = {"cell": number, "ename": ename, "evalue": evalue}
    fields.update(traceback=traceback, **_artifact(output))
    reason: Reason = "error"
    if ename == "SystemExit":
        reason = "exit"
        message = f"cell {number} called sys.exit({evalue}): the notebook exited with code {evalue}"
    else:
        message = f"cell {number} raised {ename}: {evalue}"
    return StageFailed(reason, message, **fields)


def _kernel_name(path: Path) -> str | None:
    """``python3`` (our kernel) for Python notebooks; the notebook's own kernel otherwise."""
    try:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return None
    language = (metadata.get("kernelspec") or {}).get("language") or (
        metadata.get("language_info") or {}
    ).get("name", "python")
    if str(language).lower() == "python":
        return "python3"
    name = (metadata.get("kernelspec") or {}).get("name")
    return str(name) if name else None


@contextmanager
def _own_kernelspec(python: str) -> Iterator[None]:
    """``python3`` means ``python`` (the stage's interpreter) for the duration of the run."""
    folder = Path(tempfile.mkdtemp(prefix="bodywork-kernels-"))
    spec_dir = folder / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    kernel = {
        # no IPython history: nobody reads a stage kernel's, and parallel stages would
        # all lock the one SQLite file under ~/.ipython as they start and end
        "argv": [
            python,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--HistoryManager.enabled=False",
        ],
        "display_name": "Python 3 (bodywork stage)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(kernel))
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), previous]))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = previous
        shutil.rmtree(folder, ignore_errors=True)
