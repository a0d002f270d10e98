"""The ``bodywork`` command. Thin: parse the arguments, call the core, print the result."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from bodywork_jupyter._version import __version__
from bodywork_jupyter.cli import output
from bodywork_jupyter.errors import BadInputError, BodyworkError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="bodywork-jupyter")
def cli() -> None:
    """Deploy notebook pipelines: batch stages and prediction services, in one DAG.

    Tag notebooks as stages (bodywork tag), write bodywork.yaml from the tags
    (bodywork generate) and check it (bodywork validate).
    """


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--file", "file_", type=click.Path(path_type=Path), help="Bodywork's spelling of PATH."
)
@click.option(
    "--check-files", is_flag=True, help="Bodywork's: stage files are always checked here."
)
def validate(path: Path, as_json: bool, file_: Path | None, check_files: bool) -> None:
    """Check bodywork.yaml (PATH: the file or its folder). Exit 0 valid, 2 invalid."""
    from bodywork_jupyter.pipeline.load import check

    result = check(file_ if file_ is not None else path)
    if as_json:
        summary = _summary(result.pipeline) if result.pipeline else None
        output.echo(
            json.dumps(
                {
                    "valid": not result.errors,
                    "config_file": str(result.config_file),
                    "problems": [p.to_dict() for p in result.problems],
                    "pipeline": summary,
                },
                indent=2,
            )
        )
    else:
        output.problems(result.problems)
        if result.pipeline is not None:
            pipe = result.pipeline
            kinds = [s.kind for s in pipe.stages.values()]
            output.ok(
                f"{_shown(result.config_file)} is valid (version {pipe.source_version}): "
                f"pipeline '{pipe.name}', {_count(len(kinds), 'stage')} "
                f"({kinds.count('batch')} batch, {_count(kinds.count('service'), 'service')})"
            )
        else:
            output.echo(
                output.style(f"{_count(len(result.errors), 'problem')} found", fg="red"), err=True
            )
    sys.exit(0 if not result.errors else 2)


@cli.command()
@click.argument("folder", default=".", type=click.Path(path_type=Path))
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 if bodywork.yaml is out of date."
)
@click.option("--name", help="Pipeline name for a new bodywork.yaml (default: the folder's).")
def generate(folder: Path, check: bool, name: str | None) -> None:
    """Write bodywork.yaml (2.0) from the stage tags of the notebooks and modules in FOLDER."""
    from bodywork_jupyter.pipeline.generate import apply
    from bodywork_jupyter.pipeline.generate import generate as run_generate

    result = run_generate(folder, name)
    output.problems(result.problems, err=True)
    if result.problems:
        raise BadInputError("fix the stage tags above, then generate again")
    shown = _shown(result.config_file)
    if check:
        if result.changed:
            output.echo(result.diff())
            output.echo(f"{shown} is out of date - run 'bodywork generate {folder}'", err=True)
            sys.exit(1)
        output.ok(f"{shown} is up to date")
        return
    for notice in result.notices:
        output.echo(f"  {notice}")
    verdict = apply(result)
    output.ok(f"wrote {shown}" if result.changed else f"{shown} is up to date")
    output.problems(verdict.problems)
    if verdict.errors:
        sys.exit(2)


@cli.command()
@click.argument("stage_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--stage", "stage_name", help="Stage name (default: the current tag's).")
@click.option("--batch", "kind", flag_value="batch", help="A job that runs to completion.")
@click.option("--service", "kind", flag_value="service", help="A long-running HTTP service.")
@click.option("--port", type=click.IntRange(1, 65535), help="Service port.")
@click.option("--replicas", type=click.IntRange(0), help="Service replicas.")
@click.option("--depends-on", help="Comma-separated stages this one waits for ('' for none).")
@click.option("--timeout", help="Seconds, or e.g. '10m' (batch: per attempt; service: to ready).")
@click.option("--retries", type=click.IntRange(0), help="Retries of a failed batch stage.")
@click.option("--requirements", help="Requirements file, or ';'-separated requirement lines.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Notebook parameter.")
@click.option("--env", "envs", multiple=True, metavar="NAME=VALUE", help="Environment variable.")
@click.option("--cpu", type=click.FloatRange(0), help="CPU cores requested.")
@click.option("--memory", type=click.IntRange(0), help="Memory requested, in MB.")
@click.option("--clear", is_flag=True, help="Remove the tag: the file is no longer a stage.")
@click.option("--show", is_flag=True, help="Print the tag and the notebook's parameters.")
def tag(stage_file: Path, **options: Any) -> None:
    """Tag a notebook or module as a pipeline stage (only its stage metadata changes)."""
    from bodywork_jupyter.cli.tagging import run_tag

    run_tag(stage_file, **options)


@cli.command()
@click.option(
    "--output",
    "-o",
    "output_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to FILE instead of printing.",
)
def schema(output_file: Path | None) -> None:
    """Print the JSON Schema of bodywork.yaml 2.0 (for editors)."""
    from bodywork_jupyter.pipeline.jsonschema import schema_text

    text = schema_text()
    if output_file:
        output_file.write_text(text, encoding="utf-8")
        output.ok(f"wrote {output_file}")
    else:
        output.echo(text.rstrip("\n"))


@cli.command()
def version() -> None:
    """Print the version."""
    output.echo(f"bodywork-jupyter {__version__}")


def _register_run_commands() -> None:
    from bodywork_jupyter.cli import (
        bodywork2,
        cache,
        calling,
        cluster,
        exporting,
        image,
        runs,
        schedules,
        secrets,
    )

    runs.register(cli)
    bodywork2.register(cli)  # Bodywork 2.x's spellings of runs' commands
    cluster.register(cli)
    calling.register(cli)
    secrets.register(cli)  # after runs: it adds to the create, get and delete groups
    schedules.register(cli)  # after runs, too
    cache.register(cli)
    exporting.register(cli)  # bodywork export argo
    image.register(cli)  # bodywork image build


_register_run_commands()


def _summary(pipeline: Any) -> dict[str, Any]:
    return {
        "name": pipeline.name,
        "version": pipeline.source_version,
        "stages": {
            name: {"kind": s.kind, "path": s.path, "depends_on": list(s.depends_on)}
            for name, s in pipeline.stages.items()
        },
        "run_on_failure": pipeline.run_on_failure,
    }


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: every error becomes a message and an exit code, never a traceback."""
    try:
        cli.main(args=argv, prog_name="bodywork", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        output.fail("aborted")
        sys.exit(130)
    except BodyworkError as exc:
        output.fail(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("BODYWORK_DEBUG"):
            raise
        output.fail(
            f"internal error ({type(exc).__name__}: {exc}) - this is a bug in bodywork-jupyter; "
            "run again with BODYWORK_DEBUG=1 for details and report them"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
