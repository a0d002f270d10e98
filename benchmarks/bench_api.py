"""Issue 5: REST API latency of ``GET runs`` (list) and ``GET runs/{id}`` (status).

Starts a real ``jupyter server`` subprocess (the extension enabled, a token, a temporary
root and state folder) with 200 notebooks under its root and a run history in its store
(one real deploy through the API plus synthetic finished runs written with RunStore),
then loads each endpoint with N concurrent clients, no think time (every client sends
its next request as soon as the previous answer arrives), with two load generators:
asyncio + httpx (one keep-alive connection per client; Python, so the client takes CPU
from the server on a small machine) and ``wrk`` (C; ``apt-get install -y wrk``, skipped
when missing). Prints a markdown table::

    .venv/bin/python benchmarks/bench_api.py     # --clients 20 --requests 100 --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bodywork_jupyter.engine.store import RunStore  # noqa: E402
from tests.server.helpers import notebook, two_stage_project  # noqa: E402
from tests.server.server_process import JupyterServer, free_port  # noqa: E402


def synthetic_runs(state_dir: Path, count: int) -> None:
    """Finished runs of 10 deployments, 3 stages each, with their events."""
    store = RunStore(state_dir)
    plan = {
        "pipeline": "x",
        "order": ["a", "b", "c"],
        "stages": {name: {"kind": "batch"} for name in "abc"},
    }
    for index in range(count):
        deployment = f"history-{index % 10}"
        run = store.create_run(deployment, deployment, "local", {"local_path": "/x"}, plan)
        store.record(run.id, "run.started")
        for name in "abc":
            store.record(run.id, "stage.starting", name, 1)
            store.record(run.id, "stage.succeeded", name, 1)
        store.record(run.id, "run.succeeded")
    for index in range(10):
        store.set_deployment_status(f"history-{index}", "deleted")
    store.close()


async def load(url: str, token: str, clients: int, requests: int) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"token {token}"}

    async def client() -> None:
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            for _ in range(requests):
                started = time.perf_counter()
                response = await http.get(url)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %.3f %.3f %.3f %.3f %.1f\\n", summary.requests,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests / (summary.duration / 1e6)))
end
"""


def wrk(url: str, token: str, clients: int, seconds: int, script: Path) -> str | None:
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{seconds}s",
            "-H",
            f"Authorization: token {token}",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK "))
    count, p50, p95, p99, top, rate = line.split()[1:]
    figures = " | ".join(f"{float(x):.1f}" for x in (p50, p95, p99, top))
    return f"{count} | {figures} | {float(rate):.0f} |"


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="per client and endpoint")
    parser.add_argument("--runs", type=int, default=100, help="synthetic runs in the store")
    parser.add_argument("--notebooks", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10, help="wrk's duration per endpoint")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        base = Path(tmp)
        root, state = base / "root", base / "state"
        for index in range(args.notebooks):
            notebook(
                root / "notebooks" / f"nb{index:03d}.ipynb",
                "print(1)",
                params="n = 1",
                tag={"stage": f"s{index:03d}"},
            )
        two_stage_project(root / "demo")
        synthetic_runs(state, args.runs)
        server = JupyterServer(root, state, base / "home", free_port(), token="bench").start()
        try:
            status, run = server.call("POST", "deployments", {"path": "demo"})
            assert status == 201, run
            while server.call("GET", f"runs/{run['id']}")[1]["status"] in {"queued", "running"}:
                time.sleep(0.3)
            rows = []
            for label, path in (("GET runs", "runs"), ("GET runs/{id}", f"runs/{run['id']}")):
                asyncio.run(load(server.url + path, "bench", args.clients, 10))  # warm-up
                started = time.perf_counter()
                latencies = asyncio.run(
                    load(server.url + path, "bench", args.clients, args.requests)
                )
                elapsed = time.perf_counter() - started
                ms = [x * 1000 for x in latencies]
                script = base / "p95.lua"
                script.write_text(WRK_SCRIPT)
                by_wrk = wrk(server.url + path, "bench", args.clients, args.seconds, script)
                if by_wrk:
                    rows.append(f"| `{label}` | wrk, {args.seconds} s | {by_wrk}")
                rows.append(
                    f"| `{label}` | httpx | {len(ms)} | {statistics.median(ms):.1f} | "
                    f"{percentile(ms, 95):.1f} | {percentile(ms, 99):.1f} | {max(ms):.1f} | "
                    f"{len(ms) / elapsed:.0f} |"
                )
            server.call("DELETE", "deployments/demo")
        finally:
            server.stop()
    load_avg = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"Load: {args.clients} concurrent clients x {args.requests} requests per endpoint, "
        f"{args.notebooks} notebooks under the root, {args.runs + 1} runs in the store; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average after: {load_avg}\n"
    )
    print("| endpoint | client | requests | p50 ms | p95 ms | p99 ms | max ms | req/s |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
