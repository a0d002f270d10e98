"""Issue 12: the Bodywork panel, from opening it to its DAG drawn, on 300 and 30 stages; and
the live view following a 100-stage run.

Run from the repository root, after `scripts/setup` and `scripts/setup-browser`, under the
build lock (another helper's build would swap the extension out from under the page):

    flock /tmp/bw-build.lock .venv/bin/python benchmarks/bench_panel.py  # --runs 10 --stages 300,30

It writes each pipeline (a generated bodywork.yaml 2.0 and one notebook per stage, a DAG in
layers with fan-out and fan-in, a git repository) into a temporary lab root, starts a real
``jupyter lab`` (tests/browser/lab_helpers.start_lab) and drives Debian's chromium with
playwright. Two ways to open the panel are timed, each on a fresh page:

- *open*: the file browser is in the pipeline's folder and the panel has never been shown;
  the clock starts at the pointerdown on the Bodywork tab;
- *folder change*: the panel shows examples/iris; the clock starts when the file browser
  is sent to the pipeline's folder (the ``filebrowser:go-to-path`` command).

The clock stops when ``svg[data-stages=N]`` holds its N ``g[data-stage]`` nodes (a
MutationObserver), and again after the next frame (painted). The page's resource timings
split the time into the requests the panel makes (server time = first byte - request
sent) and what follows the DAG's answer: the layout (``layoutDag`` from the built
labextension/lib/dag.js, timed in the same page on the same answer) and React's render
(the rest). Target: open <= 1 s.

The live view (``--live 100 --max-parallel 2``; ``--live 0`` leaves it out): 100 module
stages that print and exit, deployed through the REST API (``POST deployments``) while the
panel follows the run (History > Show). At its end, the view's ``data-events`` and
``data-seq`` must equal the store's events of the run (``GET runs/{id}/events``) and every
stage of the DAG must be succeeded; it reports the delay from each event's time to the
view showing it, and from the run's last event to the view showing its end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from lab_helpers import (  # noqa: E402
    CHROMIUM_ARGS,
    Lab,
    open_lab,
    page_fetch,
    start_lab,
    stop_lab,
    wait_until_ready,
)
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from tests.projects import git_commit  # noqa: E402

TARGET_SECONDS = 1.0
CHROMIUM = "/usr/bin/chromium"
LAYOUT_JS = ROOT / "labextension" / "lib" / "dag.js"
API = "/bodywork/api/"

# --------------------------------------------------------------------------- the pipeline


def notebook(name: str, role: str) -> dict[str, Any]:
    """A stage notebook of a realistic size: a title, a parameters cell, a few code cells."""

    cells = iter(range(1, 100))

    def code(source: str, tags: list[str] | None = None) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": f"code-{next(cells)}",
            "metadata": {"tags": tags} if tags else {},
            "outputs": [],
            "source": source.splitlines(keepends=True),
        }

    return {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "title",
                "metadata": {},
                "source": [f"# {name}\n", "\n", f"The {role} step of the benchmark pipeline.\n"],
            },
            code("alpha = 0.5\nn_rows = 1000\nsource = 'data/input.csv'\n", ["parameters"]),
            code("import json\nimport math\nimport random\n"),
            code(
                "rows = [random.random() * alpha for _ in range(n_rows)]\n"
                "mean = sum(rows) / len(rows)\n"
                "spread = math.sqrt(sum((r - mean) ** 2 for r in rows) / len(rows))\n"
            ),
            code("print(json.dumps({'mean': mean, 'spread': spread, 'source': source}))\n"),
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


ROLES = ["ingest", "clean", "join", "features", "train", "evaluate", "report", "serve"]


def layer_sizes(count: int) -> list[int]:
    """Narrow at the top (sources) and bottom (services), wide in the middle."""
    layers = max(3, round(math.sqrt(count) * 0.8))
    weights = [1 + 2 * math.sin(math.pi * (i + 0.5) / layers) for i in range(layers)]
    sizes = [max(1, round(count * w / sum(weights))) for w in weights]
    sizes[len(sizes) // 2] += count - sum(sizes)
    return sizes


def write_pipeline(folder: Path, count: int, seed: int = 12) -> int:
    """bodywork.yaml 2.0 + ``count`` notebooks (one is the run-on-failure stage); returns edges.

    Every stage below the top depends on one stage of the layer just above (so the layers
    are what they look like), some on one or two more from up to three layers above; a few
    hubs feed many stages (fan-out) and every tenth stage joins up to eight (fan-in).
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    sizes = layer_sizes(count - 1)
    layers: list[list[str]] = []
    stages: dict[str, Any] = {}
    edges = 0
    index = 0
    for at, size in enumerate(sizes):
        role = ROLES[min(len(ROLES) - 1, at * len(ROLES) // len(sizes))]
        row: list[str] = []
        for _ in range(size):
            name = f"{role}-{index:03d}"
            index += 1
            stage: dict[str, Any] = {"path": f"{name}.ipynb"}
            if at:
                above = layers[at - 1]
                hubs = above[: max(1, len(above) // 6)]
                deps = {rng.choice(hubs) if rng.random() < 0.4 else rng.choice(above)}
                if index % 10 == 0:
                    deps |= set(rng.sample(above, k=min(len(above), rng.randint(4, 8))))
                for _ in range(rng.randint(0, 2)):
                    earlier = layers[rng.randint(max(0, at - 3), at - 1)]
                    deps.add(rng.choice(earlier))
                stage["depends_on"] = sorted(deps)
                edges += len(deps)
            if at == len(sizes) - 1 and index % 3 == 0:
                stage["service"] = {"port": 5000 + index, "replicas": 1}
                stage["timeout"] = "2m"
            else:
                stage["timeout"] = "10m"
                stage["retries"] = {"count": 2, "backoff": "30s"} if index % 4 == 0 else 0
            stage["parameters"] = {"alpha": round(rng.random(), 3), "n_rows": 100 * index + 1}
            stage["requirements"] = ["pandas>=2"] if index % 2 else []
            stages[name] = stage
            row.append(name)
            (folder / stage["path"]).write_text(
                json.dumps(notebook(name, role), indent=1) + "\n", encoding="utf-8"
            )
        layers.append(row)
    stages["alert"] = {"path": "alert.ipynb", "timeout": "1m"}
    (folder / "alert.ipynb").write_text(json.dumps(notebook("alert", "alert"), indent=1) + "\n")
    data = {
        "version": "2.0",
        "pipeline": {"name": f"bench-{count}", "run_on_failure": "alert"},
        "stages": stages,
    }
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    (folder / "bodywork.yaml").write_text(text.replace("version: '2.0'", 'version: "2.0"'))
    checked = subprocess.run(
        [str(Path(sys.executable).parent / "bodywork"), "validate", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if checked.returncode != 0:
        sys.exit(f"the generated pipeline is not valid:\n{checked.stdout}{checked.stderr}")
    git_commit(folder, f"a {count}-stage pipeline")
    return edges


# --------------------------------------------------------------------------- in the page

# Installed before the clock starts: resolves when the DAG of ``want`` stages is in the DOM
# (and again after the next frame). The start is the first pointerdown, or ``__bw.t0``.
WATCH = """(want) => {
  performance.setResourceTimingBufferSize(2000);
  performance.clearResourceTimings();
  const bw = window.__bw = {t0: null};
  document.addEventListener('pointerdown', event => {
    if (bw.t0 === null) { bw.t0 = event.timeStamp; }
  }, {capture: true, once: true});
  bw.done = new Promise(resolve => {
    const drawn = () => {
      const svg = document.querySelector(`[data-bw=dag] svg[data-stages="${want}"]`);
      return svg !== null && svg.querySelectorAll('g[data-stage]').length === want;
    };
    const finish = () => {
      const dom = performance.now();
      requestAnimationFrame(() => setTimeout(() => resolve({dom, painted: performance.now()})));
    };
    const observer = new MutationObserver(() => {
      if (drawn()) { observer.disconnect(); finish(); }
    });
    observer.observe(document.body, {childList: true, subtree: true, attributes: true});
  });
}"""

COLLECT = """async () => {
  const bw = window.__bw;
  const end = await bw.done;
  const requests = performance.getEntriesByType('resource')
    .filter(e => e.startTime >= bw.t0 - 1)
    .filter(e => e.name.includes('/bodywork/api/') || e.name.includes('/api/contents'))
    .map(e => ({url: e.name, start: e.startTime, sent: e.requestStart,
                firstByte: e.responseStart, end: e.responseEnd}));
  return {t0: bw.t0, dom: end.dom, painted: end.painted, requests};
}"""

GO_TO = """(path) => {
  window.__bw.t0 = performance.now();
  void window.jupyterapp.commands.execute('filebrowser:go-to-path',
                                           {path, dontShowBrowser: true});
}"""

# The panel's own layout code, from the build, timed on the DAG the server gave.
TIME_LAYOUT = """async ([url, runs]) => {
  const response = await fetch(url, {credentials: 'same-origin'});
  const text = await response.text();
  let t = performance.now();
  const dag = JSON.parse(text);
  const parse = performance.now() - t;
  const samples = [];
  for (let i = 0; i < runs + 2; i++) {
    t = performance.now();
    window.__bwLayoutDag(dag);
    samples.push(performance.now() - t);
  }
  return {parse, layout: samples.slice(2), bytes: text.length};
}"""


def bodywork_tab(page: Page) -> Any:
    return page.locator(".jp-SideBar.jp-mod-left").get_by_role("tab", name="Bodywork")


def open_folder(page: Page, lab: Lab, folder: str) -> None:
    # ?reset: a fresh workspace, so the panel has not been shown on this page
    page.goto(f"/lab/tree/{folder}?reset&token={lab.token}")
    wait_until_ready(page)
    page.locator(".jp-DirListing-item").first.wait_for()
    if bodywork_tab(page).get_attribute("aria-selected") == "true":
        sys.exit("the Bodywork panel was already shown after ?reset: the timing would be wrong")


def measure_open(page: Page, lab: Lab, folder: str, stages: int) -> dict[str, Any]:
    open_folder(page, lab, folder)
    page.evaluate(WATCH, stages)
    bodywork_tab(page).click()
    sample: dict[str, Any] = page.evaluate(COLLECT)
    return sample


def measure_change(page: Page, lab: Lab, folder: str, stages: int) -> dict[str, Any]:
    open_folder(page, lab, "iris")
    bodywork_tab(page).click()
    page.locator("[data-bw=dag] svg[data-stages='4']").wait_for()
    page.evaluate(WATCH, stages)
    page.evaluate(GO_TO, folder)
    sample: dict[str, Any] = page.evaluate(COLLECT)
    return sample


def request_kind(url: str) -> str | None:
    """The panel's requests by name; the file browser lists the folder too (folder change)."""
    path, _, query = url.partition("?")
    if "/api/contents/" in path:
        return "contents" if "type=directory" in query else "browser listing"
    return next((k for k in ("validate", "dag", "git") if path.endswith(f"/{k}")), None)


def breakdown(sample: dict[str, Any]) -> dict[str, float]:
    """Milliseconds from the start: each request's server time, the DAG's arrival, drawn."""
    t0 = sample["t0"]
    out = {"drawn": sample["dom"] - t0, "painted": sample["painted"] - t0}
    first_start = None
    for request in sample["requests"]:
        kind = request_kind(request["url"])
        if kind is None:
            continue
        if kind != "browser listing":
            first_start = min(first_start or request["start"], request["start"])
        out[f"{kind} server"] = request["firstByte"] - request["sent"]
        out[f"{kind} end"] = request["end"] - t0
    if first_start is not None:
        out["to first request"] = first_start - t0
    if "dag end" in out:
        out["after dag answer"] = sample["dom"] - t0 - out["dag end"]
    if "contents end" in out and "validate end" in out and "git end" in out:
        out["listing+validate+git"] = max(
            out["contents end"], out["validate end"], out["git end"]
        ) - out.get("to first request", 0.0)
    return out


# --------------------------------------------------------------------------- report


def spread(values: list[float], digits: int = 0) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{low:.{digits}f} / {mid:.{digits}f} / {high:.{digits}f}"


def table(title: str, samples: list[dict[str, float]], layout: dict[str, Any]) -> str:
    keys = [
        ("drawn", "**open to DAG drawn** (svg with every node in the DOM)"),
        ("painted", "open to the next frame after it"),
        ("to first request", "open to the first request sent (show, first render)"),
        ("browser listing server", "the file browser's own listing of the folder, server"),
        ("contents server", "the panel's folder listing (`GET api/contents`), server"),
        ("validate server", "`GET pipeline/validate`, server"),
        ("git server", "`GET git`, server"),
        ("listing+validate+git", "the three at once, sent to last answer"),
        ("dag server", "`GET pipeline/dag`, server"),
        ("after dag answer", "DAG answer to drawn (parse + layout + React render)"),
    ]
    lines = [f"**{title}**", "", "| step | ms min / median / max |", "| --- | --- |"]
    for key, label in keys:
        values = [s[key] for s in samples if key in s]
        if values:
            lines.append(f"| {label} | {spread(values)} |")
    if layout:
        lines.append(f"| of which `JSON.parse` ({layout['bytes'] // 1024} KiB) | "
                     f"{layout['parse']:.1f} |")  # fmt: skip
        lines.append(f"| of which `layoutDag` (in the page, {len(layout['layout'])} runs) | "
                     f"{spread(layout['layout'], 1)} |")  # fmt: skip
    return "\n".join(lines)


def machine() -> str:
    load = os.getloadavg()
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    return (
        f"{date.today()}, {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.2f}, Python {platform.python_version()}, {chromium.strip()}"
    )


# --------------------------------------------------------------------------- the live view


def write_live_pipeline(folder: Path, count: int, width: int = 10, seed: int = 12) -> int:
    """``count`` tiny module stages (each prints and exits) in layers of ``width``: each
    depends on one to three stages of the layer above, one in ten on four more (fan-in)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    stages: dict[str, Any] = {}
    layers: list[list[str]] = []
    edges = 0
    for index in range(count):
        at = index // width
        if at == len(layers):
            layers.append([])
        name = f"step-{index:03d}"
        (folder / f"{name}.py").write_text(f'print("{name}: done")\n', encoding="utf-8")
        stage: dict[str, Any] = {"path": f"{name}.py", "kind": "batch", "timeout": "5m"}
        if at:
            above = layers[at - 1]
            deps = set(rng.sample(above, k=min(len(above), rng.randint(1, 3))))
            if index % 10 == 5:
                deps |= set(rng.sample(above, k=min(len(above), 4)))
            stage["depends_on"] = sorted(deps)
            edges += len(deps)
        stages[name] = stage
        layers[at].append(name)
    data = {"version": "2.0", "pipeline": {"name": folder.name}, "stages": stages}
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    (folder / "bodywork.yaml").write_text(text.replace("version: '2.0'", 'version: "2.0"'))
    git_commit(folder, f"{count} module stages")
    return edges


# Every change of the live view's data-seq and data-status, with the wall clock (ms since
# the epoch: comparable with the store's event times, on one machine).
LIVE_WATCH = """() => {
  const seen = window.__bwLive = [];
  const observer = new MutationObserver(records => {
    const at = performance.timeOrigin + performance.now();
    for (const record of records) {
      const e = record.target;
      if (e.nodeType === 1 && e.getAttribute('data-bw') === 'run') {
        seen.push({at, seq: Number(e.getAttribute('data-seq')),
                   events: Number(e.getAttribute('data-events')),
                   status: e.getAttribute('data-status'), run: e.getAttribute('data-run')});
      }
    }
  });
  observer.observe(document.body, {subtree: true, attributes: true,
                                   attributeFilter: ['data-seq', 'data-status', 'data-run']});
}"""

TERMINAL = {"succeeded", "failed", "cancelled", "lost", "stopped"}


def page_json(page: Page, method: str, path: str, body: Any = None) -> Any:
    reply = page_fetch(page, method, path, body)
    if reply.status >= 300:
        sys.exit(f"{method} {path}: {reply.status} {reply.text[:500]}")
    return reply.json()


def follow_in_history(page: Page, deployment: str, run_id: str) -> None:
    """The panel follows the run: History > the deployment > the run's Show."""
    history = page.locator("[data-bw=history]")
    item = history.locator(f"[data-bw=deployment][data-name='{deployment}']")
    deadline = time.monotonic() + 30
    while item.count() == 0:
        if time.monotonic() > deadline:
            sys.exit(f"the history did not list {deployment}")
        refresh = history.locator("[data-bw=history-refresh]")
        if refresh.count():
            refresh.click()
        page.wait_for_timeout(500)
    row = item.locator(f"[data-bw=history-run][data-run='{run_id}']")
    if row.count() == 0:
        item.locator("[data-bw=deployment-toggle]").click()
    row.locator("[data-bw=run-show]").click()
    page.locator(f"[data-bw=run][data-run='{run_id}']").wait_for()


def measure_live(page: Page, lab: Lab, count: int, max_parallel: int) -> dict[str, Any]:
    """Deploy ``count`` stages through the REST API while the panel follows the run."""
    folder = f"live-{count}"
    edges = write_live_pipeline(lab.root / folder, count)
    open_folder(page, lab, folder)
    bodywork_tab(page).click()
    page.locator(f"[data-bw=dag] svg[data-stages='{count}']").wait_for()
    page.evaluate(LIVE_WATCH)
    run = page_json(
        page, "POST", f"{API}deployments", {"path": folder, "max_parallel": max_parallel}
    )
    run_id = run["id"]
    try:
        follow_in_history(page, folder, run_id)
        deadline = time.monotonic() + 60 * count
        while True:
            detail = page_json(page, "GET", f"{API}runs/{run_id}")
            if detail["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                sys.exit(f"run {run_id} did not finish: {detail['status']}")
            time.sleep(1)
        view = page.locator(f"[data-bw=run][data-run='{run_id}']")
        view.wait_for(state="attached")
        page.wait_for_function(
            "([id, s]) => document.querySelector(`[data-bw=run][data-run='${id}']`)"
            "?.getAttribute('data-status') === s",
            arg=[run_id, detail["status"]],
            timeout=60_000,
        )
        page.wait_for_timeout(1000)  # anything still arriving would be a miscount
        events = page_json(page, "GET", f"{API}runs/{run_id}/events?after=0")["events"]
        shown = {
            "seq": int(view.get_attribute("data-seq") or -1),
            "events": int(view.get_attribute("data-events") or -1),
            "status": view.get_attribute("data-status"),
        }
        statuses = page.locator("[data-bw=dag] g[data-stage]").evaluate_all(
            "nodes => nodes.map(n => n.getAttribute('data-status'))"
        )
        seen: list[dict[str, Any]] = page.evaluate("window.__bwLive")
    finally:
        page_fetch(page, "DELETE", f"{API}deployments/{folder}")
    times = {e["seq"]: e["time"] * 1000 for e in events}
    mine = [s for s in seen if s["run"] == run_id and s["seq"] in times]
    # what happened before the panel began to follow is replayed at once: not a lag
    followed = mine[0]["at"] if mine else 0.0
    lags = [s["at"] - times[s["seq"]] for s in mine if times[s["seq"]] >= followed]
    end = next(s["at"] for s in mine if s["status"] == detail["status"])
    last = events[-1]
    return {
        "stages": count,
        "edges": edges,
        "max_parallel": max_parallel,
        "status": detail["status"],
        "run seconds": (last["time"] - events[0]["time"]),
        "events in the store": len(events),
        "last seq in the store": last["seq"],
        "view": shown,
        "every event applied": shown["events"] == len(events) and shown["seq"] == last["seq"],
        "stages drawn succeeded": sum(1 for s in statuses if s == "succeeded"),
        "view updates": len(mine),
        "lag ms": lags,
        "followed after s": (followed - events[0]["time"] * 1000) / 1000,
        "end to view ms": end - times[last["seq"]],
    }


def live_report(live: dict[str, Any]) -> str:
    lags = live["lag ms"]
    view = live["view"]
    rows = [
        ("stages / dependencies / max_parallel",
         f"{live['stages']} / {live['edges']} / {live['max_parallel']}"),
        ("the run", f"{live['status']} in {live['run seconds']:.0f} s"),
        ("events in the store (last seq)",
         f"{live['events in the store']} ({live['last seq in the store']})"),
        ("the view's data-events / data-seq", f"{view['events']} / {view['seq']}"),
        ("**every event applied**", "yes" if live["every event applied"] else "**no**"),
        ("DAG stages drawn succeeded", f"{live['stages drawn succeeded']} of {live['stages']}"),
        ("view updates seen (data-seq/data-status changes)", str(live["view updates"])),
        ("the panel followed it from (s after its first event)",
         f"{live['followed after s']:.1f}"),
        ("an event's time to the view showing it, ms (min / median / max)",
         spread(lags) if lags else "-"),
        ("**the run's end to the view showing it**, ms", f"{live['end to view ms']:.0f}"),
    ]  # fmt: skip
    lines = [
        "**the live view, one run deployed through the REST API**",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {what} | {value} |" for what, value in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace, browser: Browser, lab: Lab) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "sizes": {}}
    if args.live:
        context = browser.new_context(base_url=lab.url, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        open_lab(page, lab)
        results["live"] = measure_live(page, lab, args.live, args.max_parallel)
        context.close()
        print(live_report(results["live"]), file=sys.stderr)
    layout_js = LAYOUT_JS.read_text(encoding="utf-8") if LAYOUT_JS.exists() else None
    for count in args.stages:
        folder = f"pipe-{count}"
        edges = write_pipeline(lab.root / folder, count)
        context = browser.new_context(base_url=lab.url, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        open_lab(page, lab)  # logs the context in; the first load fills the cache
        measure_open(page, lab, folder, count)  # warm-up: the server's imports, the cache
        found: dict[str, list[dict[str, float]]] = {"open": [], "folder change": []}
        for _ in range(args.runs):
            for how, measure in (("open", measure_open), ("folder change", measure_change)):
                page.close()
                page = context.new_page()
                found[how].append(breakdown(measure(page, lab, folder, count)))
        layout: dict[str, Any] = {}
        if layout_js is not None:
            page.add_script_tag(
                content=f"{layout_js}\nwindow.__bwLayoutDag = layoutDag;\n", type="module"
            )
            page.wait_for_function("typeof window.__bwLayoutDag === 'function'")
            layout = page.evaluate(TIME_LAYOUT, [f"{API}pipeline/dag?path={folder}", 20])
        context.close()
        results["sizes"][count] = {"edges": edges, "runs": found, "layout": layout}
        drawn = [s["drawn"] for s in found["open"]]
        print(
            f"{count} stages: open to drawn {spread(drawn)} ms (min / median / max)",
            file=sys.stderr,
        )
    return results


def report(results: dict[str, Any], runs: int) -> str:
    out = [f"Machine: {results['machine']}. {runs} runs of each, every run on a fresh page.", ""]
    if "live" in results:
        out += [live_report(results["live"]), ""]
    for count, found in results["sizes"].items():
        drawn = statistics.median(s["drawn"] for s in found["runs"]["open"])
        verdict = "yes" if drawn <= TARGET_SECONDS * 1000 else "**no**"
        for how, samples in found["runs"].items():
            title = f"{count} stages, {found['edges']} dependencies: {how}" + (
                f" (target <= {TARGET_SECONDS:.0f} s: {verdict})" if how == "open" else ""
            )
            out += [table(title, samples, found["layout"] if how == "open" else {}), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--stages",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[300, 30],
        help="pipeline sizes to open ('' : none)",
    )
    parser.add_argument(
        "--live", type=int, default=100, help="stages of the live run (0: no live run)"
    )
    parser.add_argument("--max-parallel", type=int, default=2, help="the live run's")
    parser.add_argument("--json", action="store_true", help="print the raw samples as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-panel-") as tmp:
        work = Path(tmp)
        # window.jupyterapp: the folder-change timing sends the file browser elsewhere
        config = work / "lab" / "home" / "config"
        config.mkdir(parents=True)
        (config / "jupyter_lab_config.json").write_text(
            json.dumps({"LabApp": {"expose_app_in_browser": True}})
        )
        home = work / "chromium-home"
        env: dict[str, str | float | bool] = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        started = time.monotonic()
        lab = start_lab(work / "lab")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env
                )
                try:
                    results = run(args, browser, lab)
                finally:
                    browser.close()
        finally:
            stop_lab(lab)
    print(json.dumps(results, indent=1) if args.json else report(results, args.runs))
    print(f"({time.monotonic() - started:.0f} s in all)", file=sys.stderr)


if __name__ == "__main__":
    main()
