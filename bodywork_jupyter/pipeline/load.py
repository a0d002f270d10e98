"""Read a bodywork.yaml (1.0, 1.1 or 2.0) into a Pipeline, reporting every problem at once."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodywork_jupyter.errors import ConfigError
from bodywork_jupyter.pipeline import dag
from bodywork_jupyter.pipeline.model import Pipeline
from bodywork_jupyter.pipeline.normalize import stage_from_v1, stage_from_v2
from bodywork_jupyter.pipeline.problems import Problem, did_you_mean, dotted_path
from bodywork_jupyter.pipeline.schema_v1 import (
    PIPELINE_SECTION,
    SECTIONS_V1,
    LoggingV1,
    PipelineV1,
    StageV1,
)
from bodywork_jupyter.pipeline.schema_v2 import SECTIONS_V2, PipelineV2, StageV2
from bodywork_jupyter.pipeline.validation import validate_section
from bodywork_jupyter.pipeline.yamlsource import Path_, YamlDocument, load_yaml

CONFIG_NAMES = ("bodywork.yaml", "bodywork.yml")
#: 1.0 is Bodywork 2.x's format, read as 1.1 (see schema_v1)
VERSIONS = ("1.0", "1.1", "2.0")


@dataclass
class CheckResult:
    """What ``check`` found: a Pipeline when there were no errors, and every Problem."""

    config_file: Path
    pipeline: Pipeline | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def find_config(path: str | os.PathLike[str]) -> Path:
    """The config file for a path that names the file or its folder."""
    candidate = Path(path)
    if candidate.is_dir():
        for name in CONFIG_NAMES:
            if (candidate / name).is_file():
                return candidate / name
        return candidate / CONFIG_NAMES[0]
    return candidate


def load_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """The Pipeline in ``path`` (a file or its folder); raises ConfigError listing every error."""
    result = check(path)
    if result.pipeline is None:
        raise ConfigError(result.errors)
    return result.pipeline


def check(path: str | os.PathLike[str]) -> CheckResult:
    """Validate the config at ``path``; never raises for bad input."""
    config = find_config(path)
    shown = _display(config)
    if not config.is_file():
        where = config.parent if config.name in CONFIG_NAMES else config
        hint = (
            f"run 'bodywork generate {_display(config.parent)}' to write one from tagged notebooks"
            if config.name in CONFIG_NAMES
            else "check the path"
        )
        return CheckResult(
            config, None, [Problem(_display(where), 0, "", "no bodywork.yaml found", hint)]
        )
    try:
        text = config.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return CheckResult(
            config,
            None,
            [Problem(shown, 1, "", f"not UTF-8 text ({exc.reason})", "save the file as UTF-8")],
        )
    except OSError as exc:
        return CheckResult(
            config, None, [Problem(shown, 0, "", f"cannot read: {exc.strerror}", "check the file")]
        )
    return check_text(text, config, shown)


def check_text(text: str, config: Path, shown: str | None = None) -> CheckResult:
    """Validate config ``text`` as if read from ``config`` (used for files and for tests)."""
    shown = shown or _display(config)
    doc, problems = load_yaml(text, shown)
    if doc.data is None and not problems:
        problems.append(Problem(shown, 1, "", "the file is empty", "start with 'version: \"2.0\"'"))
    if problems and doc.data is None:
        return CheckResult(config, None, problems)
    if not isinstance(doc.data, dict):
        problems.append(
            Problem(
                shown,
                1,
                "",
                f"expected a mapping of sections, got {type(doc.data).__name__}",
                "start with 'version: \"2.0\"', then 'pipeline:' and 'stages:'",
            )
        )
        return CheckResult(config, None, problems)
    version = _version(doc, problems)
    if version is None:
        return CheckResult(config, None, problems)
    checker = _Checker(doc, config.resolve().parent, problems)
    pipeline = checker.check_v2() if version == "2.0" else checker.check_v1(version)
    if any(p.severity == "error" for p in problems):
        pipeline = None
    elif pipeline is not None:
        pipeline = pipeline.model_copy(update={"config_file": str(config.resolve())})
    return CheckResult(config, pipeline, sorted(problems, key=lambda p: (p.line, p.path)))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _version(doc: YamlDocument, problems: list[Problem]) -> str | None:
    data = doc.data
    if "version" not in data:
        problems.append(
            Problem(
                doc.file,
                1,
                "version",
                "is required",
                'add \'version: "2.0"\' (or "1.1" for a Bodywork file) at the top',
            )
        )
        return None
    raw = data["version"]
    # Bodywork required a string; an unquoted 1.0, 1.1 or 2.0 is accepted here too.
    version = f"{raw:.1f}" if isinstance(raw, float) else str(raw)
    if version not in VERSIONS:
        problems.append(
            Problem(
                doc.file,
                doc.line_of(("version",)),
                "version",
                f"unsupported version {raw!r}",
                'use "2.0" (or "1.1" for a Bodywork file)',
            )
        )
        return None
    return version


class _Checker:
    def __init__(self, doc: YamlDocument, root: Path, problems: list[Problem]) -> None:
        self.doc = doc
        self.root = root
        self.problems = problems

    # -- reporting ---------------------------------------------------------------------------

    def error(self, path: Path_, message: str, hint: str) -> None:
        self.problems.append(
            Problem(self.doc.file, self.doc.line_of(path), dotted_path(path), message, hint)
        )

    def warn(self, path: Path_, message: str, hint: str) -> None:
        self.problems.append(
            Problem(
                self.doc.file, self.doc.line_of(path), dotted_path(path), message, hint, "warning"
            )
        )

    # -- shared ------------------------------------------------------------------------------

    def sections(self, required: Iterable[str]) -> dict[str, Any]:
        required = tuple(required)
        data: dict[str, Any] = self.doc.data
        for key in data:
            if key not in required:
                suggestion = did_you_mean(str(key), required)
                self.error(
                    (str(key),),
                    "unknown section",
                    suggestion or f"remove it (sections: {', '.join(required)})",
                )
        for key in required:
            if key not in data:
                self.error((), f"section '{key}' is missing", f"add a '{key}:' section")
        return data

    def stage_mapping(self, data: dict[str, Any]) -> dict[str, Any]:
        stages = data.get("stages")
        if "stages" not in data:
            return {}
        if not isinstance(stages, dict) or not stages:
            self.error(
                ("stages",),
                "no stages defined",
                "add at least one stage: 'stages:' then 'name:' with its settings",
            )
            return {}
        return {str(k): v for k, v in stages.items()}

    def check_names(self, names: Iterable[str]) -> None:
        names = list(names)
        for name in names:
            issue = dag.k8s_name_issue(name)
            if issue is not None:
                self.error(("stages", name), issue.message, issue.hint)
        for issue in dag.k8s_collisions(names):
            self.error(("stages", issue.stage or ""), issue.message, issue.hint)

    def check_file(self, path: Path_, relative: str, what: str = "file") -> str | None:
        """A project file named in the config: inside the project folder, and present."""
        if Path(relative).is_absolute() or relative.startswith("~"):
            self.error(
                path, f"'{relative}' is an absolute path", "write it relative to bodywork.yaml"
            )
            return None
        unusable = _unusable_path(relative)
        if unusable is not None:
            self.error(path, unusable, "fix the path (relative to bodywork.yaml's folder)")
            return None
        target = self.root / relative
        resolved = target.resolve()
        if not resolved.is_relative_to(self.root):
            via = "a symlink" if ".." not in Path(relative).parts else "'..'"
            self.error(
                path,
                f"'{relative}' points outside the project folder (via {via})",
                "keep stage files inside the folder that holds bodywork.yaml",
            )
            return None
        try:
            exists, is_file = resolved.exists(), resolved.is_file()
        except OSError as exc:  # e.g. a folder on the way that may not be read
            self.error(path, f"'{relative}' cannot be read ({exc.strerror})", "check the path")
            return None
        if not exists:
            nearby = _nearby_files(target)
            suggestion = did_you_mean(target.name, nearby)
            self.error(
                path,
                f"{what} '{relative}' does not exist",
                suggestion or "fix the path (relative to bodywork.yaml's folder) or create it",
            )
            return None
        if not is_file:
            self.error(path, f"'{relative}' is not a file", f"point it at a {what}")
            return None
        return Path(os.path.normpath(relative)).as_posix()

    def check_stage_files(self, raw_stages: dict[str, Any], key: str, what: str) -> dict[str, str]:
        """Check every stage's file, even in stages whose other fields are invalid."""
        paths: dict[str, str] = {}
        for name, raw in raw_stages.items():
            value = raw.get(key) if isinstance(raw, dict) else None
            if isinstance(value, str) and value.endswith((".py", ".ipynb")):
                checked = self.check_file(("stages", name, key), value, what)
                if checked:
                    paths[name] = checked
        return paths

    def check_graph(
        self,
        deps: Mapping[str, tuple[str, ...]],
        kinds: Mapping[str, str],
        run_on_failure: str | None,
        dag_path: Path_ | None,
        defined: Iterable[str],
        head: str = "pipeline",
    ) -> None:
        cycle = dag.find_cycle(deps)
        if cycle:
            where = dag_path or ("stages", cycle[0], "depends_on")
            self.error(where, f"the stages form a cycle: {' -> '.join(cycle)}", "break the cycle")
        if run_on_failure is None:
            return
        where_rof: Path_ = (head, "run_on_failure")
        if run_on_failure in defined and run_on_failure not in kinds:
            return  # the stage is defined but invalid: its own problems say why
        if run_on_failure not in kinds:
            self.error(
                where_rof,
                f"stage '{run_on_failure}' is not defined",
                did_you_mean(run_on_failure, kinds) or "name a batch stage defined under 'stages'",
            )
        elif kinds[run_on_failure] != "batch":
            self.error(
                where_rof,
                f"'{run_on_failure}' is a service; run_on_failure needs a batch stage",
                "point it at a batch stage (e.g. one that sends an alert)",
            )

    # -- 1.1 (and 1.0) ------------------------------------------------------------------------

    def v1_pipeline_section(self, version: str) -> str:
        """The name of the pipeline section to read: 1.0 calls it ``project``.

        A file with the other version's name instead of its own is told so at its
        ``version`` (the likely slip), and is checked under the name it has, so that its
        other problems are found too. A valid 1.0 file is told what it is, and how to make
        it a 1.1 file, which Bodywork 3 reads as well.
        """
        expected = PIPELINE_SECTION[version]
        other_version, other = next((v, n) for v, n in PIPELINE_SECTION.items() if v != version)
        data = self.doc.data
        if other in data and expected not in data:
            hint = (
                f"set version: \"{other_version}\" (Bodywork 3's format), or rename '{other}:' "
                f"to '{expected}:'"
                if version == "1.0"
                else f"rename '{other}:' to '{expected}:', or set version: \"{other_version}\" "
                "(Bodywork 2.x's format)"
            )
            self.error(
                ("version",),
                f"\"{version}\" calls its pipeline section '{expected}', but this file has "
                f"'{other}', as version {other_version} does",
                hint,
            )
            return other
        if version == "1.0":
            self.warn(
                ("version",),
                "\"1.0\" is Bodywork 2.x's format, read as 1.1 (its 'project' is 1.1's 'pipeline')",
                'to deploy it with Bodywork 3 as well, set version: "1.1" and rename '
                "'project:' to 'pipeline:'",
            )
        return expected

    def check_v1(self, version: str) -> Pipeline | None:
        head = self.v1_pipeline_section(version)
        data = self.sections(head if s == "pipeline" else s for s in SECTIONS_V1)
        pipe = (
            validate_section(PipelineV1, data.get(head), (head,), self.doc, self.problems)
            if head in data
            else None
        )
        log = (
            validate_section(LoggingV1, data["logging"], ("logging",), self.doc, self.problems)
            if "logging" in data
            else None
        )
        raw_stages = self.stage_mapping(data)
        stages: dict[str, StageV1] = {}
        for name, raw in raw_stages.items():
            stage = validate_section(StageV1, raw, ("stages", name), self.doc, self.problems)
            if stage is not None:
                stages[name] = stage
        self.check_names(raw_stages)

        steps: list[list[str]] = []
        dag_path: Path_ = (head, "DAG")
        raw_pipe = data.get(head)
        if isinstance(raw_pipe, dict) and isinstance(raw_pipe.get("DAG"), str):
            steps, issues = dag.parse_dag_string(raw_pipe["DAG"])
            for issue in issues:
                self.error(dag_path, issue.message, issue.hint)
        in_dag = [name for step in steps for name in step]
        for name in dict.fromkeys(in_dag):
            if raw_stages and name not in raw_stages:
                self.error(
                    dag_path,
                    f"stage '{name}' is in the DAG but not defined under 'stages'",
                    did_you_mean(name, raw_stages)
                    or f"add a '{name}:' stage or remove it from the DAG",
                )
        run_on_failure = raw_pipe.get("run_on_failure") if isinstance(raw_pipe, dict) else None
        run_on_failure = run_on_failure if isinstance(run_on_failure, str) else None
        if run_on_failure and run_on_failure in in_dag:
            self.error(
                (head, "run_on_failure"),
                f"'{run_on_failure}' is also in the DAG",
                "take it out of the DAG: it runs only when the pipeline fails",
            )
        for name in raw_stages:
            if steps and name not in in_dag and name != run_on_failure:
                self.warn(
                    ("stages", name),
                    f"is not in {head}.DAG, so it will not run",
                    "add it to the DAG or delete it",
                )
        kinds = {n: ("batch" if s.batch else "service") for n, s in stages.items()}
        deps = dag.steps_to_dependencies(steps)
        self.check_graph(deps, kinds, run_on_failure, dag_path, raw_stages, head)

        paths = self.check_stage_files(raw_stages, "executable_module_path", "module")
        if pipe is None or log is None:
            return None
        if len(paths) != len(raw_stages) or len(stages) != len(raw_stages):
            return None
        keep = [n for n in stages if n in in_dag or n == run_on_failure]
        return Pipeline(
            name=pipe.name,
            source_version="1.0" if version == "1.0" else "1.1",
            config_file="",
            root=str(self.root),
            image=pipe.docker_image,
            namespace=pipe.namespace,
            secrets_group=pipe.secrets_group,
            run_on_failure=run_on_failure,
            log_level=log.log_level,
            # Bodywork's projects resolve as when they were written (their pins leave deps open)
            requirements_as_of="commit",
            stages={n: stage_from_v1(n, stages[n], paths[n], deps.get(n, ())) for n in keep},
        )

    # -- 2.0 ---------------------------------------------------------------------------------

    def check_v2(self) -> Pipeline | None:
        data = self.sections(SECTIONS_V2)
        pipe = (
            validate_section(
                PipelineV2, data.get("pipeline"), ("pipeline",), self.doc, self.problems
            )
            if "pipeline" in data
            else None
        )
        raw_stages = self.stage_mapping(data)
        stages: dict[str, StageV2] = {}
        for name, raw in raw_stages.items():
            stage = validate_section(StageV2, raw, ("stages", name), self.doc, self.problems)
            if stage is not None:
                stages[name] = stage
        self.check_names(raw_stages)

        kinds: dict[str, str] = {}
        for name, stage in stages.items():
            kind = stage.kind or ("service" if stage.service else "batch")
            if kind == "batch" and stage.service is not None:
                self.error(
                    ("stages", name, "kind"),
                    "a batch stage cannot have a 'service' section",
                    "remove 'service:' or set 'kind: service'",
                )
            if kind == "service" and "retries" in (raw_stages[name] or {}):
                self.warn(
                    ("stages", name, "retries"), "retries apply to batch stages only", "remove it"
                )
            kinds[name] = kind

        run_on_failure = pipe.run_on_failure if pipe else None
        deps: dict[str, tuple[str, ...]] = {}
        for name, stage in stages.items():
            seen: set[str] = set()
            for index, dep in enumerate(stage.depends_on):
                where = ("stages", name, "depends_on", index)
                if dep in seen:
                    self.error(where, f"'{dep}' is listed twice", "list each dependency once")
                elif dep == name:
                    self.error(where, "a stage cannot depend on itself", "remove it")
                elif dep not in raw_stages:
                    self.error(
                        where,
                        f"unknown stage '{dep}'",
                        did_you_mean(dep, raw_stages) or "name a stage defined under 'stages'",
                    )
                elif dep == run_on_failure:
                    self.error(
                        where,
                        f"'{dep}' is the run_on_failure stage and only runs when a run fails",
                        "depend on a regular stage",
                    )
                seen.add(dep)
            if name == run_on_failure:
                if stage.depends_on:
                    self.error(
                        ("stages", name, "depends_on"),
                        "the run_on_failure stage runs outside the DAG",
                        "remove its depends_on",
                    )
                continue
            deps[name] = tuple(d for d in dict.fromkeys(stage.depends_on) if d != name)
        self.check_graph(deps, kinds, run_on_failure, None, raw_stages)

        paths = self.check_stage_files(raw_stages, "path", "stage file")
        requirement_files: dict[str, str] = {}
        for name, stage in stages.items():
            if stage.service and stage.service.batch and not stage.path.endswith(".ipynb"):
                self.error(
                    ("stages", name, "service", "batch"),
                    "batching is for a notebook's predict function: a module serves itself",
                    "remove 'batch:', or serve the model from a notebook's predict function",
                )
            if isinstance(stage.requirements, str):
                req = self.check_file(
                    ("stages", name, "requirements"), stage.requirements, "requirements file"
                )
                if req:
                    requirement_files[name] = req
        if pipe is None or len(stages) != len(raw_stages):
            return None
        if any(p.severity == "error" for p in self.problems):
            return None
        return Pipeline(
            name=pipe.name,
            source_version="2.0",
            config_file="",
            root=str(self.root),
            image=pipe.image,
            image_pull_secrets=tuple(pipe.image_pull_secrets),
            namespace=pipe.namespace,
            secrets_group=pipe.secrets_group,
            schedule=pipe.schedule,
            run_on_failure=run_on_failure,
            log_level=pipe.log_level,
            python=pipe.python,
            requirements_as_of=pipe.requirements_as_of,
            stages={
                n: stage_from_v2(
                    n, s, kinds[n], paths[n], deps.get(n, ()), requirement_files.get(n)
                )
                for n, s in stages.items()
            },
        )


#: The longest file name and path the filesystem opens (Linux's NAME_MAX and PATH_MAX).
NAME_MAX, PATH_MAX = 255, 4096


def _unusable_path(relative: str) -> str | None:
    """Why no filesystem opens ``relative`` (checked before asking one), or None."""
    shown = relative if len(relative) <= 60 else relative[:60] + "..."
    if "\x00" in relative:
        return f"'{shown}' holds a NUL character"
    try:
        encoded = os.fsencode(relative)
    except UnicodeEncodeError:
        return f"{shown!r} is not a file name this system can spell (a lone surrogate?)"
    if len(encoded) >= PATH_MAX:
        return f"'{shown}' is longer than {PATH_MAX} bytes"
    if any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        return f"'{shown}' has a file or folder name longer than {NAME_MAX} bytes"
    return None


def _nearby_files(target: Path) -> list[str]:
    try:
        return [p.name for p in target.parent.iterdir()] if target.parent.is_dir() else []
    except OSError:
        return []
