"""DAG rules: Bodywork DAG strings, depends_on, cycles, names that Kubernetes accepts."""

from __future__ import annotations

import pytest

from bodywork_jupyter.pipeline import dag
from bodywork_jupyter.pipeline.load import check

# -- parse_dag_string --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("prep", [["prep"]]),
        ("prep >> train", [["prep"], ["train"]]),
        ("prep>>train,report>>serve", [["prep"], ["train", "report"], ["serve"]]),
        (
            "  prep >>\n  train_a , train_b\n>> serve ",
            [["prep"], ["train_a", "train_b"], ["serve"]],
        ),
    ],
)
def test_dag_strings_split_into_steps(text: str, steps: list[list[str]]) -> None:
    assert dag.parse_dag_string(text) == (steps, [])


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_dag(text: str) -> None:
    steps, [issue] = dag.parse_dag_string(text)
    assert steps == []
    assert issue.message == "the DAG is empty"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a >> >> b", "step 2 is empty (a '>>' with nothing on one side)"),
        (">> a", "step 1 is empty (a '>>' with nothing on one side)"),
        ("a >>", "step 2 is empty (a '>>' with nothing on one side)"),
        ("a, >> b", "step 1 has an empty stage name (a stray ',')"),
        ("a >> b,,c", "step 2 has an empty stage name (a stray ',')"),
        ("a >> ,", "step 2 has an empty stage name (a stray ',')"),
    ],
)
def test_empty_steps_and_names(text: str, message: str) -> None:
    steps, issues = dag.parse_dag_string(text)
    assert message in [i.message for i in issues]
    assert all(step and all(steps) for step in steps)


def test_a_stage_listed_twice() -> None:
    steps, [issue] = dag.parse_dag_string("a >> b >> a")
    assert steps == [["a"], ["b"], ["a"]]
    assert issue.message == "stage 'a' appears more than once (steps 1 and 3)"
    assert issue.stage == "a"
    _, [same_step] = dag.parse_dag_string("a, a >> b")
    assert same_step.message == "stage 'a' appears more than once (steps 1 and 1)"


@pytest.mark.parametrize("text", ["a > b", "a >>> b", "a >> b > c"])
def test_single_or_triple_arrows(text: str) -> None:
    _, issues = dag.parse_dag_string(text)
    assert any("is not a stage name" in i.message for i in issues)
    assert all(i.hint == "separate steps with exactly '>>'" for i in issues)


def test_steps_to_dependencies_keeps_bodywork_order() -> None:
    deps = dag.steps_to_dependencies([["prep"], ["train_a", "train_b"], ["serve", "report"]])
    assert deps == {
        "prep": (),
        "train_a": ("prep",),
        "train_b": ("prep",),
        "serve": ("train_a", "train_b"),
        "report": ("train_a", "train_b"),
    }
    assert dag.topological_order(deps) == ["prep", "train_a", "train_b", "report", "serve"]


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": ("b",), "b": ("a",)}, ["a", "b", "a"]),
        ({"a": ("a",)}, ["a", "a"]),
        ({"a": ("c",), "b": ("a",), "c": ("b",), "d": ("a",)}, ["a", "b", "c", "a"]),
    ],
)
def test_find_cycle(graph: dict[str, tuple[str, ...]], cycle: list[str]) -> None:
    assert dag.find_cycle(graph) == cycle


def test_no_cycle() -> None:
    assert dag.find_cycle({"a": (), "b": ("a",), "c": ("a", "b")}) is None


# -- Kubernetes names --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["prep", "Train_Model", "stage-1", "a", "x" * 63, "0day"])
def test_names_kubernetes_accepts(name: str) -> None:
    assert dag.k8s_name_issue(name) is None


def test_a_name_over_63_characters() -> None:
    issue = dag.k8s_name_issue("s" * 64)
    assert issue is not None
    assert issue.message == "the name is 64 characters long; Kubernetes allows 63"


@pytest.mark.parametrize("name", ["-prep", "prep_", "pr ep", "préparer", "a.b", ""])
def test_names_that_are_not_dns_1123(name: str) -> None:
    issue = dag.k8s_name_issue(name)
    assert issue is not None
    assert "is not DNS-1123" in issue.message


