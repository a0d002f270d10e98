"""A local stage's process environment: what it inherits from this machine, and its secrets.

On a cluster a stage's pod has the image's environment, its ``env`` and the secrets it
declares, nothing of the shell that deployed it. Here the same: a stage process gets only
the variables named below from the supervisor's environment (itself the environment of the
``bodywork deploy`` that started it), then the values of the secrets it declares, read from
this machine's store as it starts. Anything else set in the deploying shell (a token, a
password) does not reach the stage; the stage's own ``env`` and ``BODYWORK_*`` variables
come in the runner's spec.

The list is what a process needs to run and to install its requirements, as an image would
carry it: where programs are, the user's home and locale, the machine's trust and proxy
settings, the installer's settings (``PIP_*``, ``UV_*``: index URLs, their credentials, a
wheel folder), the runner's own (``BODYWORK_RUNNER_*``, and the git credentials it uses to
fetch the code and removes before the stage's code runs), and Jupyter's folders.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Variables a stage inherits, by name.
INHERITED = frozenset(
    {
        # the process: programs, home, user, temporary files, time zone, locale
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TEMP", "TMP", "TZ",
        "LANG", "LANGUAGE",
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
        # what this machine trusts (a package index behind a company CA)
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "NIX_SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
        "AWS_CA_BUNDLE", "HTTPLIB2_CA_CERTS", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
        # proxies
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
        "http_proxy", "https_proxy", "all_proxy", "no_proxy",
        # fetching the code: ssh's agent, and the runner's git credentials
        "SSH_AUTH_SOCK", "GIT_SSH", "GIT_SSH_COMMAND",
        "BODYWORK_GIT_TOKEN", "BODYWORK_GIT_USERNAME", "BODYWORK_GIT_SSH_KEY",
        "BODYWORK_GIT_KNOWN_HOSTS",
        # Jupyter's and IPython's folders (the kernel a notebook runs on)
        "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
    }
)  # fmt: skip

#: Variables a stage inherits, by prefix: the locale's, the installers', the runner's.
INHERITED_PREFIXES = ("LC_", "PIP_", "UV_", "BODYWORK_RUNNER_")


def inherited(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` a stage inherits."""
    return {
        name: value
        for name, value in environ.items()
        if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }


def stage_environment(environ: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """A stage process's environment: what it inherits of ``environ``, then its
    ``secrets`` (variable -> value)."""
    env = inherited(environ)
    env.update(secrets)
    env["PYTHONUNBUFFERED"] = "1"  # its output reaches the log as it is printed
    return env
