"""Issue 5's promise: a notebook that runs ``%bodywork deploy examples/iris`` shows the
live widget and ends with the service URL (a real kernel, the real example)."""

from __future__ import annotations

from pathlib import Path

from tests.notebook.kernel import WIDGET_VIEW, execute, has_error, mimetypes, text
from tests.projects import example_copy


def test_deploying_the_example_from_a_notebook(tmp_path: Path, state_dir: Path) -> None:
    # a copy of examples/iris on a free port: a demo may be serving on 5000
    _, port = example_copy("iris", tmp_path / "examples" / "iris")
    load, deploy, waited = execute(
        tmp_path / "deploy.ipynb",
        [
            "%load_ext bodywork_jupyter",
            "run = %bodywork deploy examples/iris",
            "run.wait(600)\nprint(run.status, run.urls)",
        ],
        state_dir=state_dir,
    )
    assert not any(has_error(cell) for cell in (load, deploy, waited))
    assert WIDGET_VIEW in mimetypes(deploy)
    assert f"deployed {{'predict': 'http://127.0.0.1:{port}'}}" in text(waited)
