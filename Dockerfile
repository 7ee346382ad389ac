# Multi-stage build: compile on Debian with the -dev packages, run on a slim Debian with only the six
# runtime libraries (SQLite, libcurl with GnuTLS, jansson, libyaml, GnuTLS, libev), as a non-root user.
#   make docker-images   (docker build --target gardener-extension-provider-equinix-metal .)
FROM debian:bookworm AS builder
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config ca-certificates \
      libsqlite3-dev libcurl4-gnutls-dev libjansson-dev libyaml-dev libgnutls28-dev libev-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" build

FROM debian:bookworm-slim AS gardener-extension-provider-equinix-metal
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libsqlite3-0 libcurl3-gnutls libjansson4 libyaml-0-2 libgnutls30 libev4 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin nonroot \
 && mkdir -p /var/lib/gardener-extension-provider-equinix-metal && chown 65532:65532 /var/lib/gardener-extension-provider-equinix-metal
COPY --from=builder /src/bin/gardener-extension-provider-equinix-metal /gardener-extension-provider-equinix-metal
COPY --from=builder /src/providers/equinix-metal/imagevector/images.yaml /etc/gardener-extension-provider-equinix-metal/images.yaml
COPY --from=builder /src/charts /charts
USER 65532:65532
ENTRYPOINT ["/gardener-extension-provider-equinix-metal"]
CMD ["run"]
