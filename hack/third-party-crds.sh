#!/usr/bin/env bash
# Print the folder holding a third party's CRD YAML, taken from its Go module download (cached by
# Go's module cache; nothing is fetched from release pages).
#
#   hack/third-party-crds.sh prometheus-operator   # monitoring.coreos.com_*.yaml
#   hack/third-party-crds.sh gateway-api           # gateway.networking.k8s.io_*.yaml (standard channel)
set -euo pipefail
PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-v1.4.0}

case ${1:-} in
  prometheus-operator) mod="github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"; sub=example/prometheus-operator-crd ;;
  gateway-api) mod="sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"; sub=config/crd/standard ;;
  *) echo "usage: $0 prometheus-operator|gateway-api" >&2; exit 2 ;;
esac
dir=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "$mod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
echo "$dir/$sub"
