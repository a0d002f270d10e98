"""A Python module's stage tag: a ``# /// bodywork`` comment block holding YAML.

The block follows the shape of PEP 723's inline script metadata::

    # /// bodywork
    # stage: serve
    # kind: service
    # service: {port: 5000}
    # ///
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bodywork_jupyter.errors import TagError
from bodywork_jupyter.pipeline.files import atomic_write
from bodywork_jupyter.pipeline.tags import ordered

MARKER = "# /// bodywork"
_BLOCK = re.compile(r"(?m)^# /// bodywork[ \t]*\n(?P<body>(?:^#(?:[ \t].*)?\n)*?)^# ///[ \t]*$\n?")
_PREAMBLE = re.compile(r"\A(#![^\n]*\n)?(#[^\n]*coding[:=][^\n]*\n)?")


def read_tag_text(text: str, where: str) -> dict[str, Any] | None:
    """The tag in a module's source, or None when it has no block."""
    if MARKER not in text:
        return None
    match = _BLOCK.search(text)
    if match is None:
        raise TagError(
            f"{where}: a '# /// bodywork' block is not closed - end it with a '# ///' line"
        )
    body = "".join(
        line[2:] if line.startswith("# ") else line[1:] for line in match["body"].splitlines(True)
    )
    try:
        data = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise TagError(
            f"{where}: the '# /// bodywork' block is not valid YAML ({exc}) - fix it"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TagError(
            f"{where}: the '# /// bodywork' block must hold 'key: value' lines"
            " - e.g. 'stage: train'"
        )
    return data


def read_tag(path: Path) -> dict[str, Any] | None:
    return read_tag_text(path.read_text(encoding="utf-8"), str(path))


def render_block(tag: dict[str, Any]) -> str:
    body = yaml.safe_dump(ordered(tag), sort_keys=False, default_flow_style=None, width=88)
    return MARKER + "\n" + "".join(f"# {line}\n" for line in body.splitlines()) + "# ///\n"


def with_tag(text: str, tag: dict[str, Any] | None, where: str = "module") -> str:
    """``text`` with its tag block set (or, with None, removed); the rest is untouched."""
    read_tag_text(text, where)  # refuse to edit a broken block
    match = _BLOCK.search(text)
    block = "" if tag is None else render_block(tag)
    if match is not None:
        return text[: match.start()] + block + text[match.end() :]
    if tag is None:
        return text
    preamble = _PREAMBLE.match(text)
    cut = preamble.end() if preamble else 0
    return text[:cut] + block + text[cut:]


def write_tag(path: Path, tag: dict[str, Any] | None) -> bool:
    """Set (or, with None, remove) the module's tag block. Returns whether the file changed."""
    text = path.read_text(encoding="utf-8")
    new_text = with_tag(text, tag, str(path))
    if new_text == text:
        return False
    atomic_write(path, new_text)
    return True
