#!/usr/bin/env bash
# Builds the pinned binaries firedrill's local cluster runs into a cache outside
# the source tree:
#
#   $FIREDRILL_CACHE/tools/kubernetes-<ver>/bin/{kube-apiserver,kube-controller-manager,
#                                                kube-scheduler,kubelet,kube-proxy,kubectl,etcd}
#   $FIREDRILL_CACHE/tools/runc-<ver>/bin/runc            (built with -tags seccomp)
#   $FIREDRILL_CACHE/tools/prometheus-<ver>/bin/{prometheus,promtool}
#
# Each folder holds a .stamp (versions + hash of the go.mod/go.sum used + build
# recipe); a folder whose stamp matches is skipped, so each pin builds once.
# Builds go to a temporary folder that is renamed into place only when
# complete, so an interrupted build never leaves a half-filled cache.
#
# Usage:
#   hack/tools.sh                  build what is missing or stale, print the bin folders
#   hack/tools.sh --print-dir      print KUBERNETES_BIN=... and RUNC_BIN=... without building
#   hack/tools.sh --update-modules regenerate hack/tools/*/go.mod,go.sum from the versions
#
# Environment:
#   FIREDRILL_CACHE                 cache root (default /var/cache/firedrill)
#   KUBERNETES_VERSION, ETCD_VERSION, RUNC_VERSION, PROMETHEUS_VERSION
#                                   override the pins of hack/versions.env; a version that
#                                   differs from hack/tools/*/go.mod gets a module generated
#                                   on the fly (needs the Go module proxy)
#   FIREDRILL_BUILD_JOBS            go build -p (default 2)
#   FIREDRILL_SKIP_HOST_DEPS=1      do not run hack/host-deps.sh first
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Pinned versions: hack/versions.env is the single source; the environment wins.
pin() { sed -n "s/^$1=//p" "$HACK_DIR/versions.env" | tail -n1; }
KUBERNETES_VERSION=${KUBERNETES_VERSION:-$(pin KUBERNETES_VERSION)}
ETCD_VERSION=${ETCD_VERSION:-$(pin ETCD_VERSION)}
RUNC_VERSION=${RUNC_VERSION:-$(pin RUNC_VERSION)}
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-$(pin PROMETHEUS_VERSION)}

# Bump when the build commands/flags below change, to force a rebuild.
RECIPE=1

FIREDRILL_CACHE=${FIREDRILL_CACHE:-/var/cache/firedrill}
TOOLS_DIR=$FIREDRILL_CACHE/tools
KUBERNETES_DIR=$TOOLS_DIR/kubernetes-$KUBERNETES_VERSION
RUNC_DIR=$TOOLS_DIR/runc-$RUNC_VERSION
PROMETHEUS_DIR=$TOOLS_DIR/prometheus-$PROMETHEUS_VERSION
BUILD_JOBS=${FIREDRILL_BUILD_JOBS:-2}

# Never bump the toolchain, never pick up a go.work, resolve modules from
# go.mod/go.sum (-mod=mod) in the private copy each build works in.
export GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

print_dirs() {
  echo "KUBERNETES_BIN=$KUBERNETES_DIR/bin"
  echo "RUNC_BIN=$RUNC_DIR/bin"
  echo "PROMETHEUS_BIN=$PROMETHEUS_DIR/bin"
}

KUBERNETES_BINS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl etcd)
kube_pkg() {
  case $1 in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    *) echo "k8s.io/kubernetes/cmd/$1" ;;
  esac
}

# ---------------------------------------------------------------- modules

# committed_matches KIND: does hack/tools/KIND/go.mod pin the requested versions?
committed_matches() {
  local gomod=$HACK_DIR/tools/$1/go.mod
  [[ -f $gomod && -f $HACK_DIR/tools/$1/go.sum ]] || return 1
  has_req() { grep -Eq "^[[:space:]]*(require[[:space:]]+)?${1//./\\.} ${2//./\\.}([[:space:]]|$)" "$gomod"; }
  case $1 in
    kubernetes) has_req k8s.io/kubernetes "$KUBERNETES_VERSION" && has_req go.etcd.io/etcd/server/v3 "$ETCD_VERSION" ;;
    runc) has_req github.com/opencontainers/runc "$RUNC_VERSION" ;;
    prometheus) has_req github.com/prometheus/prometheus "$PROMETHEUS_VERSION" ;;
  esac
}

