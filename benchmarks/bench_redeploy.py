"""Issue 11: redeploys under load, and a predict replica's memory under hostile requests.

1. The fault scenarios of tests/engine/test_redeploy_faults.py, once each, with the same
   load (tests/load.py: 4 keep-alive clients POSTing JSON on loopback, never retrying):
   good, broken-service, broken-later-stage and cancelled redeploys, kill -9 of a
   replica during a run, a module whose new build fails. Per scenario: requests sent,
   failed (by kind), the longest window without a successful answer, versions seen.
2. A ``predict`` notebook service (1 replica, default limits) given 4 large bodies
   (50 MB; two with a Content-Length, two chunked), 4 deeply nested ones (100,000
   levels) and 200 slow-header connections (a header line a second, for 12 s), through
   its declared port. The replica's RSS (``VmRSS`` of the runner pid in its stage's
   ref, ``/proc/PID/status``) before and after each step, its peak (``VmHWM``), what
   each request got back, and whether ordinary requests kept being answered.

Everything runs in a temporary state folder, on loopback, with bounded counts and
timeouts, and leaves no deployment behind::

    .venv/bin/python benchmarks/bench_redeploy.py             # markdown tables
    .venv/bin/python benchmarks/bench_redeploy.py --json      # the same figures as JSON
    .venv/bin/python benchmarks/bench_redeploy.py --only good --only cancelled --skip-memory
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import select
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.engine import redeploy_scenarios as scenarios  # noqa: E402
from tests.engine.helpers import Bodywork  # noqa: E402
from tests.projects import free_port, git_commit, write_yaml  # noqa: E402

#: a socket operation that takes longer has failed
SOCKET_SECONDS = 30.0


# -- 1. the scenarios ------------------------------------------------------------------------


def scenario_row(name: str) -> dict[str, Any]:
    run = scenarios.SCENARIOS[name]
    with tempfile.TemporaryDirectory(prefix="bench-redeploy-") as tmp:
        bw = Bodywork(Path(tmp) / "state")
        started = time.monotonic()
        try:
            outcome = run(bw, Path(tmp))
        except Exception as exc:  # a scenario that could not run: say so, go on
            return {"scenario": name, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            scenarios.clean_up(bw)
    report = outcome.report
    return {
        "scenario": name,
        "title": outcome.name,
        "redeploy_exit": None if outcome.redeploy is None else outcome.redeploy.returncode,
        **report.summary(),
        "marks": {k: round(v, 2) for k, v in outcome.marks.items()},
        "seconds": round(time.monotonic() - started, 1),
    }


# -- 2. a predict replica's memory -----------------------------------------------------------


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of ``pid``, in MB."""
    fields: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def answer_of(sock: socket.socket) -> str:
    """The status the server answered on ``sock`` (or what happened instead)."""
    sock.settimeout(SOCKET_SECONDS)
    try:
        head = sock.recv(4096)
    except OSError as exc:
        return type(exc).__name__
    if not head:
        return "closed, no answer"
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    return line.split(" ", 2)[1] if line.startswith("HTTP/") else f"not HTTP: {line[:40]}"


def post_raw(port: int, body: bytes, *, chunked: bool = False) -> str:
    """POST ``body`` to /predict on a new connection; the answer's status or the error."""
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_SECONDS) as sock:
        framing = b"transfer-encoding: chunked" if chunked else b"content-length: %d" % len(body)
        head = b"POST /predict HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        try:
            sock.sendall(head + framing + b"\r\n\r\n")
            step = 1 << 20
            for start in range(0, len(body), step):
                chunk = body[start : start + step]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as exc:  # refused mid-body: the answer may still be there to read
            answered = answer_of(sock)
            return answered if answered[:1].isdigit() else type(exc).__name__
        return answer_of(sock)


def ordinary(port: int) -> bool:
    """Whether an ordinary request on a new connection is answered 200."""
    try:
        return post_raw(port, b'{"x": 1}') == "200"
    except OSError:
        return False


def slow_headers(port: int, count: int, seconds: float) -> dict[str, Any]:
    """``count`` connections that send a header line a second; an ordinary request each
    second meanwhile. How the server dealt with them, and whether it kept answering."""
    socks: list[socket.socket] = []
    fates: dict[str, int] = {}
    closed_after: list[float] = []
    opened = 0
    began = time.monotonic()
    answered = asked = 0
    try:
        for _ in range(count):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError as exc:
                fates[f"connect: {type(exc).__name__}"] = (
                    fates.get(f"connect: {type(exc).__name__}", 0) + 1
                )
                continue
            sock.sendall(b"POST /predict HTTP/1.1\r\nhost: 127.0.0.1\r\n")
            sock.setblocking(False)
            socks.append(sock)
            opened += 1
        drip = 0
        while socks and time.monotonic() - began < seconds:
            drip += 1
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and socks:
                readable, _, _ = select.select(socks, [], [], max(0.0, deadline - time.monotonic()))
                for sock in readable:
                    try:
                        data = sock.recv(4096)
                    except OSError as exc:
                        fate = type(exc).__name__
                    else:
                        line = data.split(b"\r\n", 1)[0].decode("latin-1")
                        fate = line.split(" ", 2)[1] if line.startswith("HTTP/") else "closed"
                    fates[fate] = fates.get(fate, 0) + 1
                    closed_after.append(time.monotonic() - began)
                    socks.remove(sock)
                    sock.close()
            for sock in list(socks):
                with contextlib.suppress(OSError):
                    sock.send(b"x-drip-%d: 1\r\n" % drip)
            asked += 1
            answered += ordinary(port)
    finally:
        held = len(socks)
        for sock in socks:
            sock.close()
    return {
        "opened": opened,
        "closed_by_server": fates,
        "held_at_end": held,
        "last_closed_after_s": round(max(closed_after), 1) if closed_after else None,
        "ordinary_answered": f"{answered}/{asked}",
    }


