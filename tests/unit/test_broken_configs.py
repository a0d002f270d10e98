"""Every config in tests/broken_configs/ is refused, naming the expected field and line."""

from __future__ import annotations

import pytest
from corpus import BrokenCase, broken_cases

from bodywork_jupyter.errors import ConfigError
from bodywork_jupyter.pipeline.load import check, load_pipeline

CASES = broken_cases()


def test_the_corpus_is_large_and_covers_both_versions() -> None:
    assert len(CASES) >= 35
    names = [case.name for case in CASES]
    assert sum(n.startswith("v1_") for n in names) >= 15
    assert sum(n.startswith("v2_") for n in names) >= 15
    assert sum(n.startswith("yaml_") for n in names) >= 5


@pytest.mark.parametrize("case", CASES, ids=str)
def test_broken_config_is_refused_where_expected(case: BrokenCase) -> None:
    result = check(case.folder)
    assert result.pipeline is None
    assert result.errors, "no error"
    found = [(p.path, p.line) for p in result.errors]
    assert (case.field, case.line) in found, "\n".join(p.render() for p in result.problems)
    for problem in result.errors:
        rendered = problem.render()
        # FILE:LINE: path.to.field: what is wrong - how to fix
        assert rendered.startswith(f"{problem.file}:{problem.line}: ")
        assert problem.message and problem.hint, rendered
        assert rendered.endswith(f" - {problem.hint}")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_load_pipeline_raises_config_error(case: BrokenCase) -> None:
    with pytest.raises(ConfigError) as caught:
        load_pipeline(case.config)
    assert caught.value.exit_code == 2
    assert all(p.severity == "error" for p in caught.value.problems)
