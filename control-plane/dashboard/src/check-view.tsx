// One check: its verdict and the evidence behind it (which agents said what), latency per region,
// phase breakdown, the outage / partial timeline, availability and SLO for 24h / 7d / 30d, and the
// last results with their reasons.
import { enc, getJson } from "./api";
import { useMemo, useState } from "preact/hooks";
import { usePolled } from "./poll";
import { ago, duration, percent, time } from "./format";
import { alignBuckets, alignByRegion, LatencyChart } from "./latency-chart";
import { StateBadge } from "./state";
import type { Availability, Check, Latency, Outage, Result, Status } from "./types";
import { Head } from "./table-head";

const WINDOWS = ["24h", "7d", "30d"] as const;
/** The latency chart's ranges: the last hour of raw results, or a window of the rollups. */
const RANGES = ["1h", ...WINDOWS] as const;
type Range = (typeof RANGES)[number];
const PHASES = ["dnsMs", "connectMs", "tlsMs", "ttfbMs", "transferMs"] as const;

export function CheckView(props: { token: string; checkId: string; status?: Status; transitions: number }) {
  const { token, checkId } = props;
  const base = `/v1/checks/${enc(checkId)}`;
  const { value: check, error: checkError } = usePolled(() => getJson<Check>(base, token), 60_000, [checkId]);
  const { value: status, error: statusError } = usePolled(() => getJson<Status>(`${base}/status`, token), 5_000, [
    checkId,
    props.transitions,
    props.status?.state,
  ]);
  const { value: results, error: resultsError } = usePolled(
    () => getJson<Result[]>(`${base}/results?limit=2000`, token),
    10_000,
    [checkId],
  );
  const [range, setRange] = useState<Range>("1h");
  const { value: rollup, error: rollupError } = usePolled(
    async () => (range === "1h" ? undefined : getJson<Latency>(`${base}/latency?window=${range}`, token)),
    60_000,
    [checkId, range],
  );
  const { value: availability, error: availabilityError } = usePolled(
    () => Promise.all(WINDOWS.map((w) => getJson<Availability>(`${base}/availability?window=${w}`, token))),
    60_000,
    [checkId, props.transitions],
  );
  const { value: outages, error: outagesError } = usePolled(
    () => getJson<Outage[]>(`/v1/outages?checkId=${enc(checkId)}&from=${Date.now() - 30 * 86_400_000}`, token),
    30_000,
    [checkId, props.transitions],
  );
  const state = props.status?.state ?? status?.state ?? "unknown";
  const errors = [checkError, statusError, resultsError, rollupError, availabilityError, outagesError].filter(Boolean);
  const series = useMemo(
    () =>
      range === "1h"
        ? results && alignByRegion(results)
        : rollup?.window === range
          ? alignBuckets(rollup.buckets)
          : undefined,
    [range, results, rollup],
  );

  return (
    <article class="check" data-check-view={checkId}>
      <p>
        <a href="#/">← All checks</a>
      </p>
      <h1>
        {check?.name || checkId} <StateBadge state={state} title={status?.reason} />
      </h1>
      <p class="muted">
        {checkId}
        {check ? ` · ${check.type} every ${duration(check.intervalMs)}, timeout ${duration(check.timeoutMs)}` : ""}
        {status?.since ? ` · ${state} since ${time(status.since)} (${ago(status.since)})` : ""}
        {status?.reason ? ` · ${status.reason}` : ""}
        {status?.missingRegions?.length ? ` · no verdict from ${status.missingRegions.join(", ")}` : ""}
      </p>
      {check?.description ? <p>{check.description}</p> : null}
      {status?.maintenance ? (
        <p class="note">
          In maintenance window {status.maintenance.id} until {time(status.maintenance.to)}: incidents are not
          announced.
        </p>
      ) : null}
      {status?.suppressedBy?.length ? (
        <p class="note">Depends on {status.suppressedBy.join(", ")}, which is down: incidents are suppressed.</p>
      ) : null}
      {errors.map((e) => (
        <p role="alert" class="error" key={e}>
          {e}
        </p>
      ))}

      <section aria-labelledby="evidence-h">
        <h2 id="evidence-h">Evidence behind the verdict</h2>
        {status ? <Evidence status={status} /> : <p class="muted">Loading…</p>}
      </section>

      <section aria-labelledby="latency-h">
        <h2 id="latency-h">Latency per region</h2>
        <div class="ranges" role="group" aria-label="Latency range">
          {RANGES.map((r) => (
            <button type="button" key={r} aria-pressed={range === r} data-range={r} onClick={() => setRange(r)}>
              {r}
            </button>
          ))}
        </div>
        <p class="muted">
          {range === "1h"
            ? "Each result of the last hour (down results left out)."
            : `Mean duration per ${bucketText(rollup?.bucketMs ?? 0)} from the rollups, over ${range} (a bucket's mean includes its down results).`}
        </p>
        {!series ? (
          <p class="muted">Loading…</p>
        ) : series.data[0].length > 0 ? (
          <LatencyChart
            series={series}
            label={`Latency over ${range}`}
            {...(range !== "1h" && rollup ? { window: { from: rollup.from, to: rollup.to } } : {})}
          />
        ) : (
          <p class="muted">No results in this range yet.</p>
        )}
        {results ? <Phases results={results} /> : null}
      </section>

      <section aria-labelledby="avail-h">
        <h2 id="avail-h">Availability and SLO</h2>
        {availability ? <AvailabilityTable reports={availability} /> : <p class="muted">Loading…</p>}
      </section>

      <section aria-labelledby="timeline-h">
        <h2 id="timeline-h">Outages and partials (30 days)</h2>
        {outages ? <Timeline outages={outages} /> : <p class="muted">Loading…</p>}
      </section>

      <section aria-labelledby="results-h">
        <h2 id="results-h">Last results</h2>
        {results ? <ResultsTable results={results.slice(0, 25)} /> : <p class="muted">Loading…</p>}
      </section>
    </article>
  );
}