def memory(folder: Path, big_mb: int, slow: int, slow_seconds: float) -> dict[str, Any]:
    bw = Bodywork(folder / "state")
    project, port = folder / "memory", free_port()
    scenarios.serve_notebook(project, 1)
    write_yaml(
        project,
        f'version: "2.0"\npipeline: {{name: memory}}\n'
        f"stages:\n  serve: {{path: serve.ipynb, service: {{port: {port}, replicas: 1}}}}\n",
    )
    git_commit(project)
    try:
        run_id = scenarios.deployed(bw, project)
        (pid,) = scenarios.stage_pids(bw, run_id, "serve")
        steps: list[dict[str, Any]] = [{"step": "deployed", **rss_mb(pid), "answers": []}]
        big = b"[" + b"0," * (big_mb * 1_000_000 // 2 - 1) + b"0]"
        answers = [post_raw(port, big, chunked=n % 2 == 1) for n in range(4)]
        del big
        steps.append({"step": f"4 bodies of {big_mb} MB", **rss_mb(pid), "answers": answers})
        depth = 100_000
        nested = b"[" * depth + b"]" * depth
        answers = [post_raw(port, nested) for _ in range(4)]
        steps.append({"step": f"4 bodies {depth:,} deep", **rss_mb(pid), "answers": answers})
        held = slow_headers(port, slow, slow_seconds)
        steps.append({"step": f"{slow} slow-header connections", **rss_mb(pid), "answers": []})
        return {
            "pid": pid,
            "steps": steps,
            "slow_headers": held,
            "answering_after": ordinary(port),
        }
    finally:
        scenarios.clean_up(bw)


# -- output ----------------------------------------------------------------------------------


def print_tables(rows: list[dict[str, Any]], mem: dict[str, Any] | None) -> None:
    load_avg = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"Load: {scenarios.THREADS} keep-alive clients (and {scenarios.NAIVE} more that reuse "
        "a connection without looking, as wrk, in the good redeploy), each on a new connection "
        f"every {scenarios.REQUESTS_PER_CONNECTION} answers, POST JSON on loopback, no retries; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average after: {load_avg}\n"
    )
    if rows:
        print("| scenario | requests sent | failed | seconds down | versions seen | failures |")
        print("|---|---:|---:|---:|---|---|")
        for row in rows:
            if "error" in row:
                print(f"| {row['scenario']} | - | - | - | - | could not run: {row['error']} |")
                continue
            kinds = ", ".join(f"{k} {v}" for k, v in row["failures"].items()) or "-"
            seen = " -> ".join(f"v{v}" for v in row["versions_seen"])
            print(
                f"| {row['title']} | {row['sent']} | {row['failed']} | "
                f"{row['seconds_down']:.2f} | {seen} | {kinds} |"
            )
        print()
    if mem is not None:
        print(f"A predict replica (runner pid {mem['pid']}), default limits:\n")
        print("| after | VmRSS MB | VmHWM MB | answers |")
        print("|---|---:|---:|---|")
        for step in mem["steps"]:
            answers = ", ".join(step["answers"]) or "-"
            print(
                f"| {step['step']} | {step.get('VmRSS', '?')} | {step.get('VmHWM', '?')} | "
                f"{answers} |"
            )
        held = mem["slow_headers"]
        fates = ", ".join(f"{k}: {v}" for k, v in held["closed_by_server"].items()) or "none"
        print(
            f"\nSlow headers: {held['opened']} opened, closed by the server: {fates} "
            f"(the last after {held['last_closed_after_s']} s), {held['held_at_end']} still "
            f"open at the end; ordinary requests meanwhile answered {held['ordinary_answered']}; "
            f"answering after it all: {'yes' if mem['answering_after'] else 'NO'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--only", action="append", choices=sorted(scenarios.SCENARIOS), help="just these"
    )
    parser.add_argument("--skip-scenarios", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--big-mb", type=int, default=50, choices=range(1, 201), metavar="MB")
    parser.add_argument("--slow", type=int, default=200, choices=range(1, 501), metavar="N")
    parser.add_argument("--slow-seconds", type=float, default=12.0)
    args = parser.parse_args()
    names = [] if args.skip_scenarios else (args.only or list(scenarios.SCENARIOS))
    rows = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.append(scenario_row(name))
    mem = None
    if not args.skip_memory:
        print("running memory ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-redeploy-") as tmp:
            mem = memory(Path(tmp), args.big_mb, args.slow, min(args.slow_seconds, 60.0))
    if args.json:
        print(json.dumps({"scenarios": rows, "memory": mem}, indent=1))
    else:
        print_tables(rows, mem)


if __name__ == "__main__":
    main()
