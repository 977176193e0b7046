#!/usr/bin/env bash
# Build fake-gcs-server (a Google Cloud Storage emulator) from its Go module and cache it per version.
#
#   hack/build-fake-gcs.sh        # build (or reuse), print the path of the binary
#
# Output: ${GLIDEPATH_CACHE:-~/.cache/glidepath}/fake-gcs-server-<version>/bin/fake-gcs-server
# The model-storage tests (tests/storage) call this script and run the binary on 127.0.0.1.
# Its go.mod has no `replace` directives, so a plain `go install` at a pinned version works.
set -euo pipefail

FAKE_GCS_VERSION=${FAKE_GCS_VERSION:-v1.56.1}
CACHE=${GLIDEPATH_CACHE:-$HOME/.cache/glidepath}
out="$CACHE/fake-gcs-server-$FAKE_GCS_VERSION/bin"

if [[ ! -x $out/fake-gcs-server ]]; then
  command -v go >/dev/null || { echo "[build-fake-gcs] go is not on PATH" >&2; exit 1; }
  echo "[build-fake-gcs] building github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION (cold: ~1-2 min)" >&2
  rm -rf "$out.tmp"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" CGO_ENABLED=0 GOFLAGS=${GOFLAGS:--mod=mod} \
    go install -trimpath -ldflags "-s -w" "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION"
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out/fake-gcs-server"
