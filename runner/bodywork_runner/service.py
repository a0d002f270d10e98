"""Notebook services: the notebook runs in this process, then uvicorn serves what it defined.

The cells run in an IPython ``InteractiveShell`` (so magics work), with the parameters
injected where papermill injects them for batch notebooks (``code_cells``). The served
app comes from the notebook's namespace (see :mod:`bodywork_runner.serving`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
import traceback
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from bodywork_runner.errors import BadInput, StageFailed
from bodywork_runner.events import Emitter, strip_ansi
from bodywork_runner.limits import server_options
from bodywork_runner.module import service_url
from bodywork_runner.serving import build_app
from bodywork_runner.shared_port import SharedPort
from bodywork_runner.spec import ServiceSettings, StageSpec
from bodywork_runner.stopping import Stopper

log = logging.getLogger(__name__)


def run_notebook_service(
    spec: StageSpec, project_dir: Path, emitter: Emitter, stopper: Stopper
) -> None:
    """Runs the notebook's cells, then serves until stopped (returns) or failing (raises)."""
    settings = spec.service or ServiceSettings(port=5000)
    path = project_dir / spec.file
    shared = SharedPort.inherited()  # before the cells: their subprocesses must not hold it
    namespace = execute_cells(path, spec.parameters, project_dir, emitter, stopper)
    app, interface = build_app(namespace, settings)
    with stopper.deferred():
        serve(app, interface, settings, emitter, stopper, shared)


def execute_cells(
    path: Path,
    parameters: dict[str, Any],
    project_dir: Path,
    emitter: Emitter,
    stopper: Stopper,
) -> dict[str, Any]:
    """Runs every code cell of the notebook in an InteractiveShell; the user namespace."""
    from IPython.core.interactiveshell import InteractiveShell

    sources = code_cells(path, parameters)
    for folder in (project_dir, path.parent):  # the notebook's folder first, as a kernel has it
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    shell = InteractiveShell.instance(colors="nocolor")
    for number, source in enumerate(sources, start=1):
        result = shell.run_cell(source, store_history=True)  # type: ignore[no-untyped-call]
        if stopper.reason is not None:
            raise stopper.failure()
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            raise _cell_failure(number, error)
        emitter.emit("cell.finished", index=number, total=len(sources), status="ok")
    return dict(shell.user_ns)


def code_cells(path: Path, parameters: dict[str, Any]) -> list[str]:
    """The notebook's code cells, with ``parameters`` in a cell of their own where papermill
    puts it: in place of a cell tagged ``injected-parameters``, else after the one tagged
    ``parameters``, else first.

    Read as JSON, not with papermill or nbformat: their imports would stay in the serving
    process, about 40 MB of every replica, for a job this small. The parameters are JSON
    values, so ``repr`` writes each as a Python literal.
    """
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [
            (_source(cell["source"]), cell.get("metadata", {}).get("tags", []))
            for cell in cells
            if cell["cell_type"] == "code"
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInput(f"{path.name} is not a readable notebook: {exc!r}") from None
    sources = [source for source, _ in code]
    if not parameters:
        return sources
    injected = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())
    tagged = [tags for _, tags in code]
    if any("injected-parameters" in tags for tags in tagged):
        at = next(i for i, tags in enumerate(tagged) if "injected-parameters" in tags)
        return [*sources[:at], injected, *sources[at + 1 :]]
    at = next((i + 1 for i, tags in enumerate(tagged) if "parameters" in tags), 0)
    return [*sources[:at], injected, *sources[at:]]


def _source(source: Any) -> str:
    if isinstance(source, list):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise TypeError(f"a cell's source is {type(source).__name__}, not text")


def _cell_failure(number: int, error: BaseException) -> StageFailed:
    ename, evalue = type(error).__name__, str(error)
    frames = traceback.extract_tb(error.__traceback__)
    # drop the frames of IPython itself: the traceback starts in the cell
    frames = traceback.StackSummary.from_list(
        [frame for frame in frames if "/IPython/" not in frame.filename]
    )
    text = "".join(["Traceback (most recent call last):\n", *frames.format()])
    text += "".join(traceback.format_exception_only(type(error), error))
    fields = {"cell": number, "ename": ename, "evalue": evalue, "traceback": strip_ansi(text)}
    if isinstance(error, SystemExit):
        return StageFailed("exit", f"cell {number} called sys.exit({evalue})", **fields)
    return StageFailed("error", f"cell {number} raised {ename}: {evalue}", **fields)


class _Server(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        emitter: Emitter,
        stopper: Stopper,
        url: str,
        stop_delay: float = 0.0,
        shared: SharedPort | None = None,
    ) -> None:
        super().__init__(config)
        self._emitter = emitter
        self._stopper = stopper
        self._url = url
        self._stop_delay = stop_delay
        self._leave_at: float | None = None
        self._shared = shared

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stop_delay > 0 and self._leave_at is None and not self.should_exit:
            # a pod's address leaves its Service's endpoints while the stop comes, and is
            # used a little longer: keep answering, each answer telling its client to close
            self._captured_signals.append(sig)
            self._leave_at = time.monotonic() + self._stop_delay
            self.config.http_protocol_class.closing_all = True  # type: ignore[attr-defined]
            return
        super().handle_exit(sig, frame)  # (a second signal stops it at once)

    async def on_tick(self, counter: int) -> bool:
        if self._leave_at is not None and time.monotonic() >= self._leave_at:
            self.should_exit = True
        return await super().on_tick(counter)

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self._stopper.reason is not None:
            self.should_exit = True  # stopped while the server was starting
        elif self.started:
            if self._shared is not None:
                self._shared.serve(asyncio.get_running_loop(), self._protocol)
            self._emitter.emit("service.ready", url=self._url)

    async def shutdown(self, sockets: Any = None) -> None:
        if self._shared is not None:
            self._shared.close()  # first: what waits in the backlog is for the others
        await super().shutdown(sockets)

    def _protocol(self) -> asyncio.Protocol:
        """A connection accepted from the shared port, served as uvicorn serves its own."""
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        return protocol


def serve(
    app: Any,
    interface: str,
    settings: ServiceSettings,
    emitter: Emitter,
    stopper: Stopper,
    shared: SharedPort | None = None,
) -> None:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        interface=interface,  # type: ignore[arg-type]
        lifespan="off" if interface == "wsgi" else "auto",
        access_log=False,
        # uvicorn trusts X-Forwarded-* from 127.0.0.1 only, and nothing that close forwards
        # to a replica (clients connect to it; a cluster's Service forwards packets): the
        # check would be work on every request for nothing
        proxy_headers=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        **server_options(settings),  # header timeout, connection limit (limits.py)
    )
    server = _Server(
        config, emitter, stopper, service_url(settings), settings.stop_delay_seconds, shared
    )
    with warnings.catch_warnings():
        # uvicorn's own WSGI adapter is deprecated, and still the lightest way to serve Flask
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="uvicorn")
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot listen
            server.run()
    if not server.started:
        raise StageFailed(
            "error",
            f"could not serve on {settings.host}:{settings.port} - is the port in use? "
            "(see the log above)",
        )
    if stopper.reason is None:
        stopper.request("terminated", "the server stopped")
    emitter.emit("service.stopped", message=strip_ansi(stopper.message))
