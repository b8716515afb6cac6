#!/usr/bin/env bash
# make package: build bin/issuemesh_VERSION_ARCH.deb with nfpm (the binary,
# the hardened systemd unit, /etc/issuemesh/config.yaml and the maintainer
# scripts of packaging/). nfpm is built once from the Go module proxy into
# a cache outside the clone (/var/cache/issuemesh-test/nfpm/VERSION, or
# $NFPM_CACHE), not added to go.mod. Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
NFPM_VERSION=v2.48.0 # needs Go 1.25; v2.45.2 is the fallback if this one cannot be fetched
cache=${NFPM_CACHE:-/var/cache/issuemesh-test/nfpm/$NFPM_VERSION}
nfpm=$cache/nfpm
if [ ! -x "$nfpm" ]; then
	start=$SECONDS
	mkdir -p "$cache"
	echo "package.sh: building nfpm $NFPM_VERSION into $cache (once)" >&2
	(cd / && GOBIN=$cache GOFLAGS=-buildvcs=false $GO install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION") >&2
	echo "package.sh: nfpm built in $((SECONDS - start))s" >&2
fi
# A Debian version starts with a digit: the tag without its v, or
# 0.0.0~git<commit> between tags.
tag=$(git describe --tags --exact-match 2>/dev/null || true)
if [ -n "$tag" ]; then
	version=${tag#v}
else
	version="0.0.0~git$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	version="$version+dirty"
fi
arch=$($GO env GOARCH)
mkdir -p bin
CGO_ENABLED=0 GOOS=linux GOARCH=$arch $GO build -trimpath -ldflags "-s -w -X main.version=$version" -o bin/issuemesh-linux ./cmd/issuemesh
out=bin/issuemesh_${version}_${arch}.deb
rm -f "$out"
VERSION=$version GOARCH=$arch "$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$out" >&2
echo "$out"
