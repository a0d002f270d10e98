"""Property tests: YAML that safe_dump never writes (tags, odd keys, long and deep values).

``test_fuzz_loader`` feeds the loader what ``yaml.safe_dump`` writes. People write more:
explicit tags (``!!timestamp``, ``!!float``, ``!!binary``, ``!!set``, ``!!omap``, their
own ``!tag``), scalars that only look like a type (``2001-02-30``), keys that are not
text, values of thousands of characters and documents nested thousands deep. Whatever
they write, ``check_text`` answers with problems or a pipeline, ``load_pipeline`` raises
only ConfigError, and ``bodywork validate`` exits 0 or 2 (never 1, an internal error).

The documents are the valid configs of ``test_fuzz_loader`` written out in YAML's flow
style by ``render``, with one or more values or keys swapped for a raw YAML fragment.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bodywork_jupyter.cli.main import main
from bodywork_jupyter.errors import ConfigError
from bodywork_jupyter.pipeline.load import check_text, load_pipeline
from tests.unit.test_fuzz_loader import CONFIG, ROOT, VALID_V1, VALID_V2, assert_well_formed

_settings = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Raw(str):
    """A YAML fragment written as it is (a tagged scalar, a flow collection, ...)."""


def render(node: Any) -> str:
    """``node`` as one line of flow-style YAML; Raw fragments verbatim."""
    if isinstance(node, Raw):
        return str(node)
    if isinstance(node, dict):
        return "{" + ", ".join(f"? {render(k)} : {render(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(render(item) for item in node) + "]"
    if isinstance(node, bool) or node is None:
        return {True: "true", False: "false", None: "null"}[node]
    if isinstance(node, float):
        return repr(node) if node == node and abs(node) != float("inf") else ".nan"
    if isinstance(node, int):
        return str(node)
    return json.dumps(str(node))  # a JSON string is a YAML double-quoted scalar


# -- fragments ---------------------------------------------------------------------------------

text = st.text(max_size=12)
quoted = text.map(json.dumps)
plain_lookalikes = st.sampled_from(
    [
        "2001-12-14",
        "2001-02-30",
        "2001-13-01",
        "0000-01-01",
        "2001-12-14 21:59:43.10 -5",
        "2001-12-14 25:00:00",
        "2001-12-14t21:59:43.10-99:00",
        "12:30:45",
        "190:20:30",
        "0x",
        "0o",
        "0b",
        "0x_",
        "1_000",
        "1__0",
        "._",
        "+.inf",
        "-.nan",
        "0.",
        ".",
        "1e999",
        "1e-999",
        "yes",
        "No",
        "on",
        "OFF",
        "~",
        "null",
        "=",
        "<<",
    ]
)
scalar_tags = st.sampled_from(
    [
        "!!timestamp",
        "!!float",
        "!!int",
        "!!bool",
        "!!null",
        "!!str",
        "!!binary",
        "!!value",
        "!!merge",
        "!!yaml",
        "!custom",
        "!",
        "!<tag:example.com,2024:x>",
        "!!python/name:os.system",
        "!!python/object/apply:os.system",
    ]
)
tagged_scalars = st.builds(
    lambda tag, value: Raw(f"{tag} {value}"), scalar_tags, st.one_of(plain_lookalikes, quoted)
)
collection_tags = st.sampled_from(["!!set", "!!omap", "!!pairs", "!!seq", "!!map", "!custom"])
small_collections = st.sampled_from(
    ["{a, b}", "{a: 1}", "[a, b]", "[{a: 1}, {b: 2}]", "[[a, 1]]", "{}", "[]", "{? [a]: 1}"]
)
tagged_collections = st.builds(
    lambda tag, value: Raw(f"{tag} {value}"), collection_tags, small_collections
)
#: 300 to 10,000 characters: names, paths, requirements, images longer than any system takes
long_text = st.integers(min_value=300, max_value=10_000).flatmap(
    lambda size: st.sampled_from(["x", "a.", "é", "a/", "-", " ", "%", "\\", "\x00", "0"]).map(
        lambda unit: (unit * size)[:size]
    )
)
long_scalars = st.one_of(long_text, long_text.map(lambda s: Raw(json.dumps(s))))


@st.composite
def deep(draw: st.DrawFn) -> Raw:
    """A collection nested 50 to 5,000 deep (lists, mappings, or both)."""
    depth = draw(st.integers(min_value=50, max_value=5_000))
    shape = draw(st.sampled_from(["list", "map", "mixed"]))
    if shape == "list":
        return Raw("[" * depth + "1" + "]" * depth)
    if shape == "map":
        return Raw("{a: " * depth + "1" + "}" * depth)
    return Raw("[{a: " * (depth // 2) + "1" + "}]" * (depth // 2))


odd_values = st.one_of(
    tagged_scalars, tagged_collections, plain_lookalikes.map(Raw), long_scalars, deep()
)
odd_keys = st.one_of(
    tagged_scalars,
    plain_lookalikes.map(Raw),
    st.sampled_from([Raw(k) for k in ("1", "-1", "1.5", "true", "null", "[a, b]", "{a: b}")]),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    long_scalars,
)


# -- mutations of the valid configs ------------------------------------------------------------


def _places(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``node``, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            _places(value, out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.append((node, index))
            _places(value, out)
    return out


def _string_places(node: Any) -> list[tuple[Any, Any]]:
    return [(c, k) for c, k in _places(node, []) if isinstance(c[k], str)]


@st.composite
def odd_documents(draw: st.DrawFn) -> str:
    config = copy.deepcopy(draw(st.sampled_from([VALID_V1, VALID_V2])))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = _places(config, [])
        action = draw(st.sampled_from(["value", "key", "string", "top"]))
        if action == "string":  # a long value in a field that holds text
            container, key = draw(st.sampled_from(_string_places(config) or places))
            container[key] = draw(long_scalars)
        elif action == "value":
            container, key = draw(st.sampled_from(places))
            container[key] = draw(odd_values)
        elif action == "key":
            dicts = [c for c, _ in places if isinstance(c, dict)] + [config]
            container = draw(st.sampled_from(dicts))
            if container:
                old = draw(st.sampled_from(sorted(container, key=str)))
                container[draw(odd_keys)] = container.pop(old)
        else:
            config[draw(odd_keys)] = draw(odd_values)
    return render(config) + "\n"


def test_render_writes_what_yaml_reads_back() -> None:
    for config in (VALID_V1, VALID_V2):
        result = check_text(render(config), CONFIG)
        assert result.pipeline is not None, [p.render() for p in result.problems]


@_settings
@given(odd_documents())
def test_odd_documents_give_a_check_result(text: str) -> None:
    assert_well_formed(check_text(text, CONFIG), text)


@_settings
@given(odd_documents())
def test_odd_documents_raise_only_config_error(text: str) -> None:
    CONFIG.write_text(text, encoding="utf-8")
    try:
        load_pipeline(ROOT)
    except ConfigError as exc:
        assert exc.problems and exc.exit_code == 2


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(odd_documents())
def test_validate_exits_0_or_2(text: str) -> None:
    """The command, in this process: its JSON output is JSON, and never an internal error."""
    CONFIG.write_text(text, encoding="utf-8")
    for args in (["validate", str(ROOT)], ["validate", "--json", str(ROOT)]):
        out, err = io.StringIO(), io.StringIO()
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as exited,
        ):
            main(args)
        assert exited.value.code in (0, 2), err.getvalue()
        assert "internal error" not in err.getvalue(), err.getvalue()
        if "--json" in args:
            assert json.loads(out.getvalue())["valid"] is (exited.value.code == 0)


@pytest.mark.parametrize(
    "fragment",
    [
        "2001-02-30",
        "!!timestamp x",
        "!!float x",
        "!!int 0x",
        "!!bool maybe",
        "2001-12-14 25:00:00",
        "!!binary a",
        "!!set [a]",
        "!!omap {a: 1}",
        "!custom x",
    ],
)
@pytest.mark.parametrize("where", ["key", "value"])
def test_a_value_its_tag_cannot_read_is_a_problem_at_its_line(fragment: str, where: str) -> None:
    entry = f"{fragment}: {{path: prep.py}}" if where == "key" else f"a: {{path: {fragment}}}"
    text = f'version: "2.0"\npipeline: {{name: p}}\nstages:\n  {entry}\n'
    result = check_text(text, CONFIG)
    assert result.pipeline is None
    assert result.errors[0].line == 4, [p.render() for p in result.problems]
    assert_well_formed(result, text)


@pytest.mark.parametrize(
    "path", ["x" * 300 + ".py", "a/" * 3000 + "b.py", "pre\x00p.py", "sub/" + "é" * 200 + ".py"]
)
@pytest.mark.parametrize("field", ["path", "requirements"])
def test_a_path_no_filesystem_opens_is_a_problem(path: str, field: str) -> None:
    stage = {"path": "prep.py", field: path}
    text = render({"version": "2.0", "pipeline": {"name": "p"}, "stages": {"a": stage}})
    result = check_text(text, CONFIG)
    assert result.pipeline is None
    assert [p.path for p in result.errors] == [f"stages.a.{field}"], result.errors
    assert_well_formed(result, text)
