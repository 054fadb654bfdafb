# One image, one binary: `scaleset` runs the listener, the worker, or both (the default).
#
#   docker build --build-arg SCALESET_VERSION=1.2.3 -t scaleset:1.2.3 .
#   docker run --rm scaleset:1.2.3 --version
#   docker run --rm -v "$PWD/config.yaml:/etc/scaleset/config.yaml:ro" scaleset:1.2.3 config validate
#
# Build arguments:
#   NODE_IMAGE        base of both stages (default node:24-bookworm-slim); point it at a mirror
#                     or a locally imported Node image where no registry is reachable
#   SCALESET_VERSION  what `scaleset --version` prints (stamped by scripts/build-info.mts)
#
# The process runs as uid/gid 10001. The Docker engine needs the host's Docker socket: give
# the container the socket's group (compose: `group_add: ["${DOCKER_GID}"]`, see
# docs/operations.md) rather than running it as root.
#
# No HEALTHCHECK here on purpose: the same image runs the worker and one-shot commands
# (`config validate`, `reconcile --once`), which serve no health endpoint, so an image-wide
# check would mark healthy workers unhealthy. The listener's check lives where the role is
# known: docker-compose.yaml (healthcheck) and the Kubernetes probes.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: dev dependencies, compile, then drop dev dependencies --------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script would build before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY libs ./libs
COPY apps ./apps
ARG SCALESET_VERSION=dev
RUN SCALESET_VERSION="${SCALESET_VERSION}" npm run build \
 && npm prune --omit=dev --ignore-scripts \
 && node bin/scaleset.js --version

# --- runtime: production dependencies and compiled code only, read-only, non-root ----------
FROM ${NODE_IMAGE}
ARG SCALESET_VERSION=dev
LABEL org.opencontainers.image.title="scaleset" \
      org.opencontainers.image.description="Autoscaler for GitHub Actions runner scale sets" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${SCALESET_VERSION}"
# No SCALESET_CONFIG default: compose and Kubernetes mount the file at
# /etc/scaleset/config.yaml and say so; without one, flags and SCALESET_* variables suffice.
ENV NODE_ENV=production
# A fixed, numeric non-root user (Kubernetes' runAsNonRoot needs a numeric USER to verify).
RUN echo 'scaleset:x:10001:10001:scaleset:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'scaleset:x:10001:' >> /etc/group \
 && mkdir -p /etc/scaleset
WORKDIR /app
# Owned by root and not writable by the process: the container can run with a read-only
# root filesystem.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
USER 10001:10001
# 8080: listener /healthz and /readyz (listener.health_port); 9090: /metrics
# (prometheus.port). Bull Board (listener, port 3000) is coming.
EXPOSE 8080 9090
ENTRYPOINT ["node", "/app/bin/scaleset.js"]
CMD ["run"]
