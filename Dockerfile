# lookback's services in one image; docker-compose.yml picks the command per service.
# Build stage compiles TypeScript and the libbpf addon; the run stage carries what the services load at run time.
FROM node:20-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
      linux-libc-dev build-essential pkg-config python3 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=optional
COPY . .
RUN npx tsc -p tsconfig.json && (test ! -f scripts/setup-bpf.sh || LOOKBACK_BPF_ONLY_BUILD=1 bash scripts/setup-bpf.sh)

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g iproute2 util-linux \
      && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
ENTRYPOINT ["node", "/app/bin/lookback.js"]
