"""A service's example request body: bodywork.yaml's ``service.example``, else the literal
its notebook (or module) passes to ``predict``, recorded in the Plan when it is deployed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bodywork_jupyter import deploying
from bodywork_jupyter.engine.store import Run
from bodywork_jupyter.pipeline.load import check, load_pipeline
from bodywork_jupyter.pipeline.schema_v2 import EXAMPLE_BYTES
from bodywork_jupyter.pipeline.service_examples import (
    file_example,
    notebook_example,
    source_example,
    with_examples,
)
from bodywork_jupyter.plan import Plan
from bodywork_jupyter.reader import examples_of
from tests.projects import example_copy, notebook, write_yaml

IRIS_FLOWER = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}


def service_project(folder: Path, example: str | None = None, *cells: str) -> Path:
    """A 2.0 project: a batch stage ``prep`` and a notebook service ``serve`` (``cells``),
    with ``example:`` (YAML text, indented under ``service``) when given."""
    notebook(folder / "prep.ipynb", "print('prep')")
    notebook(folder / "serve.ipynb", "def predict(request):\n    return request", *cells)
    lines = (
        ["      example:", *(f"        {line}" for line in example.splitlines())] if example else []
    )
    write_yaml(
        folder,
        "\n".join(
            [
                'version: "2.0"',
                "pipeline: {name: demo}",
                "stages:",
                "  prep: {path: prep.ipynb}",
                "  serve:",
                "    path: serve.ipynb",
                "    service:",
                "      port: 5001",
                *lines,
                "",
            ]
        ),
    )
    return folder


# -- the field ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml", "value"),
    [
        ("x: 1\nname: iris", {"x": 1, "name": "iris"}),
        ("[1, 2.5, true, null, text]", [1, 2.5, True, None, "text"]),
        ('"just text"', "just text"),
        ("42", 42),
        ("rows:\n  - {a: [1, 2]}\n  - {a: []}", {"rows": [{"a": [1, 2]}, {"a": []}]}),
        ("{when: '2024-01-31'}", {"when": "2024-01-31"}),
    ],
)
def test_a_service_example_in_bodywork_yaml(tmp_path: Path, yaml: str, value: object) -> None:
    pipeline = load_pipeline(service_project(tmp_path / "p", yaml))
    assert pipeline.stages["serve"].service is not None
    assert pipeline.stages["serve"].service.example == value
    assert pipeline.stages["prep"].service is None


def test_no_example_and_null_are_the_same(tmp_path: Path) -> None:
    for example in (None, "null"):
        pipeline = load_pipeline(service_project(tmp_path / str(example), example))
        assert pipeline.stages["serve"].service.example is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("when: 2024-01-31", "is not JSON: the date 2024-01-31 at when"),
        ("1: one", "is not JSON: key 1 is not text (quote it)"),
        ("rows: [1, .nan]", "is not JSON: nan at rows[1] is not a finite number"),
        ("!!set {a, b}", "is not JSON: a set"),
    ],
)
def test_an_example_json_cannot_hold_names_file_line_and_field(
    tmp_path: Path, yaml: str, message: str
) -> None:
    root = service_project(tmp_path / "p", yaml)
    result = check(root)
    assert result.pipeline is None
    [problem] = result.errors
    assert problem.file.endswith("bodywork.yaml")
    assert problem.line == 9  # the `example:` line
    assert problem.path == "stages.serve.service.example"
    assert problem.render() == (
        f"{problem.file}:9: stages.serve.service.example: {message} - write text, numbers, "
        "true/false, null, lists and mappings (quote a date or a key that is not text)"
    )


def test_an_example_too_large_to_keep_with_every_run(tmp_path: Path) -> None:
    root = service_project(tmp_path / "p", "text: " + "x" * EXAMPLE_BYTES)
    [problem] = check(root).errors
    assert (problem.line, problem.path) == (9, "stages.serve.service.example")
    assert f"more than {EXAMPLE_BYTES} - give a smaller example" in problem.render()


def test_a_batch_stage_has_no_service_to_give_an_example(tmp_path: Path) -> None:
    notebook(tmp_path / "a.ipynb", "1")
    write_yaml(
        tmp_path,
        'version: "2.0"\npipeline: {name: d}\nstages:\n  a: {path: a.ipynb, kind: batch, '
        "service: {example: {x: 1}}}\n",
    )
    assert "a batch stage cannot have a 'service' section" in str(check(tmp_path).errors)


# -- inference ---------------------------------------------------------------------------------


def test_a_literal_call_is_the_example() -> None:
    assert source_example('predict({"x": 1, "y": [1, 2]})') == {"x": 1, "y": [1, 2]}
    assert source_example("answer = predict([1, 2])") == [1, 2]
    assert source_example("print(predict({'a': (1, 2)}))") == {"a": [1, 2]}  # a tuple: a list
    assert source_example("predict('text')") == "text"


def test_calls_that_are_not_on_a_literal_are_passed_over() -> None:
    code = "row = {'x': 1}\npredict(row)\npredict({'x': row})\npredict({'x': 2})\n"
    assert source_example(code) == {"x": 2}  # the first call on a literal
    assert source_example("predict(row)") is None
    assert source_example("predict({'x': 1}, verbose=True)") is None  # not one argument alone
    assert source_example("predict(x={'x': 1})") is None
    assert source_example("predict(*rows)") is None
    assert source_example("model.predict({'x': 1})") is None  # a method, not the function
    assert source_example("predict({1, 2})") is None  # a set: not JSON
    assert source_example("predict({1: 'a'})") is None  # a key that is not text
    assert source_example("predict(None)") is None  # null is no example


def test_no_call_no_example() -> None:
    assert source_example("def predict(request):\n    return request\n") is None
    assert source_example("") is None
    assert source_example("this is not python (") is None


def test_the_service_predict_function_is_the_one_looked_for() -> None:
    code = "predict({'x': 1})\nscore({'x': 2})\n"
    assert source_example(code, "score") == {"x": 2}


def test_a_notebook_first_code_cell_with_one_wins() -> None:
    cells = [
        {"cell_type": "markdown", "source": "predict({'from': 'markdown'})"},
        {"cell_type": "code", "source": ["%pip install x\n", "predict(row)\n"]},
        {"cell_type": "code", "source": "%%bash\npredict({'from': 'bash'})"},
        {"cell_type": "code", "source": ["!ls\n", "predict({'from': 'code'})\n"]},
        {"cell_type": "code", "source": "predict({'from': 'later'})"},
    ]
    text = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    assert notebook_example(text) == {"from": "code"}
    assert notebook_example("not json") is None
    assert notebook_example('{"cells": "no"}') is None


def test_a_module_service_is_read_the_same_way(tmp_path: Path) -> None:
    module = tmp_path / "serve.py"
    module.write_text(
        "def predict(x):\n    return x\n\nif __name__ == '__main__':\n"
        "    print(predict({'x': 3}))\n",
        encoding="utf-8",
    )
    assert file_example(module) == {"x": 3}
    assert file_example(tmp_path / "missing.py") is None


def test_the_iris_example_notebook_gives_its_flower() -> None:
    iris = Path(__file__).resolve().parents[2] / "examples" / "iris" / "predict.ipynb"
    assert file_example(iris) == IRIS_FLOWER


# -- at deploy time: the Plan keeps it ---------------------------------------------------------


def test_given_example_wins_over_the_notebooks(tmp_path: Path) -> None:
    given = with_examples(
        load_pipeline(service_project(tmp_path / "a", "{x: 1}", "predict({'x': 2})"))
    )
    inferred = with_examples(
        load_pipeline(service_project(tmp_path / "b", None, "predict({'x': 2})"))
    )
    none = with_examples(load_pipeline(service_project(tmp_path / "c", None, "predict(row)")))
    examples = [p.stages["serve"].service.example for p in (given, inferred, none)]  # type: ignore[union-attr]
    assert examples == [{"x": 1}, {"x": 2}, None]


def test_a_deployed_plan_carries_the_iris_flower(tmp_path: Path) -> None:
    project, _ = example_copy("iris", tmp_path / "iris")
    plan = deploying.prepare(str(project)).plan
    assert plan.stages["predict"].service is not None
    assert plan.stages["predict"].service.example == IRIS_FLOWER
    # stored as JSON with the run and read back, as every surface reads it
    stored = json.loads(json.dumps(plan.model_dump(mode="json")))
    assert Plan.model_validate(stored) == plan
    run = Run("r", "iris", "queued", 1.0, None, None, {}, stored, "")
    assert examples_of(run) == {"predict": IRIS_FLOWER}


def test_a_bodywork_11_module_service_gets_the_example_its_module_shows(tmp_path: Path) -> None:
    (tmp_path / "serve.py").write_text("predict({'x': 5})\n", encoding="utf-8")
    write_yaml(
        tmp_path,
        """\
        version: "1.1"
        pipeline: {name: old, docker_image: "bodyworkml/bodywork-core:3.0", DAG: serve}
        stages:
          serve:
            executable_module_path: serve.py
            requirements: []
            cpu_request: 0.5
            memory_request_mb: 100
            service: {max_startup_time_seconds: 30, replicas: 1, port: 5002, ingress: false}
        logging: {log_level: INFO}
        """,
    )
    plan = deploying.prepare(str(tmp_path)).plan
    assert plan.stages["serve"].service.example == {"x": 5}  # type: ignore[union-attr]


def test_a_plan_from_before_examples_reads_as_none() -> None:
    iris = Path(__file__).resolve().parents[2] / "tests" / "golden" / "plan-iris.json"
    data = json.loads(iris.read_text(encoding="utf-8"))
    del data["stages"]["predict"]["service"]["example"]
    plan = Plan.model_validate(data)
    assert plan.stages["predict"].service.example is None  # type: ignore[union-attr]
    assert examples_of(Run("r", "iris", "queued", 1.0, None, None, {}, data, "")) == {}
