#!/usr/bin/env bash
# Installs the command-line tools the tests, the sandbox and the end-to-end suite need with `go install`, pinned, into the user cache,
# and prints that bin directory. Reuses what is already there.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.20.2}"
# kwok runs the pods of the simulated nodes in the sandbox and the end-to-end suite.
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
BIN="${XDG_CACHE_HOME:-$HOME/.cache}/kerf/bin"
mkdir -p "${BIN}"

install() { # name version package
  local name="$1" version="$2" pkg="$3" stamp="${BIN}/.$1.version"
  if [ -x "${BIN}/${name}" ] && [ "$(cat "${stamp}" 2>/dev/null)" = "${version}" ]; then return; fi
  printf 'tools: installing %s %s\n' "${name}" "${version}" >&2
  GOBIN="${BIN}" GOFLAGS= go install "${pkg}@${version}"
  echo "${version}" >"${stamp}"
}

install helm "${HELM_VERSION}" helm.sh/helm/v3/cmd/helm
install kwok "${KWOK_VERSION}" sigs.k8s.io/kwok/cmd/kwok
echo "${BIN}"
