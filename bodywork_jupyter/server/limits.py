"""Bounds on what a request may send, checked before anything parses or opens it.

A request over a bound is a 400 that says which bound, never a 500 from deep inside
(``json.loads`` recursing 100,000 levels down, a file name the filesystem refuses).
Paths have their own bounds, in ``paths``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bodywork_jupyter.server.errors import ApiError

#: The largest request body read (a deploy with its notebook parameters is a few KB).
MAX_BODY_BYTES = 1 << 20
#: The deepest a JSON body may nest (a parameter value is rarely deeper than 3).
MAX_JSON_DEPTH = 64
#: The longest name in a URL or a query (a deployment, a run id or prefix, a stage, a target).
MAX_NAME = 255
#: The longest value of any other query argument (``path`` is bounded again by ``paths``).
MAX_QUERY_VALUE = 4096

#: A JSON string (possessive: never backtracks), an unclosed quote, or a bracket.
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|"|[\[\]{}]')


def json_body(raw: bytes) -> Any:
    """``raw`` parsed as JSON, once it is known to be small and shallow enough."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(
            f"the request body is {len(raw)} bytes - send at most {MAX_BODY_BYTES} bytes"
        )
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise ApiError(
            f"the request body nests more than {MAX_JSON_DEPTH} levels deep - flatten it"
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(f"the request body is not JSON ({exc}) - send a JSON object") from None


def json_depth(raw: bytes, stop: int = MAX_JSON_DEPTH) -> int:
    """How deep the brackets outside strings nest (counting stops just past ``stop``).

    Not a parser: it only has to find the depth ``json.loads`` would recurse to. After an
    unclosed quote the rest is one string to JSON (and invalid), so counting ends there.
    """
    depth = deepest = 0
    for token in _TOKENS.finditer(raw):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop:
                break
        elif char in (b"]", b"}"):
            depth -= 1
        elif char == b'"':
            break
    return deepest


def check_name(what: str, value: str) -> None:
    """A name from a URL or a query: at most MAX_NAME characters."""
    if len(value) > MAX_NAME:
        raise ApiError(f"{what} is {len(value)} characters long - give at most {MAX_NAME}")


def check_query(name: str, value: str) -> None:
    if len(value) > MAX_QUERY_VALUE:
        raise ApiError(f"?{name}= is {len(value)} characters long - give at most {MAX_QUERY_VALUE}")
