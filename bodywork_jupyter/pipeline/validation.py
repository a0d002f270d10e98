"""Turn pydantic validation errors into Problems a person can act on."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bodywork_jupyter.pipeline.problems import Problem, did_you_mean, dotted_path
from bodywork_jupyter.pipeline.yamlsource import Path_, YamlDocument

M = TypeVar("M", bound=BaseModel)

_TYPE_WORDS = {
    "int_type": ("expected a whole number", "write a whole number, e.g. 3"),
    "int_parsing": ("expected a whole number", "write a whole number, e.g. 3"),
    "int_from_float": ("expected a whole number", "drop the fraction"),
    "float_type": ("expected a number", "write a number, e.g. 0.5"),
    "string_type": ("expected text", "put the value in quotes"),
    "bool_type": ("expected true or false", "write true or false"),
    "list_type": ("expected a list", "write a YAML list: '[a, b]' or one '- item' per line"),
    "dict_type": ("expected a mapping", "write indented 'key: value' lines under it"),
    "model_type": ("expected a mapping", "write indented 'key: value' lines under it"),
    "model_attributes_type": ("expected a mapping", "write indented 'key: value' lines under it"),
}

_BOUND_WORDS = {
    "greater_than_equal": ("ge", "must be at least", "use {} or more"),
    "greater_than": ("gt", "must be more than", "use a value above {}"),
    "less_than_equal": ("le", "must be at most", "use {} or less"),
    "less_than": ("lt", "must be less than", "use a value below {}"),
}

_PATTERN_WORDS = {
    "executable_module_path": (
        "must name a .py or .ipynb file",
        "point it at a module or notebook",
    ),
    "path": ("must name a .py or .ipynb file", "point it at a module or notebook"),
    "name": (
        "may only hold letters, digits, '-' and '.'",
        "rename it, e.g. 'my-pipeline'",
    ),
    "readiness_path": ("must start with '/'", "write an HTTP path such as /healthz"),
    "predict_function": ("must be a Python function name", "name a function the notebook defines"),
    "python": ('must be a Python version such as "3.9"', 'write it in quotes, e.g. "3.9"'),
}


def validate_section(
    model: type[M],
    data: Any,
    prefix: Path_,
    doc: YamlDocument,
    problems: list[Problem],
) -> M | None:
    """Validate one section; on failure append its problems and return None."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_to_problems(exc, model, data, prefix, doc))
        return None


def _to_problems(
    exc: ValidationError, model: type[BaseModel], data: Any, prefix: Path_, doc: YamlDocument
) -> list[Problem]:
    errors = exc.errors(include_url=False)
    located = [(err, *_real_path(data, err["loc"], err["type"] == "missing")) for err in errors]
    # For a union such as ``int | Model`` given a mapping, pydantic reports both "not an
    # int" and the model's own errors below it; the deeper errors are the useful ones.
    deeper = {(*prefix, *path[:n]) for _, path, _ in located for n in range(len(path))}
    # Likewise a value of the right type for one branch that breaks its bounds (-2 for
    # ``int >= 0 | Model``): the bound is the useful message, not "expected a mapping".
    constrained = {(*prefix, *path) for err, path, _ in located if err["type"] not in _TYPE_WORDS}
    merged: dict[Path_, tuple[list[str], str, int]] = {}
    for err, path, known in located:
        full = (*prefix, *path)
        if err["type"] in _TYPE_WORDS and (full in deeper or full in constrained):
            continue
        line = doc.line_of(full if known else full[:-1])
        message, hint = _describe(err, model, path, prefix)
        if full in merged:
            messages = merged[full][0]
            if message not in messages:
                messages.append(message)
            continue
        merged[full] = ([message], hint, line)
    return [
        Problem(doc.file, line, dotted_path(path), _join(messages), hint)
        for path, (messages, hint, line) in merged.items()
    ]


def _join(messages: list[str]) -> str:
    if len(messages) == 1:
        return messages[0]
    # alternatives of a union: "expected a whole number or a mapping"
    got = {m.rpartition(", got ")[2] for m in messages if ", got " in m}
    heads = [m.removeprefix("expected ").rpartition(", got ")[0] or m for m in messages]
    if all(m.startswith("expected ") for m in messages) and len(got) == 1:
        return "expected " + " or ".join(dict.fromkeys(heads)) + f", got {got.pop()}"
    return "; ".join(messages)


def _real_path(data: Any, loc: tuple[int | str, ...], missing: bool) -> tuple[Path_, bool]:
    """Keep the parts of ``loc`` that index the data (pydantic adds union branch tags)."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if isinstance(current, Mapping) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, Mapping) and str(part) in {str(k) for k in current}:
            key = next(k for k in current if str(k) == str(part))
            path.append(str(part))
            current = current[key]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        elif missing and index == len(loc) - 1:
            path.append(part)
            return tuple(str(p) if not isinstance(p, int) else p for p in path), False
    return tuple(str(p) if not isinstance(p, int) else p for p in path), True


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(
    err: ErrorDetails, model: type[BaseModel], path: Path_, prefix: Path_
) -> tuple[str, str]:
    kind = err["type"]
    field = str(path[-1]) if path else ""
    parent = dotted_path((*prefix, *path[:-1])) or "the top level"
    if kind == "missing":
        return "is required", f"add '{field}:' under {parent}"
    if kind == "extra_forbidden":
        allowed = _fields_at(model, path[:-1])
        suggestion = did_you_mean(field, allowed)
        if suggestion:
            return "unknown key", suggestion
        listing = ", ".join(sorted(allowed)) if allowed else "none"
        return "unknown key", f"remove it (allowed here: {listing})"
    if kind in _TYPE_WORDS:
        message, hint = _TYPE_WORDS[kind]
        return f"{message}, got {_short(err['input'])}", hint
    if kind == "string_pattern_mismatch" and field in _PATTERN_WORDS:
        message, hint = _PATTERN_WORDS[field]
        return f"{message}, got {_short(err['input'])}", hint
    if kind in _BOUND_WORDS:
        bound = err.get("ctx", {}).get(_BOUND_WORDS[kind][0])
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        message, hint = _BOUND_WORDS[kind][1:]
        return f"{message} {bound}, got {_short(err['input'])}", hint.format(bound)
    if kind == "literal_error":
        expected = err["msg"].removeprefix("Input should be ")
        return f"expected {expected}, got {_short(err['input'])}", f"use {expected}"
    if kind in {"value_error", "assertion_error"}:
        text = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        message, _, hint = text.partition(" - ")
        return message, hint or "see docs/reference for this field"
    text = err["msg"].replace("Input should be", "must be")
    return f"{text}, got {_short(err['input'])}", "change the value"


def _fields_at(model: type[BaseModel], path: Path_) -> list[str]:
    """The keys allowed in the mapping at ``path`` below ``model``."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """From ``X | None`` or ``int | Model``, the member a mapping can be (a model)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        for member in members:
            inner = _unwrap(member)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        return _unwrap(members[0]) if members else annotation
    return annotation
