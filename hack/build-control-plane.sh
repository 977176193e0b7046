#!/usr/bin/env bash
# Build the local control plane from Go modules and cache it per version.
#
#   hack/build-control-plane.sh            # build (or reuse) everything, print the bin dir
#
# Outputs (each cached under ${GLIDEPATH_CACHE:-~/.cache/glidepath}/<component>-<version>/bin):
#   kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes, -tags providerless)
#   etcd                                                   (go.etcd.io/etcd/server/v3)
#   kwok                                                   (sigs.k8s.io/kwok/cmd/kwok)
#   kubectl                                                (k8s.io/kubernetes/cmd/kubectl)
#
# k8s.io/kubernetes and etcd's server module carry `replace` directives pointing at in-repo
# staging folders, so a plain `go install` fails; we build each inside a throw-away wrapper
# module that replaces every staging module with its published tag, read from upstream's go.mod.
set -euo pipefail
# Without this, a failing build inside `k=$(build_kubernetes)` would not stop the script.
shopt -s inherit_errexit

K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
CACHE=${GLIDEPATH_CACHE:-$HOME/.cache/glidepath}
export GOFLAGS=${GOFLAGS:--mod=mod}
export CGO_ENABLED=0

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

# staging_replaces GOMOD VERSION: print "k8s.io/x => k8s.io/x vVERSION" for every staging replace
staging_replaces() {
  awk -v ver="$2" '
    /=>/ { for (i=1;i<=NF;i++) if ($i=="=>") { mod=$(i-1); tgt=$(i+1) }
           if (tgt ~ /^\.\/staging\//) printf "\t%s => %s %s\n", mod, mod, ver }' "$1"
}

build_kubernetes() {
  local out="$CACHE/kubernetes-$K8S_VERSION/bin"
  if [[ -x $out/kube-apiserver && -x $out/kube-controller-manager && -x $out/kube-scheduler && -x $out/kubectl ]]; then
    echo "$out"; return
  fi
  log "building kubernetes $K8S_VERSION (cold: ~5-6 min on 2 cores)"
  local w; w=$(mktemp -d)
  local gomod; gomod=$(cd "$w" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local staging_ver="v0.${K8S_VERSION#v1.}"
  {
    echo "module glidepath.local/kubebuild"
    echo
    echo "go 1.24"
    echo
    echo "replace ("
    staging_replaces "$gomod" "$staging_ver"
    echo ")"
  } > "$w/go.mod"
  cat > "$w/tools.go" <<GO
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$w" && go get "k8s.io/kubernetes@$K8S_VERSION" >/dev/null 2>&1 || true)
  (cd "$w" && go mod tidy -e >/dev/null)
  local major=${K8S_VERSION#v}; major=${major%%.*}
  local minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  local ld="-s -w"
  ld+=" -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ld+=" -X k8s.io/component-base/version.gitMajor=$major"
  ld+=" -X k8s.io/component-base/version.gitMinor=$minor"
  ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  ld+=" -X k8s.io/client-go/pkg/version.gitMajor=$major"
  ld+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  mkdir -p "$out.tmp"
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    log "  go build $cmd"
    (cd "$w" && go build -tags providerless -trimpath -ldflags "$ld" -o "$out.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd")
  done
  rm -rf "$out"; mkdir -p "$(dirname "$out")"; mv "$out.tmp" "$out"
  rm -rf "$w"
  echo "$out"
}

build_etcd() {
  local out="$CACHE/etcd-$ETCD_VERSION/bin"
  if [[ -x $out/etcd ]]; then echo "$out"; return; fi
  log "building etcd $ETCD_VERSION"
  local w; w=$(mktemp -d)
  local gomod; gomod=$(cd "$w" && go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module glidepath.local/etcdbuild"
    echo
    echo "go 1.24"
    echo
    echo "replace ("
    # etcd's server/go.mod replaces its sibling modules (../api, ../pkg, ...) with relative paths.
    awk -v ver="$ETCD_VERSION" '
      /=>/ { for (i=1;i<=NF;i++) if ($i=="=>") { mod=$(i-1); tgt=$(i+1) }
             if (tgt ~ /^\.\.?\// && mod ~ /\/v3$/ && mod !~ /tests/) printf "\t%s => %s %s\n", mod, mod, ver }' "$gomod"
    echo ")"
  } > "$w/go.mod"
  cat > "$w/tools.go" <<GO
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$w" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 || true)
  (cd "$w" && go mod tidy -e >/dev/null)
  mkdir -p "$out.tmp"
  (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$out"; mv "$out.tmp" "$out"; rm -rf "$w"
  echo "$out"
}

build_kwok() {
  local out="$CACHE/kwok-$KWOK_VERSION/bin"
  if [[ -x $out/kwok ]]; then echo "$out"; return; fi
  log "building kwok $KWOK_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  echo "$out"
}

main() {
  local what=${1:-all}
  # One build at a time per cache: concurrent runs would share the *.tmp dirs and clobber each other's
  # output. A run that waited here finds the cache warm.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.build.lock"
  flock 9
  case $what in
    kubernetes) build_kubernetes ;;
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    all)
      local k e q
      k=$(build_kubernetes); e=$(build_etcd); q=$(build_kwok)
      # one directory with links to every binary, for PATH and for the test harness
      local all="$CACHE/bin-$K8S_VERSION-$ETCD_VERSION-$KWOK_VERSION"
      mkdir -p "$all"
      for f in "$k"/* "$e"/* "$q"/*; do
        [[ -x $f ]] || { log "not an executable: $f"; exit 1; }
        ln -sfn "$f" "$all/$(basename "$f")"
      done
      echo "$all"
      ;;
    *) echo "usage: $0 [all|kubernetes|etcd|kwok]" >&2; exit 2 ;;
  esac
}
main "$@"
