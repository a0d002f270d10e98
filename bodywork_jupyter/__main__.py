"""``python -m bodywork_jupyter`` is the ``bodywork`` command."""

from bodywork_jupyter.cli.main import main

main()