function Evidence({ status }: { status: Status }) {
  const regions = Object.entries(status.regions).sort(([a], [b]) => (a < b ? -1 : 1));
  if (regions.length === 0) return <p class="muted">No region has reported yet.</p>;
  return (
    <div class="scroll">
      <table>
        <Head cols={["Region", "Verdict", "Since", "Why", "Agents (what each said)"]} />
        <tbody>
          {regions.map(([name, r]) => (
            <tr key={name} data-region={name}>
              <th scope="row">{name}</th>
              <td>
                <StateBadge state={r.state} impaired={r.impaired} />
              </td>
              <td>{ago(r.since)}</td>
              <td>
                {[r.impaired ? `impaired: ${r.impairedReason ?? "?"}` : "", r.reason, r.error]
                  .filter(Boolean)
                  .join("; ") || "–"}
              </td>
              <td>
                <ul class="plain">
                  {(r.agents ?? []).map((a) => (
                    <li key={a.agentId}>
                      {a.agentId}: <StateBadge state={a.state} impaired={a.impaired} />{" "}
                      <span class="muted">
                        {a.fresh ? "fresh" : "stale"}, last {ago(a.lastResultAt)}
                        {a.error ? ` · ${a.error}` : ""}
                      </span>
                    </li>
                  ))}
                </ul>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** "5 min", "1 h", "6 h". */
function bucketText(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${ms / 60_000} min`;
}

function Phases({ results }: { results: Result[] }) {
  const byRegion = new Map<string, Result[]>();
  for (const r of results) if (r.state !== "down") byRegion.set(r.region, [...(byRegion.get(r.region) ?? []), r]);
  const rows = [...byRegion].sort(([a], [b]) => (a < b ? -1 : 1));
  const any = results.some((r) => PHASES.some((p) => (r.phases?.[p] ?? 0) > 0));
  if (!any) return <p class="muted">These results carry no phase timings.</p>;
  const avg = (list: Result[], p: (typeof PHASES)[number]) =>
    list.reduce((s, r) => s + (r.phases?.[p] ?? 0), 0) / list.length;
  return (
    <div class="scroll">
      <table class="num">
        <caption>Mean phase timings (ms) of the successful results above</caption>
        <thead>
          <tr>
            <th scope="col">Region</th>
            {PHASES.map((p) => (
              <th scope="col" key={p}>
                {p.replace("Ms", "")}
              </th>
            ))}
            <th scope="col">total</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([region, list]) => (
            <tr key={region}>
              <th scope="row">{region}</th>
              {PHASES.map((p) => (
                <td key={p}>{avg(list, p).toFixed(1)}</td>
              ))}
              <td>{(list.reduce((s, r) => s + r.durationMs, 0) / list.length).toFixed(1)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AvailabilityTable({ reports }: { reports: Availability[] }) {
  const regions = [...new Set(reports.flatMap((a) => Object.keys(a.regions)))].sort();
  return (
    <div class="scroll">
      <table class="num">
        <thead>
          <tr>
            <th scope="col">Window</th>
            <th scope="col">Availability</th>
            <th scope="col">No data (left out)</th>
            <th scope="col">Maintenance</th>
            <th scope="col">Downtime</th>
            <th scope="col">Outages</th>
            <th scope="col">MTTR</th>
            <th scope="col">SLO</th>
            <th scope="col">Error budget left</th>
            {regions.map((r) => (
              <th scope="col" key={r}>
                {r}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {reports.map((a, i) => (
            <tr key={WINDOWS[i]}>
              <th scope="row">{WINDOWS[i]}</th>
              <td>{percent(a.availability)}</td>
              <td>{duration(a.noDataMs)}</td>
              <td>{duration(a.maintenanceMs)}</td>
              <td>{duration(a.downtimeMs)}</td>
              <td>{a.outages}</td>
              <td>{duration(a.mttrMs)}</td>
              <td>
                {a.availability === null ? (
                  <span class="muted">no data</span>
                ) : (
                  <span class={a.slo.met ? "ok-text" : "bad-text"}>
                    {a.slo.met ? "✓ met" : "✕ missed"} ({a.slo.target} %)
                  </span>
                )}
              </td>
              <td>{a.availability === null ? "–" : `${a.slo.errorBudgetRemainingPercent.toFixed(1)} %`}</td>
              {regions.map((r) => {
                const reg = a.regions[r];
                return (
                  <td
                    key={r}
                    title={reg ? `${reg.results.total} results, mean ${reg.results.avgDurationMs.toFixed(1)} ms` : ""}
                  >
                    {reg ? `${percent(reg.availability, 2)} · ${reg.results.avgDurationMs.toFixed(0)} ms` : "–"}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">
        Availability counts observed time only; time without a verdict is shown apart as “no data”. Per region:
        availability and mean latency of the window's results.
      </p>
    </div>
  );
}

function Timeline({ outages }: { outages: Outage[] }) {
  const now = Date.now();
  const from = now - 24 * 3_600_000;
  const recent = outages.filter((o) => (o.resolvedAt ?? now) >= from);
  const sorted = outages.slice().sort((a, b) => b.startedAt - a.startedAt);
  return (
    <>
      <div class="timeline" role="img" aria-label={`${recent.length} incidents in the last 24 hours`}>
        {recent.map((o) => {
          const start = Math.max(o.startedAt, from);
          const end = o.resolvedAt ?? now;
          return (
            <span
              key={o.id}
              class={`bar k-${o.kind}`}
              title={`${o.kind} ${time(o.startedAt)} – ${o.resolvedAt ? time(o.resolvedAt) : "open"}`}
              style={{
                left: `${((start - from) / (now - from)) * 100}%`,
                width: `${Math.max(0.4, ((end - start) / (now - from)) * 100)}%`,
              }}
            />
          );
        })}
      </div>
      <p class="muted timeline-axis">
        <span>24 h ago</span> <span>now</span>
      </p>
      {sorted.length === 0 ? (
        <p class="muted">No incident in 30 days.</p>
      ) : (
        <div class="scroll">
          <table>
            <Head cols={["Kind", "State", "Started", "Duration", "Regions", "Reason"]} />
            <tbody>
              {sorted.slice(0, 50).map((o) => (
                <tr key={o.id}>
                  <td>
                    <span class={`kind k-${o.kind}`}>{o.kind}</span>
                  </td>
                  <td>
                    {o.state}
                    {o.suppressed ? " (suppressed)" : ""}
                  </td>
                  <td>{time(o.startedAt)}</td>
                  <td>{duration((o.resolvedAt ?? now) - o.startedAt)}</td>
                  <td>{o.regions.join(", ")}</td>
                  <td>{o.reason || "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function ResultsTable({ results }: { results: Result[] }) {
  return (
    <div class="scroll">
      <table>
        <Head cols={["Time", "Region", "Agent", "State", "Duration", "Reason"]} />
        <tbody>
          {results.map((r) => (
            <tr key={r.id}>
              <td>{time(r.startedAt)}</td>
              <td>{r.region}</td>
              <td>{r.agentId}</td>
              <td>
                <StateBadge state={r.state} />
              </td>
              <td>{duration(r.durationMs)}</td>
              <td>
                {[
                  r.reason,
                  r.httpStatus ? `HTTP ${r.httpStatus}` : "",
                  r.message,
                  r.attempts > 1 ? `${r.attempts} attempts` : "",
                ]
                  .filter(Boolean)
                  .join(" · ") || "–"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
