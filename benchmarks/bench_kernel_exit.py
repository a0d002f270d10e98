"""How long a cold kernel takes to end when asked: started by ``ipykernel_launcher`` (what a
kernelspec starts) against ``bodywork_runner.kernel_launcher`` (what the runner starts
for its interpreter's cold kernels: every kernel of a pod, of ``BODYWORK_RUNNER_FORK=0``,
of an environment whose server could not start), in turns, in one run.

Each round starts a kernel through jupyter_client's AsyncKernelManager (IPC transport, as
the runner's), runs one cell, then times ``shutdown_kernel()``: from the request to the
process's exit, as nbclient waits for it at the end of every notebook. Prints a markdown
table. Run from the repository root after ``scripts/setup``::

    .venv/bin/python benchmarks/bench_kernel_exit.py            # --runs 12
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_dag import machine_header  # (run as a script: its folder is on the path)

LAUNCHERS = {
    "`python -m ipykernel_launcher` (a kernelspec's)": "ipykernel_launcher",
    "`python -m bodywork_runner.kernel_launcher` (ours)": "bodywork_runner.kernel_launcher",
}
#: A shutdown slower than this counts as one that waited for ipykernel's exit race.
SLOW_SECONDS = 1.0


def kernelspecs(folder: Path) -> dict[str, str]:
    """A kernelspec per launcher under ``folder``: launcher label -> kernel name."""
    names = {}
    for index, (label, module) in enumerate(LAUNCHERS.items()):
        name = f"bench{index}"
        spec_dir = folder / "kernels" / name
        spec_dir.mkdir(parents=True)
        argv = [sys.executable, "-m", module, "-f", "{connection_file}"]
        argv.append("--HistoryManager.enabled=False")
        spec = {"argv": argv, "display_name": name, "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        names[label] = name
    return names


async def one_round(name: str, folder: Path) -> float:
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name=name, transport="ipc", ip=str(folder / "k"))
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        await kc.execute_interactive("x = 1", timeout=60)
    finally:
        kc.stop_channels()
    started = time.perf_counter()
    await km.shutdown_kernel()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=12)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-kernel-exit-"))
    os.environ["JUPYTER_PATH"] = str(folder)
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {label: [] for label in LAUNCHERS}
    try:
        names = kernelspecs(folder)
        labels = list(LAUNCHERS)
        for run in range(args.runs):
            for label in labels if run % 2 == 0 else labels[::-1]:
                times[label].append(await one_round(names[label], folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"{machine_header(load_before, load_after)}; {args.runs} kernels each, in turns.\n")
    print(f"| Cold kernel started by | shutdown median s | min s | max s | over {SLOW_SECONDS} s |")
    print("|---|---:|---:|---:|---:|")
    for label, values in times.items():
        slow = sum(value > SLOW_SECONDS for value in values)
        print(
            f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} | "
            f"{max(values):.3f} | {slow} of {len(values)} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
