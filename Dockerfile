# syntax=docker/dockerfile:1
#
# One image with every kitshop command: /usr/local/bin/{shop,edge,user,product,
# order,payment,notification}, plus grpc-health-probe for container health
# checks over the standard grpc.health.v1 protocol. Static binaries (CGO off:
# the embedded store is pure Go), on a distroless base that has no shell, run
# as the unprivileged user 65532. The default command is the all-in-one shop;
# docker-compose.yml and deploy/k8s run one command per container.
#
#   docker build -t kitshop .
#   docker run --rm -p 127.0.0.1:8080:8080 kitshop

ARG GO_VERSION=1.26
# Pinned: a health probe that changes under us would change every health check.
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.61

FROM golang:${GO_VERSION}-bookworm AS build
ARG GRPC_HEALTH_PROBE_VERSION
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w" -o /out/ ./cmd/... \
 && GOBIN=/out go install -ldflags="-s -w" github.com/grpc-ecosystem/grpc-health-probe@${GRPC_HEALTH_PROBE_VERSION} \
 && mkdir -p /rootfs/data /rootfs/service-key

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The data directory: the embedded store and the generated keys when no
# MongoDB URI or key file is given. Owned by the runtime user, so a named
# volume mounted here starts writable for it.
COPY --from=build --chown=65532:65532 /rootfs/data /data
# The mount point of the services' shared key (docker-compose.yml's
# service-key volume, KITSHOP_SERVICE_KEY_FILE), writable for the first
# service to start, which generates the key.
COPY --from=build --chown=65532:65532 /rootfs/service-key /service-key
ENV KITSHOP_DATA_DIR=/data
WORKDIR /data
USER 65532:65532
# edge/shop 8080; service HTTP 8081-8085; service gRPC 50051-50055.
EXPOSE 8080 8081 8082 8083 8084 8085 50051 50052 50053 50054 50055
CMD ["/usr/local/bin/shop", "-edge-addr", ":8080"]
