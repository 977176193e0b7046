"""``glidepath``: the operator's command line. ``glidepath run`` starts the operator (kopf)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any


def _run(args: argparse.Namespace) -> int:
    import kopf

    import glidepath.handlers  # noqa: F401  registers the handlers with kopf

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    kopf.configure(verbose=args.verbose)
    peering: dict[str, Any] = (
        {"standalone": True} if args.standalone or not args.peering else {"peering_name": args.peering}
    )
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        priority=args.priority,
        liveness_endpoint=args.liveness,
        **peering,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``glidepath`` console script."""
    parser = argparse.ArgumentParser(
        prog="glidepath", description="Glidepath: safe model rollouts on Kubernetes."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator (uses KUBECONFIG, or the pod's service account)")
    run.add_argument("-n", "--namespace", action="append", help="watch only this namespace (repeatable)")
    run.add_argument(
        "--standalone", action="store_true", help="no peering: this instance is the only one (default)"
    )
    run.add_argument(
        "--peering",
        metavar="NAME",
        default=None,
        help="run with kopf peering NAME (kopf.dev ClusterKopfPeering/KopfPeering): only the highest-priority "
        "instance is active. Needed when more than one replica runs.",
    )
    run.add_argument("--priority", type=int, default=0, help="peering priority of this instance (default 0)")
    run.add_argument(
        "--liveness", default=None, help="kopf health endpoint, e.g. http://0.0.0.0:8081/healthz"
    )
    run.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
