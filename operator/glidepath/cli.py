"""``glidepath`` (also ``kubectl glidepath``): run the operator, and drive rollouts by hand.

How commands reach the operator: ``promote``, ``abort`` and ``retry`` write a request annotation on
the ModelDeployment (``serving.glidepath.io/promote|promote-full|abort|retry``) whose value is a new
request id. The operator acts once per id and records it in ``status.handledRequests``; the spec is
never touched, so git stays the truth. ``undo`` is the exception, for users who do not use GitOps:
like ``kubectl argo rollouts undo`` it writes ``spec.model`` and ``spec.runtime`` back to a promoted
revision from ``status.history`` (under GitOps, revert the commit instead).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from glidepath import naming
from glidepath.k8s import MODEL_DEPLOYMENT, Kube, KubeError, connect, current_namespace

CLI_FIELD_MANAGER = "glidepath-cli"


def _run(args: argparse.Namespace) -> int:
    import kopf

    from glidepath import handlers

    # one handler on the root logger; kopf.configure() then adds none of its own
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handlers.NAMESPACES = tuple(args.namespace or ())
    options: dict[str, Any] = {"standalone": True}
    if args.peering and not args.standalone:
        priority = random.randint(1, 2**31 - 1) if args.priority == "random" else int(args.priority)
        # kopf's convention: the pod's name (env POD_ID) identifies the instance among peers
        identity = (
            os.environ.get("POD_ID")
            or f"glidepath-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        namespace = args.namespace[0] if args.namespace else None
        handlers.PEERING = handlers.Peering(args.peering, identity, priority, namespace)
        options = {"peering_name": args.peering, "priority": priority, "identity": identity}
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        liveness_endpoint=args.liveness,
        **options,
    )
    return 0


def _get(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    md = kube.get(MODEL_DEPLOYMENT, namespace, name)
    if md is None:
        raise SystemExit(f"error: modeldeployment {namespace}/{name} not found")
    return md


def request(kube: Kube, namespace: str, name: str, kind: str) -> str:
    """Write a request annotation (kind: promote, promoteFull, abort, retry); returns its id."""
    _get(kube, namespace, name)
    rid = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"
    patch = {"metadata": {"annotations": {naming.REQUEST_ANNOTATIONS[kind]: rid}}}
    kube.merge_patch(MODEL_DEPLOYMENT, namespace, name, patch, CLI_FIELD_MANAGER)
    return rid


def replacement_patch(current: Any, target: Any) -> Any:
    """A JSON merge patch (RFC 7386) that turns ``current`` into ``target``: keys of ``current`` that
    ``target`` lacks become null (removed), objects are compared key by key, anything else is replaced."""
    if not isinstance(current, dict) or not isinstance(target, dict):
        return target
    patch: dict[str, Any] = {key: None for key in current if key not in target}
    for key, value in target.items():
        patch[key] = replacement_patch(current.get(key), value) if isinstance(value, dict) else value
    return patch


def undo(kube: Kube, namespace: str, name: str, to_revision: str | None) -> dict[str, Any]:
    """Make spec.model and spec.runtime exactly those of a promoted revision (default: the one before
    stable); fields the revision did not set are removed.

    to_revision: a revision hash from status.history, or a unique prefix of one.
    Returns the history entry used; raises SystemExit when there is none to go back to, or when
    ``to_revision`` matches no revision or several.
    """
    current = _get(kube, namespace, name)
    status = current.get("status") or {}
    history = status.get("history") or []
    stable = (status.get("stable") or {}).get("revision")
    if to_revision is not None:
        matches = [h for h in history if h["revision"].startswith(to_revision)]
        if not matches:
            known = ", ".join(h["revision"] for h in history) or "none"
            raise SystemExit(f"error: revision {to_revision} is not in status.history (known: {known})")
        distinct = sorted({h["revision"] for h in matches})
        if len(distinct) > 1:
            raise SystemExit(
                f"error: revision {to_revision} is ambiguous: it begins {', '.join(distinct)}; give more of it"
            )
        entry = matches[-1]
    else:
        older = [h for h in history if h["revision"] != stable]
        if not older:
            raise SystemExit("error: no earlier promoted revision in status.history")
        entry = older[-1]
    source, spec = entry["source"], current.get("spec") or {}
    patch = {
        "spec": {
            "model": replacement_patch(spec.get("model") or {}, source["model"]),
            "runtime": replacement_patch(spec.get("runtime") or {}, source.get("runtime") or {}),
        }
    }
    kube.merge_patch(MODEL_DEPLOYMENT, namespace, name, patch, CLI_FIELD_MANAGER)
    return dict(entry)


def format_status(md: dict[str, Any]) -> str:
    """A human summary of a ModelDeployment's status: phase, tracks, weights, analysis, history."""
    meta, status = md["metadata"], md.get("status") or {}
    lines = [f"Name:      {meta['namespace']}/{meta['name']}"]
    stale = status.get("observedGeneration") != meta.get("generation")
    lines.append(
        f"Phase:     {status.get('phase', 'Unknown')}{'  (status is older than the spec)' if stale else ''}"
    )
    conds = {c["type"]: c for c in status.get("conditions") or []}
    for type_ in ("Ready", "Progressing", "Degraded"):
        c = conds.get(type_)
        if c is not None:
            lines.append(
                f"  {type_:<12} {c['status']:<6} {c['reason']}{': ' + c['message'] if c.get('message') else ''}"
            )
    stable = status.get("stable")
    if stable:
        lines.append(
            f"Stable:    revision {stable['revision']}  version {stable['version']}  "
            f"{stable.get('readyReplicas', 0)}/{stable.get('replicas', 0)} ready"
        )
    canary = status.get("canary")
    if canary:
        lines.append(
            f"Canary:    revision {canary['revision']}  version {canary['version']}  "
            f"{canary.get('readyReplicas', 0)}/{canary.get('replicas', 0)} ready"
        )
        lines.append(
            f"  step {canary['step'] + 1}  weight {canary['weight']}% (effective {canary.get('effectiveWeight', 0)}%)"
            f"  failed checks {canary.get('failedChecks', 0)}{'  promoting' if canary.get('promoting') else ''}"
        )
        if canary.get("message"):
            lines.append(f"  {canary['message']}")
        for r in canary.get("analysis") or []:
            lines.append(f"  analysis {r['name']:<14} {r['phase']:<12} {r.get('message', '')}")
    failed = status.get("failed")
    if failed:
        lines.append(
            f"Failed:    revision {failed['revision']}  {failed['reason']}: {failed.get('message', '')}"
        )
    for h in status.get("history") or []:
        lines.append(
            f"History:   {h['promotedAt']}  revision {h['revision']}  version {h['version']}  {h['uri']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``glidepath`` and ``kubectl-glidepath`` console scripts."""
    parser = argparse.ArgumentParser(
        prog="glidepath", description="Glidepath: safe model rollouts on Kubernetes."
    )
    parser.add_argument(
        "--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument("--context", default=None, help="kubeconfig context")
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
    run.add_argument(
        "--priority",
        default="random",
        help="peering priority of this instance: a number, or random (default; kopf pauses every instance "
        "when two share the highest priority)",
    )
    run.add_argument(
        "--liveness", default=None, help="kopf health endpoint, e.g. http://0.0.0.0:8081/healthz"
    )
    run.add_argument("-v", "--verbose", action="store_true")

    def target(p: argparse.ArgumentParser) -> None:
        p.add_argument("name", help="the ModelDeployment")
        p.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's)")

    status = sub.add_parser("status", help="phase, step, weights, last analysis figures, history")
    target(status)
    status.add_argument("-w", "--watch", action="store_true", help="redraw every 2 s until interrupted")
    status.add_argument("-o", "--output", choices=["text", "json"], default="text")
    promote = sub.add_parser(
        "promote", help="finish the current step now (a step without pause waits for this)"
    )
    target(promote)
    promote.add_argument("--full", action="store_true", help="skip every remaining step and promote now")
    target(sub.add_parser("abort", help="roll the canary back now; stable keeps serving"))
    target(sub.add_parser("retry", help="try a rolled-back revision again"))
    undo_p = sub.add_parser(
        "undo",
        help="WRITES THE SPEC: set spec.model and spec.runtime back to a promoted revision (for users "
        "without GitOps; under GitOps revert the commit instead)",
    )
    target(undo_p)
    undo_p.add_argument(
        "--to-revision", default=None, help="revision (or prefix) from status.history; default: the previous"
    )

    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    kube = connect(args.kubeconfig, args.context)
    namespace = args.namespace or current_namespace(args.kubeconfig, args.context)
    try:
        if args.command == "status":
            while True:
                md = _get(kube, namespace, args.name)
                text = (
                    json.dumps(md.get("status") or {}, indent=2)
                    if args.output == "json"
                    else format_status(md)
                )
                if not args.watch:
                    print(text)
                    return 0
                print("\033[2J\033[H" + text, flush=True)
                time.sleep(2)
        if args.command in ("promote", "abort", "retry"):
            kind = "promoteFull" if args.command == "promote" and args.full else args.command
            rid = request(kube, namespace, args.name, kind)
            print(f"modeldeployment {namespace}/{args.name}: {args.command} requested (id {rid})")
            return 0
        if args.command == "undo":
            entry = undo(kube, namespace, args.name, args.to_revision)
            print(
                f"modeldeployment {namespace}/{args.name}: spec set back to revision {entry['revision']} "
                f"(model version {entry['version']})"
            )
            return 0
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        kube.close()
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