# module_key KIND: identifies the module a build of KIND would use.
module_key() {
  if committed_matches "$1"; then
    echo "sha256:$(cat "$HACK_DIR/tools/$1/go.mod" "$HACK_DIR/tools/$1/go.sum" | sha256sum | cut -d' ' -f1)"
  else
    echo "generated"
  fi
}

mod_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'; }

# generate_module KIND DIR: writes go.mod/go.sum for KIND at the requested
# versions into DIR (which already holds tools.go).
generate_module() {
  local kind=$1 dir=$2
  (
    cd "$dir"
    rm -f go.mod go.sum
    case $kind in
      kubernetes)
        log "generating module for k8s.io/kubernetes $KUBERNETES_VERSION + etcd $ETCD_VERSION"
        go mod init github.com/firedrill/firedrill/hack/tools/kubernetes >/dev/null 2>&1
        local kdir staging_ver m n=0
        kdir=$(mod_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")
        [[ -f $kdir/go.mod ]] || die "k8s.io/kubernetes@$KUBERNETES_VERSION not found in the module cache"
        # v1.37.2 -> staging modules at v0.37.2
        staging_ver=v0.${KUBERNETES_VERSION#v1.}
        go mod edit -go="$(sed -n 's/^go //p' "$kdir/go.mod")" \
          -require="k8s.io/kubernetes@$KUBERNETES_VERSION" \
          -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
        for m in $(awk '$2 == "=>" && $3 ~ /^\.\/staging\/src\// {print $1}' "$kdir/go.mod"); do
          go mod edit -replace="$m=$m@$staging_ver"
          n=$((n + 1))
        done
        ((n > 0)) || die "no staging replaces found in $kdir/go.mod"
        log "  $n staging modules replaced with $staging_ver"
        ;;
      runc)
        log "generating module for github.com/opencontainers/runc $RUNC_VERSION"
        go mod init github.com/firedrill/firedrill/hack/tools/runc >/dev/null 2>&1
        local rdir
        rdir=$(mod_dir "github.com/opencontainers/runc@$RUNC_VERSION")
        go mod edit -go="$(sed -n 's/^go //p' "$rdir/go.mod")" \
          -require="github.com/opencontainers/runc@$RUNC_VERSION"
        ;;
      prometheus)
        log "generating module for github.com/prometheus/prometheus $PROMETHEUS_VERSION"
        go mod init github.com/firedrill/firedrill/hack/tools/prometheus >/dev/null 2>&1
        local pdir
        pdir=$(mod_dir "github.com/prometheus/prometheus@$PROMETHEUS_VERSION")
        go mod edit -go="$(sed -n 's/^go //p' "$pdir/go.mod")" \
          -require="github.com/prometheus/prometheus@$PROMETHEUS_VERSION"
        ;;
    esac
    # -e: a test-only dependency may want a newer Go; it is not built.
    go mod tidy -e
  )
}

# prepare_module KIND DIR: fills DIR with the module to build KIND from.
# Works on a private copy so a build never edits the source tree.
prepare_module() {
  local kind=$1 dir=$2
  mkdir -p "$dir"
  cp "$HACK_DIR/tools/$kind/tools.go" "$dir/"
  if committed_matches "$kind"; then
    cp "$HACK_DIR/tools/$kind/go.mod" "$HACK_DIR/tools/$kind/go.sum" "$dir/"
  else
    log "$kind: requested versions differ from hack/tools/$kind/go.mod; generating a module"
    generate_module "$kind" "$dir"
  fi
}

update_modules() {
  local kind tmp
  for kind in kubernetes runc prometheus; do
    tmp=$(mktemp -d)
    cp "$HACK_DIR/tools/$kind/tools.go" "$tmp/"
    generate_module "$kind" "$tmp"
    cp "$tmp/go.mod" "$tmp/go.sum" "$HACK_DIR/tools/$kind/"
    rm -rf "$tmp"
    log "wrote hack/tools/$kind/go.mod and go.sum"
  done
}

# ---------------------------------------------------------------- stamps