def test_collisions() -> None:
    [issue] = dag.k8s_collisions(["stage_1", "stage-1", "Stage_1", "other"])
    assert issue.message == (
        "stages 'stage_1', 'stage-1', 'Stage_1' all become the Kubernetes name 'stage-1'"
    )
    assert dag.k8s_collisions(["a", "b"]) == []


# -- the rules as the loader reports them ------------------------------------------------------

V1_HEAD = """\
version: "1.1"
pipeline:
  name: dag-test
  docker_image: bodyworkml/bodywork-core:3.0
  DAG: {dag}
{extra}stages:
"""
V1_STAGE = """\
  {name}:
    executable_module_path: job.py
    cpu_request: 0.5
    memory_request_mb: 100
    batch:
      max_completion_time_seconds: 30
      retries: 0
"""
V1_SERVICE = """\
  {name}:
    executable_module_path: job.py
    cpu_request: 0.5
    memory_request_mb: 100
    service:
      max_startup_time_seconds: 30
      replicas: 1
      port: 8000
      ingress: false
"""
V1_TAIL = "logging:\n  log_level: INFO\n"


def v1(dag_text: str, *stages: str, services: tuple[str, ...] = (), extra: str = "") -> str:
    text = V1_HEAD.format(dag=dag_text, extra=extra)
    text += "".join(V1_STAGE.format(name=s) for s in stages)
    text += "".join(V1_SERVICE.format(name=s) for s in services)
    return text + V1_TAIL


def errors_of(root) -> list[str]:
    return [f"{p.line} {p.path}: {p.message} - {p.hint}" for p in check(root).errors]


def test_v1_cycle_free_dag_loads(project) -> None:
    pipeline = check(project(v1("a >> b, c >> d", "a", "b", "c", "d"), "job.py")).pipeline
    assert pipeline is not None
    assert pipeline.dependencies() == {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}


def test_v1_unknown_stage_in_dag_with_did_you_mean(project) -> None:
    root = project(v1("prepare >> trian", "prepare", "train"), "job.py")
    assert errors_of(root) == [
        "5 pipeline.DAG: stage 'trian' is in the DAG but not defined under 'stages' - "
        "did you mean 'train'?"
    ]


def test_v1_unknown_stage_without_a_near_name(project) -> None:
    [error] = errors_of(project(v1("prepare >> zzz", "prepare"), "job.py"))
    assert error.endswith("add a 'zzz:' stage or remove it from the DAG")


def test_v1_duplicate_stage_in_dag(project) -> None:
    assert errors_of(project(v1("a >> b >> a", "a", "b"), "job.py")) == [
        "5 pipeline.DAG: stage 'a' appears more than once (steps 1 and 3) - "
        "list each stage once: a stage runs once per run"
    ]


@pytest.mark.parametrize(
    ("dag_text", "message"),
    [
        ("'a >> >> b'", "step 2 is empty"),
        ("'a,,b'", "step 1 has an empty stage name"),
        ("''", "the DAG is empty"),
    ],
)
def test_v1_empty_steps(project, dag_text: str, message: str) -> None:
    errors = errors_of(project(v1(dag_text, "a", "b"), "job.py"))
    assert any(e.startswith(f"5 pipeline.DAG: {message}") for e in errors), errors


def test_v1_run_on_failure_must_name_a_defined_batch_stage(project) -> None:
    unknown = v1("a", "a", "alert", extra="  run_on_failure: alrt\n")
    assert errors_of(project(unknown, "job.py")) == [
        "6 pipeline.run_on_failure: stage 'alrt' is not defined - did you mean 'alert'?"
    ]


def test_v1_run_on_failure_cannot_be_a_service(project, tmp_path) -> None:
    text = v1("a", "a", services=("web",), extra="  run_on_failure: web\n")
    assert errors_of(project(text, "job.py")) == [
        "6 pipeline.run_on_failure: 'web' is a service; run_on_failure needs a batch stage - "
        "point it at a batch stage (e.g. one that sends an alert)"
    ]


def test_v1_run_on_failure_cannot_be_in_the_dag(project) -> None:
    text = v1("a >> alert", "a", "alert", extra="  run_on_failure: alert\n")
    assert errors_of(project(text, "job.py")) == [
        "6 pipeline.run_on_failure: 'alert' is also in the DAG - "
        "take it out of the DAG: it runs only when the pipeline fails"
    ]


