"""A private git server for tests: ``git http-backend`` behind HTTP authentication.

Real git on both ends, as a hosted repository is fetched: git asks without credentials,
gets ``401`` with a ``Basic`` challenge, asks its ``GIT_ASKPASS`` (the runner's, see
bodywork_runner.source) and sends ``user:token``. Any user name is let in with the right
token as the password; ``Authorization: Bearer TOKEN`` is let in too. Each bare repository
lets a client fetch a commit by its SHA when a branch reaches it, as GitHub does.

Every request is remembered (``requests``: who asked, for what, let in or not) so that a
test can tell the credentials were asked for and used; the password is never kept.

    with GitServer(tmp_path / "repos", token) as server:
        url = server.publish(worktree, "private")  # http://127.0.0.1:PORT/private.git
"""

from __future__ import annotations

import base64
import hmac
import http.server
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

_EXEC_PATH = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True)
BACKEND = Path(_EXEC_PATH.stdout.strip()) / "git-http-backend"
REALM = "bodywork-test-git"


@dataclass(frozen=True)
class Request:
    """One request the server answered."""

    method: str
    path: str  # without the query
    client: str  # the address it came from
    user: str | None  # the user name of a request let in; None: refused with 401
    status: int


class GitServer:
    """Serves the bare repositories in ``root`` at ``http://HOST:PORT/NAME.git``.

    ``host`` is the address to listen on, and the one in the URLs: ``127.0.0.1`` for this
    machine only; the test cluster's bridge address for its pods too. ``port`` 0 picks a
    free one.
    """

    def __init__(self, root: Path, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if not BACKEND.is_file():
            raise RuntimeError(f"{BACKEND} is missing: git's http-backend is not installed")
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = http.server.ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="git-server", daemon=True
        )
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.port}/{name}.git"

    def publish(self, worktree: Path, name: str, branch: str = "main") -> str:
        """A bare repository ``NAME.git`` holding ``worktree``'s HEAD as ``branch`` (its
        default branch): its URL. Pushed through the file system, not through the server."""
        bare = self.root / f"{name}.git"
        _git(self.root, "init", "--quiet", "--bare", str(bare))
        _git(bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
        _git(bare, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
        _git(worktree, "push", "--quiet", "--force", str(bare), f"HEAD:refs/heads/{branch}")
        return self.url(name)

    def let_in(self) -> list[Request]:
        """The requests that came with the right credentials."""
        with self._lock:
            return [r for r in self.requests if r.user is not None]

    def refused(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.user is None]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- for the handler --------------------------------------------------------------------

    def _user(self, authorization: str) -> str | None:
        """The user name if ``authorization`` holds the token, else None."""
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return "bearer" if _same(credentials.strip(), self.token) else None
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(credentials.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if _same(password, self.token) else None

    def _remember(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def _handler(server: GitServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: tests read ``server.requests``

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            self._status = 0
            parts = urlsplit(self.path)
            body = self._body()
            user = server._user(self.headers.get("Authorization", ""))
            if user is None:
                self._answer(401, {"WWW-Authenticate": f'Basic realm="{REALM}"'}, b"who are you?\n")
            else:
                status, headers, payload = self._backend(parts.path, parts.query, user, body)
                self._answer(status, headers, payload)
            server._remember(
                Request(self.command, parts.path, self.client_address[0], user, self._status)
            )

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    chunk = self.rfile.read(size)
                    self.rfile.readline()  # the CRLF after each chunk
                    if size == 0:
                        return b"".join(chunks)
                    chunks.append(chunk)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _backend(
            self, path: str, query: str, user: str, body: bytes
        ) -> tuple[int, dict[str, str], bytes]:
            """``git http-backend`` as a CGI script: its status, headers and body."""
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(server.root),  # no user's git config
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_PROJECT_ROOT": str(server.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": unquote(path),
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "REMOTE_USER": user,
                "REMOTE_ADDR": self.client_address[0],
            }
            done = subprocess.run(
                [str(BACKEND)], input=body, env=env, capture_output=True, timeout=60, check=False
            )
            # a CGI answer: header lines, an empty line, the body
            split = b"\r\n\r\n" if b"\r\n\r\n" in done.stdout else b"\n\n"
            head, _, payload = done.stdout.partition(split)
            status, headers = 200, {}
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    headers[name] = value.strip()
            if not done.stdout:
                status, payload = 500, done.stderr
            return status, headers, payload

        def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            self._status = status
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
