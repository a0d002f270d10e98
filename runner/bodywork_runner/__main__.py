"""``python -m bodywork_runner SPEC.json``."""

from bodywork_runner.cli import run_and_exit

run_and_exit()
