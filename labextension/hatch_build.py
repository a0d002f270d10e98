"""Ships the built JupyterLab extension in the wheel, and only in a real (not editable) one.

A wheel puts ``bodywork_jupyter/labextension`` (what ``jlpm build:prod`` writes) under
``share/jupyter/labextensions/<name>``, where JupyterLab finds prebuilt extensions. An
editable install gets no copy: scripts/setup links that folder to the build instead (as
``jupyter labextension develop`` does), so a rebuild shows at the next page load and a
reinstall never deletes files through the link.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUILT = "bodywork_jupyter/labextension"


class LabextensionHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        root = Path(self.root)
        package = json.loads((root / "labextension" / "package.json").read_text("utf-8"))
        where = f"share/jupyter/labextensions/{package['name']}"
        build_data["shared_data"][BUILT] = where
        build_data["shared_data"]["labextension/install.json"] = f"{where}/install.json"
