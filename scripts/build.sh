#!/bin/sh
# Builds the static sidecar binary. The Dockerfile and the Makefile's
# `build` target both call this script, so the image and a local build are
# the same binary.
#
# usage: scripts/build.sh [OUT]        OUT defaults to bin/sidecar
# VERSION and COMMIT come from the environment, else from git, else dev/unknown.
set -eu

out=${1:-bin/sidecar}
case $out in
/*) ;;
*) out="$PWD/$out" ;;
esac
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}

# CGO off: a static binary for distroless/scratch images, with no libc to match.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" -o "$out" ./cmd/sidecar
