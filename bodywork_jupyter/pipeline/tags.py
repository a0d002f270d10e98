"""Stage tags: what a notebook or module says about itself as a pipeline stage.

A tag holds ``stage`` (the stage name) and any 2.0 stage field except ``path``
(the tagged file is the path). Notebooks keep it in ``metadata.bodywork``;
modules in a ``# /// bodywork`` comment block (see ``pymodule``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from bodywork_jupyter.pipeline.problems import Problem
from bodywork_jupyter.pipeline.schema_v2 import StageV2
from bodywork_jupyter.pipeline.validation import validate_section
from bodywork_jupyter.pipeline.yamlsource import YamlDocument

TAG_KEY = "bodywork"
#: Fields the tag always owns in bodywork.yaml (absent from the tag means absent there).
OWNED_FIELDS = ("path", "kind", "depends_on")
#: The order fields are written in, in tags and in generated stage entries.
FIELD_ORDER = ("stage", "path", "kind", "depends_on", *StageV2.model_fields)


class _TagBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_FIELDS: dict[str, Any] = {
    name: (info.annotation, info) for name, info in StageV2.model_fields.items() if name != "path"
}
StageTag: type[BaseModel] = create_model(
    "StageTag",
    __base__=_TagBase,
    stage=(
        str,
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", description="The stage's name."),
    ),
    **_FIELDS,
)


def check_tag(data: Any, file: str, where: tuple[str, ...]) -> list[Problem]:
    """Problems with a tag's content; ``where`` is its place, e.g. ``("metadata", "bodywork")``."""
    problems: list[Problem] = []
    # line 0: a tag lives in JSON or a comment block, where a line number helps nobody
    doc = YamlDocument(file, data, {(): 0})
    validate_section(StageTag, data, where, doc, problems)
    if isinstance(data, dict) and data.get("kind") == "batch" and "service" in data:
        problems.append(
            Problem(
                file,
                0,
                ".".join((*where, "service")),
                "a batch stage cannot have a 'service' section",
                "remove 'service' or make the stage a service (kind: service)",
            )
        )
    return problems


def ordered(tag: dict[str, Any]) -> dict[str, Any]:
    """The tag's keys in the documented order (stable, readable diffs)."""
    rank = {name: i for i, name in enumerate(FIELD_ORDER)}
    return dict(sorted(tag.items(), key=lambda kv: rank.get(kv[0], len(rank))))
