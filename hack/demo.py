"""README command 1 (`make demo`): the main job on a fresh local control plane.

Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (built from Go modules
and cached), installs the CRD, runs the operator, applies examples/classifier.yaml with a freshly
generated model served from a local HTTP server, waits for Ready, then runs the rendered pod's
fetcher and runtime exactly as their containers would, prints a real prediction and `kubectl get md`,
and tears everything down.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import walkthrough
from tests.support.cluster import ALL_COMPONENTS, LocalCluster


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="glidepath-demo-") as tmp,
        LocalCluster(ALL_COMPONENTS) as cluster,
    ):
        print(f"control plane up at {cluster.server} (kubeconfig {cluster.kubeconfig})", flush=True)
        cluster.kubectl("create", "namespace", "demo")
        result = walkthrough.run(cluster, Path(tmp), "demo")
        print(f"\nModelDeployment demo/{result.name} Ready after {result.seconds_to_ready:.1f}s")
        print(f"fetcher: {result.termination_message.strip() or result.fetch_output.strip()}")
        print("\nPOST /v2/models/classifier/infer")
        print(json.dumps(result.request))
        print(json.dumps(result.served))
        print(f"in-process onnxruntime: {json.dumps(result.expected)}")
        print("\n$ kubectl get md -n demo -o wide")
        print(result.kubectl_get_md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
