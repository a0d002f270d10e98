"""``bodywork generate``: write bodywork.yaml (2.0) from the stage tags in a folder.

Re-running it keeps everything written by hand (other fields, comments, order):
the file is edited round-trip, and only what the tags changed is touched. A tag
owns its stage's ``path``, ``kind`` and ``depends_on``, and any field it sets;
every other field in bodywork.yaml is the user's.
"""

from __future__ import annotations

import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline import dag
from bodywork_jupyter.pipeline.load import CONFIG_NAMES, CheckResult, check_text, find_config
from bodywork_jupyter.pipeline.problems import Problem
from bodywork_jupyter.pipeline.stagefiles import TaggedFile, scan
from bodywork_jupyter.pipeline.tags import OWNED_FIELDS, ordered

HEADER = (
    "Written by `bodywork generate` from the stage tags of notebooks and modules.\n"
    "Edit freely: hand-written fields and comments are kept when it runs again."
)


@dataclass
class GenerateResult:
    config_file: Path
    old_text: str | None
    new_text: str
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text

    def diff(self) -> str:
        name = self.config_file.name
        return "".join(
            difflib.unified_diff(
                (self.old_text or "").splitlines(True),
                self.new_text.splitlines(True),
                f"a/{name}",
                f"b/{name}",
            )
        )


def generate(folder: Path, name: str | None = None) -> GenerateResult:
    """Compute the new bodywork.yaml for ``folder`` (nothing is written)."""
    folder = folder.resolve()
    if not folder.is_dir():
        raise BadInputError(f"{folder}: not a folder - give the project folder to scan")
    config = find_config(folder)
    tagged, problems = scan(folder)
    old_text = config.read_text(encoding="utf-8") if config.is_file() else None
    yaml = _yaml()
    doc = _load_existing(yaml, old_text, config) if old_text else None
    notices: list[str] = []
    if doc is None:
        doc = _new_document(name or pipeline_name(folder.name))
    stages = doc.get("stages")
    if not isinstance(stages, CommentedMap):
        stages = doc["stages"] = CommentedMap()
    _merge(stages, tagged, folder, notices)
    out = io.StringIO()
    yaml.dump(doc, out)
    return GenerateResult(config, old_text, out.getvalue(), problems, notices)


def write(result: GenerateResult) -> None:
    from bodywork_jupyter.pipeline.files import atomic_write

    atomic_write(result.config_file, result.new_text)


def apply(result: GenerateResult) -> CheckResult:
    """Write the new file if it changed; what validation says about it."""
    if result.changed:
        write(result)
    return check_text(result.new_text, result.config_file)


def pipeline_name(folder_name: str) -> str:
    """A valid pipeline name from a folder's name ('My Project!' -> 'my-project')."""
    return re.sub(r"[^a-z0-9.-]+", "-", folder_name.lower()).strip("-.") or "pipeline"


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    return yaml


def _new_document(name: str) -> CommentedMap:
    doc = CommentedMap()
    doc["version"] = DoubleQuotedScalarString("2.0")
    doc["pipeline"] = CommentedMap(name=name)
    doc["stages"] = CommentedMap()
    doc.yaml_set_start_comment(HEADER)
    return doc


def _load_existing(yaml: YAML, text: str, config: Path) -> CommentedMap:
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        raise BadInputError(
            f"{config}: not valid YAML ({str(exc).splitlines()[0]}) - "
            "run 'bodywork validate' to see where, fix it, then generate again"
        ) from None
    if doc is None:
        return _new_document(pipeline_name(config.parent.name))
    if not isinstance(doc, CommentedMap):
        raise BadInputError(f"{config}: expected a mapping of sections - fix or remove the file")
    version = str(doc.get("version", ""))
    if version not in ("2.0", ""):
        raise BadInputError(
            f"{config}: is version {version}; generate writes version 2.0 files - "
            f"move it aside (e.g. to {CONFIG_NAMES[0]}.v1) and generate again"
        )
    return doc


def _merge(
    stages: CommentedMap, tagged: list[TaggedFile], folder: Path, notices: list[str]
) -> None:
    by_path = {
        str(entry.get("path")): key for key, entry in stages.items() if isinstance(entry, dict)
    }
    tagged_names = {t.stage for t in tagged}
    # a renamed stage: same file, new name -> rename the entry in place, keeping its fields
    for item in tagged:
        old = by_path.get(item.path)
        if (
            old is not None
            and old != item.stage
            and old not in tagged_names
            and item.stage not in stages
        ):
            position = list(stages).index(old)
            stages.insert(position, item.stage, stages.pop(old))
            notices.append(f"renamed stage '{old}' to '{item.stage}' ({item.path})")
    for item in _in_dependency_order(tagged):
        entry = stages.get(item.stage)
        if not isinstance(entry, dict):
            entry = CommentedMap()
            stages[item.stage] = entry
            notices.append(f"added stage '{item.stage}' ({item.path})")
        desired = ordered({"path": item.path, **item.fields})
        owned = [*OWNED_FIELDS, "service"] if desired.get("kind") == "batch" else OWNED_FIELDS
        for key in owned:
            if key not in desired and key in entry:
                del entry[key]
        _update(entry, desired)
    for key in list(stages):
        entry = stages[key]
        path = entry.get("path") if isinstance(entry, dict) else None
        if key in tagged_names or not isinstance(path, str):
            continue
        if not (folder / path).exists():
            del stages[key]
            notices.append(f"removed stage '{key}': {path} no longer exists")
        else:
            notices.append(
                f"kept stage '{key}': {path} has no tag, so the entry is yours "
                "(delete it from bodywork.yaml if it should go)"
            )


def _update(target: CommentedMap, desired: dict[str, Any]) -> None:
    """Set only the values that differ, so untouched lines keep their comments."""
    for key, value in desired.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, CommentedMap):
            _update(current, value)
        elif key not in target or current != value:
            target[key] = value


def _in_dependency_order(tagged: list[TaggedFile]) -> list[TaggedFile]:
    names = {t.stage: t for t in tagged}
    deps = {
        t.stage: [d for d in t.fields.get("depends_on", []) if isinstance(d, str) and d in names]
        for t in tagged
    }
    if dag.find_cycle(deps):
        return sorted(tagged, key=lambda t: t.path)  # validation reports the cycle
    return [names[n] for n in dag.topological_order(deps)]
