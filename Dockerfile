# syntax=docker/dockerfile:1
# agentctl in a container: built from this checkout with the versions in Cargo.lock, run as a
# non-root user on a small distroless base (glibc, CA certificates, no shell).
#
#   docker build -t agentctl .
#   docker run --rm agentctl --sandbox stale --days 230
#   docker run --rm -v "$PWD/config:/etc/agentctl:ro" -v agentctl-state:/var/lib/agentctl \
#     -e TAEGIS_CLIENT_SECRET agentctl stale --days 30 --out plan.csv
#
# Config: /etc/agentctl/config.toml (mount it read-only; secrets as env:NAME or file:PATH).
# State: /var/lib/agentctl (journals, plans, summaries; the working directory).

FROM rust:1.88-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin agentctl \
    && install -D -m 0755 target/release/agentctl /out/agentctl \
    && mkdir -p /out/state /out/config

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/agentctl /usr/local/bin/agentctl
COPY --from=build --chown=65532:65532 /out/state /var/lib/agentctl
COPY --from=build /out/config /etc/agentctl
ENV AGENTCTL_CONFIG=/etc/agentctl/config.toml \
    XDG_STATE_HOME=/var/lib/agentctl \
    HOME=/var/lib/agentctl
USER 65532:65532
WORKDIR /var/lib/agentctl
VOLUME ["/etc/agentctl", "/var/lib/agentctl"]
ENTRYPOINT ["/usr/local/bin/agentctl"]
CMD ["--help"]
