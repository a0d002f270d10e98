"""Command line of the test cluster (``scripts/testcluster`` runs this).

    testcluster up [--kubeconfig FILE]   start it (or find it running); print the kubeconfig
    testcluster down                     stop everything it started, remove what it made
    testcluster status                   exit 0 if it is up
    testcluster build                    build (or find cached) the control-plane binary
    testcluster agent KUBECONFIG         the node agent (started by ``up``)
"""

from __future__ import annotations

import argparse
import fcntl
import sys
from pathlib import Path

from bwtestcluster import build, controlplane
from bwtestcluster.config import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testcluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the cluster; prints the kubeconfig path")
    up.add_argument("--kubeconfig", type=Path, help="also write the kubeconfig here")
    sub.add_parser("down", help="stop the cluster and remove what it made")
    sub.add_parser("status", help="exit 0 if the cluster is up")
    sub.add_parser("build", help="build the control-plane binary (cached)")
    agent = sub.add_parser("agent", help="run the node agent (started by up)")
    agent.add_argument("kubeconfig")
    args = parser.parse_args(argv)
    config = Config()
    if args.command in ("up", "down"):
        # one up or down at a time (two test sessions may start together)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        lock = open(config.state_dir / ".lock", "w")  # noqa: SIM115 (held until exit)
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        if args.command == "up":
            print(controlplane.up(config, args.kubeconfig))
        elif args.command == "down":
            controlplane.down(config)
        elif args.command == "status":
            up_now = controlplane.is_up(config)
            print("up" if up_now else "down")
            return 0 if up_now else 1
        elif args.command == "build":
            print(build.ensure_binary(config))
        elif args.command == "agent":
            from bwtestcluster.agent.main import main as agent_main

            agent_main(config, args.kubeconfig)
    except (controlplane.ClusterError, RuntimeError) as exc:
        print(f"testcluster: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
