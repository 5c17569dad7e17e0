#!/usr/bin/env bash
# Installs what probemesh needs from the repo's own files, idempotently:
#   - Debian packages: nats-server and clickhouse-server (the mesh), plus the real consumers and
#     tools the integration tests drive (HAProxy, PowerDNS, BIND, blackbox_exporter, Prometheus,
#     Alertmanager, Chromium, iproute2, ...).
#   - pnpm (pinned by package.json's packageManager) and the JS dependencies from pnpm-lock.yaml.
#   - the TypeScript build.
# Usage: deploy/bootstrap.sh [mesh|test]   (mesh installs only what the local mesh needs)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-test}"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

mesh_pkgs=(nats-server clickhouse-server)
test_pkgs=(haproxy pdns-server pdns-backend-sqlite3 sqlite3 bind9 bind9-dnsutils
  prometheus-blackbox-exporter prometheus prometheus-alertmanager chromium iproute2 iputils-ping
  openssl procps)
pkgs=("${mesh_pkgs[@]}")
[ "$profile" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # Package scripts try to start services; none are wanted (tests and the mesh start their own),
    # so deny them for this install only, leaving any policy the machine had in place.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    trap '[ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages: ${missing[*]}"
    say "install them with: sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

want_pnpm=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if [ "$(pnpm --version 2>/dev/null || true)" != "$want_pnpm" ]; then
  say "installing pnpm@$want_pnpm"
  npm install -g --silent "pnpm@$want_pnpm" >/dev/null
fi

say "installing JS dependencies"
pnpm install --frozen-lockfile --reporter=silent
say "building"
pnpm run -s build
