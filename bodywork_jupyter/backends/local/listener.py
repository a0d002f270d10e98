"""The listening socket of a notebook service's declared port, shared with its replicas.

The backend binds the port and keeps the socket for as long as any version of the service
runs; every replica inherits it (``RunnerProcess(shared_fd=...)``) and accepts from it
itself, so a request goes from the client to a replica with no hop in between (as
gunicorn's workers share their arbiter's socket). A replica takes connections only once
told to (``bodywork_runner.spec.TAKE_TRAFFIC``, sent when its version has the port), so a
new version that is starting, or failing, never answers on it; a version that is replaced
stops accepting and drains. Connections that arrive while no replica accepts wait in the
socket's backlog, so a switch between versions loses none.
"""

from __future__ import annotations

import socket

from bodywork_jupyter.errors import BadInputError


class SharedListener:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise BadInputError(
                f"port {port} is already in use ({exc.strerror}) - stop what uses it, or "
                "give the service another port"
            ) from None
        sock.listen(socket.SOMAXCONN)
        self._sock: socket.socket | None = sock

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def fileno(self) -> int:
        assert self._sock is not None, "the listener is closed"
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._sock is None

    def close(self) -> None:
        """The port is free again; connections still waiting in the backlog are refused."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
