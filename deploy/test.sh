#!/usr/bin/env bash
# Runs the whole test suite (unit + integration on real nats-server and clickhouse-server),
# installing everything it needs first. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh test
pnpm run -s typecheck
pnpm run -s lint
pnpm run -s format:check
exec pnpm exec vitest run "$@"
