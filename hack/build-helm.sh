#!/usr/bin/env bash
# Build helm from its Go module and cache it per version; print the bin dir (last stdout line).
#
#   hack/build-helm.sh        # -> ~/.cache/glidepath/helm-<version>/bin  (holds `helm`)
#
# helm.sh/helm/v3 has no `replace` directives, so a plain `go install` works (cold: ~2-3 min on
# 2 cores). Nothing is downloaded except through the Go module proxy. The version is stamped as
# `helm version` prints it, because chart `kubeVersion`/capabilities checks read it.
set -euo pipefail
shopt -s inherit_errexit

HELM_VERSION=${HELM_VERSION:-v3.22.0}
CACHE=${GLIDEPATH_CACHE:-$HOME/.cache/glidepath}
export GOFLAGS=${GOFLAGS:--mod=mod}
export CGO_ENABLED=0

log() { printf '[build-helm] %s\n' "$*" >&2; }

main() {
  local out="$CACHE/helm-$HELM_VERSION/bin"
  mkdir -p "$CACHE"
  # One build at a time per cache (same lock as the control plane: both share the Go build cache).
  exec 9>"$CACHE/.build.lock"
  flock 9
  if [[ ! -x $out/helm ]]; then
    log "building helm $HELM_VERSION"
    mkdir -p "$out.tmp"
    local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    # go install with @version works outside any module; run it from a neutral directory.
    (cd "${TMPDIR:-/tmp}" && GOBIN="$out.tmp" go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
    rm -rf "$out"; mv "$out.tmp" "$out"
  fi
  "$out/helm" version --short >&2
  echo "$out"
}
main "$@"
