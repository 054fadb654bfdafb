# One image, one binary: `scaleset` runs the listener, the worker, or both.
#   docker build --build-arg SCALESET_VERSION=1.2.3 -t scaleset .
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
COPY scripts ./scripts
COPY bin ./bin
ARG SCALESET_VERSION=dev
RUN SCALESET_VERSION=${SCALESET_VERSION} npm run build && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The worker talks to the Docker daemon through a mounted socket; running as root inside
# the container avoids matching the host's docker group id. Drop to `node` when using a
# cloud engine only.
ENTRYPOINT ["node", "/app/bin/scaleset.js"]
CMD ["run"]
