"""``TagForm``: tag a notebook (or module) as a pipeline stage with a form.

The form shows the file's current tag, the other stages of its folder (to depend on)
and, for a notebook, its papermill parameters with an override field each. Save builds
the tag with the same code as ``bodywork tag`` and writes it through
``stagefiles.write_tag``, which refuses an invalid tag: its problems are shown.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]
import yaml

from bodywork_jupyter.cli.tagging import build_tag
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline import notebook, stagefiles
from bodywork_jupyter.pipeline.generate import pipeline_name


def _wide() -> dict[str, Any]:
    return {"style": {"description_width": "110px"}, "layout": w.Layout(width="420px")}


class TagForm:
    """A form for one stage file's tag; ``save()`` (or the Save button) writes it."""

    def __init__(self, path: str | Path, *, project: str | Path | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise BadInputError(f"{self.path}: no such file - give the path of a .ipynb or .py")
        current = stagefiles.read_tag(self.path) or {}
        self.problems: list[str] = []
        self.saved: dict[str, Any] | None = None

        root = Path(project) if project is not None else self.path.parent
        tagged, _ = stagefiles.scan(root)
        me = self.path.resolve()
        others = [t.stage for t in tagged if (root / t.path).resolve() != me]
        depends = [str(d) for d in current.get("depends_on") or []]
        choices = others + [d for d in depends if d not in others]

        kind = current.get("kind") or ("service" if "service" in current else "batch")
        service = current.get("service") or {}
        resources = current.get("resources") or {}
        self.stage = w.Text(
            value=str(current.get("stage") or pipeline_name(self.path.stem)),
            description="stage",
            **_wide(),
        )
        self.kind = w.ToggleButtons(options=["batch", "service"], value=kind, description="kind")
        self.depends_on = w.SelectMultiple(
            options=choices, value=tuple(depends), description="depends on", rows=4, **_wide()
        )
        self.cpu = _field("cpu", resources.get("cpu_request"), "cores, e.g. 0.5")
        self.memory = _field("memory (MB)", resources.get("memory_request_mb"), "e.g. 512")
        self.timeout = _field("timeout", current.get("timeout"), "seconds, or e.g. 10m")
        self.retries = _field("retries", current.get("retries"), "e.g. 2")
        self.port = _field("port", service.get("port"), "e.g. 5000")
        self.replicas = _field("replicas", service.get("replicas"), "e.g. 1")
        self.service_box = w.VBox([self.port, self.replicas])

        self.parameters = notebook.parameters(self.path) if self.path.suffix == ".ipynb" else []
        overrides = current.get("parameters") or {}
        self.params: dict[str, Any] = {}
        rows = []
        for parameter in self.parameters:
            field = w.Text(
                value=_text(overrides[parameter.name]) if parameter.name in overrides else "",
                placeholder=f"default: {parameter.source}",
                layout=w.Layout(width="220px"),
            )
            self.params[parameter.name] = field
            rows.append(
                w.HBox(
                    [
                        w.HTML(f"<code>{html.escape(parameter.name)}</code>", layout=_cell()),
                        w.HTML(f"<i>{html.escape(parameter.type)}</i>", layout=_cell()),
                        w.HTML(f"<code>{html.escape(parameter.source)}</code>", layout=_cell()),
                        field,
                    ]
                )
            )
        params_box = w.VBox(
            [
                w.HTML(
                    "<b>parameters</b> (override: a value for this stage, empty for the default)"
                ),
                *rows,
            ]
            if rows
            else [w.HTML("<i>no parameters cell</i>")]
        )

        self.save_button = w.Button(description="Save tag", button_style="primary", icon="save")
        self.save_button.on_click(lambda _button: self.save())
        self.result = w.HTML()
        self.kind.observe(lambda _change: self._show_service(), names="value")
        self._show_service()
        self.widget = w.VBox(
            [
                w.HTML(f"<b>stage tag of</b> <code>{html.escape(str(self.path))}</code>"),
                self.stage,
                self.kind,
                self.depends_on,
                self.service_box,
                self.cpu,
                self.memory,
                self.timeout,
                self.retries,
                params_box,
                self.save_button,
                self.result,
            ]
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _show_service(self) -> None:
        self.service_box.layout.display = "flex" if self.kind.value == "service" else "none"

    def options(self) -> dict[str, Any]:
        """The form as ``bodywork tag`` options (what ``build_tag`` takes)."""
        service = self.kind.value == "service"
        params = tuple(
            f"{name}={field.value.strip()}"
            for name, field in self.params.items()
            if field.value.strip()
        )
        return {
            "stage_name": self.stage.value.strip() or None,
            "kind": self.kind.value,
            "port": _number(self.port.value) if service else None,
            "replicas": _number(self.replicas.value) if service else None,
            "depends_on": ",".join(self.depends_on.value),
            "timeout": self.timeout.value.strip() or None,
            "retries": _number(self.retries.value),
            "cpu": _number(self.cpu.value),
            "memory": _number(self.memory.value),
            "params": params,
        }

    def tag(self) -> dict[str, Any]:
        """The tag Save would write: the file's tag, with every field the form owns replaced."""
        base = dict(stagefiles.read_tag(self.path) or {})
        for key in ("kind", "depends_on", "timeout", "retries"):
            base.pop(key, None)
        service = dict(base.pop("service", None) or {})
        for key in ("port", "replicas"):
            service.pop(key, None)
        if service and self.kind.value == "service":
            base["service"] = service
        resources = dict(base.pop("resources", None) or {})
        resources.pop("cpu_request", None)
        resources.pop("memory_request_mb", None)
        if resources:
            base["resources"] = resources
        parameters = {
            k: v for k, v in (base.pop("parameters", None) or {}).items() if k not in self.params
        }
        if parameters:
            base["parameters"] = parameters
        return build_tag(base, self.options())

    def save(self) -> bool:
        """Write the tag; on a problem, show it (and keep the file as it was)."""
        try:
            if not self.stage.value.strip():
                raise BadInputError("stage: give the stage a name, e.g. train")
            tag = self.tag()
            changed = stagefiles.write_tag(self.path, tag)
        except BadInputError as exc:
            self.problems = [line for line in str(exc).splitlines() if line.strip()]
            items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
            self.result.value = (
                f'<div style="color:#c62828"><b>not saved:</b><ul>{items}</ul></div>'
            )
            return False
        self.problems = []
        self.saved = tag
        state = "saved" if changed else "unchanged"
        self.result.value = (
            f'<span style="color:#2e7d32">✓ {state}: stage '
            f"<b>{html.escape(str(tag['stage']))}</b> ({html.escape(self.kind.value)})</span>"
        )
        return True


def _field(description: str, value: Any, placeholder: str) -> Any:
    return w.Text(value=_text(value), description=description, placeholder=placeholder, **_wide())


def _cell() -> Any:
    return w.Layout(width="130px")


def _text(value: Any) -> str:
    """A tag value as the text that ``build_tag`` reads back as the same value."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            same = yaml.safe_load(value) == value
        except yaml.YAMLError:
            same = True
        return value if same else json.dumps(value)
    return json.dumps(value)


def _number(text: str) -> Any:
    """A number from a field; other text is passed on, for the tag check to report."""
    text = text.strip()
    if not text:
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, int | float) and not isinstance(value, bool) else text