def test_v1_kubernetes_name_collision(project) -> None:
    errors = errors_of(project(v1("stage_1 >> stage-1", "stage_1", "stage-1"), "job.py"))
    assert errors == [
        "14 stages.stage-1: stages 'stage_1', 'stage-1' all become the Kubernetes name "
        "'stage-1' - rename one of them"
    ]


def test_v1_name_over_63_characters(project) -> None:
    long = "train_" + "x" * 60
    errors = errors_of(project(v1(long, long), "job.py"))
    assert errors == [
        f"7 stages.{long}: the name is 66 characters long; Kubernetes allows 63 - shorten it"
    ]


V2_HEAD = 'version: "2.0"\npipeline:\n  name: dag-test\n{extra}stages:\n'


def v2(stages: dict[str, list[str]], extra: str = "", services: tuple[str, ...] = ()) -> str:
    text = V2_HEAD.format(extra=extra)
    for name, deps in stages.items():
        text += f"  {name}:\n    path: job.py\n"
        if name in services:
            text += "    kind: service\n"
        if deps:
            text += "    depends_on:\n" + "".join(f"      - {d}\n" for d in deps)
    return text


def test_v2_cycle_is_shown(project) -> None:
    text = v2({"prep": ["train"], "train": ["prep"]})
    assert errors_of(project(text, "job.py")) == [
        "7 stages.prep.depends_on: the stages form a cycle: prep -> train -> prep - break the cycle"
    ]


def test_v2_longer_cycle(project) -> None:
    text = v2({"a": ["c"], "b": ["a"], "c": ["b"], "d": []})
    [error] = errors_of(project(text, "job.py"))
    assert "the stages form a cycle: a -> b -> c -> a" in error


def test_v2_depends_on_problems(project) -> None:
    text = v2({"prep": [], "train": ["prep", "prep", "trian", "train", "zzz"]})
    assert errors_of(project(text, "job.py")) == [
        "11 stages.train.depends_on[1]: 'prep' is listed twice - list each dependency once",
        "12 stages.train.depends_on[2]: unknown stage 'trian' - did you mean 'train'?",
        "13 stages.train.depends_on[3]: a stage cannot depend on itself - remove it",
        "14 stages.train.depends_on[4]: unknown stage 'zzz' - name a stage defined under 'stages'",
    ]


def test_v2_run_on_failure(project) -> None:
    ok = check(project(v2({"a": [], "alert": []}, extra="  run_on_failure: alert\n"), "job.py"))
    assert ok.pipeline is not None
    assert ok.pipeline.run_on_failure == "alert"
    assert ok.pipeline.dependencies() == {"a": ()}


def test_v2_run_on_failure_rules(project) -> None:
    text = v2(
        {"a": ["alert"], "alert": ["a"], "web": []},
        extra="  run_on_failure: alert\n",
    )
    assert errors_of(project(text, "job.py")) == [
        "9 stages.a.depends_on[0]: 'alert' is the run_on_failure stage and only runs when a run "
        "fails - depend on a regular stage",
        "12 stages.alert.depends_on: the run_on_failure stage runs outside the DAG - "
        "remove its depends_on",
    ]


def test_v2_run_on_failure_must_be_batch(project) -> None:
    text = v2({"a": [], "web": []}, extra="  run_on_failure: web\n", services=("web",))
    assert errors_of(project(text, "job.py")) == [
        "4 pipeline.run_on_failure: 'web' is a service; run_on_failure needs a batch stage - "
        "point it at a batch stage (e.g. one that sends an alert)"
    ]


def test_v2_run_on_failure_unknown(project) -> None:
    text = v2({"a": []}, extra="  run_on_failure: nobody\n")
    assert errors_of(project(text, "job.py")) == [
        "4 pipeline.run_on_failure: stage 'nobody' is not defined - "
        "name a batch stage defined under 'stages'"
    ]


def test_v2_collisions_and_long_names(project) -> None:
    long = "x" * 64
    text = v2({"stage_1": [], "Stage-1": [], long: [], "bad_": []})
    assert errors_of(project(text, "job.py")) == [
        "7 stages.Stage-1: stages 'stage_1', 'Stage-1' all become the Kubernetes name 'stage-1' "
        "- rename one of them",
        f"9 stages.{long}: the name is 64 characters long; Kubernetes allows 63 - shorten it",
        "11 stages.bad_: 'bad_' cannot become a Kubernetes name ('bad-' is not DNS-1123) - "
        "use letters, digits, '-' and '_', starting and ending with a letter or digit",
    ]
