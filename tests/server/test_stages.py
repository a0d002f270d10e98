"""stages: listing notebooks and modules, setting and clearing tags through Jupyter."""

from __future__ import annotations

from pathlib import Path

from tests.server.conftest import Api
from tests.server.helpers import notebook, read_tag

MODULE = "import os\n\nprint('serving')\n"


async def test_list_stages_with_tags_and_parameters(api: Api, jp_root_dir: Path) -> None:
    notebook(
        jp_root_dir / "p" / "train.ipynb",
        "print(n)",
        params="n = 3  # trees\nlr: float = 0.1",
        tag={"stage": "train"},
    )
    notebook(jp_root_dir / "p" / "notes.ipynb", "1")
    (jp_root_dir / "p" / "serve.py").write_text(
        "# /// bodywork\n# stage: serve\n# kind: service\n# service: {port: 5000}\n# ///\n"
    )
    (jp_root_dir / "p" / "broken.ipynb").write_text("{not json")
    reply = await api("GET", "stages")
    assert reply.status == 200, reply
    by_path = {s["path"]: s for s in reply.json()["stages"]}
    assert set(by_path) == {"p/broken.ipynb", "p/notes.ipynb", "p/serve.py", "p/train.ipynb"}
    train = by_path["p/train.ipynb"]
    assert train["stage"] == "train" and train["type"] == "notebook" and train["problems"] == []
    assert train["parameters"] == [
        {"name": "n", "type": "int", "default": 3, "help": "trees"},
        {"name": "lr", "type": "float", "default": 0.1, "help": ""},
    ]
    assert by_path["p/notes.ipynb"]["tag"] is None
    assert by_path["p/serve.py"]["tag"]["kind"] == "service"
    assert by_path["p/broken.ipynb"]["problems"][0]["file"] == "p/broken.ipynb"
    tagged = await api("GET", "stages", params={"tagged": "true", "path": "p"})
    assert [s["path"] for s in tagged.json()["stages"]] == ["p/serve.py", "p/train.ipynb"]


async def test_put_and_delete_notebook_tag(api: Api, jp_root_dir: Path) -> None:
    path = notebook(jp_root_dir / "train.ipynb", "print(1)")
    reply = await api(
        "PUT", "stages", "train.ipynb", body={"stage": "train", "depends_on": ["prepare"]}
    )
    assert reply.status == 200, reply
    assert reply.json()["changed"] is True and reply.json()["stage"] == "train"
    assert read_tag(path) == {"stage": "train", "depends_on": ["prepare"]}
    again = await api(
        "PUT", "stages", "train.ipynb", body={"stage": "train", "depends_on": ["prepare"]}
    )
    assert again.json()["changed"] is False
    # the contents manager sees the same notebook (what an open editor would reload)
    model = await api("GET", "stages", "train.ipynb")
    assert model.json()["tag"] == {"stage": "train", "depends_on": ["prepare"]}
    cleared = await api("DELETE", "stages", "train.ipynb")
    assert cleared.status == 200 and cleared.json()["tag"] is None
    assert read_tag(path) is None
    assert "print(1)" in path.read_text()


async def test_put_module_tag_keeps_code(api: Api, jp_root_dir: Path) -> None:
    path = jp_root_dir / "serve.py"
    path.write_text(MODULE)
    reply = await api(
        "PUT",
        "stages",
        "serve.py",
        body={"stage": "serve", "kind": "service", "service": {"port": 5000}},
    )
    assert reply.status == 200, reply
    text = path.read_text()
    assert text.startswith("# /// bodywork\n# stage: serve\n") and text.endswith(MODULE)
    assert (await api("DELETE", "stages", "serve.py")).json()["changed"] is True
    assert path.read_text() == MODULE


async def test_invalid_tag_is_400_with_problems(api: Api, jp_root_dir: Path) -> None:
    path = notebook(jp_root_dir / "train.ipynb", "print(1)")
    reply = await api(
        "PUT", "stages", "train.ipynb", body={"stage": "train", "kidn": "batch", "retries": "x"}
    )
    assert reply.status == 400, reply
    problems = reply.json()["problems"]
    assert {p["path"] for p in problems} >= {"metadata.bodywork.kidn", "metadata.bodywork.retries"}
    assert all(p["file"] == "train.ipynb" and p["message"] for p in problems)
    assert read_tag(path) is None


async def test_bad_bodies_and_files(api: Api, jp_root_dir: Path) -> None:
    notebook(jp_root_dir / "train.ipynb", "1")
    (jp_root_dir / "data.csv").write_text("a,b\n")
    not_json = await api("PUT", "stages", "train.ipynb", body="{oops")
    assert not_json.status == 400 and "not JSON" in not_json.json()["error"]
    a_list = await api("PUT", "stages", "train.ipynb", body=[1, 2])
    assert a_list.status == 400 and a_list.json()["problems"]
    wrong_type = await api("PUT", "stages", "data.csv", body={"stage": "x"})
    assert wrong_type.status == 400 and ".ipynb" in wrong_type.json()["error"]
    missing = await api("PUT", "stages", "nope.ipynb", body={"stage": "x"})
    assert missing.status == 404
