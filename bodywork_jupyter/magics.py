"""``%bodywork``: the bodywork commands in a notebook, after ``%load_ext bodywork_jupyter``.

    %bodywork tag --stage train --depends-on prepare     # tags this notebook
    %bodywork generate
    %bodywork validate
    run = %bodywork deploy --param train.n_estimators=200    # a live view; returns the Run
    %bodywork status
    %bodywork deployments                                    # what each one serves
    %bodywork logs RUN train
    %bodywork delete NAME

Thin, like the CLI: the line is split like a shell line, parsed by click, and each
command calls the core and renders the result as text and HTML. An error is displayed
as a message, never a traceback; ``%bodywork --help`` and ``%bodywork CMD --help``
print the usage.
"""

from __future__ import annotations

import html
import os
import shlex
import time
from pathlib import Path
from typing import Any

import click
from IPython import display as ipython_display

from bodywork_jupyter.cli import output
from bodywork_jupyter.engine.parallelism import (
    DEFAULT_MAX_PARALLEL,
    MAX_MAX_PARALLEL,
    MIN_MAX_PARALLEL,
)
from bodywork_jupyter.errors import BadInputError, BodyworkError
from bodywork_jupyter.pipeline.problems import Problem

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
PROG = "%bodywork"

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="BODYWORK_STATE_DIR",
    help="Where run history lives (default: ~/.local/share/bodywork-jupyter).",
)
target_option = click.option(
    "--target", default="local", show_default=True, help="Where the deployment lives."
)


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%bodywork`` (``%load_ext bodywork_jupyter`` calls this)."""

    def bodywork(line: str) -> Any:
        return run_line(line, ipython)

    bodywork.__doc__ = magic.get_help(click.Context(magic, info_name=PROG))
    ipython.register_magic_function(bodywork, magic_kind="line", magic_name="bodywork")


def run_line(line: str, shell: Any = None) -> Any:
    """Run one ``%bodywork`` line; errors are displayed, and None is returned."""
    try:
        args = shlex.split(line)
    except ValueError as exc:
        show_error(f"cannot split the line ({exc}) - check its quotes")
        return None
    try:
        result = magic.main(args=args, prog_name=PROG, standalone_mode=False, obj=shell)
        # click returns an exit code after --help: not a value to show as the cell's result
        return None if isinstance(result, int) else result
    except click.exceptions.Exit:
        return None
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else PROG
        show_error(f"{exc.format_message().rstrip('.')} - see '{where} --help'")
    except click.ClickException as exc:
        show_error(exc.format_message())
    except click.Abort:
        show_error("aborted")
    except BodyworkError as exc:
        show_error(str(exc))
    return None


@click.group(context_settings=CONTEXT)
def magic() -> None:
    """The bodywork commands in a notebook.

    Tag notebooks as stages (tag), write bodywork.yaml from the tags (generate), check it
    (validate), run the pipeline (deploy) and follow it (status, logs), see what serves
    (deployments), stop its services (delete). Paths are relative to the kernel's working
    folder (the notebook's folder).
    """


# -- tag -------------------------------------------------------------------------------------


def _tag_command() -> click.Command:
    """``tag``: the options of the ``bodywork tag`` command, with ``--notebook`` for the file."""
    from bodywork_jupyter.cli.main import tag as cli_tag

    params: list[click.Parameter] = [
        click.Option(
            ["--notebook", "-n"],
            type=click.Path(path_type=Path, dir_okay=False),
            help="The stage file (default: the notebook this kernel belongs to).",
        ),
        click.Option(
            ["--form"],
            is_flag=True,
            help="Show a form to edit the tag (the default when no option is given).",
        ),
        *(p for p in cli_tag.params if p.name != "stage_file"),
    ]
    return click.Command(
        "tag",
        params=params,
        callback=_tag,
        context_settings=CONTEXT,
        help="Tag this notebook (or --notebook PATH) as a pipeline stage. With no option, "
        "show a form. Options left out keep the value already in the tag.",
    )


def _tag(notebook: Path | None, form: bool, **options: Any) -> None:
    from bodywork_jupyter.cli.tagging import run_tag

    shell = click.get_current_context().obj
    path, own = find_notebook(notebook, shell)
    given = [key for key, value in options.items() if value not in (None, False, ())]
    if form or not given:
        from bodywork_jupyter.widgets import TagForm

        show(TagForm(path))
        return
    run_tag(path, **options)
    if own and not options["show"]:
        output.echo(
            "note: this notebook is open - reload it from disk (File > Reload Notebook from "
            "Disk) before saving it, or the save puts its old metadata back"
        )


magic.add_command(_tag_command())


def find_notebook(given: Path | None, shell: Any) -> tuple[Path, bool]:
    """The notebook to tag, and whether it is the kernel's own (found, not given)."""
    if given is not None:
        return given, False
    namespace = getattr(shell, "user_ns", None) or {}
    candidates = [
        os.environ.get("JPY_SESSION_NAME"),  # jupyter_server sets it for a notebook's kernel
        namespace.get("__session__"),  # ipykernel's copy of it
        namespace.get("__vsc_ipynb_file__"),  # VS Code
    ]
    for value in candidates:
        if not value:
            continue
        path = Path(str(value))
        # a session path may be relative to the server's root, not to the kernel's folder
        for option in (path, Path.cwd() / path.name):
            if option.suffix == ".ipynb" and option.is_file():
                return _relative(option), True
    raise BadInputError(
        "cannot tell which notebook this kernel belongs to - give it with --notebook PATH"
    )


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


# -- generate, validate ------------------------------------------------------------------------


@magic.command(context_settings=CONTEXT)
@click.argument("folder", default=".", type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; say whether bodywork.yaml is current.")
@click.option("--name", help="Pipeline name for a new bodywork.yaml (default: the folder's).")
def generate(folder: Path, check: bool, name: str | None) -> None:
    """Write bodywork.yaml (2.0) from the stage tags in FOLDER (default: this folder)."""
    from bodywork_jupyter.pipeline.generate import apply
    from bodywork_jupyter.pipeline.generate import generate as run_generate

    result = run_generate(folder, name)
    shown = _relative(result.config_file)
    if result.problems:
        show_problems(result.problems, f"{len(result.problems)} problem(s) with the stage tags")
        raise BadInputError("fix the stage tags above, then generate again")
    if check:
        if result.changed:
            output.echo(result.diff())
            show_error(f"{shown} is out of date - run '%bodywork generate {folder}'")
        else:
            output.ok(f"{shown} is up to date")
        return
    for notice in result.notices:
        output.echo(f"  {notice}")
    verdict = apply(result)
    output.ok(f"wrote {shown}" if result.changed else f"{shown} is up to date")
    if verdict.problems:
        show_problems(verdict.problems, f"{shown}: {len(verdict.problems)} problem(s)")


@magic.command(context_settings=CONTEXT)
@click.argument("path", default=".", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check bodywork.yaml (PATH: the file or its folder; default: this folder)."""
    from bodywork_jupyter.pipeline.load import check

    result = check(path)
    if result.pipeline is None:
        show_problems(result.problems, f"{len(result.errors)} problem(s) found", error=True)
        return
    pipe = result.pipeline
    kinds = [s.kind for s in pipe.stages.values()]
    summary = (
        f"✓ {_relative(result.config_file)} is valid (version {pipe.source_version}): "
        f"pipeline '{pipe.name}', {len(kinds)} stage(s) ({kinds.count('batch')} batch, "
        f"{kinds.count('service')} service)"
    )
    show_problems(result.problems, summary)


# -- deploy and follow -------------------------------------------------------------------------


@magic.command(context_settings=CONTEXT)
@click.argument("path", default=".")
@click.option("--branch", help="Deploy the head of this branch.")
@click.option("--commit", help="Deploy this commit.")
@target_option
@click.option("--context", help="kubeconfig context (cluster targets).")
@click.option("--namespace", help="Namespace (cluster targets).")
@click.option("--image", help="Stage image (cluster targets).")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="STAGE.NAME=VALUE",
    help="Override a notebook parameter for this run.",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(MIN_MAX_PARALLEL, MAX_MAX_PARALLEL),
    default=DEFAULT_MAX_PARALLEL,
    show_default=True,
    help="At most this many stages run at once.",
)
@click.option("--no-widget", is_flag=True, help="Print the run id instead of the live view.")
@click.option("--wait", is_flag=True, help="Return when the run has settled.")
@state_dir_option
def deploy(
    path: str,
    branch: str | None,
    commit: str | None,
    target: str,
    context: str | None,
    namespace: str | None,
    image: str | None,
    params: tuple[str, ...],
    max_parallel: int,
    no_widget: bool,
    wait: bool,
    state_dir: Path | None,
) -> Any:
    """Deploy the pipeline in PATH (a folder, default '.', or a git URL); returns the Run.

    Shows a live view of the run: the DAG, each stage's progress and log, the URL of each
    service and a box to try it. Write 'run = %bodywork deploy' to keep the Run.
    """
    from bodywork_jupyter import api

    run = api.deploy(
        path,
        branch=branch,
        commit=commit,
        target=target,
        context=context,
        namespace=namespace,
        image=image,
        params=list(params),
        max_parallel=max_parallel,
        state_dir=state_dir,
    )
    for warning in run.warnings:
        output.echo(f"warning: {warning}", err=True)
    if no_widget:
        output.echo(f"deploying '{run.deployment}' (run {run.id})")
    else:
        from bodywork_jupyter.widgets import RunView

        view = RunView(run)
        show(view)
        if wait:
            view.wait()
    if wait:
        run.wait()
    return run


@magic.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option("--watch", is_flag=True, help="Show the live view instead of a table.")
@target_option
@state_dir_option
def status(run_ref: str | None, watch: bool, target: str, state_dir: Path | None) -> None:
    """The stages of a run (RUN: an id, a prefix or a deployment; default: the latest run),
    and, when it failed or was cancelled, the earlier version that keeps serving."""
    from bodywork_jupyter import api
    from bodywork_jupyter.reader import kept_serving_note

    run = api.get_run(run_ref or _latest_run(state_dir, target), state_dir=state_dir, target=target)
    if watch:
        from bodywork_jupyter.widgets import RunView

        show(RunView(run))
        return
    now = time.time()
    rows = []
    for stage in run.stages:
        took = ""
        if stage.started:
            took = f"{(stage.finished or now) - stage.started:.1f}s"
        rows.append(
            [
                stage.stage,
                stage.kind,
                stage.status,
                str(stage.attempt or ""),
                took,
                stage.url or stage.message,
            ]
        )
    title = f"run {run.id} ({run.deployment}): {run.status}"
    if run.started_by:
        title += f", started by {run.started_by}"
    if run.message:
        title += f" - {run.message}"
    kept = run.serving_instead
    note = kept_serving_note(kept) if kept is not None else None
    headers = ["stage", "kind", "status", "attempt", "elapsed", "details"]
    show_table(title, headers, rows, note=note)


@magic.command(context_settings=CONTEXT)
@target_option
@state_dir_option
def deployments(target: str, state_dir: Path | None) -> None:
    """Every deployment: its status, its newest run, the version serving (RUN@COMMIT: after
    a failed redeploy, an earlier run's) and where its services answer."""
    from bodywork_jupyter import api
    from bodywork_jupyter.reader import version_tag

    views = api.deployments(state_dir=state_dir, target=target)
    if not views:
        output.echo("no deployments")
        return
    rows = [
        [
            view.name,
            view.status,
            view.run.id if view.run else "-",
            version_tag(view.serving_run) if view.serving_run else "-",
            " ".join(f"{s}={u}" for s, u in view.urls.items()) or "-",
        ]
        for view in views
    ]
    show_table("deployments", ["name", "status", "run", "serving", "services"], rows)


def _latest_run(state_dir: Path | None, target: str) -> str:
    from bodywork_jupyter.api import target_options
    from bodywork_jupyter.reader import RunReader
    from bodywork_jupyter.targets import open_target

    opened = open_target(target_options(target, state_dir))
    try:
        runs = RunReader(opened).runs(limit=1)
    finally:
        opened.close()
    if not runs:
        raise BadInputError("no runs yet - deploy with '%bodywork deploy'")
    return runs[0].id


@magic.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN")
@click.argument("stage", required=False)
@click.option("--tail", type=click.IntRange(1), help="Only the last N lines.")
@target_option
@state_dir_option
def logs(
    run_ref: str, stage: str | None, tail: int | None, target: str, state_dir: Path | None
) -> None:
    """Print a run's logs (RUN: an id, a prefix or a deployment name; STAGE: one stage)."""
    from bodywork_jupyter import api

    run = api.get_run(run_ref, state_dir=state_dir, target=target)
    lines = run.logs(stage).splitlines()
    if tail:
        lines = lines[-tail:]
    output.echo("\n".join(lines) if lines else f"run {run.id}: no log yet")


@magic.command(context_settings=CONTEXT)
@click.argument("name")
@target_option
@state_dir_option
def delete(name: str, target: str, state_dir: Path | None) -> None:
    """Stop deployment NAME's services and free their ports (its history is kept)."""
    from bodywork_jupyter import api

    api.delete(name, state_dir=state_dir, target=target)
    output.ok(f"deleted deployment '{name}' (its services are stopped)")


# -- rendering -------------------------------------------------------------------------------


def show(value: Any, *, raw: bool = False) -> None:
    """IPython's ``display`` (typed)."""
    ipython_display.display(value, raw=raw)  # type: ignore[no-untyped-call]


def show_error(message: str) -> None:
    """An error as output: red in a notebook, ``error: ...`` as text; never a traceback."""
    lines = message.splitlines() or [""]
    body = html.escape(lines[0]) + (
        "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines[1:]) + "</ul>"
        if len(lines) > 1
        else ""
    )
    show(
        {
            "text/plain": "error: " + message,
            "text/html": '<div style="color:#c62828;border-left:3px solid #c62828;'
            f'padding-left:8px"><b>error:</b> {body}</div>',
        },
        raw=True,
    )


def show_problems(problems: list[Problem], summary: str, *, error: bool = False) -> None:
    """Problems as a table (HTML) and as ``FILE:LINE: field: what - fix`` lines (text)."""
    plain = [p.render() for p in problems] + [("error: " if error else "") + summary]
    rows = "".join(
        "<tr>"
        f'<td style="color:{"#c62828" if p.severity == "error" else "#ef6c00"}">{p.severity}</td>'
        f"<td><code>{html.escape(f'{p.file}:{p.line}' if p.line else p.file)}</code></td>"
        f"<td><code>{html.escape(p.path)}</code></td>"
        f"<td>{html.escape(p.message)}</td><td>{html.escape(p.hint)}</td></tr>"
        for p in problems
    )
    table = (
        "<table><tr><th>severity</th><th>where</th><th>field</th><th>problem</th>"
        f"<th>how to fix</th></tr>{rows}</table>"
        if problems
        else ""
    )
    colour = "#c62828" if error else "#2e7d32"
    show(
        {
            "text/plain": "\n".join(plain),
            "text/html": f'{table}<div style="color:{colour}">{html.escape(summary)}</div>',
        },
        raw=True,
    )


def show_table(
    title: str, headers: list[str], rows: list[list[str]], *, note: str | None = None
) -> None:
    """A titled table as text and HTML; ``note``: a line under it."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [title, "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines += [note] if note else []
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    under = f"<p>{html.escape(note)}</p>" if note else ""
    show(
        {
            "text/plain": "\n".join(line.rstrip() for line in lines),
            "text/html": f"<b>{html.escape(title)}</b><table><tr>{head}</tr>{body}</table>{under}",
        },
        raw=True,
    )
