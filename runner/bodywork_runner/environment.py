"""The stage's Python environment: the runner's own, or a cached one with its requirements.

An environment lives in ``CACHE/envs/<sha256>`` (``env_cache``), the hash of everything
that changes what gets installed: the interpreter (the stage's ``python``, default the
runner's), the platform, the requirements and the requirements file's text, the date
they are resolved as of, the installer and its settings from the environment
(``UV_*`` / ``PIP_*``: indexes, find-links, build and pre-release switches; not caches,
timeouts or credentials) and pip's config files when pip installs. It is built once,
under a file lock, with ``uv`` when it is available (else ``venv`` + pip), and is
complete only once its marker exists: a build that died half way is removed and redone.

An environment of the runner's own Python version gets a ``.pth`` file that appends
the runner's site-packages, so papermill and ipykernel are there without being installed
again (the stage's own installs win). Another version cannot load them: a notebook's
environment gets ``ipykernel`` installed and the kernel runs there while papermill stays
in the runner; a module needs nothing of the runner; a notebook service, which runs in
the runner's own process, must use the runner's Python.

The installer honours the usual settings from the environment: ``PIP_INDEX_URL``,
``PIP_EXTRA_INDEX_URL``, ``PIP_FIND_LINKS`` and ``PIP_NO_INDEX`` (and their ``UV_``
twins), ``PIP_ONLY_BINARY`` and ``PIP_NO_BINARY`` reach whichever installer runs.
``BODYWORK_RUNNER_INSTALLER=pip`` forces pip. A failed install is explained in one line
(``install_failures``).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bodywork_runner
from bodywork_runner import env_cache
from bodywork_runner.env_cache import MARKER, EnvLock
from bodywork_runner.errors import BadInput, StageFailed
from bodywork_runner.events import strip_ansi
from bodywork_runner.install_failures import build_timed_out, explain
from bodywork_runner.interpreters import Interpreter, find_python, runner_version
from bodywork_runner.source_builds import Deadline, DeadlineWatch, SourceBuilds

log = logging.getLogger(__name__)

INSTALLER_ENV = "BODYWORK_RUNNER_INSTALLER"

#: How the stage uses its environment: a module runs on it; a batch notebook's kernel
#: runs on it; a notebook service runs in the runner's own process.
Use = Literal["module", "kernel", "runner"]

# setting -> (uv flag, pip flag); each value may hold several entries, split on spaces
# (and commas, for the lists pip reads as such). uv reads no UV_ONLY_BINARY: PIP_ONLY_BINARY
# (e.g. numpy, or :all:) is how to say "never build it from source" to either installer.
_INDEX_SETTINGS = {
    "INDEX_URL": ("--index-url", "--index-url"),
    "EXTRA_INDEX_URL": ("--extra-index-url", "--extra-index-url"),
    "FIND_LINKS": ("--find-links", "--find-links"),
    "ONLY_BINARY": ("--only-binary", "--only-binary"),
    "NO_BINARY": ("--no-binary", "--no-binary"),
}
_LISTS = ("FIND_LINKS", "ONLY_BINARY", "NO_BINARY")

#: UV_* / PIP_* settings that cannot change what is installed (where caches go, how long
#: to wait, what is printed, how to log in): left out of the cache key.
_NEUTRAL = re.compile(
    r"^(UV|PIP)_(.*CACHE.*|.*TIMEOUT|.*RETRIES|CERT|CLIENT_CERT|.*PROGRESS.*|VERBOSE|QUIET|"
    r"NO_COLOR|COLOR|KEYRING.*|.*PASSWORD|.*TOKEN|.*USERNAME|CONCURRENT_.*|NO_INPUT|"
    r"DISABLE_PIP_VERSION_CHECK|NATIVE_TLS|SYSTEM_CERTS|LINK_MODE|PYTHON_INSTALL_DIR|"
    r"PYTHON_BIN_DIR|TOOL_.*|NO_CONFIG|OFFLINE|LOG.*|NO_WARN_SCRIPT_LOCATION|"
    r"ROOT_USER_ACTION|PYTHON_DOWNLOADS|TRUSTED_HOST|INSECURE_HOST|.*PROXY)$"
)
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")

#: The installer's last lines kept to say what went wrong (all of it goes to the log).
_TAIL_LINES = 3000

#: Environments this process uses: their locks are held (shared) until it ends.
_HELD: list[EnvLock] = []


@dataclass(frozen=True)
class StageEnvironment:
    python: str  # the interpreter that runs the stage (a module, or a notebook's kernel)
    cached: bool  # nothing was installed
    path: Path | None  # None: an interpreter as it is, no environment of ours
    version: str = field(default_factory=runner_version)  # the interpreter's Python version
    linked: bool = True  # the runner's packages load there: the runner may run in it
    as_of: str | None = None  # the requirements were resolved as of this time


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("BODYWORK_CACHE_DIR") or Path(base) / "bodywork")


def requirement_lines(text: str) -> list[str]:
    """The meaningful lines of a requirements text (no blanks, no comments)."""
    lines = (line.split(" #", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def prepare_environment(
    requirements: list[str],
    requirements_file: str | None,
    project_dir: Path,
    cache_dir: str | None,
    *,
    python: str | None = None,
    as_of: str | None = None,
    use: Use = "module",
    deadline: Deadline | None = None,
) -> StageEnvironment:
    """The environment the stage runs in; builds it when it is not in the cache yet.

    ``deadline``: when the stage's timeout runs out; a build from source still going on
    then is stopped and is bad input (``source_builds``)."""
    wanted = sorted({line.strip() for line in requirements if line.strip()})
    file_text = ""
    file_path: Path | None = None
    if requirements_file:
        file_path = (project_dir / requirements_file).resolve()
        if not file_path.is_file():
            raise BadInput(
                f"requirements file {requirements_file} is not in the project - add it, or "
                f"remove requirements_file"
            )
        file_text = file_path.read_text(encoding="utf-8")
    uv = find_uv()
    interpreter = find_python(python, uv)
    if not interpreter.own and use == "runner":
        raise BadInput(
            f"a notebook service runs in the runner's own Python ({runner_version()}), so it "
            f"cannot use Python {python} - remove python: from the stage, or serve it from a "
            "module (.py) that starts its own server"
        )
    extra = ["ipykernel"] if not interpreter.own and use == "kernel" else []
    version, linked = interpreter.version, interpreter.own
    if not wanted and not extra and not requirement_lines(file_text):
        return StageEnvironment(interpreter.path, True, None, version=version, linked=linked)

    installer = installer_name(uv)
    about = {
        "python": interpreter.version,
        "interpreter": interpreter.path,
        "platform": sysconfig.get_platform(),
        "runner": sys.prefix if interpreter.own else None,  # its packages are linked in
        "requirements": wanted,
        "requirements_file": file_text,
        "extra": extra,
        "as_of": as_of,
        "installer": installer,
        "settings": installer_settings(),
        "pip_config": _pip_config_text() if uv is None else "",
    }
    key = hashlib.sha256(json.dumps(about, sort_keys=True).encode()).hexdigest()
    env_dir = env_cache.envs_dir(Path(cache_dir) if cache_dir else default_cache_dir()) / key
    found = StageEnvironment(
        str(env_dir / "bin" / "python"), True, env_dir, version, linked=linked, as_of=as_of
    )
    lock = env_cache.lock_of(env_dir)
    if _use_built(env_dir, lock):
        return found
    try:
        if (env_dir / MARKER).is_file():  # built while we waited for the lock
            lock.take(exclusive=False, wait=True)
            _hold(lock)
            return found
        if env_dir.exists():
            log.info("removing an unfinished environment %s", env_dir)
            shutil.rmtree(env_dir)
        started = time.monotonic()
        try:
            packages = [*wanted, *extra, *(["-r", str(file_path)] if file_path else [])]
            _build(env_dir, interpreter, packages, project_dir, uv, as_of, deadline)
            if interpreter.own:
                _link_runner_packages(env_dir)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
        shown = {**about, "requirements_file": requirements_file, "created": time.time()}
        (env_dir / MARKER).write_text(json.dumps(shown, indent=1))
        log.info("environment %s ready in %.1f s", env_dir, time.monotonic() - started)
        # from exclusive to shared: others waiting for it may use it now, as this stage does
        lock.take(exclusive=False, wait=True)
    except BaseException:
        lock.release()
        raise
    _hold(lock)
    return dataclasses.replace(found, cached=False)


def _use_built(env_dir: Path, lock: EnvLock) -> bool:
    """Wait until the environment is built by someone else (True, held shared) or ours to
    build (False, held exclusively)."""
    while True:
        if (env_dir / MARKER).is_file():
            lock.take(exclusive=False, wait=True)
            if (env_dir / MARKER).is_file():  # not cleared in the meantime
                _hold(lock)
                env_cache.touch(env_dir)
                return True
            lock.release()
            continue
        if lock.take(exclusive=True, wait=False):
            return False
        log.info("another stage is building the same environment: waiting for it")
        lock.take(exclusive=False, wait=True)  # until it is built (or its build failed)
        if (env_dir / MARKER).is_file():
            _hold(lock)
            env_cache.touch(env_dir)
            return True
        lock.release()  # that build failed: build it ourselves


def _hold(lock: EnvLock) -> None:
    # the lock lives as long as this process (and across the runner's re-exec into the env)
    lock.keep_across_exec()
    if lock not in _HELD:
        _HELD.append(lock)


def find_uv() -> str | None:
    if os.environ.get(INSTALLER_ENV, "").lower() == "pip":
        return None
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


@functools.cache
def installer_name(uv: str | None) -> str:
    """``uv 0.13.9`` or ``pip``: part of the cache key."""
    if uv is None:
        return "pip"
    try:
        done = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "uv"
    return done.stdout.strip() or "uv"


def installer_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The UV_* / PIP_* settings that may change what is installed (credentials removed)."""
    environ = dict(os.environ) if environ is None else environ
    return {
        name: _USERINFO.sub("***@", value)
        for name, value in sorted(environ.items())
        if name.startswith(("UV_", "PIP_")) and not _NEUTRAL.match(name)
    }


