#!/usr/bin/env bash
# Builds the test world's real binaries with `go build` from the Go module proxy, each pinned by the
# go.mod/go.sum beside this script, into the ignored cache folder .cache/bin/<component>-<version>/.
# A component whose folder is complete is not built again; the Go build cache makes rebuilds cheap.
#
#   tests/binaries/build.sh            build what is missing, print the bin folders
#   tests/binaries/build.sh --print    print the bin folders only (fails if one is missing)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${BINARIES_CACHE:-$(cd "$here/../.." && pwd)/.cache/bin}
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

# version <component> <module>: the version the component's go.mod pins
version() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }

# build <component> <version> <ldflags> <binary>=<package>...
build() {
  local component=$1 version=$2 ldflags=$3; shift 3
  local out=$cache/$component-$version missing=0 pair
  for pair in "$@"; do [ -x "$out/${pair%%=*}" ] || missing=1; done
  if [ "$missing" = 1 ] && [ "$mode" = build ]; then
    echo "building $component $version (${*#*=})" >&2
    local start=$SECONDS
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    for pair in "$@"; do
      (cd "$here/$component" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp/${pair%%=*}" "${pair#*=}")
    done
    rm -rf "$out" && mv "$out.tmp" "$out"
    echo "built $component $version in $((SECONDS - start)) s" >&2
  elif [ "$missing" = 1 ]; then
    echo "missing: $out (run tests/binaries/build.sh)" >&2; exit 1
  fi
  echo "$component=$out"
  built+=("$out")
}

mode=build built=()
[ "${1:-}" = --print ] && mode=print

k8s=$(version kubernetes k8s.io/kubernetes)
minor=${k8s#v1.}; minor=${minor%%.*}
# Both version packages, as Kubernetes' hack/lib/version.sh stamps them: component-base's (what the binaries
# and /version report) and client-go's (the components' User-Agent).
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
build kubernetes "$k8s" "$stamp" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler

# etcd's version is a constant in go.etcd.io/etcd/api/v3/version: nothing to stamp.
build etcd "$(version etcd go.etcd.io/etcd/server/v3)" "" etcd=go.etcd.io/etcd/server/v3

# KWOK's version is a constant in sigs.k8s.io/kwok/pkg/consts too.
build kwok "$(version kwok sigs.k8s.io/kwok)" "" kwok=sigs.k8s.io/kwok/cmd/kwok kwokctl=sigs.k8s.io/kwok/cmd/kwokctl

# helm stamps its version and the Kubernetes minor of the client-go it is built with, as its Makefile does.
helm=$(version helm helm.sh/helm/v3)
cg=$(version helm k8s.io/client-go); cg=${cg#v0.}; cg=${cg%%.*}
hv=helm.sh/helm/v3
build helm "$helm" "-X $hv/internal/version.version=$helm -X $hv/internal/version.gitTreeState=clean \
-X $hv/pkg/lint/rules.k8sVersionMajor=1 -X $hv/pkg/lint/rules.k8sVersionMinor=$cg \
-X $hv/pkg/chartutil.k8sVersionMajor=1 -X $hv/pkg/chartutil.k8sVersionMinor=$cg" helm=helm.sh/helm/v3/cmd/helm

# The agentgateway controller (kgateway) through main.go beside its go.mod: upstream's main, loopback listeners.
kgw=$(version kgateway github.com/kgateway-dev/kgateway/v2)
build kgateway "$kgw" "-X github.com/kgateway-dev/kgateway/v2/pkg/version.Version=$kgw" kgateway=.
# agwxds (main.go beside its go.mod): reads what the controller serves its proxies over xDS, for the tests.
build agwxds "$(version agwxds github.com/kgateway-dev/kgateway/v2)" "" agwxds=.

# toxiproxy (Shopify's TCP fault proxy) for tests/integration/test_faults.py; stamped as its goreleaser does.
toxi=$(version toxiproxy github.com/Shopify/toxiproxy/v2)
build toxiproxy "$toxi" "-X github.com/Shopify/toxiproxy/v2.Version=${toxi#v}" \
  toxiproxy-server=github.com/Shopify/toxiproxy/v2/cmd/server toxiproxy-cli=github.com/Shopify/toxiproxy/v2/cmd/cli

# One folder with every binary, for PATH (make and the test fixture put it first).
if [ "$mode" = build ]; then
  mkdir -p "$cache/path"
  for dir in "${built[@]}"; do
    for bin in "$dir"/*; do ln -sfn "$bin" "$cache/path/$(basename "$bin")"; done
  done
fi
