"""Test modules have unique names: pytest imports them by basename (rootdir conftest, no
packages), so two ``test_x.py`` in different tiers stop the whole collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_name() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if "golden" not in p.parts)
    assert [name for name, count in names.items() if count > 1] == []
