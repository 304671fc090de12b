#!/usr/bin/env bash
# Builds the real Chaos Mesh controller-manager from the Go module proxy into
# the tool cache, once per pin:
#
#   $FIREDRILL_CACHE/tools/chaos-mesh-<ver>/bin/chaos-controller-manager
#
# The build module is generated in a temporary folder: it copies the require
# and replace blocks of github.com/chaos-mesh/chaos-mesh's go.mod at the pinned
# pseudo-version, requires that module, replaces its ./api with the pinned
# github.com/chaos-mesh/chaos-mesh/api pseudo-version, and pins
# github.com/opencontainers/runtime-spec to v1.2.1 (v1.3.0 breaks containerd's
# oci package). github.com/chaos-mesh/fx-logr is not in the checksum database,
# hence GONOSUMDB for it.
#
# The folder holds a .stamp (versions + recipe + platform); a folder whose
# stamp matches is skipped. The build goes to a temporary folder that is
# renamed into place only when complete.
#
# Usage:
#   hack/build-chaos-mesh.sh              build if missing or stale, print CHAOS_MESH_BIN=...
#   hack/build-chaos-mesh.sh --print-dir  print CHAOS_MESH_BIN=... without building
#
# Environment:
#   FIREDRILL_CACHE            cache root (default /var/cache/firedrill)
#   CHAOS_MESH_VERSION, CHAOS_MESH_API_VERSION
#                              override the pins of hack/versions.env
#   FIREDRILL_BUILD_JOBS       go build -p (default 2)
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pin() { sed -n "s/^$1=//p" "$HACK_DIR/versions.env" | tail -n1; }
CHAOS_MESH_VERSION=${CHAOS_MESH_VERSION:-$(pin CHAOS_MESH_VERSION)}
CHAOS_MESH_API_VERSION=${CHAOS_MESH_API_VERSION:-$(pin CHAOS_MESH_API_VERSION)}
RUNTIME_SPEC_VERSION=v1.2.1

# Bump when the build commands/flags below change, to force a rebuild.
RECIPE=1

FIREDRILL_CACHE=${FIREDRILL_CACHE:-/var/cache/firedrill}
TOOLS_DIR=$FIREDRILL_CACHE/tools
CHAOS_MESH_DIR=$TOOLS_DIR/chaos-mesh-$CHAOS_MESH_VERSION
BUILD_JOBS=${FIREDRILL_BUILD_JOBS:-2}

export GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"
export GONOSUMDB=${GONOSUMDB:+$GONOSUMDB,}github.com/chaos-mesh/fx-logr

