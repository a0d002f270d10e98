"""The DAG as layers (a stage sits one level right of its deepest dependency) and as SVG.

Pure functions: no widgets here, so the drawing is easy to test and to reuse.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from bodywork_jupyter.engine import states

#: Fill colour of a stage box, by stage status.
COLOURS = {
    states.PENDING: "#e0e0e0",
    states.RUNNING: "#90caf9",
    states.RETRYING: "#ffe082",
    states.SUCCEEDED: "#a5d6a7",
    states.READY: "#66bb6a",
    states.FAILED: "#ef9a9a",
    states.LOST: "#ef9a9a",
    states.CANCELLED: "#ffcc80",
    states.SKIPPED: "#f5f5f5",
    states.STOPPED: "#bdbdbd",
}

BOX_WIDTH = 140
BOX_HEIGHT = 38
COLUMN_GAP = 50
ROW_GAP = 14
MARGIN = 8


def layers(dependencies: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Stages by dependency level: level 0 has no dependencies (order kept within a level)."""
    level: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in level:
            return level[name]
        parents = [d for d in dependencies.get(name, ()) if d in dependencies and d not in seen]
        value = 1 + max((depth(d, seen | {name}) for d in parents), default=-1)
        level[name] = value
        return value

    for name in dependencies:
        depth(name, frozenset())
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in dependencies:
        out[level[name]].append(name)
    return out


def svg(
    columns: Sequence[Sequence[str]],
    dependencies: Mapping[str, Sequence[str]],
    statuses: Mapping[str, str],
) -> str:
    """An SVG drawing of the layered DAG: one box per stage, coloured by its status."""
    where: dict[str, tuple[int, int]] = {}
    for col, names in enumerate(columns):
        for row, name in enumerate(names):
            x = MARGIN + col * (BOX_WIDTH + COLUMN_GAP)
            y = MARGIN + row * (BOX_HEIGHT + ROW_GAP)
            where[name] = (x, y)
    rows = max((len(c) for c in columns), default=0)
    width = MARGIN * 2 + max(len(columns), 1) * (BOX_WIDTH + COLUMN_GAP) - COLUMN_GAP
    height = MARGIN * 2 + max(rows, 1) * (BOX_HEIGHT + ROW_GAP) - ROW_GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        ' font-family="sans-serif" font-size="12">',
        '<defs><marker id="bw-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6"'
        ' markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#616161"/>'
        "</marker></defs>",
    ]
    for name, (x, y) in where.items():
        for parent in dependencies.get(name, ()):
            if parent not in where:
                continue
            px, py = where[parent]
            parts.append(
                f'<line x1="{px + BOX_WIDTH}" y1="{py + BOX_HEIGHT // 2}" x2="{x}"'
                f' y2="{y + BOX_HEIGHT // 2}" stroke="#616161" marker-end="url(#bw-arrow)"/>'
            )
    for name, (x, y) in where.items():
        status = statuses.get(name, states.PENDING)
        fill = COLOURS.get(status, "#ffffff")
        label = html.escape(name if len(name) <= 18 else name[:17] + "…")
        parts.append(
            f'<g data-stage="{html.escape(name)}" data-status="{html.escape(status)}">'
            f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6"'
            f' fill="{fill}" stroke="#424242"/>'
            f'<text x="{x + 8}" y="{y + 16}" font-weight="bold">{label}</text>'
            f'<text x="{x + 8}" y="{y + 31}" fill="#424242">{html.escape(status)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
