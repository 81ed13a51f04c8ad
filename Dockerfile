# syntax=docker/dockerfile:1
# Debian-based (glibc): chDB's native engine ships as a glibc build.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# glibc gives each thread its own malloc arena and keeps what they free: with worker threads the
# resident memory grew by a third (the README's Threads section). Two arenas are enough here.
ENV MALLOC_ARENA_MAX=2
# glibc raises its mmap threshold to the size of each large block freed, so later fetch responses
# and batch buffers (about 1 MiB) come from the arenas and stay resident. A fixed 128 KiB keeps them
# mmapped and returned when freed: after two catch-ups, 135 MiB resident instead of 223.
ENV MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY examples ./examples
# /metrics, /health/live, /health/ready
EXPOSE 8080
USER node
# In a container, Node sizes V8's heap from the memory limit: in 512 MiB the main thread's young
# generation gets 1 MiB semi-spaces instead of 16 (4 MiB in 1 GiB) and the heap limit is 259 MiB.
# With the server store, catch-up here went from 168,000-180,000 to 237,000-275,000 records/s in a
# 512 MiB limit and from 231,000-234,000 to 266,000-278,000 in 1.5 GiB with these flags, V8's sizes
# without a limit (README, "In a container"). src/core/heap.ts's CONTAINER_HEAP_FLAGS holds the
# same two.
ENTRYPOINT ["node", "--max-semi-space-size=16", "--max-old-space-size=4096", "/app/dist/cli/index.js"]
CMD ["run", "--config", "/app/examples/compose.yaml"]
