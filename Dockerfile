# Production dependencies only, installed where build tools exist (argon2 is native, and
# npm ci compiles the optional sendfile addon, a file: dependency, with node-gyp).
FROM node:24-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY libs/storage/native ./libs/storage/native
RUN npm ci --omit=dev && npm cache clean --force

# Everything, to compile the TypeScript into dist/.
FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY libs/storage/native ./libs/storage/native
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY apps ./apps
COPY libs ./libs
COPY migrations ./migrations
RUN npm run build

# Runtime: the compiled output and production dependencies, as the unprivileged node user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=5000 DATA_DIR=/data MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# node_modules/berth-sendfile links here: the addon as compiled in the deps stage.
COPY --from=deps /app/libs/storage/native ./libs/storage/native
COPY --from=build /app/dist ./dist
# package.json and the build script: `npm start` and `npm run cli` work in the container too.
COPY package.json ./
COPY scripts ./scripts
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 5000
VOLUME /data
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["node", "dist/apps/registry/src/healthcheck.js"]
# As npm start: a smaller young generation frees streamed chunks sooner; a 128 MiB old
# generation (the live heap is ~50 MiB) makes V8 collect garbage before it doubles the
# heap; two malloc arenas (ENV above) keep the I/O threads' freed buffers from piling up.
# Together: peak RSS under the bench ~175-185 MiB instead of 280-340 MiB. Array buffers
# swept within the scavenge that frees them: swept in the background, a large upload's body
# buffers still counted against the old generation when the scavenge ended, and every one
# (each 32 MiB) started a full collection: 8-10 per 256 MiB push, ~40 % of the push's CPU.
# (Measured on Node 20; on this image's Node 24 a 256 MiB push still runs ~11: kept, as it costs nothing.)
# node runs as PID 1 and handles SIGTERM itself: requests in flight finish before it exits.
CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=128", "--no-concurrent-array-buffer-sweeping", "dist/apps/registry/src/main.js"]