want_stamp() {
  local kind=$1
  printf 'tool=%s\n' "$kind"
  case $kind in
    kubernetes) printf 'kubernetes=%s\netcd=%s\n' "$KUBERNETES_VERSION" "$ETCD_VERSION" ;;
    runc) printf 'runc=%s\n' "$RUNC_VERSION" ;;
    prometheus) printf 'prometheus=%s\n' "$PROMETHEUS_VERSION" ;;
  esac
  printf 'module=%s\nrecipe=%s\nplatform=%s/%s\n' "$(module_key "$kind")" "$RECIPE" "$(go env GOOS)" "$(go env GOARCH)"
}

is_current() { # DIR KIND
  [[ -f $1/.stamp ]] && [[ "$(cat "$1/.stamp")" == "$(want_stamp "$2")" ]]
}

# install_dir TMP FINAL: atomically put TMP/out in place as FINAL.
install_dir() {
  local tmp=$1 final=$2
  if [[ -e $final ]]; then
    mv "$final" "$tmp/old"
  fi
  mv "$tmp/out" "$final"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- builds

build_kubernetes() {
  local tmp=$1 out=$1/out src=$1/src
  prepare_module kubernetes "$src"
  mkdir -p "$out/bin"
  local major minor rest build_date pkg ldflags=() b t0 t_all
  rest=${KUBERNETES_VERSION#v}
  major=${rest%%.*}
  rest=${rest#*.}
  minor=${rest%%.*}
  build_date=$(date -u ${SOURCE_DATE_EPOCH:+--date=@$SOURCE_DATE_EPOCH} +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=(
      "-X '$pkg.gitVersion=$KUBERNETES_VERSION'"
      "-X '$pkg.gitMajor=$major'"
      "-X '$pkg.gitMinor=$minor'"
      "-X '$pkg.gitTreeState=clean'"
      "-X '$pkg.buildDate=$build_date'"
    )
  done
  t_all=$SECONDS
  for b in "${KUBERNETES_BINS[@]}"; do
    t0=$SECONDS
    if [[ $b == etcd ]]; then
      log "building etcd $ETCD_VERSION (cold build takes minutes) ..."
    else
      log "building $b $KUBERNETES_VERSION (cold build takes minutes) ..."
    fi
    # Static, like upstream release builds of the server binaries.
    (cd "$src" && CGO_ENABLED=0 go build -p "$BUILD_JOBS" -trimpath \
      -ldflags "-s -w ${ldflags[*]}" -o "$out/bin/$b" "$(kube_pkg "$b")")
    log "  $b done in $((SECONDS - t0))s"
  done
  # (Output is captured first: `cmd | grep -q` can fail under pipefail.)
  local v
  v=$("$out/bin/kube-apiserver" --version)
  [[ $v == "Kubernetes $KUBERNETES_VERSION" ]] \
    || die "kube-apiserver --version reports '$v', not $KUBERNETES_VERSION"
  v=$("$out/bin/etcd" --version)
  grep -q "^etcd Version: ${ETCD_VERSION#v}$" <<<"$v" \
    || die "etcd --version does not report ${ETCD_VERSION#v}: $v"
  cp "$src/go.mod" "$src/go.sum" "$out/"
  want_stamp kubernetes >"$out/.stamp"
  install_dir "$tmp" "$KUBERNETES_DIR"
  log "kubernetes $KUBERNETES_VERSION + etcd $ETCD_VERSION built in $((SECONDS - t_all))s"
}

build_runc() {
  local tmp=$1 out=$1/out src=$1/src t0=$SECONDS
  prepare_module runc "$src"
  mkdir -p "$out/bin"
  log "building runc $RUNC_VERSION with seccomp (cgo) ..."
  command -v pkg-config >/dev/null && pkg-config --exists libseccomp \
    || die "libseccomp-dev and pkg-config are needed for runc (run hack/host-deps.sh as root)"
  # Same tags as runc's Makefile, minus libpathrs (needs a Rust library).
  (cd "$src" && CGO_ENABLED=1 go build -p "$BUILD_JOBS" -trimpath -buildmode=pie \
    -tags "seccomp urfave_cli_no_docs" \
    -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" \
    -o "$out/bin/runc" github.com/opencontainers/runc)
  local v
  v=$("$out/bin/runc" --version)
  grep -q "^runc version ${RUNC_VERSION#v}$" <<<"$v" \
    || die "runc --version does not report ${RUNC_VERSION#v}: $v"
  grep -q '^libseccomp: ' <<<"$v" \
    || die "runc was built without seccomp support: $v"
  cp "$src/go.mod" "$src/go.sum" "$out/"
  want_stamp runc >"$out/.stamp"
  install_dir "$tmp" "$RUNC_DIR"
  log "runc $RUNC_VERSION built in $((SECONDS - t0))s"
}

# Prometheus module v0.3XX.Y is Prometheus v3.XX.Y.
prometheus_release() {
  local v=${PROMETHEUS_VERSION#v0.}
  echo "$((${v%%.*} / 100)).$((${v%%.*} % 100)).${v#*.}"
}

build_prometheus() {
  local tmp=$1 out=$1/out src=$1/src t0=$SECONDS rel b
  prepare_module prometheus "$src"
  mkdir -p "$out/bin"
  rel=$(prometheus_release)
  for b in prometheus promtool; do
    log "building $b $rel (module $PROMETHEUS_VERSION; cold build takes minutes) ..."
    # Without the builtinassets tag the web UI is not embedded; the HTTP
    # API, which is all firedrill uses, is unaffected.
    (cd "$src" && CGO_ENABLED=0 go build -p "$BUILD_JOBS" -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=$rel -X github.com/prometheus/common/version.Branch=release" \
      -o "$out/bin/$b" "github.com/prometheus/prometheus/cmd/$b")
  done
  local v
  v=$("$out/bin/prometheus" --version 2>&1)
  grep -q "version $rel" <<<"$v" || die "prometheus --version does not report $rel: $v"
  cp "$src/go.mod" "$src/go.sum" "$out/"
  want_stamp prometheus >"$out/.stamp"
  install_dir "$tmp" "$PROMETHEUS_DIR"
  log "prometheus $rel built in $((SECONDS - t0))s"
}

TMP_DIRS=()
cleanup() { local d; for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done; }

ensure() { # KIND FINAL_DIR BUILD_FUNC
  local kind=$1 final=$2 fn=$3 tmp
  if is_current "$final" "$kind"; then
    log "$kind: up to date in $final"
    return
  fi
  [[ -e $final ]] && log "$kind: stamp in $final is stale; rebuilding"
  tmp=$(mktemp -d "$TOOLS_DIR/.tmp-$(basename "$final").XXXXXX")
  TMP_DIRS+=("$tmp")
  "$fn" "$tmp"
}

main() {
  case ${1-} in
    --print-dir) print_dirs; return ;;
    --update-modules) update_modules; return ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; return ;;
    "") ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac

  [[ -n $KUBERNETES_VERSION && -n $ETCD_VERSION && -n $RUNC_VERSION && -n $PROMETHEUS_VERSION ]] \
    || die "KUBERNETES_VERSION, ETCD_VERSION, RUNC_VERSION and PROMETHEUS_VERSION must be set (hack/versions.env)"
  command -v go >/dev/null || die "go is not on PATH"

  mkdir -p "$TOOLS_DIR"
  # One build at a time per cache.
  exec 9>"$TOOLS_DIR/.lock"
  if ! flock -n 9; then
    log "another hack/tools.sh is building into $TOOLS_DIR; waiting for it ..."
    flock 9
  fi
  # Leftovers of builds that were killed before their trap ran.
  rm -rf "$TOOLS_DIR"/.tmp-*
  trap cleanup EXIT

  # The host packages are needed to run the cluster, not only to build:
  # check them every time (a few dpkg queries when all are present).
  if [[ ${FIREDRILL_SKIP_HOST_DEPS:-} != 1 ]]; then
    "$HACK_DIR/host-deps.sh"
  fi

  ensure kubernetes "$KUBERNETES_DIR" build_kubernetes
  ensure runc "$RUNC_DIR" build_runc
  ensure prometheus "$PROMETHEUS_DIR" build_prometheus
  "$HACK_DIR/build-argo-rollouts.sh" >&2 # the Argo Rollouts peer of make bench (own stamp and lock)
  "$HACK_DIR/build-chaos-mesh.sh" >&2 # the Chaos Mesh controller-manager (own stamp and lock)

  print_dirs
}

main "$@"
