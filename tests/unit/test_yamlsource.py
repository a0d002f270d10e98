"""Safe YAML: line numbers, duplicate keys, refused tags, alias bombs, odd documents."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bodywork_jupyter.pipeline.load import check, check_text
from bodywork_jupyter.pipeline.yamlsource import MAX_EXPANDED_NODES, load_yaml


def only_error(text: str) -> str:
    result = check_text(text, Path("/nowhere/bodywork.yaml"), "bodywork.yaml")
    assert result.pipeline is None
    assert len(result.errors) == 1, [p.render() for p in result.problems]
    return result.errors[0].render()


def test_lines_of_keys_and_list_items() -> None:
    text = (
        "version: '2.0'\npipeline:\n  name: x\nstages:\n  a:\n    args:\n      - one\n      - two\n"
    )
    doc, problems = load_yaml(text, "f.yaml")
    assert problems == []
    assert doc.lines[("pipeline", "name")] == 3
    assert doc.lines[("stages", "a", "args")] == 6
    assert doc.lines[("stages", "a", "args", 1)] == 8
    # a path that is not in the file falls back to its nearest ancestor
    assert doc.line_of(("stages", "a", "batch", "retries")) == 5
    assert doc.line_of(("nothing", "here")) == 1


def test_a_key_keeps_its_own_line_when_its_value_starts_below() -> None:
    doc, _ = load_yaml("a:\n\n  b: 1\n", "f.yaml")
    assert doc.lines[("a",)] == 1
    assert doc.lines[("a", "b")] == 3


@pytest.mark.parametrize(
    "text",
    [
        "version: !!python/object/apply:os.system ['echo pwned']\n",
        "version: !!python/name:os.system\n",
        "pipeline: !!python/object:collections.OrderedDict {}\n",
        "version: !custom '2.0'\n",
    ],
)
def test_python_and_custom_tags_are_refused(text: str) -> None:
    rendered = only_error(text)
    assert rendered.startswith("bodywork.yaml:1: not valid YAML:")
    assert "remove the tag" in rendered


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly() -> None:
    text = "version: '2.0'\n" + billion_laughs()
    started = time.perf_counter()
    rendered = only_error(text)
    assert time.perf_counter() - started < 1.0
    assert f"more than {MAX_EXPANDED_NODES} values" in rendered
    assert "alias bomb" in rendered


def test_modest_aliases_are_fine() -> None:
    doc, problems = load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\nlist: [*b, *b]\n", "f")
    assert problems == []
    assert doc.data["other"] == {"x": 1, "y": 2}


@pytest.mark.parametrize("text", ["a: &a\n  b: *a\n", "&a [*a]\n", "x: &x [1, [2, *x]]\n"])
def test_a_recursive_alias_is_refused(text: str) -> None:
    assert "recursive" in only_error(text)


def test_duplicate_keys_are_errors_with_both_lines() -> None:
    text = (
        "version: '2.0'\n"
        "pipeline:\n"
        "  name: first\n"
        "  name: second\n"
        "stages:\n"
        "  a: {path: a.py}\n"
        "  a: {path: b.py}\n"
    )
    result = check_text(text, Path("/nowhere/bodywork.yaml"), "bodywork.yaml")
    rendered = [p.render() for p in result.errors]
    assert (
        "bodywork.yaml:4: pipeline.name: duplicate key (first given on line 3) - keep one of "
        "them: YAML would silently use the last"
    ) in rendered
    assert any(
        r.startswith("bodywork.yaml:7: stages.a: duplicate key (first given on line 6)")
        for r in rendered
    )
    assert result.pipeline is None


def test_a_duplicate_top_level_section_is_an_error() -> None:
    _, problems = load_yaml("version: '2.0'\nversion: '1.1'\n", "f")
    assert [(p.line, p.path) for p in problems] == [(2, "version")]


@pytest.mark.parametrize(
    ("text", "got"),
    [("- version: '2.0'\n", "list"), ("just some words\n", "str"), ("42\n", "int")],
)
def test_a_document_that_is_not_a_mapping(text: str, got: str) -> None:
    rendered = only_error(text)
    assert f"expected a mapping of sections, got {got}" in rendered


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file(text: str) -> None:
    assert only_error(text) == (
        "bodywork.yaml:1: the file is empty - start with 'version: \"2.0\"'"
    )


def test_syntax_errors_name_the_line() -> None:
    text = "version: '2.0'\npipeline:\n  name: x\n  namespace: ml\n stages: {}\n"
    rendered = only_error(text)
    assert rendered.startswith("bodywork.yaml:5: not valid YAML:")
    assert rendered.endswith("- fix the YAML syntax (check indentation, colons and quotes)")


def test_an_unclosed_bracket_says_where_it_was_opened() -> None:
    text = "version: '2.0'\npipeline:\n  name: [unclosed\nstages: {}\n"
    rendered = only_error(text)
    assert rendered.startswith("bodywork.yaml:4: not valid YAML:")
    assert "(while parsing a flow sequence started on line 3)" in rendered


def test_a_tab_in_the_indentation() -> None:
    assert only_error("version: '2.0'\npipeline:\n\tname: x\n").startswith("bodywork.yaml:3:")


def test_two_documents_in_one_file_are_refused() -> None:
    assert only_error("version: '2.0'\n---\nversion: '1.1'\n") == (
        "bodywork.yaml:2: not valid YAML: a second YAML document (after '---') - "
        "keep one document: bodywork.yaml holds one pipeline"
    )


def test_unhashable_and_deeply_nested_documents() -> None:
    assert "unhashable" in only_error("? [a, b]\n: 1\n")
    assert only_error("a: " + "[" * 5000 + "]" * 5000 + "\n").startswith("bodywork.yaml:1:")


def test_a_file_that_is_not_utf8(project) -> None:
    root = project(None)
    (root / "bodywork.yaml").write_bytes(b"version: '2.0'\nname: \xff\xfe\n")
    result = check(root)
    assert [p.render() for p in result.errors] == [
        f"{result.errors[0].file}:1: not UTF-8 text (invalid start byte) - save the file as UTF-8"
    ]


def test_a_missing_config_says_how_to_make_one(project) -> None:
    root = project(None)
    result = check(root)
    assert result.pipeline is None
    [problem] = result.errors
    assert problem.message == "no bodywork.yaml found"
    assert "bodywork generate" in problem.hint


def test_bodywork_yml_is_found_too(project) -> None:
    root = project(None, "a.py")
    (root / "bodywork.yml").write_text(
        "version: '2.0'\npipeline: {name: p}\nstages:\n  a: {path: a.py}\n"
    )
    result = check(root)
    assert result.pipeline is not None
    assert result.config_file.name == "bodywork.yml"
