"""Problems found while reading a config: what is wrong, where, and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding, rendered as ``FILE:LINE: path.to.field: what is wrong - how to fix``."""

    file: str
    line: int
    path: str
    message: str
    hint: str = ""
    severity: Severity = field(default="error", compare=False)

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        if self.severity == "warning":
            text = f"{where}: warning: {text.split(': ', 1)[1]}"
        return f"{text} - {self.hint}" if self.hint else text

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A 'did you mean' suffix for a misspelt key, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def dotted_path(path: tuple[str | int, ...]) -> str:
    """``("stages", "train", "args", 0)`` as ``stages.train.args[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
