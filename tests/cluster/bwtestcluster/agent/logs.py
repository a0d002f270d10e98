"""Container logs: written with a timestamp per line, served on the kubelet's endpoint.

The apiserver answers ``GET .../pods/NAME/log`` by proxying to the node's kubelet port
(HTTPS, ``/containerLogs/{namespace}/{pod}/{container}``), which passes it on to this
server; it also answers ``/podinfo/{namespace}/{pod}/{container}`` for exec and
port-forward.
On disk a line is ``<RFC3339Nano time> <F|P> <text>`` (F: the line ended, P: partial).
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, unquote, urlsplit


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pump(stream: IO[bytes], path: Path) -> threading.Thread:
    """Copy a process's output into its log file, stamping each line."""

    def run() -> None:
        with open(path, "ab", buffering=0) as out:
            for raw in iter(stream.readline, b""):
                full = raw.endswith(b"\n")
                text = raw[:-1] if full else raw
                out.write(f"{now_rfc3339()} {'F' if full else 'P'} ".encode() + text + b"\n")
        stream.close()

    thread = threading.Thread(target=run, name=f"log:{path.name}", daemon=True)
    thread.start()
    return thread


@dataclass
class LogSource:
    path: Path
    active: Callable[[], bool]  # True while the container may still write to ``path``


Locator = Callable[[str, str, str, bool], "LogSource | str"]  # a source, or an error
Describer = Callable[[str, str, str], "dict[str, object] | str"]  # pod info, or an error


def _parse_time(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _render(line: bytes, timestamps: bool) -> bytes:
    stamp, _, rest = line.rstrip(b"\n").partition(b" ")
    flag, _, text = rest.partition(b" ")
    end = b"\n" if flag == b"F" else b""
    return (stamp + b" " if timestamps else b"") + text + end


class _Handler(BaseHTTPRequestHandler):
    server: LogServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _error(self, code: int, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if parts in (["healthz"], ["readyz"], ["livez"]):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        if len(parts) in (3, 4) and parts[0] == "podinfo":
            info = self.server.describe(parts[1], parts[2], parts[3] if len(parts) == 4 else "")
            if isinstance(info, str):
                self._error(404 if "not found" in info else 400, info)
                return
            body = json.dumps(info).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._error(404, f"not found: {url.path}")
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        flag = lambda name: query.get(name, "").lower() in ("1", "true")  # noqa: E731
        found = self.server.locate(parts[1], parts[2], parts[3], flag("previous"))
        if isinstance(found, str):
            self._error(404 if "not found" in found else 400, found)
            return
        try:
            self._stream(found, query, flag("follow"), flag("timestamps"))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def _stream(
        self, source: LogSource, query: dict[str, str], follow: bool, timestamps: bool
    ) -> None:
        since: float | None = None
        if "sinceSeconds" in query:
            since = time.time() - int(query["sinceSeconds"])
        elif "sinceTime" in query:
            since = _parse_time(query["sinceTime"])
        tail = int(query["tailLines"]) if "tailLines" in query else None
        limit = int(query["limitBytes"]) if "limitBytes" in query else None
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        sent = 0
        handle = open(source.path, "rb") if source.path.exists() else None

        def emit(line: bytes) -> bool:
            nonlocal sent
            if since is not None:
                stamp = line.split(b" ", 1)[0].decode()
                if _parse_time(stamp) < since:
                    return True
            data = _render(line, timestamps)
            if limit is not None:
                data = data[: max(0, limit - sent)]
            self.wfile.write(data)
            sent += len(data)
            return limit is None or sent < limit

        if handle is not None:
            lines: list[bytes] | deque[bytes] = (
                deque(handle.readlines(), maxlen=tail) if tail is not None else handle.readlines()
            )
            if tail == 0:
                lines = []
            for line in lines:
                if not emit(line):
                    return
            self.wfile.flush()
        if not follow:
            return
        pending = b""
        while True:
            if handle is None and source.path.exists():
                handle = open(source.path, "rb")
            chunk = handle.readline() if handle is not None else b""
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    if not emit(pending):
                        return
                    pending = b""
                    self.wfile.flush()
                continue
            if not source.active():
                rest = handle.read() if handle is not None else b""
                for line in (pending + rest).splitlines(keepends=True):
                    if not emit(line):
                        return
                self.wfile.flush()
                return
            time.sleep(0.1)


class LogServer(ThreadingHTTPServer):
    """The agent's HTTP side: logs, health and pod info, on loopback. The kubelet port
    itself (HTTPS, with exec and port-forward) is ``k8s-testcluster kubelet-server``,
    which proxies here; given a certificate this serves HTTPS directly instead."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        locate: Locator,
        describe: Describer,
        cert: Path | None = None,
        key: Path | None = None,
    ):
        super().__init__(address, _Handler)
        self.locate = locate
        self.describe = describe
        if cert is not None and key is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert), str(key))
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="kubelet-server", daemon=True)
        thread.start()
        return thread
