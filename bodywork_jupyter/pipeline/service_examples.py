"""A service's example request body: its ``service.example``, else the one its file shows.

A notebook service shows one when a code cell calls its predict function on a literal, as
examples/iris/predict.ipynb's last cell does: ``predict({"sepal length (cm)": 5.1, ...})``.
The first such call wins (cells in order, calls in source order); a call on anything but
a literal (``predict(row)``) is passed over, as is a literal JSON cannot hold. A module
service is read the same way. Nothing is run: the source is parsed (``ast``) and the one
argument read with ``ast.literal_eval``.

Read when a pipeline is deployed (``deploying.prepare``), not when it is validated: the
example is the deployed version's, kept in its Plan with each run.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

from pydantic import JsonValue

from bodywork_jupyter.pipeline.model import Pipeline, Stage
from bodywork_jupyter.pipeline.schema_v2 import EXAMPLE_BYTES

#: A stage file larger than this is not read for an example (a notebook full of outputs).
MAX_FILE_BYTES = 16 * 1024 * 1024
#: An IPython line (``%pip ...``, ``!ls``) that Python cannot parse: read as ``pass``.
_IPYTHON_LINE = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)


def with_examples(pipeline: Pipeline) -> Pipeline:
    """``pipeline`` with an example for each service that has none given, from its file
    (under ``pipeline.root``) when it shows one."""
    changed: dict[str, Stage] = {}
    for name, stage in pipeline.stages.items():
        service = stage.service
        if service is None or service.example is not None:
            continue
        found = file_example(Path(pipeline.root) / stage.path, service.predict_function)
        if found is not None:
            changed[name] = stage.model_copy(
                update={"service": service.model_copy(update={"example": found})}
            )
    if not changed:
        return pipeline
    return pipeline.model_copy(update={"stages": {**pipeline.stages, **changed}})


def file_example(path: Path, function: str = "predict") -> JsonValue:
    """The example a notebook (.ipynb) or module (.py) shows; None: none (or unreadable)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if path.suffix == ".ipynb":
        return notebook_example(text, function)
    return source_example(text, function)


def notebook_example(text: str, function: str = "predict") -> JsonValue:
    """The example in a notebook's JSON: its first code cell that shows one."""
    try:
        notebook = json.loads(text)
    except ValueError:
        return None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source")
        code = "".join(source) if isinstance(source, list) else source
        if not isinstance(code, str) or code.lstrip().startswith("%%"):
            continue  # a cell magic's body is not Python
        found = source_example(_IPYTHON_LINE.sub(r"\1pass", code), function)
        if found is not None:
            return found
    return None


def source_example(code: str, function: str = "predict") -> JsonValue:
    """The literal of the first call ``function(<literal>)`` in Python source; None: none."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):  # ValueError: a NUL byte
        return None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))
    for call in calls:
        if not _calls(call, function):
            continue
        try:
            example = _json(ast.literal_eval(call.args[0]))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, _NotJson):
            continue  # not a literal (predict(row)), or one JSON cannot hold
        if example is None:
            continue
        if len(json.dumps(example, ensure_ascii=False).encode("utf-8")) > EXAMPLE_BYTES:
            continue
        return example
    return None


def _calls(call: ast.Call, function: str) -> bool:
    """``call`` is ``function(one_argument)``: one positional argument, no keywords."""
    return (
        isinstance(call.func, ast.Name)
        and call.func.id == function
        and len(call.args) == 1
        and not isinstance(call.args[0], ast.Starred)
        and not call.keywords
    )


class _NotJson(Exception):
    """A literal JSON cannot hold: a set, bytes, a complex number, a key that is not text."""


def _json(value: object) -> JsonValue:
    """A literal as JSON has it (its tuples as lists), or ``_NotJson``."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {str(key): _json(item) for key, item in value.items()}
    raise _NotJson
