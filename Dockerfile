# syntax=docker/dockerfile:1
# The worker image (also runs the webhook receiver: `node lib/webhooks/main.js`); see deploy/compose.production.yml.
#   docker build -t replicate-temporal-worker:1.0.0 .
# build: every dependency, compile lib/ (with lib/worker/health-probe.js, the health check), bundle the workflow code
# twice: lib/workflow-bundle.js, and lib/workflow-bundle-encrypted.js for ENCRYPTION_KEY (docs/encryption.md).
# runtime: production dependencies only, the compiled lib/ and the prebuilt bundle, as the non-root `node` user.

FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
RUN npm run build \
 && npm run build:workflows \
 && npm run build:workflows -- --encrypted lib/workflow-bundle-encrypted.js

FROM node:20.20.2-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# The package declares @temporalio/* as peer (and dev) dependencies, so `npm ci --omit=dev` alone would leave them
# out. The worker needs them: promote every peer dependency to a dependency at the version the project tests with
# (its devDependencies entry), refresh the lockfile's dev flags (no version changes), then install.
RUN node -e " \
      const fs = require('fs'); \
      const p = JSON.parse(fs.readFileSync('package.json', 'utf8')); \
      for (const name of Object.keys(p.peerDependencies || {})) { \
        p.dependencies[name] = p.devDependencies[name]; \
        delete p.devDependencies[name]; \
      } \
      delete p.scripts.prepack; \
      fs.writeFileSync('package.json', JSON.stringify(p, null, 2) + '\n');" \
 && npm install --package-lock-only --ignore-scripts --no-audit --no-fund \
 && npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/lib ./lib
RUN mkdir -p /data/outputs && chown node:node /data/outputs
# The endpoints bind 127.0.0.1 by default; in a container, probes (kubelet) and scrapers (Prometheus) come from
# outside it, so they listen on every interface of the container (docs/security.md, "What binds where").
ENV WORKFLOW_BUNDLE=/app/lib/workflow-bundle.js \
    OUTPUT_DIR=/data/outputs \
    HEALTH_PORT=8080 \
    HEALTH_HOST=0.0.0.0 \
    METRICS_HOST=0.0.0.0 \
    NODE_OPTIONS=--max-old-space-size=384
# GET /healthz (liveness) and /readyz (readiness: 503 while starting or draining) for Kubernetes probes
EXPOSE 8080
USER node
# Ready = the worker of this container runs and polls (its /readyz on HEALTH_PORT, see src/worker/health.ts).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["node", "lib/worker/health-probe.js", "/readyz"]
CMD ["node", "lib/worker/main.js"]
