"""How many stages run at once: the one default every surface uses, and its bounds.

A notebook stage is two processes, a runner that mostly waits for its kernel and a
kernel that often waits too (on data, a service, a sleep), so stages overlap well past
the core count: four per core. Stages that are all CPU do not lose by it (the cores are
shared, the total work is the same); stages that wait gain it all. Each costs about
100 MB (runner and kernel), so the default stops at 32; the user may set up to 64.
"""

from __future__ import annotations

import os

#: The bounds of ``max_parallel`` that the CLI, the REST API and RunOptions accept.
MIN_MAX_PARALLEL = 1
MAX_MAX_PARALLEL = 64
#: Stages per core, and the default's own floor and ceiling.
STAGES_PER_CORE = 4
_FLOOR, _CEILING = 4, 32


def default_max_parallel(cpus: int | None = None) -> int:
    """The default for a machine of ``cpus`` cores (default: this one's)."""
    count = cpus if cpus is not None else _cores()
    return min(_CEILING, max(_FLOOR, STAGES_PER_CORE * count))


def _cores() -> int:
    """The cores this process may use (a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 1


#: The default max_parallel, for this machine.
DEFAULT_MAX_PARALLEL = default_max_parallel()
