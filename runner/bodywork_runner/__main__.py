"""``python -m bodywork_runner SPEC.json``."""

import sys

from bodywork_runner.cli import main

sys.exit(main())
