"""``%bodywork`` in a real kernel: tag, generate, validate, deploy, status, logs, delete."""

from __future__ import annotations

from pathlib import Path

from bodywork_jupyter.pipeline import stagefiles
from tests.notebook.kernel import WIDGET_VIEW, execute, has_error, mimetypes, text
from tests.projects import free_port, notebook


def test_magics_tag_generate_validate_deploy_status_logs_delete(
    tmp_path: Path, state_dir: Path
) -> None:
    project = tmp_path / "proj"
    notebook(project / "a.ipynb", "print('value', n)", params="n = 1")
    notebook(project / "serve.ipynb", "def predict(request):\n    return {'y': request['x'] * 2}")
    port = free_port()
    cells = execute(
        tmp_path / "driver.ipynb",
        [
            "%load_ext bodywork_jupyter",
            "%bodywork --help",
            "%bodywork validate proj",
            "%bodywork tag --notebook proj/a.ipynb --stage a --param n=2",
            f"%bodywork tag --notebook proj/serve.ipynb --stage serve --port {port} --depends-on a",
            "%bodywork generate proj",
            "%bodywork validate proj",
            "run = %bodywork deploy proj --param a.n=5",
            "run.wait(120)\nprint(run.status, run.urls)",
            "from bodywork_jupyter.widgets import RunView\n"
            "view = RunView(run).wait(30)\n"
            "print(view.status, view.stage_status('a'), view.progress('a'))\n"
            "print(view.try_it('serve', '{\"x\": 4}'))",
            "%bodywork status",
            "%bodywork logs proj a",
            "%bodywork logs proj nope",
            "%bodywork deploy --nope",
            "%bodywork deploy nowhere",
            "%bodywork delete proj",
            "%bodywork delete proj",
            "%bodywork tag --stage x",
            "%bodywork tag --help",
        ],
        state_dir=state_dir,
    )
    (
        load,
        help_,
        invalid,
        tag_a,
        tag_serve,
        generate,
        valid,
        deploy,
        waited,
        answer,
        status,
        logs,
        no_stage,
        bad_option,
        no_project,
        delete,
        deleted_twice,
        no_notebook,
        tag_help,
    ) = cells
    assert not any(has_error(cell) for cell in cells)
    assert text(load) == ""
    assert all(word in text(help_) for word in ("tag", "generate", "deploy", "status", "logs"))
    assert [out["output_type"] for out in help_["outputs"]] == ["stream"]  # no "0" result

    assert text(invalid).startswith("error: ") or "error: " in text(invalid)
    assert "no bodywork.yaml found" in text(invalid)
    assert "tagged as stage 'a' (batch)" in text(tag_a)
    assert "tagged as stage 'serve' (service, after a)" in text(tag_serve)
    assert stagefiles.read_tag(project / "a.ipynb") == {"stage": "a", "parameters": {"n": 2}}
    assert "wrote" in text(generate) and (project / "bodywork.yaml").is_file()
    assert "is valid" in text(valid) and "2 stage(s) (1 batch, 1 service)" in text(valid)

    # deploy shows the live view (a widget) and returns the Run
    assert WIDGET_VIEW in mimetypes(deploy), deploy["outputs"]
    assert "<RunView of run " in text(deploy)
    assert f"deployed {{'serve': 'http://127.0.0.1:{port}'}}" in text(waited)
    assert "deployed succeeded (3, 3)" in text(answer)  # a RunView in the kernel itself
    assert '"y": 8' in text(answer)

    table = text(status)
    assert "(proj): deployed" in table
    assert [line.split()[:3] for line in table.splitlines()[2:]] == [
        ["a", "batch", "succeeded"],
        ["serve", "service", "ready"],
    ]
    assert f"http://127.0.0.1:{port}" in table
    assert "value 5" in text(logs)
    assert "error: run " in text(no_stage) and "has no stage 'nope' (stages: a, serve)" in text(
        no_stage
    )
    assert "error: No such option '--nope' - see '%bodywork deploy --help'" in text(bad_option)
    assert "error: " in text(no_project) and "nowhere" in text(no_project)

    assert "deleted deployment 'proj'" in text(delete)
    assert "error: no deployment 'proj'" in text(deleted_twice)
    assert "give it with --notebook PATH" in text(no_notebook)
    assert "--notebook" in text(tag_help) and "--depends-on" in text(tag_help)


def test_tag_finds_the_kernels_own_notebook(tmp_path: Path, state_dir: Path) -> None:
    """jupyter_server tells a notebook's kernel its path (JPY_SESSION_NAME); VS Code too."""
    own = tmp_path / "work" / "own.ipynb"
    other = tmp_path / "work" / "other.ipynb"
    notebook(other, "x = 1", params="alpha = 0.5")
    cells = execute(
        own,
        [
            "%load_ext bodywork_jupyter",
            "%bodywork tag --stage own --retries 2",
            "import os\ndel os.environ['JPY_SESSION_NAME'], __session__\n"
            "__vsc_ipynb_file__ = 'other.ipynb'",
            "%bodywork tag --stage other --service",
            "%bodywork tag",
            "%bodywork tag --show",
            "del __vsc_ipynb_file__",
            "%bodywork tag --stage lost",
        ],
        state_dir=state_dir,
        env={"JPY_SESSION_NAME": str(own)},
    )
    _, tag_own, _, tag_other, form, show, _, lost = cells
    assert "own.ipynb: tagged as stage 'own' (batch)" in text(tag_own)
    assert "reload it from disk" in text(tag_own)
    assert stagefiles.read_tag(own) == {"stage": "own", "retries": 2}
    assert "other.ipynb: tagged as stage 'other' (service)" in text(tag_other)
    assert stagefiles.read_tag(other) == {"stage": "other", "kind": "service"}
    assert WIDGET_VIEW in mimetypes(form)
    assert "alpha: float = 0.5" in text(show)
    assert "cannot tell which notebook" in text(lost)
