// Latency per region over time, one uPlot line per region: the last hour of raw results
// (GET /v1/checks/{id}/results) or the rollups' buckets (GET /v1/checks/{id}/latency).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { LatencyBucket, Result } from "./types";

/** Colour-blind-friendly line colours (Okabe–Ito), with a dash pattern per series as well. */
const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];
const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

/** Series per region as uPlot wants them: one x axis (seconds), one y series per region. */
export interface Aligned {
  regions: string[];
  data: uPlot.AlignedData;
}

/** Points `{region, at, ms}` (ms null: no latency there) as aligned data: null where a region has none. */
function align(points: { region: string; at: number; ms: number | null }[]): Aligned {
  const regions = [...new Set(points.map((p) => p.region))].sort();
  const xs = [...new Set(points.map((p) => p.at))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = regions.map(() => xs.map((): number | null => null));
  for (const p of points) ys[regions.indexOf(p.region)]![index.get(p.at)!] = p.ms;
  return { regions, data: [xs.map((x) => x / 1000), ...ys] };
}

/** Raw results; a down result has no latency to show. */
export function alignByRegion(results: Result[]): Aligned {
  return align(
    results.map((r) => ({ region: r.region, at: r.startedAt, ms: r.state !== "down" ? r.durationMs : null })),
  );
}

/** Rollup buckets; a bucket of only down results has no latency to show. */
export function alignBuckets(buckets: LatencyBucket[]): Aligned {
  return align(buckets.map((b) => ({ region: b.region, at: b.at, ms: b.total > b.down ? b.avgDurationMs : null })));
}

/**
 * `window`: the time range to show (epoch ms), so a few buckets sit where they belong in it;
 * @default the data's own extent
 */
export function LatencyChart(props: { series: Aligned; label: string; window?: { from: number; to: number } }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();
  const { regions, data } = props.series;
  const span = useRef(props.window);
  span.current = props.window;
  const key = regions.join(",");

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 240,
      scales: {
        x: {
          time: true,
          range: (_u, min, max) => (span.current ? [span.current.from / 1000, span.current.to / 1000] : [min, max]),
        },
      },
      axes: [{}, { label: "ms", size: 50 }],
      series: [
        {},
        ...regions.map((r, i) => ({
          label: r,
          stroke: COLOURS[i % COLOURS.length],
          dash: DASHES[i % DASHES.length],
          width: 1.5,
          spanGaps: true,
          value: (_u: uPlot, v: number | null) => (v === null ? "–" : `${v.toFixed(1)} ms`),
        })),
      ],
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(280, el.clientWidth), height: 240 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = undefined;
    };
    // A new set of regions needs new series; new data alone is setData below.
  }, [key]);

  useEffect(() => plot.current?.setData(data), [data]);

  return (
    <div
      ref={box}
      class="chart"
      role="img"
      data-points={data[0].length}
      aria-label={`${props.label} in ms per region: ${regions.join(", ")}`}
    />
  );
}
