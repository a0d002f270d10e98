"""``bodywork tag``: turn command-line options into a stage tag and write it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bodywork_jupyter.cli import output
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline import notebook, stagefiles
from bodywork_jupyter.pipeline.tags import ordered


def run_tag(stage_file: Path, **options: Any) -> None:
    if not stage_file.is_file():
        raise BadInputError(f"{stage_file}: no such file - give the path of a .ipynb or .py file")
    current = stagefiles.read_tag(stage_file)
    if options["show"]:
        _show(stage_file, current)
        return
    if options["clear"]:
        changed = stagefiles.write_tag(stage_file, None)
        output.ok(f"{stage_file}: tag removed" if changed else f"{stage_file}: was not tagged")
        return
    tag = build_tag(current or {}, options)
    if "stage" not in tag:
        raise BadInputError(f"{stage_file}: not tagged yet - give the stage name with --stage NAME")
    if options.get("params") and stage_file.suffix == ".ipynb":
        known = {p.name for p in notebook.parameters(stage_file)}
        given = {item.partition("=")[0].strip() for item in options["params"]}
        for name in sorted(given - known):
            if name:
                output.echo(
                    f"warning: '{name}' is not in {stage_file}'s parameters cell; "
                    "papermill will still set it",
                    err=True,
                )
    changed = stagefiles.write_tag(stage_file, tag)
    kind = tag.get("kind") or ("service" if "service" in tag else "batch")
    after = f", after {', '.join(tag['depends_on'])}" if tag.get("depends_on") else ""
    state = "tagged" if changed else "already tagged"
    output.ok(f"{stage_file}: {state} as stage '{tag['stage']}' ({kind}{after})")


def build_tag(current: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The current tag with the options applied; options not given keep their value."""
    tag = dict(current)
    if options.get("stage_name"):
        tag["stage"] = options["stage_name"]
    service = dict(tag.get("service") or {})
    service_options = [f"--{k}" for k in ("port", "replicas") if options.get(k) is not None]
    if options.get("kind") == "batch" and service_options:
        raise BadInputError(
            f"{' and '.join(service_options)} only make sense for a service"
            " - drop --batch or use --service"
        )
    if options.get("kind") == "batch":
        tag["kind"] = "batch"
        tag.pop("service", None)
        service = {}
    elif (
        options.get("kind") == "service"
        or options.get("port")
        or options.get("replicas") is not None
    ):
        tag["kind"] = "service"
    for key in ("port", "replicas"):
        if options.get(key) is not None:
            service[key] = options[key]
    if service:
        tag["service"] = service
    if options.get("depends_on") is not None:
        names = [n.strip() for n in options["depends_on"].split(",") if n.strip()]
        if names:
            tag["depends_on"] = names
        else:
            tag.pop("depends_on", None)
    if options.get("timeout") is not None:
        tag["timeout"] = _scalar(options["timeout"])
    if options.get("retries") is not None:
        tag["retries"] = options["retries"]
    if options.get("requirements") is not None:
        text = options["requirements"]
        items = [r.strip() for r in text.split(";") if r.strip()]
        is_file = len(items) == 1 and items[0].endswith((".txt", ".in"))
        tag["requirements"] = items[0] if is_file else items
    for key, values in (
        ("parameters", options.get("params") or ()),
        ("env", options.get("envs") or ()),
    ):
        if values:
            merged = dict(tag.get(key) or {})
            for item in values:
                name, sep, value = item.partition("=")
                if not sep or not name.strip():
                    flag = "--param" if key == "parameters" else "--env"
                    raise BadInputError(f"{flag} {item!r}: not NAME=VALUE - write e.g. {flag} n=3")
                merged[name.strip()] = _scalar(value) if key == "parameters" else value
            tag[key] = merged
    resources = dict(tag.get("resources") or {})
    if options.get("cpu") is not None:
        resources["cpu_request"] = options["cpu"]
    if options.get("memory") is not None:
        resources["memory_request_mb"] = options["memory"]
    if resources:
        tag["resources"] = resources
    return tag


def _scalar(text: str) -> Any:
    """A typed value from the command line: 5 -> int, 0.1 -> float, true -> bool."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return (
        value
        if isinstance(value, str | int | float | bool | list | dict) or value is None
        else text
    )


def _show(stage_file: Path, current: dict[str, Any] | None) -> None:
    if current is None:
        output.echo(f"{stage_file}: not a stage (no tag)")
    else:
        output.echo(f"{stage_file}:")
        body = yaml.safe_dump(ordered(current), sort_keys=False)
        output.echo("\n".join(f"  {line}" for line in body.splitlines()))
    if stage_file.suffix == ".ipynb":
        params = notebook.parameters(stage_file)
        if params:
            output.echo("  notebook parameters:")
            for p in params:
                note = f"  # {p.help}" if p.help else ""
                output.echo(f"    {p.name}: {p.type} = {p.source}{note}")
