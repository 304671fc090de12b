#!/usr/bin/env bash
# Installs the Debian host packages that firedrill's local cluster needs and
# that are missing; packages already installed are left alone.
#
# Usage: hack/host-deps.sh [EXTRA_PACKAGE...]
#   Extra Debian package names (e.g. postgresql prometheus) are checked and
#   installed the same way as the defaults below.
#
# Needs root and a Debian-like system (apt-get, /etc/debian_version).
set -euo pipefail

# Default packages and why firedrill needs each.
DEFAULT_PKGS=(
  containerd                   # container runtime (firedrill runs its own instance)
  containernetworking-plugins  # CNI bridge/host-local/portmap/loopback in /usr/lib/cni
  iptables                     # kube-proxy, network isolation, fault injection
  iproute2                     # `ip` (pod bridge, routes) and `tc` (bandwidth faults)
  libseccomp-dev               # runc is built with -tags seccomp (cgo)
  pkg-config                   # cgo finds libseccomp through pkg-config
  gcc                          # cgo compiler for runc
  libc6-dev                    # C headers/libs for cgo
  postgresql                   # the demo ledger database (firedrill runs its own instance on port 55432)
  chromium                     # headless browser: reports tests render the HTML report and screenshot it
  libxml2-utils                # xmllint: reports tests validate JUnit XML against reports/testdata/junit-10.xsd
)

log() { printf 'host-deps: %s\n' "$*" >&2; }

PKGS=("${DEFAULT_PKGS[@]}" "$@")

is_installed() {
  # `dpkg -s` succeeds for packages in states like "deinstall ok config-files";
  # require the installed state explicitly.
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
  [[ $status == "install ok installed" ]]
}

if [[ ! -f /etc/debian_version ]] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  log "ERROR: this is not a Debian-like system (needs /etc/debian_version, apt-get and dpkg)."
  log "Install these packages (or your distribution's equivalents) by hand:"
  log "  ${PKGS[*]}"
  log "They provide containerd, CNI plugins, iptables/iproute2 for the local cluster,"
  log "and libseccomp-dev/pkg-config/gcc for building runc with seccomp support."
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if is_installed "$p"; then
    log "ok: $p"
  else
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  log "all ${#PKGS[@]} host packages present"
  exit 0
fi

log "missing: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  log "ERROR: installing packages needs root. Run as root, or run:"
  log "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -q >&2
log "apt-get install -y --no-install-recommends ${missing[*]}"
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2

for p in "${missing[@]}"; do
  if ! is_installed "$p"; then
    log "ERROR: $p is still not installed after apt-get install"
    exit 1
  fi
done

for p in "${missing[@]}"; do
  if [[ $p == containerd ]]; then
    # The package may start a system containerd. It is left alone: firedrill
    # runs its own containerd with its own --root/--state/--address, so a
    # system instance does not interfere.
    log "note: the containerd package may have started a system containerd service;"
    log "      it is left as is (firedrill runs its own containerd with separate root/state/socket)"
  fi
done
log "installed: ${missing[*]}"
