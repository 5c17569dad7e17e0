#!/usr/bin/env bash
# Runs the whole test suite (unit + integration on real nats-server and clickhouse-server),
# installing everything it needs first. This is the README's test command and what CI runs.
# With arguments, they go to one `vitest run` (e.g. a file filter) after the same checks.
set -euo pipefail
cd "$(dirname "$0")/.."
# phase NAME: prints how long the phase that just ended took.
phase() {
  echo "[test] $1: $((SECONDS - t0)) s"
  t0=$SECONDS
}
t0=$SECONDS
bash deploy/bootstrap.sh test
phase bootstrap

# Type check, lint and format check are independent: run them side by side, then print each one's
# output in a fixed order and fail if any failed.
logs=$(mktemp -d)
lanes=()
stop_lanes() {
  # Each background job is its own process group (set -m): stop the whole lane, vitest included.
  for pid in "${lanes[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap stop_lanes EXIT
trap 'exit 130' INT TERM
set -m
checks=(typecheck lint format:check)
for c in "${checks[@]}"; do
  pnpm run -s "$c" >"$logs/$c.log" 2>&1 &
  lanes+=($!)
done
failed=0
for i in "${!checks[@]}"; do
  rc=0
  wait "${lanes[$i]}" || rc=$?
  cat "$logs/${checks[$i]}.log"
  [ "$rc" = 0 ] || { echo "[test] ${checks[$i]} failed (exit $rc)" >&2; failed=1; }
done
lanes=()
[ "$failed" = 0 ] || exit 1
phase "typecheck, lint, format check"

if [ $# -gt 0 ]; then
  pnpm exec vitest run "$@"
  exit
fi

failed=0
# Two chains at once, each line prefixed with its lane:
# - the serial lane (the longest path) starts at once: the integration files that kill, pause or cut
#   servers, use network namespaces or wait for consensus verdicts, one at a time;
# - beside it, the unit tests on one worker (some spawn processes or run property tests under a 20 s
#   timeout: with every core busy they were slowed past it), then the light lane: the files listed in
#   vitest.config.ts's LIGHT_INTEGRATION_FILES, one at a time, at a lower CPU priority (nice 5, the
#   servers it starts too), so the serial lane's timing-sensitive waits get the CPU first.
# vitest runs its groups of files one after another, so one process cannot run a serial group beside
# another. Every lane runs whatever another one's result; the run fails if any failed.
lane() {
  local name=$1 niceness=$2
  shift 2
  local start=$SECONDS rc=0
  PROBEMESH_TEST_LANE=$name nice -n "$niceness" pnpm exec vitest run "$@" 2>&1 | sed -u "s/^/[$name] /" || rc=$?
  echo "[$name] lane done in $((SECONDS - start)) s (exit $rc)"
  return "$rc"
}
unit_then_light() {
  local start=$SECONDS rc=0
  pnpm exec vitest run --project unit --maxWorkers=1 2>&1 | sed -u "s/^/[unit] /" || rc=$?
  echo "[unit] done in $((SECONDS - start)) s (exit $rc)"
  lane light 5 --project integration || rc=1
  return "$rc"
}
lane serial 0 --project integration &
lanes+=($!)
unit_then_light &
lanes+=($!)
for pid in "${lanes[@]}"; do
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || failed=1
done
lanes=()
phase "vitest, unit and integration"
if [ "$failed" = 0 ]; then echo "[test] unit and both integration lanes passed"; else echo "[test] unit or an integration lane failed (see above)" >&2; fi
exit "$failed"
