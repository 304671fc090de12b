#!/usr/bin/env bash
# Builds the real Argo Rollouts controller from the Go module proxy into the
# tool cache, once per pin, with the CRDs of the same release:
#
#   $FIREDRILL_CACHE/tools/argo-rollouts-<ver>/bin/rollouts-controller
#   $FIREDRILL_CACHE/tools/argo-rollouts-<ver>/crds/*.yaml   (the module's manifests/crds)
#   $FIREDRILL_CACHE/tools/argo-rollouts-<ver>/build-seconds  (how long the build took)
#
# The build module is generated in a temporary folder: it copies the require
# and replace blocks of github.com/argoproj/argo-rollouts's go.mod at the pin
# (its k8s.io replaces do not apply to a dependency) and requires that module.
# v1.10.x declares go 1.26.10, newer than the local toolchain, so the build
# runs with GOTOOLCHAIN=$ARGO_ROLLOUTS_GO_TOOLCHAIN (downloaded once from the
# Go module proxy into the module cache). Nothing of Argo's is copied into the
# source tree: the CRDs are read from the module zip in the module cache.
#
# The folder holds a .stamp (versions + toolchain + recipe + platform); a
# folder whose stamp matches is skipped. The build goes to a temporary folder
# that is renamed into place only when complete.
#
# Usage:
#   hack/build-argo-rollouts.sh              build if missing or stale, print ARGO_ROLLOUTS_DIR=...
#   hack/build-argo-rollouts.sh --print-dir  print ARGO_ROLLOUTS_DIR=... without building
#
# Environment:
#   FIREDRILL_CACHE                       cache root (default /var/cache/firedrill)
#   ARGO_ROLLOUTS_VERSION, ARGO_ROLLOUTS_GO_TOOLCHAIN
#                                         override the pins of hack/versions.env
#   FIREDRILL_BUILD_JOBS                  go build -p (default 2)
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pin() { sed -n "s/^$1=//p" "$HACK_DIR/versions.env" | tail -n1; }
ARGO_ROLLOUTS_VERSION=${ARGO_ROLLOUTS_VERSION:-$(pin ARGO_ROLLOUTS_VERSION)}
ARGO_ROLLOUTS_GO_TOOLCHAIN=${ARGO_ROLLOUTS_GO_TOOLCHAIN:-$(pin ARGO_ROLLOUTS_GO_TOOLCHAIN)}
MODULE=github.com/argoproj/argo-rollouts

# Bump when the build commands/flags below change, to force a rebuild.
RECIPE=1

FIREDRILL_CACHE=${FIREDRILL_CACHE:-/var/cache/firedrill}
TOOLS_DIR=$FIREDRILL_CACHE/tools
ARGO_DIR=$TOOLS_DIR/argo-rollouts-$ARGO_ROLLOUTS_VERSION
BUILD_JOBS=${FIREDRILL_BUILD_JOBS:-2}

# The pinned toolchain (or the local one when the pin is "local"); never a
# go.work; resolve modules from the generated go.mod/go.sum.
export GOTOOLCHAIN=${ARGO_ROLLOUTS_GO_TOOLCHAIN:-local} GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"

