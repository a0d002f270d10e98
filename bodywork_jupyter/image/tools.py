"""The programs an image build runs, and the Debian package that provides each."""

from __future__ import annotations

import shutil

from bodywork_jupyter.errors import BadInputError

#: program -> the apt package that provides it
PROVIDERS = {
    "mmdebstrap": "mmdebstrap",
    "buildah": "buildah",
    "chroot": "coreutils",
    "tar": "tar",
    "podman": "podman",
    "docker": "docker.io",
    "git": "git",
}


class ToolMissingError(BadInputError):
    """A program the build needs is not on PATH (exit 2)."""

    def __init__(self, tool: str, why: str) -> None:
        package = PROVIDERS.get(tool, tool)
        super().__init__(
            f"bodywork image build needs {tool} ({why}), and it is not on PATH: "
            f"install it with 'apt-get install {package}' (Debian's package {package})"
        )
        self.tool = tool


def require(tool: str, why: str) -> str:
    """The path of ``tool``; raises ToolMissingError."""
    path = shutil.which(tool)
    if path is None:
        raise ToolMissingError(tool, why)
    return path
