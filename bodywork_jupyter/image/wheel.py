"""The stage image's own wheel: ``bodywork_jupyter`` (the controller) and ``bodywork_runner``.

Written here with the standard library only, so the Dockerfile's first stage and
``bodywork image build`` make the same wheel from a checkout or from an installed
bodywork-jupyter, with no build backend and no network. The wheel names no dependencies:
the image installs them from ``requirements.lock`` (hashes), and this wheel with ``--no-deps``.
The wheel is reproducible (sorted entries, fixed times), so an unchanged source keeps
its hash and the image's layer.

    python bodywork_jupyter/image/wheel.py --out DIR bodywork_jupyter runner/bodywork_runner
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

DISTRIBUTION = "bodywork_stage"
ENTRY_POINTS = {
    "bodywork-runner": "bodywork_runner.cli:main",
    "bodywork-controller": "bodywork_jupyter.backends.kubernetes.controller:main",
}
# what a stage pod never loads: the JupyterLab extension's built assets, caches
_SKIPPED_DIRS = {"__pycache__", "labextension"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def package_version(package_dir: Path) -> str:
    """``__version__`` from ``_version.py`` or ``__init__.py``, read, not imported."""
    for name in ("_version.py", "__init__.py"):
        path = package_dir / name
        if path.is_file():
            found = re.search(r'^__version__\s*=\s*"([^"]+)"', path.read_text("utf-8"), re.M)
            if found:
                return found.group(1)
    raise SystemExit(f"no __version__ in {package_dir}")


def package_files(package_dir: Path) -> list[tuple[str, Path]]:
    """(path in the wheel, file) for every file of the package the image needs."""
    found: list[tuple[str, Path]] = []
    for path in sorted(package_dir.rglob("*")):
        relative = path.relative_to(package_dir)
        if not path.is_file() or _SKIPPED_DIRS.intersection(relative.parts[:-1]):
            continue
        if path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        found.append((f"{package_dir.name}/{relative.as_posix()}", path))
    return found


def write_wheel(packages: Sequence[Path], out_dir: Path, version: str | None = None) -> Path:
    """Writes the wheel of ``packages`` into ``out_dir``; returns its path."""
    version = version or package_version(packages[0])
    info = f"{DISTRIBUTION}-{version}.dist-info"
    metadata = {
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {version}\n"
            "Summary: bodywork-jupyter's stage runner and in-cluster controller, for the "
            "stage image\nLicense: AGPL-3.0-or-later\nRequires-Python: >=3.11\n"
        ),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: bodywork_jupyter.image.wheel\n"
            "Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": "[console_scripts]\n"
        + "".join(f"{name} = {target}\n" for name, target in ENTRY_POINTS.items()),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{DISTRIBUTION}-{version}-py3-none-any.whl"
    records: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _entries(packages, metadata):
            entry = zipfile.ZipInfo(name, _FIXED_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{name},sha256={digest.decode()},{len(data)}")
        records.append(f"{info}/RECORD,,")
        entry = zipfile.ZipInfo(f"{info}/RECORD", _FIXED_TIME)
        entry.external_attr = 0o644 << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(entry, "\n".join(records) + "\n")
    return wheel


def _entries(packages: Sequence[Path], metadata: dict[str, str]) -> Iterable[tuple[str, bytes]]:
    for package in packages:
        for name, path in package_files(package):
            yield name, path.read_bytes()
    for name, text in metadata.items():
        yield name, text.encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the stage image's own wheel.")
    parser.add_argument("--out", required=True, type=Path, help="the folder for the wheel")
    parser.add_argument("--version", help="default: the first package's __version__")
    parser.add_argument("packages", nargs="+", type=Path, help="package folders")
    args = parser.parse_args(argv)
    print(write_wheel(args.packages, args.out, args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
