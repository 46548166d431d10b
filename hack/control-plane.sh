#!/usr/bin/env bash
# Builds kube-apiserver, kube-scheduler and kube-controller-manager from the Go module proxy and makes sure etcd is
# installed, then prints the directory to use as KUBEBUILDER_ASSETS.
#
# Kubernetes does not publish k8s.io/kubernetes as a consumable module: its go.mod points every
# k8s.io/* staging module at ./staging. A throw-away module that requires k8s.io/kubernetes and
# replaces each staging module with its published v0.x release builds the real binaries.
#
# Progress goes to stderr; stdout carries only the assets directory.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/kerf"
ASSETS="${CACHE_ROOT}/control-plane/${KUBE_VERSION}"
# kube-controller-manager runs the Deployment, ReplicaSet and garbage-collector controllers in the
# sandbox and the end-to-end suite.
BINARIES=(kube-apiserver kube-scheduler kube-controller-manager)

say() { printf 'control-plane: %s\n' "$*" >&2; }

have_all() {
  for b in "${BINARIES[@]}" etcd; do [ -x "${ASSETS}/${b}" ] || return 1; done
}

install_etcd() {
  if [ -x "${ASSETS}/etcd" ]; then return; fi
  local etcd
  etcd="$(command -v etcd || true)"
  if [ -z "${etcd}" ]; then
    say "installing etcd from Debian's etcd-server package"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    ${sudo} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null 2>&1 || {
      ${sudo} apt-get update -qq >/dev/null
      ${sudo} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
    }
    etcd="$(command -v etcd)"
  fi
  # Debian starts an etcd service on install; tests run their own on random ports.
  ln -sf "${etcd}" "${ASSETS}/etcd"
}

build_binaries() {
  local missing=()
  for b in "${BINARIES[@]}"; do [ -x "${ASSETS}/${b}" ] || missing+=("${b}"); done
  [ "${#missing[@]}" -gt 0 ] || return 0

  local work
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  say "building ${missing[*]} ${KUBE_VERSION} from the Go module proxy (cold build takes several minutes)"
  (
    cd "${work}"
    go mod init kerf.local/control-plane >/dev/null 2>&1
    local modfile
    modfile="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    local args=(-require="k8s.io/kubernetes@${KUBE_VERSION}")
    while read -r module; do
      args+=(-replace="${module}=${module}@${STAGING_VERSION}")
    done < <(awk '/=> \.\/staging\/src\//{print $1}' "${modfile}")
    go mod edit "${args[@]}"
    # Modules Kubernetes never publishes (sample-cli-plugin) are dropped again by tidy when unused.
    printf 'package tools\n\nimport (\n' >tools.go
    for b in "${missing[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "${b}" >>tools.go; done
    printf ')\n' >>tools.go
    sed -i '1i //go:build tools\n' tools.go
    say "resolving modules"
    GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
    # Stamp the version the way Kubernetes' own build does, so /version reports it.
    local v="k8s.io/component-base/version" minor="${KUBE_VERSION#v1.}"
    local ldflags="-X ${v}.gitVersion=${KUBE_VERSION} -X ${v}.gitMajor=1 -X ${v}.gitMinor=${minor%%.*} -X ${v}.gitTreeState=clean"
    for b in "${missing[@]}"; do
      say "compiling ${b}"
      CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w ${ldflags}" -o "${ASSETS}/${b}.tmp" "k8s.io/kubernetes/cmd/${b}"
      mv "${ASSETS}/${b}.tmp" "${ASSETS}/${b}"
    done
  )
}

mkdir -p "${ASSETS}"
if ! have_all; then
  build_binaries
  install_etcd
  say "ready in ${ASSETS}"
fi
echo "${ASSETS}"
