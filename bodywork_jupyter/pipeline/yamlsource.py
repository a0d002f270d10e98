"""Safe YAML loading that remembers where every key came from.

PyYAML's safe loader refuses Python tags. On top of it we add what a config
loader needs: the line of every key (so problems can say ``FILE:LINE``),
duplicate-key detection (YAML silently keeps the last one), and a bound on how
far aliases may expand (a "billion laughs" document is refused before anything
walks it). A scalar its tag cannot read (``2001-02-30``, ``!!float x``, ``!!bool maybe``)
is a problem at its line too: PyYAML's constructors raise plain ValueErrors for those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from bodywork_jupyter.pipeline.problems import Problem

Path_ = tuple[str | int, ...]

#: Largest number of nodes a document may expand to once aliases are resolved.
MAX_EXPANDED_NODES = 200_000

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG_PREFIX = "tag:yaml.org,2002:"


class _BadValue(yaml.MarkedYAMLError):
    """A scalar its (explicit or implicit) tag could not turn into a value."""

    def __init__(self, node: yaml.Node, cause: Exception) -> None:
        tag = str(node.tag)
        shown = f"!!{tag.removeprefix(_TAG_PREFIX)}" if tag.startswith(_TAG_PREFIX) else tag
        text = _short(str(node.value)) if isinstance(node, yaml.ScalarNode) else "the value"
        # a ValueError says why (no 30 February), but may repeat all of a long value
        why = f" ({_short(str(cause), repr_=False)})" if isinstance(cause, ValueError) else ""
        super().__init__(
            problem=f"{text} is not a valid {shown}{why}", problem_mark=node.start_mark
        )


def _short(text: str, repr_: bool = True, size: int = 60) -> str:
    cut = text if len(text) <= size else text[:size]
    shown = repr(cut) if repr_ else cut
    return shown if cut == text else shown + "..."


class _Loader(_BaseLoader):  # type: ignore[misc]
    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:  # a safe constructor's error is the document's, not ours
            raise _BadValue(node, exc) from None


@dataclass
class YamlDocument:
    """A parsed document plus the line (1-based) of every key and sequence item."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def load_yaml(text: str, file: str) -> tuple[YamlDocument, list[Problem]]:
    """Parse ``text``; problems are returned, never raised."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(file, None, {(): 1}), []
        problems = _check_expansion(node, file)
        if problems:
            return YamlDocument(file, None, {(): 1}), problems
        doc = YamlDocument(file, loader.construct_document(node))
        _record_lines(node, (), doc.lines, problems, file)
        return doc, problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or "invalid YAML"
        context = exc.context_mark
        opened = exc.context and ("flow" in exc.context or "quoted" in exc.context)
        if opened and context is not None and context.line + 1 != line:
            # e.g. an unclosed '[': say where it was opened, not only where it was noticed
            what += f" ({exc.context} started on line {context.line + 1})"
        if isinstance(exc, _BadValue):
            hint = "fix the value, or quote it (and drop any '!!' tag) to keep it as text"
        elif what.startswith("but found another document"):
            what = "a second YAML document (after '---')"
            hint = "keep one document: bodywork.yaml holds one pipeline"
        elif "constructor" in what or "tag" in what:
            hint = "remove the tag: bodywork.yaml holds plain YAML only (no Python objects)"
        else:
            hint = "fix the YAML syntax (check indentation, colons and quotes)"
        return YamlDocument(file, None), [Problem(file, line, "", f"not valid YAML: {what}", hint)]
    except yaml.YAMLError as exc:  # errors without a position, e.g. a bad stream
        return YamlDocument(file, None), [
            Problem(file, 1, "", f"not valid YAML: {exc}", "save the file as UTF-8 text")
        ]
    except RecursionError:
        return YamlDocument(file, None), [
            Problem(file, 1, "", "the YAML is nested too deeply", "flatten the document")
        ]
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, file: str) -> list[Problem]:
    """Count the nodes the document expands to, sharing work between aliased nodes."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise _Recursive(node)
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_EXPANDED_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_EXPANDED_NODES:
                    break
        in_progress.discard(key)
        sizes[key] = total
        return total

    try:
        if size(root) > MAX_EXPANDED_NODES:
            return [
                Problem(
                    file,
                    root.start_mark.line + 1,
                    "",
                    f"the document expands to more than {MAX_EXPANDED_NODES} values "
                    "through aliases (an alias bomb?)",
                    "write the values out instead of nesting anchors and aliases",
                )
            ]
    except _Recursive as rec:
        return [
            Problem(
                file,
                rec.node.start_mark.line + 1,
                "",
                "an alias refers to the value that contains it (a recursive structure)",
                "remove the recursive alias",
            )
        ]
    except RecursionError:
        return [Problem(file, 1, "", "the YAML is nested too deeply", "flatten the document")]
    return []


class _Recursive(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _key_of(node: yaml.Node) -> str | int:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.tag}>"


def _record_lines(
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    problems: list[Problem],
    file: str,
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str | int, int] = {}
        for key_node, value_node in node.value:
            key = _key_of(key_node)
            line = key_node.start_mark.line + 1
            if key in seen and key_node.value != "<<":
                dotted = ".".join(str(p) for p in (*path, key))
                problems.append(
                    Problem(
                        file,
                        line,
                        dotted,
                        f"duplicate key (first given on line {seen[key]})",
                        "keep one of them: YAML would silently use the last",
                    )
                )
                continue
            seen[key] = line
            lines[(*path, key)] = line
            _record_lines(value_node, (*path, key), lines, problems, file)
            # keep the key's own line for the path, not the value's
            lines[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, problems, file)
