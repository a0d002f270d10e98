"""The README's main job: the example notebook pipeline deploys and predicts."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.engine.helpers import Bodywork
from tests.projects import example_copy


def test_the_iris_example_deploys_and_predicts(bw: Bodywork, tmp_path: Path) -> None:
    project, port = example_copy("iris", tmp_path / "iris")
    result = bw("deploy", project, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"predict is serving at http://127.0.0.1:{port}" in result.stdout
    flower = {
        "sepal length (cm)": 6.7,
        "sepal width (cm)": 3.0,
        "petal length (cm)": 5.2,
        "petal width (cm)": 2.3,
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps(flower).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read()) == {"species": "virginica", "label": 2}
    # the same through `bodywork call`, which also works for a cluster's services
    called = bw("call", "iris", "--data", json.dumps(flower))
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"species": "virginica", "label": 2}
    bad = bw("call", "iris", "--data", "{not json")
    assert bad.returncode == 2 and "--data is not JSON" in bad.stderr
    missing = bw("call", "iris", "nope", "--data", "{}")
    assert missing.returncode == 2 and "serves no stage 'nope'" in missing.stderr
    stages = {s.stage: s.status for s in bw.store().stages(bw.store().runs("iris")[0].id)}
    assert stages == {
        "prepare": "succeeded",
        "train": "succeeded",
        "predict": "ready",
        "report": "succeeded",
    }
