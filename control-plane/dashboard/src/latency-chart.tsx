// Latency per region over time, one uPlot line per region (from GET /v1/checks/{id}/results).
import { useEffect, useMemo, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { Result } from "./types";

/** Colour-blind-friendly line colours (Okabe–Ito), with a dash pattern per series as well. */
const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];
const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

/** Results as uPlot's aligned data: one x axis (seconds) and one series per region, null where absent. */
export function alignByRegion(results: Result[]): { regions: string[]; data: uPlot.AlignedData } {
  const regions = [...new Set(results.map((r) => r.region))].sort();
  const sorted = results.slice().sort((a, b) => a.startedAt - b.startedAt);
  const xs: number[] = [];
  const ys = regions.map(() => [] as (number | null)[]);
  for (const r of sorted) {
    xs.push(r.startedAt / 1000);
    regions.forEach((name, i) => ys[i]!.push(name === r.region && r.state !== "down" ? r.durationMs : null));
  }
  return { regions, data: [xs, ...ys] };
}

export function LatencyChart(props: { results: Result[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();
  const { regions, data } = useMemo(() => alignByRegion(props.results), [props.results]);
  const key = regions.join(",");

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 240,
      scales: { x: { time: true } },
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

  return <div ref={box} class="chart" role="img" aria-label={`Latency in ms per region: ${regions.join(", ")}`} />;
}
