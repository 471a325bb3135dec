# gateway_exporter in a container: build with the Rust toolchain, run on a
# minimal Debian with nothing but the binary and its default config.
#
#   docker build -t gateway-exporter:0.1.0 .
#
# Not built in this repository's test suite (no container runtime there), so
# it is kept deliberately plain: two stages, no cache tricks. The Kubernetes
# manifests in deploy/kubernetes/ run this image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gateway_exporter

# bookworm-slim rather than distroless: the DaemonSet's init container uses
# its chown to hand the hostPath state directory to the exporter's user.
FROM debian:bookworm-slim
COPY --from=build /src/target/release/gateway_exporter /usr/bin/gateway_exporter
COPY deploy/debian/gateway.yml /etc/gateway_exporter/gateway.yml
# nobody: never root; mount logs readable by it (or its supplementary groups).
USER 65534:65534
EXPOSE 10057
# The state directory is a volume so checkpoints survive the container.
VOLUME ["/var/lib/gateway_exporter"]
ENTRYPOINT ["/usr/bin/gateway_exporter"]
CMD ["--config=/etc/gateway_exporter/gateway.yml", "--state.dir=/var/lib/gateway_exporter"]