log() { printf '[chaos-mesh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

print_dir() { echo "CHAOS_MESH_BIN=$CHAOS_MESH_DIR/bin"; }

want_stamp() {
  printf 'tool=chaos-mesh\nchaos-mesh=%s\napi=%s\nruntime-spec=%s\nrecipe=%s\nplatform=%s/%s\n' \
    "$CHAOS_MESH_VERSION" "$CHAOS_MESH_API_VERSION" "$RUNTIME_SPEC_VERSION" "$RECIPE" \
    "$(go env GOOS)" "$(go env GOARCH)"
}

mod_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'; }

# generate_module DIR: the build module for the pinned versions.
generate_module() {
  local dir=$1 cmdir
  mkdir -p "$dir"
  cmdir=$(mod_dir "github.com/chaos-mesh/chaos-mesh@$CHAOS_MESH_VERSION")
  [[ -f $cmdir/go.mod ]] || die "github.com/chaos-mesh/chaos-mesh@$CHAOS_MESH_VERSION not found in the module cache"
  (
    cd "$dir"
    # Its require, replace (and exclude) blocks, as a module of our own.
    sed -e 's#^module .*#module github.com/firedrill/firedrill/hack/tools/chaos-mesh#' \
      -e '/^tool /d' "$cmdir/go.mod" >go.mod
    cp "$cmdir/go.sum" go.sum
    chmod u+w go.mod go.sum
    go mod edit -droptool=k8s.io/code-generator/cmd/client-gen 2>/dev/null || true
    go mod edit \
      -require="github.com/chaos-mesh/chaos-mesh@$CHAOS_MESH_VERSION" \
      -dropreplace=github.com/chaos-mesh/chaos-mesh/api \
      -replace="github.com/chaos-mesh/chaos-mesh/api=github.com/chaos-mesh/chaos-mesh/api@$CHAOS_MESH_API_VERSION" \
      -replace="github.com/opencontainers/runtime-spec=github.com/opencontainers/runtime-spec@$RUNTIME_SPEC_VERSION"
    grep -q '=> \./' go.mod && die "local replace left in the generated go.mod"
    cat >tools.go <<'EOF'
//go:build tools

// Package tools pins the Chaos Mesh controller-manager for hack/build-chaos-mesh.sh.
package tools

import _ "github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager"
EOF
  )
}

build() {
  local tmp=$1 out=$1/out src=$1/src t0=$SECONDS
  log "generating the build module for chaos-mesh $CHAOS_MESH_VERSION (api $CHAOS_MESH_API_VERSION)"
  generate_module "$src"
  mkdir -p "$out/bin"
  log "building chaos-controller-manager (cold build takes many minutes) ..."
  (cd "$src" && CGO_ENABLED=0 go build -p "$BUILD_JOBS" -trimpath -ldflags "-s -w" \
    -o "$out/bin/chaos-controller-manager" github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager)
  # The binary prints its version info and flags on --help; a failing exec
  # (wrong platform, missing loader) shows here, not at cluster up.
  local h
  h=$("$out/bin/chaos-controller-manager" --help 2>&1 || true)
  grep -q -- '-kubeconfig' <<<"$h" || die "chaos-controller-manager --help does not run: $h"
  cp "$src/go.mod" "$src/go.sum" "$out/"
  want_stamp >"$out/.stamp"
  if [[ -e $CHAOS_MESH_DIR ]]; then
    mv "$CHAOS_MESH_DIR" "$tmp/old"
  fi
  mv "$out" "$CHAOS_MESH_DIR"
  log "chaos-controller-manager built in $((SECONDS - t0))s"
}

main() {
  case ${1-} in
    --print-dir) print_dir; return ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; return ;;
    "") ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  [[ -n $CHAOS_MESH_VERSION && -n $CHAOS_MESH_API_VERSION ]] \
    || die "CHAOS_MESH_VERSION and CHAOS_MESH_API_VERSION must be set (hack/versions.env)"
  command -v go >/dev/null || die "go is not on PATH"

  mkdir -p "$TOOLS_DIR"
  # One build at a time per tool; a separate lock from hack/tools.sh, which
  # calls this script while holding its own.
  exec 8>"$TOOLS_DIR/.lock-chaos-mesh"
  if ! flock -n 8; then
    log "another build of chaos-mesh is running into $TOOLS_DIR; waiting for it ..."
    flock 8
  fi
  if [[ -f $CHAOS_MESH_DIR/.stamp && "$(cat "$CHAOS_MESH_DIR/.stamp")" == "$(want_stamp)" ]]; then
    log "chaos-mesh: up to date in $CHAOS_MESH_DIR"
    print_dir
    return
  fi
  [[ -e $CHAOS_MESH_DIR ]] && log "chaos-mesh: stamp in $CHAOS_MESH_DIR is stale; rebuilding"
  rm -rf "$TOOLS_DIR"/.tmp-chaos-mesh-*
  BUILD_TMP=$(mktemp -d "$TOOLS_DIR/.tmp-chaos-mesh-$CHAOS_MESH_VERSION.XXXXXX")
  trap 'rm -rf "$BUILD_TMP"' EXIT
  build "$BUILD_TMP"
  print_dir
}

main "$@"
