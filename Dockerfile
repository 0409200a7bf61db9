# The image `autoglm sweep --emit k8s` runs: node 20, autoglm built from this repository and onnxruntime-node's CPU
# runtime (its binaries ship inside the npm package). Everything is installed while building; the container needs
# no network at run time (no npm, no model download: models come from the mounted volume).
#
#   docker build -t autoglm:0.1.0 .
#   docker run --rm --network none -v "$PWD:/work" autoglm:0.1.0 sweep /work/sweep.json -o /work/results
#
# Layout of the final image: /app/bin/autoglm.js (the entry point), /app/dist (the compiled library and CLI),
# /app/node_modules (production dependencies only), /app/package.json; the working directory is /work.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# .npmrc skips onnxruntime-node's optional GPU download; its CPU runtime is part of the package
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production NO_COLOR=1 NO_UPDATE_NOTIFIER=1 NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
USER node
WORKDIR /work
ENTRYPOINT ["node", "/app/bin/autoglm.js"]
CMD ["--help"]
