// Overview: the open incidents on top, then the checks × regions matrix (state by icon, text and
// colour; impaired vantage points marked), filtered by label and state.
import { useState } from "preact/hooks";
import { ago, parseLabels } from "./format";
import { StateBadge } from "./state";
import type { CheckState, Status } from "./types";

const STATES: CheckState[] = ["down", "partial", "degraded", "unknown", "up"];

export function Overview(props: { statuses: Status[] | null; error: string }) {
  const [labelText, setLabelText] = useState("");
  const [shown, setShown] = useState<Set<CheckState>>(new Set());
  const { statuses, error } = props;
  if (!statuses)
    return (
      <section aria-busy="true">
        <h1>Checks</h1>
        {error ? (
          <p role="alert" class="error">
            {error}
          </p>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </section>
    );

  const labels = parseLabels(labelText);
  const rows = statuses.filter(
    (s) =>
      (shown.size === 0 || shown.has(s.state)) &&
      labels.every(([k, v]) => (v === "" ? k in (s.labels ?? {}) : s.labels?.[k] === v)),
  );
  const regions = [...new Set(statuses.flatMap((s) => Object.keys(s.regions)))].sort();
  /** A region whose vantage point is impaired for some check. */
  const impairedRegions = new Set(
    statuses.flatMap((s) =>
      Object.entries(s.regions)
        .filter(([, r]) => r.impaired)
        .map(([name]) => name),
    ),
  );
  const incidents = statuses.filter((s) => s.outage || s.state === "down" || s.state === "partial");
  const counts = STATES.map((st) => [st, statuses.filter((s) => s.state === st).length] as const);

  return (
    <>
      <section aria-labelledby="incidents-h" class="incidents">
        <h1 id="incidents-h">Open incidents</h1>
        {incidents.length === 0 ? (
          <p class="ok-note">
            <span aria-hidden="true">✓</span> No open incident.
          </p>
        ) : (
          <ul>
            {incidents.map((s) => (
              <li key={s.checkId} data-incident={s.checkId}>
                <StateBadge state={s.state} />{" "}
                <a href={`#/check/${encodeURIComponent(s.checkId)}`}>{s.name || s.checkId}</a>{" "}
                <span class="muted">
                  {s.outage ? `${s.outage.kind} since ${ago(s.outage.startedAt)} · ${s.outage.reason || "?"}` : ""}
                  {s.outage?.regions.length ? ` · ${s.outage.regions.join(", ")}` : ""}
                  {s.outage?.suppressed ? " · suppressed (dependency down)" : ""}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="checks-h">
        <h2 id="checks-h">Checks × regions</h2>
        <div class="filters" role="group" aria-label="Filters">
          <label>
            Labels{" "}
            <input
              type="search"
              placeholder="team=web env=prod"
              value={labelText}
              onInput={(e) => setLabelText((e.target as HTMLInputElement).value)}
            />
          </label>
          <span class="state-filters">
            {counts.map(([st, n]) => (
              <button
                type="button"
                key={st}
                class={`chip s-${st}`}
                aria-pressed={shown.has(st)}
                onClick={() => {
                  const next = new Set(shown);
                  if (next.has(st)) next.delete(st);
                  else next.add(st);
                  setShown(next);
                }}
              >
                {st} {n}
              </button>
            ))}
          </span>
        </div>
        {error ? (
          <p role="alert" class="error">
            {error} (showing the last answer)
          </p>
        ) : null}
        <div class="scroll">
          <table class="matrix">
            <caption class="sr-only">State of every check in every region</caption>
            <thead>
              <tr>
                <th scope="col">Check</th>
                <th scope="col">State</th>
                {regions.map((r) => (
                  <th scope="col" key={r} class={impairedRegions.has(r) ? "impaired" : undefined}>
                    {r}
                    {impairedRegions.has(r) ? <span title="a vantage point here is impaired"> ⚠</span> : null}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.checkId} data-check={s.checkId} data-state={s.state} class={`row s-${s.state}`}>
                  <th scope="row">
                    <a href={`#/check/${encodeURIComponent(s.checkId)}`}>{s.name || s.checkId}</a>
                    {s.name && s.name !== s.checkId ? <span class="muted"> {s.checkId}</span> : null}
                    {Object.entries(s.labels ?? {}).map(([k, v]) => (
                      <span class="label" key={k}>
                        {k}={v}
                      </span>
                    ))}
                  </th>
                  <td>
                    <StateBadge state={s.state} title={s.reason} />
                    {s.maintenance ? <span class="label">maintenance</span> : null}
                  </td>
                  {regions.map((r) => {
                    const reg = s.regions[r];
                    return (
                      <td key={r} data-region={r} data-state={reg?.state ?? "none"}>
                        {reg ? (
                          <StateBadge
                            state={reg.state}
                            impaired={reg.impaired}
                            title={[reg.impairedReason, reg.reason, reg.error].filter(Boolean).join("; ") || undefined}
                          />
                        ) : (
                          <span class="muted" title="not probed from this region">
                            –
                          </span>
                        )}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {rows.length === 0 ? <p class="muted">No check matches.</p> : null}
      </section>
    </>
  );
}
