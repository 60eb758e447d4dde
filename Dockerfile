# tollgate as a sidecar container (Debian bookworm-slim, multi-stage).
#   docker build -t tollgate .
#   docker run -p 127.0.0.1:8080:8080 -v tollgate-data:/data tollgate
# The build stage is scripts/container-build.sh, which make test also runs.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates make
WORKDIR /src
COPY . .
RUN scripts/container-build.sh /out

FROM debian:bookworm-slim
# Runtime libraries of the binary (checked against ldd by make test),
# the CA store for verifying api.openai.com, and curl for the health check.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7 \
        libevent-openssl-2.1-7 libevent-pthreads-2.1-7 \
        libssl3 libcjson1 libsqlite3-0 zlib1g \
        ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data --shell /usr/sbin/nologin tollgate \
    && mkdir -p /data && chown tollgate:tollgate /data && chmod 0750 /data
COPY --from=build /out/usr/local/bin/tollgate /usr/local/bin/tollgate
COPY examples/sidecar.json /etc/tollgate.json
USER tollgate
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s \
    CMD curl -fsS http://127.0.0.1:9090/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/tollgate"]
CMD ["run", "-c", "/etc/tollgate.json"]
