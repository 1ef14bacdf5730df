# syntax=docker/dockerfile:1
# Multi-stage build of the sidecar: a static binary on a distroless base
# that has no shell and runs as a non-root user.
#
# Both bases are pinned by digest (the tag says what it is, the digest makes
# the build reproducible). To move to a newer base, read the tag's current
# digest with `docker buildx imagetools inspect IMAGE:TAG` (or
# `crane digest IMAGE:TAG`) and replace it here.

FROM golang:1.26.8-bookworm@sha256:dc9ad6c05acc7a88e5b71bde60a5fe3bd4b9f0db209011711b464107438a8107 AS build
WORKDIR /src
# Modules first, so code changes do not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN VERSION="$VERSION" COMMIT="$COMMIT" sh scripts/build.sh /out/sidecar && mkdir /out/data

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="binlog-sidecar" \
      org.opencontainers.image.description="Watches MySQL/MariaDB replication health from inside: binlog stream, health rules, CloudEvents on NATS, Prometheus metrics" \
      org.opencontainers.image.source="https://github.com/binlog-sidecar/binlog-sidecar" \
      org.opencontainers.image.documentation="https://github.com/binlog-sidecar/binlog-sidecar/blob/main/README.md" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$COMMIT" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/sidecar /sidecar
# 65532 is distroless's nonroot user; its home is writable, so the default
# SIDECAR_DATA_DIR (./data) works without a volume. /data is there, owned by
# it, for a volume (a new Docker volume takes the owner from the image) with
# SIDECAR_DATA_DIR=/data, which keeps the event spool across restarts.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 9106
# `sidecar healthcheck` GETs the running sidecar's own /livez (at
# SIDECAR_HTTP_ADDR, with TLS and basic auth when SIDECAR_WEB_CONFIG_FILE
# is set) and exits 0 or 1; distroless has no shell or curl to do it.
# Liveness only: it never depends on MySQL or NATS.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/sidecar", "healthcheck"]
ENTRYPOINT ["/sidecar"]
