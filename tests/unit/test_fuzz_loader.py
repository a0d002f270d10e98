"""Property tests: whatever the input, the loader answers with Problems, never a crash."""

from __future__ import annotations

import copy
import itertools
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bodywork_jupyter.errors import ConfigError
from bodywork_jupyter.pipeline import dag
from bodywork_jupyter.pipeline.load import CheckResult, check_text, load_pipeline

# One folder for the whole module: hypothesis runs many examples per test function,
# and function-scoped fixtures would be shared between them anyway.
_TMP = tempfile.TemporaryDirectory(prefix="bw-fuzz-")
ROOT = Path(_TMP.name)
CONFIG = ROOT / "bodywork.yaml"
for _name in ("prep.py", "train.ipynb", "serve.py", "requirements.txt", "sub/score.py"):
    (ROOT / _name).parent.mkdir(parents=True, exist_ok=True)
    (ROOT / _name).write_text("x = 1\n")
(ROOT / "subdir").mkdir(exist_ok=True)

_settings = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_well_formed(result: CheckResult, text: str) -> None:
    """The invariants every answer of check_text keeps."""
    assert isinstance(result, CheckResult)
    if result.pipeline is None:
        assert result.errors, "no pipeline, but no error to say why"
    else:
        assert not result.errors
    last_line = text.count("\n") + 2
    for problem in result.problems:
        assert problem.severity in ("error", "warning")
        assert problem.message
        assert problem.hint, f"no way to fix it: {problem.render()}"
        assert 0 < problem.line <= last_line, problem
        rendered = problem.render()
        assert rendered.startswith(f"{problem.file}:{problem.line}: ")


# -- DAG strings ------------------------------------------------------------------------------

dag_text = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab_-1>, \t\n")), max_size=40),
    st.text(max_size=40),
    st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "d", "", " ", "a_b", ">"]), max_size=4).map(
            ",".join
        ),
        max_size=5,
    ).map(" >> ".join),
)


@_settings
@given(dag_text)
def test_parse_dag_string_never_raises(text: str) -> None:
    steps, issues = dag.parse_dag_string(text)
    for step in steps:
        assert step, "an empty step"
        assert all(name and name.strip() == name for name in step)
    if not issues:
        # a clean DAG round-trips, and its dependencies form a graph graphlib accepts
        again, _ = dag.parse_dag_string(" >> ".join(", ".join(s) for s in steps))
        assert again == steps
        dag.find_cycle(dag.steps_to_dependencies(steps))


@_settings
@given(st.dictionaries(st.sampled_from("abcdef"), st.lists(st.sampled_from("abcdef"), max_size=3)))
def test_find_cycle_returns_a_real_cycle(graph: dict[str, list[str]]) -> None:
    cycle = dag.find_cycle(graph)
    if cycle is None:
        assert len(dag.topological_order(graph)) >= len(graph)
        return
    assert cycle[0] == cycle[-1] and len(cycle) >= 2
    # graphlib lists each stage before the ones that depend on it
    for earlier, later in itertools.pairwise(cycle):
        assert earlier in graph.get(later, [])


# -- random YAML ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["1.1", "2.0", "prep.py", "train.ipynb", "a >> b", "10m", "* * * * *"]),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["version", "pipeline", "stages", "logging", "name", "DAG", "batch", "service", "path"]
    ),
    st.integers(min_value=-3, max_value=3),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=25,
)


@_settings
@given(documents)
def test_random_documents_give_a_check_result(data: Any) -> None:
    text = yaml.safe_dump(data)
    assert_well_formed(check_text(text, CONFIG), text)


@_settings
@given(
    st.fixed_dictionaries(
        {"version": st.sampled_from(["1.1", "2.0", 1.1, 2.0])},
        optional={
            "pipeline": documents,
            "stages": documents,
            "logging": documents,
        },
    )
)
def test_random_sections_give_a_check_result(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data)
    assert_well_formed(check_text(text, CONFIG), text)


yaml_alphabet = st.sampled_from([*"ab:- \n\t'\"[]{}&*!#|>,?%@`0.", "version: ", "  "])


@_settings
@given(st.one_of(st.text(max_size=200), st.lists(yaml_alphabet, max_size=60).map("".join)))
def test_random_text_gives_a_check_result(text: str) -> None:
    assert_well_formed(check_text(text, CONFIG), text)


# -- near-valid configs with one or more mutations ---------------------------------------------

VALID_V1: dict[str, Any] = {
    "version": "1.1",
    "pipeline": {
        "name": "fuzz-pipe",
        "docker_image": "bodyworkml/bodywork-core:3.0",
        "DAG": "prep >> train >> serve",
        "usage_stats": False,
        "run_on_failure": "alert",
        "namespace": "ml",
        "secrets_group": "dev",
    },
    "stages": {
        "prep": {
            "executable_module_path": "prep.py",
            "args": ["--rows", "100"],
            "requirements": ["numpy"],
            "cpu_request": 0.5,
            "memory_request_mb": 100,
            "secrets": {"DB_PASSWORD": "db-creds"},
            "batch": {"max_completion_time_seconds": 30, "retries": 2},
        },
        "train": {
            "executable_module_path": "train.ipynb",
            "cpu_request": 1.0,
            "memory_request_mb": 200,
            "batch": {"max_completion_time_seconds": 60, "retries": 0},
        },
        "serve": {
            "executable_module_path": "serve.py",
            "cpu_request": 0.25,
            "memory_request_mb": 100,
            "service": {
                "max_startup_time_seconds": 30,
                "replicas": 2,
                "port": 5000,
                "ingress": True,
            },
        },
        "alert": {
            "executable_module_path": "sub/score.py",
            "cpu_request": 0.25,
            "memory_request_mb": 50,
            "batch": {"max_completion_time_seconds": 30, "retries": 0},
        },
    },
    "logging": {"log_level": "INFO"},
}

