"""The pipeline DAG: Bodywork's ``a >> b, c >> d`` strings and 2.0's ``depends_on``.

Both become one mapping ``stage -> stages it depends on``. Semantics: a stage
starts as soon as its own dependencies have succeeded (Bodywork ran lock-step
steps; the translation below gives each stage of a step every stage of the step
before as dependencies, so the order of any Bodywork DAG is kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_K8S_NAME = 63


@dataclass(frozen=True)
class DagIssue:
    """A problem with the DAG; the loader adds file, line and field."""

    message: str
    hint: str
    stage: str | None = None


def parse_dag_string(dag: str) -> tuple[list[list[str]], list[DagIssue]]:
    """Split a Bodywork DAG string into steps of stage names.

    Whitespace is dropped (as Bodywork did), so ``a >> b,c`` and ``a>>b, c`` agree.
    """
    issues: list[DagIssue] = []
    compact = re.sub(r"\s+", "", dag)
    if not compact:
        return [], [DagIssue("the DAG is empty", "list the stages, e.g. 'prepare >> train'")]
    steps: list[list[str]] = []
    for number, step in enumerate(compact.split(">>"), start=1):
        if not step:
            issues.append(
                DagIssue(
                    f"step {number} is empty (a '>>' with nothing on one side)",
                    "remove the extra '>>' or put a stage name there",
                )
            )
            continue
        names = step.split(",")
        if "" in names:
            issues.append(
                DagIssue(
                    f"step {number} has an empty stage name (a stray ',')",
                    "remove the extra ','",
                )
            )
        if any(names):
            steps.append([n for n in names if n])
    seen: dict[str, int] = {}
    for number, names_in_step in enumerate(steps, start=1):
        for name in names_in_step:
            if name in seen:
                issues.append(
                    DagIssue(
                        f"stage '{name}' appears more than once (steps {seen[name]} and {number})",
                        "list each stage once: a stage runs once per run",
                        name,
                    )
                )
            else:
                seen[name] = number
            if ">" in name:
                issues.append(
                    DagIssue(
                        f"'{name}' is not a stage name",
                        "separate steps with exactly '>>'",
                        name,
                    )
                )
    return steps, issues


def steps_to_dependencies(steps: Iterable[Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Each stage depends on every stage of the step before it."""
    deps: dict[str, tuple[str, ...]] = {}
    previous: tuple[str, ...] = ()
    for step in steps:
        current = tuple(dict.fromkeys(step))
        for name in current:
            deps.setdefault(name, previous)
        previous = current
    return deps


def find_cycle(dependencies: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]``, or None when the graph is a DAG."""
    try:
        TopologicalSorter(dependencies).prepare()
    except CycleError as exc:
        # graphlib lists each node before the ones that depend on it: the order things run
        return list(exc.args[1])
    return None


def topological_order(dependencies: Mapping[str, Iterable[str]]) -> list[str]:
    """Stages in an order where every stage follows its dependencies (stable by name)."""
    sorter = TopologicalSorter(dependencies)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def k8s_name(name: str) -> str:
    """Bodywork's conversion of a stage name to a Kubernetes name."""
    return name.lower().replace("_", "-")


def k8s_name_issue(name: str) -> DagIssue | None:
    """Why ``name`` cannot become a DNS-1123 label, if it cannot."""
    converted = k8s_name(name)
    if len(converted) > MAX_K8S_NAME:
        return DagIssue(
            f"the name is {len(converted)} characters long; Kubernetes allows {MAX_K8S_NAME}",
            "shorten it",
            name,
        )
    if not _DNS1123_LABEL.match(converted):
        return DagIssue(
            f"'{name}' cannot become a Kubernetes name ('{converted}' is not DNS-1123)",
            "use letters, digits, '-' and '_', starting and ending with a letter or digit",
            name,
        )
    return None


def k8s_collisions(names: Iterable[str]) -> list[DagIssue]:
    """Stage names that become the same Kubernetes name (``stage_1`` and ``stage-1``)."""
    by_k8s: dict[str, list[str]] = {}
    for name in names:
        by_k8s.setdefault(k8s_name(name), []).append(name)
    return [
        DagIssue(
            f"stages {', '.join(repr(n) for n in group)} all become the Kubernetes name "
            f"'{converted}'",
            "rename one of them",
            group[-1],
        )
        for converted, group in by_k8s.items()
        if len(group) > 1
    ]
