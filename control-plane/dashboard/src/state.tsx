// A state shown by text and icon as well as colour (never colour alone).
import type { CheckState, RegionState } from "./types";

const ICONS: Record<CheckState | RegionState, string> = {
  up: "✓",
  degraded: "◐",
  partial: "◑",
  down: "✕",
  unknown: "?",
  error: "!",
};

export function StateBadge(props: { state: CheckState | RegionState; impaired?: boolean; title?: string }) {
  const { state, impaired } = props;
  return (
    <span class={`badge s-${state}${impaired ? " impaired" : ""}`} title={props.title}>
      <span aria-hidden="true">{ICONS[state] ?? "?"}</span> {state}
      {impaired ? <span class="imp"> ⚠ impaired</span> : null}
    </span>
  );
}