log() { printf '[argo-rollouts %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

print_dir() { echo "ARGO_ROLLOUTS_DIR=$ARGO_DIR"; }

want_stamp() {
  printf 'tool=argo-rollouts\nargo-rollouts=%s\ntoolchain=%s\nrecipe=%s\nplatform=%s/%s\n' \
    "$ARGO_ROLLOUTS_VERSION" "$GOTOOLCHAIN" "$RECIPE" "$(go env GOOS)" "$(go env GOARCH)"
}

mod_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'; }

# generate_module SRC_DIR MOD_DIR: the build module for the pinned version.
generate_module() {
  local dir=$1 adir=$2
  mkdir -p "$dir"
  (
    cd "$dir"
    # Its require and replace blocks, as a module of our own.
    sed -e "s#^module .*#module github.com/firedrill/firedrill/hack/tools/argo-rollouts#" \
      -e '/^tool /d' "$adir/go.mod" >go.mod
    cp "$adir/go.sum" go.sum
    chmod u+w go.mod go.sum
    go mod edit -require="$MODULE@$ARGO_ROLLOUTS_VERSION"
    grep -q '=> \./' go.mod && die "local replace left in the generated go.mod"
    cat >tools.go <<'EOF'
//go:build tools

// Package tools pins the Argo Rollouts controller for hack/build-argo-rollouts.sh.
package tools

import _ "github.com/argoproj/argo-rollouts/cmd/rollouts-controller"
EOF
  )
}

build() {
  local tmp=$1 out=$1/out src=$1/src t0=$SECONDS adir
  log "toolchain: $(go version)"
  adir=$(mod_dir "$MODULE@$ARGO_ROLLOUTS_VERSION")
  [[ -f $adir/go.mod ]] || die "$MODULE@$ARGO_ROLLOUTS_VERSION not found in the module cache"
  log "generating the build module for argo-rollouts $ARGO_ROLLOUTS_VERSION"
  generate_module "$src" "$adir"
  mkdir -p "$out/bin" "$out/crds"
  log "building rollouts-controller (cold build takes minutes) ..."
  # Same link flags as the release Makefile's version stamping.
  local pkg=$MODULE/utils/version
  (cd "$src" && CGO_ENABLED=0 go build -p "$BUILD_JOBS" -trimpath \
    -ldflags "-s -w -X $pkg.version=${ARGO_ROLLOUTS_VERSION#v} -X $pkg.gitTag=$ARGO_ROLLOUTS_VERSION -X $pkg.gitCommit=module-proxy -X $pkg.gitTreeState=clean" \
    -o "$out/bin/rollouts-controller" "$MODULE/cmd/rollouts-controller")
  # A failing exec (wrong platform, missing loader) shows here, not at run time.
  local v
  v=$("$out/bin/rollouts-controller" --version 2>&1 || true)
  grep -q -- "$ARGO_ROLLOUTS_VERSION" <<<"$v" || die "rollouts-controller --version does not report $ARGO_ROLLOUTS_VERSION: $v"
  # The CRDs of the same release, as shipped in the module.
  local f n=0
  for f in "$adir"/manifests/crds/*-crd.yaml; do
    cp "$f" "$out/crds/"
    n=$((n + 1))
  done
  ((n > 0)) || die "no CRDs in $adir/manifests/crds"
  chmod -R u+w "$out/crds"
  cp "$src/go.mod" "$src/go.sum" "$out/"
  # Read by bench/ for its report.
  echo "$((SECONDS - t0))" >"$out/build-seconds"
  want_stamp >"$out/.stamp"
  if [[ -e $ARGO_DIR ]]; then
    mv "$ARGO_DIR" "$tmp/old"
  fi
  mv "$out" "$ARGO_DIR"
  log "rollouts-controller $ARGO_ROLLOUTS_VERSION and $n CRDs built in $((SECONDS - t0))s"
}

main() {
  case ${1-} in
    --print-dir) print_dir; return ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; return ;;
    "") ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  [[ -n $ARGO_ROLLOUTS_VERSION ]] || die "ARGO_ROLLOUTS_VERSION must be set (hack/versions.env)"
  command -v go >/dev/null || die "go is not on PATH"

  mkdir -p "$TOOLS_DIR"
  # One build at a time per tool; a separate lock from hack/tools.sh, which
  # calls this script while holding its own.
  exec 7>"$TOOLS_DIR/.lock-argo-rollouts"
  if ! flock -n 7; then
    log "another build of argo-rollouts is running into $TOOLS_DIR; waiting for it ..."
    flock 7
  fi
  if [[ -f $ARGO_DIR/.stamp && "$(cat "$ARGO_DIR/.stamp")" == "$(want_stamp)" ]]; then
    log "argo-rollouts: up to date in $ARGO_DIR"
    print_dir
    return
  fi
  [[ -e $ARGO_DIR ]] && log "argo-rollouts: stamp in $ARGO_DIR is stale; rebuilding"
  rm -rf "$TOOLS_DIR"/.build-argo-rollouts-*
  # Global, not local: the EXIT trap runs after main has returned.
  BUILD_TMP=$(mktemp -d "$TOOLS_DIR/.build-argo-rollouts-$ARGO_ROLLOUTS_VERSION.XXXXXX")
  trap 'rm -rf "$BUILD_TMP"' EXIT
  build "$BUILD_TMP"
  print_dir
}

main "$@"
