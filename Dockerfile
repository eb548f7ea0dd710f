# deepresize container: a Swift builder on Debian bookworm, then a slim bookworm runtime holding the
# binary, the weights and the runtime libraries only. Both stages install through scripts/install-deps,
# the same script the README and CI run.
ARG SWIFT_IMAGE=swift:6.3-bookworm

FROM ${SWIFT_IMAGE} AS builder
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps build
# Weights first: they change far less often than the code, so this layer stays cached.
COPY scripts/ scripts/
RUN if [ -x scripts/fetch-weights ]; then scripts/fetch-weights /opt/deepresize/weights; else mkdir -p /opt/deepresize/weights; fi
COPY Package.swift ./
COPY Sources/ Sources/
COPY Tests/ Tests/
RUN swift build -c release --product deepresize --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/deepresize" /opt/deepresize/bin/deepresize

FROM debian:bookworm-slim
COPY scripts/install-deps /usr/local/lib/deepresize/install-deps
RUN /usr/local/lib/deepresize/install-deps runtime && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/deepresize --shell /usr/sbin/nologin deepresize \
 && mkdir -p /var/lib/deepresize && chown deepresize:deepresize /var/lib/deepresize
COPY --from=builder /opt/deepresize /opt/deepresize
COPY config/deepresize.json /etc/deepresize/deepresize.json
ENV DEEPRESIZE_CONFIG=/etc/deepresize/deepresize.json \
    DEEPRESIZE_DATA=/var/lib/deepresize \
    DEEPRESIZE_WEIGHTS=/opt/deepresize/weights/vgg16-imagenet.safetensors \
    DEEPRESIZE_PORT=8080 \
    OPENBLAS_NUM_THREADS=1
# Numeric, so Kubernetes can verify runAsNonRoot (hadolint DL3066).
USER 10001:10001
VOLUME ["/var/lib/deepresize"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/opt/deepresize/bin/deepresize", "healthcheck"]
ENTRYPOINT ["/opt/deepresize/bin/deepresize"]
CMD ["serve"]
