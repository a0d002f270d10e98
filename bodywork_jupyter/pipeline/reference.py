"""The bodywork.yaml 2.0 reference (docs/reference/bodywork-yaml-2.0.md), from the models.

The field descriptions live once, in ``schema_v2``; this renders them, and a test
keeps the committed document current (``REGEN_GOLDEN=1`` rewrites it).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bodywork_jupyter.pipeline.schema_v2 import (
    PipelineV2,
    ResourcesV2,
    RetriesV2,
    SecretRefV2,
    ServiceV2,
    StageV2,
)

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("pipeline", PipelineV2),
    ("stages.NAME", StageV2),
    ("stages.NAME.service", ServiceV2),
    ("stages.NAME.resources", ResourcesV2),
    ("stages.NAME.retries", RetriesV2),
    ("stages.NAME.secrets.ENV_VAR", SecretRefV2),
]

INTRO = """\
# bodywork.yaml 2.0 reference

<!-- Generated from bodywork_jupyter/pipeline/schema_v2.py by
     `python -m bodywork_jupyter.pipeline.reference`; do not edit by hand. -->

A 2.0 file has three sections: `version: "2.0"`, `pipeline` and `stages`. Unknown keys
are errors (with a "did you mean"). `bodywork schema` prints the same rules as a JSON
Schema for editors. Bodywork 1.1 files are read unchanged: see
[migrating from Bodywork](../users/migrating-from-bodywork.md).

A *duration* is a number of seconds or a string such as `90s`, `10m` or `1h30m`.

```yaml
version: "2.0"
pipeline:
  name: iris
  schedule: "0 3 * * *"
stages:
  prepare:
    path: prepare.ipynb
  train:
    path: train.ipynb
    depends_on: [prepare]
    parameters: {n_estimators: 200}
    timeout: 10m
    retries: {count: 2, backoff: 30s}
  predict:
    path: predict.ipynb
    depends_on: [train]
    service: {port: 5000, replicas: 2}
```
"""


DURATIONS = {"timeout", "backoff", "max_backoff"}


def render() -> str:
    parts = [INTRO]
    for title, model in SECTIONS:
        parts.append(f"\n## `{title}`\n\n{(model.__doc__ or '').strip()}\n")
        parts.append("\n| field | type | default | meaning |\n| --- | --- | --- | --- |\n")
        for name, info in model.model_fields.items():
            kind = "duration" if name in DURATIONS else _type_name(info.annotation)
            parts.append(
                f"| `{name}` | {kind} | {_default(info)} | "
                f"{(info.description or '').replace('|', '/')} |\n"
            )
    return "".join(parts)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
        return "empty" if not isinstance(value, BaseModel) else "see below"
    if info.default is PydanticUndefined or info.default is None:
        return "none"
    if isinstance(info.default, bool):
        return "`true`" if info.default else "`false`"
    return f"`{info.default}`"


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        base = _type_name(args[0])
        return "duration" if "str" in base and "number" in base else base
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(names))
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    plain: dict[Any, str] = {str: "text", int: "integer", float: "number", bool: "boolean"}
    if annotation in plain:
        return plain[annotation]
    return "JSON value" if "JsonValue" in str(annotation) else str(annotation)


if __name__ == "__main__":
    print(render(), end="")
