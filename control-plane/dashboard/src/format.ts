// Formatting shared by the views.

export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined || ms <= 0) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.round((s % 86400) / 3600)}h`;
}

export function time(ms: number | null | undefined): string {
  if (!ms) return "–";
  const d = new Date(ms);
  return d.toLocaleString(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function percent(p: number | null | undefined, digits = 3): string {
  return p === null || p === undefined ? "no data" : `${p.toFixed(digits)} %`;
}

/** `key=value` words of a filter box, as pairs. */
export function parseLabels(text: string): [string, string][] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((w) => {
      const i = w.indexOf("=");
      return i < 0 ? [w, ""] : [w.slice(0, i), w.slice(i + 1)];
    });
}
