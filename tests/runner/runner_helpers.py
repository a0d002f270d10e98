"""Helpers for the runner tier: write stage projects, run the real runner, read its events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from bodywork_runner.events import parse_event


def write_notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    """A Python notebook of code cells; ``parameters`` becomes a cell tagged ``parameters``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def make_spec(project: Path, file: str, tmp: Path, **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "pipeline": "demo",
        "stage": Path(file).stem.replace("_", "-"),
        "kind": "batch",
        "file": file,
        "source": {"local_path": str(project)},
        "run_id": "run-1",
        "attempt": 1,
        "artifacts_dir": str(tmp / "artifacts"),
        "cache_dir": str(tmp / "cache"),
    }
    spec.update(fields)
    return spec


def runner_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BODYWORK_STAGE_SPEC", None)
    env.update(extra)
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of(kind)
        assert len(found) == 1, f"expected one {kind}, got {found}\n{self.stdout}\n{self.stderr}"
        return found[0]

    @property
    def kinds(self) -> list[str]:
        return [event["event"] for event in self.events]


def run_runner(
    spec: dict[str, Any], tmp: Path, *, timeout: float = 90, env: dict[str, str] | None = None
) -> Result:
    """Runs ``python -m bodywork_runner SPEC`` to its end."""
    spec_path = tmp / f"spec-{time.monotonic_ns()}.json"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "bodywork_runner", str(spec_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or runner_env(),
        check=False,
    )
    events = [e for e in map(parse_event, done.stdout.splitlines()) if e is not None]
    return Result(done.returncode, done.stdout, done.stderr, events)


class RunningRunner:
    """A runner started in the background; its events are collected as they arrive."""

    def __init__(
        self,
        spec: dict[str, Any],
        tmp: Path,
        env: dict[str, str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ):
        spec_path = tmp / f"spec-{time.monotonic_ns()}.json"
        spec_path.write_text(json.dumps(spec))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bodywork_runner", str(spec_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or runner_env(),
            pass_fds=pass_fds,
        )
        self.events: list[dict[str, Any]] = []
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line)
            event = parse_event(line)
            if event is not None:
                self.events.append(event)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def wait_for(self, kind: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["event"] == kind:
                    return event
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the readers catch up
                for event in self.events:
                    if event["event"] == kind:
                        return event
                break
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event: {self.log()}")

    def finish(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout)
        self._close()
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close()

    def _close(self) -> None:
        for thread in self._threads:
            thread.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def log(self) -> str:
        return "".join(self.stdout) + "\n--- stderr ---\n" + "".join(self.stderr)

    def kinds(self) -> list[str]:
        return [event["event"] for event in self.events]
