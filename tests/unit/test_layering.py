"""The rules of the house, checked on the source: who may import what."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bodywork_jupyter"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def modules(*parts: str) -> list[Path]:
    return sorted(PACKAGE.joinpath(*parts).rglob("*.py"))


def test_only_the_target_registry_imports_the_local_backend_outside_backends() -> None:
    importers = {
        path.relative_to(PACKAGE).as_posix()
        for path in modules()
        if "backends" not in path.relative_to(PACKAGE).parts
        and any(name.startswith("bodywork_jupyter.backends") for name in imports(path))
    }
    assert importers == {"targets/registry.py"}


def test_the_core_is_pure() -> None:
    forbidden = ("subprocess", "socket", "jupyter_server", "ipywidgets", "kubernetes", "tornado")
    for folder in ("pipeline", "plan"):
        for path in modules(folder):
            bad = {n for n in imports(path) if n.split(".")[0] in forbidden}
            assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"
            outward = {
                n
                for n in imports(path)
                if n.startswith(
                    (
                        "bodywork_jupyter.engine",
                        "bodywork_jupyter.backends",
                        "bodywork_jupyter.targets",
                        "bodywork_jupyter.server",
                    )
                )
            }
            assert not outward, f"{path.relative_to(PACKAGE)} reaches out to {sorted(outward)}"


def test_the_engine_knows_no_backend() -> None:
    for path in modules("engine"):
        bad = {n for n in imports(path) if n.startswith("bodywork_jupyter.backends")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_surfaces_read_runs_through_the_read_service() -> None:
    """No surface parses log files or runner event lines itself."""
    surfaces = [
        *modules("cli"),
        *modules("server"),
        *modules("widgets"),
        PACKAGE / "api.py",
        PACKAGE / "magics.py",
    ]
    for path in surfaces:
        text = path.read_text(encoding="utf-8")
        assert "::bodywork-event::" not in text, path
        assert "log_path" not in text, path
        assert "RunStore" not in text, f"{path.relative_to(PACKAGE)} opens the store itself"
