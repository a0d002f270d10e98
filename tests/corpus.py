"""The corpus of broken configs in tests/broken_configs/, shared by the loader and CLI tests.

Each case is a folder holding a ``bodywork.yaml``, the stage files it names, and an
``expect.txt`` with one line ``FIELD LINE``: the dotted field path one error must name
(``-`` for a problem with the file as a whole, e.g. bad YAML) and the line it must give.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).parent / "broken_configs"


@dataclass(frozen=True)
class BrokenCase:
    name: str
    folder: Path
    field: str  # "" when the error is about the whole file
    line: int

    @property
    def config(self) -> Path:
        return self.folder / "bodywork.yaml"

    def __str__(self) -> str:  # the pytest id
        return self.name


def read_expectation(folder: Path) -> tuple[str, int]:
    """The (field, line) in ``folder/expect.txt``."""
    lines = [
        line.strip()
        for line in (folder / "expect.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if len(lines) != 1:
        raise ValueError(f"{folder / 'expect.txt'}: expected one 'FIELD LINE' line")
    field, _, line = lines[0].rpartition(" ")
    return ("" if field == "-" else field), int(line)


def broken_cases() -> list[BrokenCase]:
    """Every case, sorted by name."""
    cases = []
    for folder in sorted(p for p in CORPUS_DIR.iterdir() if p.is_dir()):
        field, line = read_expectation(folder)
        cases.append(BrokenCase(folder.name, folder, field, line))
    return cases