def _pip_config_text() -> str:
    """pip's config files (they may name an index): part of the key when pip installs."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    paths = [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf")]
    paths += [Path.home() / ".pip" / "pip.conf", config / "pip" / "pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        paths.append(Path(os.environ["PIP_CONFIG_FILE"]))
    texts = []
    for path in paths:
        try:
            texts.append(f"{path}\n{path.read_text(encoding='utf-8')}")
        except (OSError, UnicodeDecodeError):
            continue
    return _USERINFO.sub("***@", "\n".join(texts))


def _build(
    env_dir: Path,
    interpreter: Interpreter,
    packages: list[str],
    cwd: Path,
    uv: str | None,
    as_of: str | None,
    deadline: Deadline | None = None,
) -> None:
    python = str(env_dir / "bin" / "python")
    where = f"Python {interpreter.version}" + (f", as of {as_of}" if as_of else "")
    if uv:
        log.info("installing %s with uv into %s (%s)", " ".join(packages), env_dir, where)
        venv = [uv, "venv", "--quiet", "--no-config", "--python", interpreter.path, str(env_dir)]
        _run(venv, cwd, interpreter)
        flags = _index_flags(use_uv=True) + (["--exclude-newer", as_of] if as_of else [])
        # --compile-bytecode, as pip does: a stage environment is built once and used by
        # every later stage, and where PYTHONDONTWRITEBYTECODE is set (as in many images)
        # each of them would compile its imports again (scikit-learn and pandas: 7-8 s an
        # import, 1.9 s compiled)
        install = [uv, "pip", "install", "--no-config", "--compile-bytecode", "--python", python]
        install += [*flags, *packages]
        _run(install, cwd, interpreter, installer="uv", as_of=as_of, deadline=deadline)
    else:
        log.info("installing %s with pip into %s (%s)", " ".join(packages), env_dir, where)
        if as_of:
            log.warning(
                "pip cannot resolve requirements as of a date: they are resolved as of now "
                "(install uv where the stage runs - the runner's 'uv' extra - to keep the date)"
            )
        _run([interpreter.path, "-m", "venv", str(env_dir)], cwd, interpreter)
        flags = _index_flags(use_uv=False)
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        _run([*pip, *flags, *packages], cwd, interpreter, installer="pip", deadline=deadline)


def _index_flags(*, use_uv: bool) -> list[str]:
    """Installer flags for the index settings given to the *other* installer."""
    own, other = ("UV_", "PIP_") if use_uv else ("PIP_", "UV_")
    flags: list[str] = []
    for setting, (uv_flag, pip_flag) in _INDEX_SETTINGS.items():
        value = os.environ.get(other + setting)
        if value and not os.environ.get(own + setting):
            for entry in value.replace(",", " ").split() if setting in _LISTS else value.split():
                flags += [uv_flag if use_uv else pip_flag, entry]
    no_index = os.environ.get(other + "NO_INDEX", "").lower() in {"1", "true", "yes", "on"}
    if no_index and not os.environ.get(own + "NO_INDEX"):
        flags.append("--no-index")
    return flags


def _run(
    command: list[str],
    cwd: Path,
    interpreter: Interpreter,
    *,
    installer: str | None = None,
    as_of: str | None = None,
    deadline: Deadline | None = None,
) -> None:
    """Runs an installer step; its output is log (stderr, away from the event lines), and
    what went wrong is said in one line. In a session of its own, so that a stop reaches
    the build it runs too (``source_builds``)."""
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    collected: collections.deque[str] = collections.deque(maxlen=200)  # pip: which package
    try:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise StageFailed("error", f"cannot run {Path(command[0]).name}: {exc}") from None
    assert process.stdout is not None
    builds = SourceBuilds()
    with process.stdout, DeadlineWatch(process, deadline, builds) as watch:
        for line in process.stdout:
            sys.stderr.write(line)
            tail.append(line)
            builds.feed(strip_ansi(line))
            if line.lstrip().startswith(("Collecting ", "Processing ")):
                collected.append(line)
        code = process.wait()
    sys.stderr.flush()
    minor = ".".join(interpreter.version.split(".")[:2])
    if watch.stopped is not None and deadline is not None:
        raise build_timed_out(watch.stopped, minor, deadline.seconds).error()
    if code == 0:
        return
    name = installer or Path(command[0]).name
    output = strip_ansi("".join(collected) + "".join(tail))
    if installer is None:  # making the venv itself
        raise StageFailed(
            "error",
            f"making the stage's environment failed ({name} exited {code}) - see the log",
        )
    raise explain(output, name, code, minor, as_of).error()


def runner_site_dirs() -> list[str]:
    """The folders the runner imports its own packages from."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        dirs.append(site.getusersitepackages())
    package_parent = str(Path(bodywork_runner.__file__).resolve().parent.parent)
    if not any(Path(package_parent) == Path(d).resolve() for d in dirs):
        dirs.append(package_parent)  # the runner runs from a source tree
    return dirs


def _link_runner_packages(env_dir: Path) -> None:
    purelib = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lines = [f"import site; site.addsitedir({d!r})" for d in runner_site_dirs()]
    (Path(purelib) / "_bodywork_runner_packages.pth").write_text("\n".join(lines) + "\n")
