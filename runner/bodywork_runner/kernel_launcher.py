"""``python -m bodywork_runner.kernel_launcher -f CONNECTION_FILE ...``: a cold kernel of
the runner's interpreter, started as ``ipykernel_launcher`` starts one, and ended as a
forked kernel ends (``kernelserver.run_kernel``).

ipykernel's own exit handler stops its IOPub thread before its control thread: a control
thread still flushing its last reply (the shutdown's) then waits seconds for a thread
that is gone, and the kernel ends about 3 s after it was asked to, in about one stage in
four measured (``benchmarks/bench_kernel_exit.py``). Started here, the control thread
is stopped first. Only the interpreter that has the runner's packages starts kernels this
way: an environment of another Python version starts ``ipykernel_launcher``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    # as ipykernel_launcher: the working folder leaves the import path while ipykernel
    # loads, and IPython puts it back (the notebook's folder) as the shell starts
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    from bodywork_runner.kernelserver import run_kernel

    run_kernel(sys.argv[1:])


if __name__ == "__main__":
    main()
