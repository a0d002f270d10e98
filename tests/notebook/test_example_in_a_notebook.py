"""Issue 5's promise: a notebook that runs ``%bodywork deploy examples/iris`` shows the
live widget and ends with the service URL (a real kernel, the real example)."""

from __future__ import annotations

from pathlib import Path

from tests.notebook.kernel import WIDGET_VIEW, execute, has_error, mimetypes, text

ROOT = Path(__file__).resolve().parents[2]


def test_deploying_the_example_from_a_notebook(tmp_path: Path, state_dir: Path) -> None:
    load, deploy, waited = execute(
        tmp_path / "deploy.ipynb",
        [
            "%load_ext bodywork_jupyter",
            f"run = %bodywork deploy {ROOT / 'examples' / 'iris'}",
            "run.wait(600)\nprint(run.status, run.urls)",
        ],
        state_dir=state_dir,
    )
    assert not any(has_error(cell) for cell in (load, deploy, waited))
    assert WIDGET_VIEW in mimetypes(deploy)
    assert "deployed {'predict': 'http://127.0.0.1:5000'}" in text(waited)
