# syntax=docker/dockerfile:1
# Multi-stage build of the sidecar: a static binary on a distroless base
# that has no shell and runs as a non-root user.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so code changes do not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN VERSION="$VERSION" COMMIT="$COMMIT" sh scripts/build.sh /out/sidecar && mkdir /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sidecar /sidecar
# 65532 is distroless's nonroot user; its home is writable, so the default
# SIDECAR_DATA_DIR (./data) works without a volume. /data is there, owned by
# it, for a volume (a new Docker volume takes the owner from the image) with
# SIDECAR_DATA_DIR=/data, which keeps the event spool across restarts.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 9106
ENTRYPOINT ["/sidecar"]