VALID_V2: dict[str, Any] = {
    "version": "2.0",
    "pipeline": {
        "name": "fuzz-pipe",
        "image": "ghcr.io/example/stage:1",
        "namespace": "ml",
        "secrets_group": "dev",
        "schedule": "0 3 * * *",
        "run_on_failure": "alert",
        "log_level": "DEBUG",
    },
    "stages": {
        "prep": {
            "path": "prep.py",
            "args": ["--rows", "100"],
            "env": {"MODE": "fast", "N": 3, "FLAG": True},
            "secrets": {"DB_PASSWORD": "db-creds", "TOKEN": {"secret": "api", "key": "token"}},
            "requirements": "requirements.txt",
            "resources": {"cpu_request": 0.5, "memory_limit_mb": 512, "gpu": 0},
            "timeout": "10m",
            "retries": {"count": 3, "backoff": "5s", "backoff_factor": 2, "max_backoff": 60},
        },
        "train": {
            "path": "train.ipynb",
            "depends_on": ["prep"],
            "parameters": {"alpha": 0.1, "layers": [1, 2]},
            "requirements": ["scikit-learn"],
            "image": "python:3.11",
            "timeout": 600,
            "retries": 1,
        },
        "serve": {
            "path": "serve.py",
            "kind": "service",
            "depends_on": ["train"],
            "service": {
                "port": 8080,
                "replicas": 2,
                "readiness_path": "/healthz",
                "ingress": True,
                "predict_function": "predict",
            },
        },
        "alert": {"path": "sub/score.py"},
    },
}

FIELD_NAMES = sorted(
    {"version", "pipeline", "stages", "logging", "depends_on", "kind", "path", "retries"}
    | set(VALID_V1["pipeline"])
    | set(VALID_V1["stages"]["prep"])
    | set(VALID_V1["stages"]["serve"]["service"])
    | set(VALID_V2["pipeline"])
    | set(VALID_V2["stages"]["prep"])
)


def _containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, out)
    return out


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    config = copy.deepcopy(draw(st.sampled_from([VALID_V1, VALID_V2])))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        containers = _containers(config, [])
        target = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(["delete", "replace", "rename", "add", "swap"]))
        if isinstance(target, dict):
            if not target:
                target[draw(keys)] = draw(scalars)
                continue
            key = draw(st.sampled_from(sorted(target, key=str)))
            if action == "delete":
                del target[key]
            elif action == "replace":
                target[key] = draw(st.one_of(scalars, documents))
            elif action == "rename":
                new = draw(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)))
                target[new] = target.pop(key)
            elif action == "add":
                target[draw(st.one_of(st.sampled_from(FIELD_NAMES), keys))] = draw(documents)
            else:
                other = draw(st.sampled_from(containers))
                target[key] = copy.deepcopy(other)
        elif target:
            index = draw(st.integers(min_value=0, max_value=len(target) - 1))
            if action == "delete":
                del target[index]
            else:
                target[index] = draw(st.one_of(scalars, documents))
        else:
            target.append(draw(scalars))
    return config


@_settings
@given(mutated_configs())
def test_mutated_configs_give_a_check_result(config: dict[str, Any]) -> None:
    text = yaml.safe_dump(config, sort_keys=False)
    assert_well_formed(check_text(text, CONFIG), text)


@_settings
@given(mutated_configs())
def test_load_pipeline_raises_only_config_error(config: dict[str, Any]) -> None:
    CONFIG.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    try:
        pipeline = load_pipeline(ROOT)
    except ConfigError as exc:
        assert exc.problems
        assert all(p.severity == "error" for p in exc.problems)
        assert exc.exit_code == 2
    else:
        assert set(pipeline.stages) <= set(config["stages"])


@st.composite
def edited_texts(draw: st.DrawFn) -> str:
    """A valid file, edited as a person might: lines dropped, doubled, re-indented, typed in."""
    base = draw(st.sampled_from([VALID_V1, VALID_V2]))
    lines = yaml.safe_dump(base, sort_keys=False).splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(["drop", "double", "indent", "dedent", "type", "cut"]))
        line = lines[index]
        if action == "drop":
            del lines[index]
        elif action == "double":
            lines.insert(index, line)
        elif action == "indent":
            lines[index] = " " * draw(st.integers(1, 4)) + line
        elif action == "dedent":
            lines[index] = line[draw(st.integers(1, 4)) :]
        elif action == "type":
            at = draw(st.integers(min_value=0, max_value=len(line)))
            lines[index] = line[:at] + draw(yaml_alphabet) + line[at:]
        else:
            lines[index] = line[: draw(st.integers(min_value=0, max_value=len(line)))]
        if not lines:
            break
    return "\n".join(lines) + "\n"


@_settings
@given(edited_texts())
def test_edited_texts_give_a_check_result(text: str) -> None:
    assert_well_formed(check_text(text, CONFIG), text)


def test_the_unmutated_configs_are_valid() -> None:
    for config in (VALID_V1, VALID_V2):
        text = yaml.safe_dump(config, sort_keys=False)
        result = check_text(text, CONFIG)
        assert result.pipeline is not None, [p.render() for p in result.problems]
