# The base is a build argument: the official Node image by default (its version is the one CI tests,
# .ci/node-version); where no image registry is reachable, scripts/image/make-base.sh builds a
# stand-in from Debian packages and the npm registry (docs/image.md). No "# syntax=" line: BuildKit
# would fetch that frontend from a registry, and nothing here needs more than the built-in one.
ARG BASE_IMAGE=node:24.22.3-bookworm-slim

# Build stage: the one place with compilers. better-sqlite3 is native and compiles here once (node-gyp
# takes the headers the base image carries in /usr/local/include/node, no download); the dev
# dependencies go after the TypeScript build, so the runtime stage copies a finished node_modules.
FROM ${BASE_IMAGE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# node-gyp's own name for its nodedir option (npm 11 warns about npm_config_nodedir).
ENV npm_package_config_node_gyp_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The console is bundled here too (esbuild and preact are dev dependencies); only dist/console ships.
COPY scripts/build-console.ts ./scripts/
COPY scripts/lib/console-build.ts ./scripts/lib/
# At run time better-sqlite3 needs its compiled addon only (from the compiler or a prebuilt download,
# both in build/Release), not its sources, SQLite's amalgamation or the object files (~35 MB).
RUN npm run build && rm dist/.tsbuildinfo \
 && npm prune --omit=dev --no-audit --no-fund \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node . && rm -rf build deps src \
 && mkdir -p build/Release && mv better_sqlite3.node build/Release/

# Runtime stage: the compiled service and its production dependencies, no compilers, as a non-root
# user. /data is the node user's own and closed to others (the service refuses a data directory that
# group or others can write); a named volume mounted there starts with this owner and mode.
FROM ${BASE_IMAGE}
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/server.js"]
