"""``bodywork-runner SPEC.json``: run one attempt of one stage, reporting events on stdout.

The spec comes from the file named by the first argument, or from the environment
variable ``BODYWORK_STAGE_SPEC`` (the JSON itself); ``--self-check`` checks the stage
image instead (``bodywork_runner.self_check``). Exit codes: 0 success (or a service
stopped on request), 1 the stage failed, 2 bad input, 3 the git remote is unreachable.

A notebook stage with requirements runs in the stage environment's interpreter: once the
code and the environment are ready the runner re-executes itself there (``--in-env``), so
papermill and the kernel run on that interpreter; a runner forked from a fork server has
that continuation forked from a warm server of the interpreter instead (``handoff``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import NoReturn

from bodywork_runner import __version__
from bodywork_runner.environment import StageEnvironment, prepare_environment
from bodywork_runner.errors import EXIT_FAILED, EXIT_OK, BadInput, RunnerError, StageFailed
from bodywork_runner.events import Emitter
from bodywork_runner.exiting import quick_exit
from bodywork_runner.source import CREDENTIAL_ENVS, Checkout, fetch_code
from bodywork_runner.source_builds import Deadline
from bodywork_runner.spec import StageSpec
from bodywork_runner.stopping import Stopper

SPEC_ENV = "BODYWORK_STAGE_SPEC"

log = logging.getLogger("bodywork_runner")


def main(argv: list[str] | None = None) -> int:
    return _main(argv)[0]


def run_and_exit(argv: list[str] | None = None) -> NoReturn:
    """``python -m bodywork_runner``: main, then the process ends.

    After a batch stage no code of the stage ran in this process (its notebook ran in a
    kernel, its module in a process of its own), so nothing is left to finalise: it
    exits at once (``exiting.quick_exit``), not after tearing down every module it
    imported (0.1-0.2 s a stage). A service's code runs here: it exits as usual.
    """
    code, batch = _main(argv)
    if batch:
        quick_exit(code)
    sys.exit(code)


def _main(argv: list[str] | None) -> tuple[int, bool]:
    """The exit code, and whether the stage was a batch stage."""
    args = _parser().parse_args(argv)
    if args.self_check:
        from bodywork_runner.self_check import main as self_check

        return self_check(), False
    stopper = Stopper()
    stopper.install()
    try:
        spec = load_spec(args.spec)
    except BadInput as exc:
        Emitter().emit("stage.failed", **exc.event_fields())
        print(f"bodywork-runner: {exc.message}", file=sys.stderr)
        return exc.exit_code, False
    return _run(args, spec, stopper), spec.kind == "batch"


def _run(args: argparse.Namespace, spec: StageSpec, stopper: Stopper) -> int:
    _configure_logging(spec.log_level)
    # the timeout counts from the attempt's start, as the engine's does (its install too)
    deadline = Deadline.after(spec.timeout_seconds)
    emitter = Emitter(
        pipeline=spec.pipeline, stage=spec.stage, attempt=spec.attempt, run_id=spec.run_id
    )
    cleanup: Path | None = Path(args.cleanup) if args.cleanup else None
    python = sys.executable
    try:
        if args.in_env:
            project_dir = code_root = Path(args.project_dir)  # a notebook: no import path to set
        else:
            checkout = _prepare_code(spec, emitter)
            cleanup = checkout.root if checkout.temporary else None
            project_dir, code_root = checkout.project_dir, checkout.root
            _set_stage_environment(spec)
            environment = _prepare_requirements(spec, project_dir, emitter, deadline)
            # a notebook's runner continues in its environment when the runner's packages
            # load there; on another Python only its kernel runs there
            notebook = spec.file.endswith(".ipynb")
            if notebook and environment.linked and environment.python != sys.executable:
                from bodywork_runner import handoff

                argv = _in_env_argv(args.spec, project_dir, cleanup)
                code = handoff.continue_in(environment.python, argv)
                if code is not None:
                    cleanup = None  # the continuation's to remove
                    return handoff.end_as(code)
                _reexec(environment.python, argv)
            python = environment.python
        return _run_stage(spec, project_dir, python, emitter, stopper, code_root)
    except RunnerError as exc:
        log.error("%s", exc.message)
        emitter.emit("stage.failed", **exc.event_fields())
        return exc.exit_code
    except Exception as exc:  # a bug in the runner: still a well-formed failure
        log.exception("the runner failed unexpectedly")
        emitter.emit("stage.failed", reason="error", message=f"runner error: {exc!r}")
        return EXIT_FAILED
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def load_spec(path: str | None) -> StageSpec:
    """The spec from ``path``, or from $BODYWORK_STAGE_SPEC; raises BadInput."""
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot read the stage spec {path}: {exc.strerror}") from None
    elif os.environ.get(SPEC_ENV):
        text = os.environ[SPEC_ENV]
    else:
        raise BadInput(f"no stage spec: give a SPEC.json argument or set {SPEC_ENV}")
    try:
        spec = StageSpec.from_json(text)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadInput(f"the stage spec is invalid: {exc}") from None
    if spec.kind not in {"batch", "service"}:
        raise BadInput(f"the stage kind must be batch or service, not {spec.kind!r}")
    if not spec.file.endswith((".ipynb", ".py")):
        raise BadInput(f"the stage file {spec.file} must be a notebook (.ipynb) or a module (.py)")
    if spec.kind == "service" and spec.service is None:
        raise BadInput("a service stage needs service settings (at least service.port)")
    return spec


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bodywork-runner",
        description="Run one bodywork-jupyter stage: fetch its code, prepare its requirements, "
        "run or serve it. Events go to stdout as '::bodywork-event:: {json}' lines.",
    )
    parser.add_argument(
        "spec", nargs="?", help=f"the stage spec, a JSON file (default: ${SPEC_ENV})"
    )
    parser.add_argument("--version", action="version", version=f"bodywork-runner {__version__}")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="check that this is a working stage image (imports, uv, git, ssh, the "
        "controller, a non-root user), then exit 0 or 1",
    )
    parser.add_argument("--in-env", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--project-dir", help=argparse.SUPPRESS)
    parser.add_argument("--cleanup", help=argparse.SUPPRESS)
    return parser


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[bodywork-runner] %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    if root.level > logging.DEBUG:
        for noisy in ("papermill", "traitlets", "git"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _prepare_code(spec: StageSpec, emitter: Emitter) -> Checkout:
    emitter.emit(
        "runner.started",
        version=__version__,
        python=sys.version.split()[0],
        kind=spec.kind,
        file=spec.file,
        pid=os.getpid(),
    )
    started = time.monotonic()
    checkout = fetch_code(spec.source, spec.work_dir)
    for name in CREDENTIAL_ENVS:  # the stage's code never sees the git credentials
        os.environ.pop(name, None)
    where = {"commit": checkout.commit} if checkout.commit else {}
    emitter.emit(
        "code.ready",
        **where,
        path=str(checkout.project_dir),
        seconds=round(time.monotonic() - started, 3),
    )
    if not (checkout.project_dir / spec.file).is_file():
        raise BadInput(f"the stage file {spec.file} is not in the project - check the path")
    return checkout


def _prepare_requirements(
    spec: StageSpec, project_dir: Path, emitter: Emitter, deadline: Deadline | None = None
) -> StageEnvironment:
    started = time.monotonic()
    notebook = spec.file.endswith(".ipynb")
    environment = prepare_environment(
        spec.requirements,
        spec.requirements_file,
        project_dir,
        spec.cache_dir,
        python=spec.python,
        as_of=spec.requirements_as_of,
        use=("kernel" if spec.kind == "batch" else "runner") if notebook else "module",
        deadline=deadline,
    )
    emitter.emit(
        "requirements.ready",
        seconds=round(time.monotonic() - started, 3),
        cached=environment.cached,
        python=environment.python,
        python_version=environment.version,
        **({"as_of": environment.as_of} if environment.as_of else {}),
    )
    return environment


def _set_stage_environment(spec: StageSpec) -> None:
    os.environ.update({str(key): str(value) for key, value in spec.env.items()})
    os.environ["BODYWORK_PIPELINE"] = spec.pipeline
    os.environ["BODYWORK_STAGE"] = spec.stage
    os.environ["BODYWORK_RUN_ID"] = spec.run_id
    os.environ["BODYWORK_ATTEMPT"] = str(spec.attempt)
    data = os.environ.get("BODYWORK_DATA_DIR")
    if data:
        # the stage may only read it: a first stage that writes nothing still finds it
        Path(data).mkdir(parents=True, exist_ok=True)


def _in_env_argv(spec_path: str | None, project_dir: Path, cleanup: Path | None) -> list[str]:
    """The runner's arguments to continue the stage in its environment's interpreter."""
    argv = ["--in-env", "--project-dir", str(project_dir)]
    if cleanup is not None:
        argv += ["--cleanup", str(cleanup)]
    if spec_path:
        argv.append(str(Path(spec_path).resolve()))
    return argv


def _reexec(python: str, argv: list[str]) -> None:
    log.debug("continuing in %s", python)
    from bodywork_runner.kernelserver import SERVER_ENV

    # the kernel server forks kernels of this interpreter's packages, not the environment's
    os.environ.pop(SERVER_ENV, None)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(python, [python, "-m", "bodywork_runner", *argv])
    except OSError as exc:
        raise StageFailed("error", f"cannot start the stage interpreter {python}: {exc}") from None


def _run_stage(
    spec: StageSpec,
    project_dir: Path,
    python: str,
    emitter: Emitter,
    stopper: Stopper,
    code_root: Path | None = None,
) -> int:
    """Runs or serves the stage. A notebook runs in its own folder (as in Jupyter); a module
    as Bodywork ran it, see ``bodywork_runner.module``."""
    from bodywork_runner.module import ModulePlace, run_batch_module, run_service_module

    place = ModulePlace(project_dir, code_root or project_dir)

    emitter.emit("stage.running")
    started = time.monotonic()
    notebook = spec.file.endswith(".ipynb")
    if spec.kind == "batch":
        if notebook:
            from bodywork_runner.notebook import run_notebook

            with stopper.deferred():
                output = run_notebook(spec, project_dir, emitter, stopper, kernel_python=python)
        else:
            with stopper.deferred():
                run_batch_module(spec, place, python, emitter, stopper)
            output = None
        emitter.emit(
            "stage.succeeded",
            seconds=round(time.monotonic() - started, 3),
            **({"notebook": str(output)} if output else {}),
        )
        return EXIT_OK
    if notebook:
        from bodywork_runner.service import run_notebook_service

        os.chdir((project_dir / spec.file).parent)
        run_notebook_service(spec, project_dir, emitter, stopper)
    else:
        with stopper.deferred():
            run_service_module(spec, place, python, emitter, stopper)
        emitter.emit("service.stopped", message=stopper.message)
    return EXIT_OK
