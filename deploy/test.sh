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

# The unit tests first, alone, as before (some spawn processes or run property tests under a 20 s
# timeout, and a machine busy with the integration lanes slowed them past it). Their result is
# reported at the end; the integration lanes run either way.
failed=0
pnpm exec vitest run --project unit &
lanes+=($!)
wait "${lanes[0]}" || failed=1
lanes=()
phase "vitest, unit"

# Then two vitest processes at once (vitest runs its groups of files one after another, so one
# process cannot run a serial group beside another): the serial lane runs the integration files that
# kill, pause or cut servers, use network namespaces or wait for consensus verdicts, one at a time;
# the light lane runs the files listed in vitest.config.ts's LIGHT_INTEGRATION_FILES, one at a time,
# at a lower CPU priority (nice 5, the servers it starts too), so the serial lane's timing-sensitive
# waits get the CPU first. Each line is prefixed with its lane.
lane() {
  local name=$1 niceness=$2
  shift 2
  local start=$SECONDS rc=0
  PROBEMESH_TEST_LANE=$name nice -n "$niceness" pnpm exec vitest run "$@" 2>&1 | sed -u "s/^/[$name] /" || rc=$?
  echo "[$name] lane done in $((SECONDS - start)) s (exit $rc)"
  return "$rc"
}
lane serial 0 --project integration &
lanes+=($!)
lane light 5 --project integration &
lanes+=($!)
for pid in "${lanes[@]}"; do
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || failed=1
done
lanes=()
phase "vitest, integration"
if [ "$failed" = 0 ]; then echo "[test] unit and both integration lanes passed"; else echo "[test] unit or an integration lane failed (see above)" >&2; fi
exit "$failed"
