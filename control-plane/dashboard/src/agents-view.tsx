// Agents: region, provider, version, connected, impaired and why, scheduling lag and outbox depth,
// from GET /v1/agents (read scope). Should it fail, the regions' impairment from the check verdicts
// is still shown.
import { getJson } from "./api";
import { usePolled } from "./poll";
import { ago } from "./format";
import type { Agent, Status } from "./types";
import { Head } from "./table-head";

export function AgentsView(props: { token: string; statuses: Status[] }) {
  const {
    value: agents,
    error,
    forbidden,
  } = usePolled(() => getJson<Agent[]>("/v1/agents", props.token), 10_000, [props.token]);

  // What the verdicts say about each vantage point, available with a read token.
  const impaired = new Map<string, { agents: Set<string>; reasons: Set<string> }>();
  for (const s of props.statuses)
    for (const [region, r] of Object.entries(s.regions)) {
      const e = impaired.get(region) ?? { agents: new Set(), reasons: new Set() };
      for (const a of r.agents ?? []) if (a.impaired) e.agents.add(a.agentId);
      if (r.impaired && r.impairedReason) e.reasons.add(r.impairedReason);
      impaired.set(region, e);
    }

  return (
    <section aria-labelledby="agents-h">
      <h1 id="agents-h">Agents</h1>
      {forbidden ? (
        <p class="note">
          This token may not read the agent list (<code>GET /v1/agents</code> needs the <code>read</code> scope).
          Vantage points as the verdicts see them:
        </p>
      ) : error ? (
        <p role="alert" class="error">
          {error}
        </p>
      ) : null}
      {agents ? (
        <div class="scroll">
          <table>
            <Head
              cols={[
                "Agent",
                "Region",
                "Provider",
                "Version",
                "Connected",
                "Impaired",
                "Sched. lag p99",
                "Outbox",
                "Last seq",
              ]}
            />
            <tbody>
              {agents.map((a) => (
                <tr key={a.id} data-agent={a.id}>
                  <th scope="row">{a.id}</th>
                  <td>{a.region}</td>
                  <td>{a.provider || "–"}</td>
                  <td>{a.version || "–"}</td>
                  <td>
                    {a.revokedAt ? (
                      <span class="bad-text">✕ revoked</span>
                    ) : a.connected ? (
                      <span class="ok-text">✓ connected</span>
                    ) : (
                      <span class="bad-text">✕ disconnected</span>
                    )}{" "}
                    <span class="muted">seen {ago(a.lastSeenAt)}</span>
                  </td>
                  <td>
                    {a.impaired ? (
                      <span class="bad-text">
                        ⚠ {a.impairedReason || "impaired"} {a.impairedSince ? `(${ago(a.impairedSince)})` : ""}
                      </span>
                    ) : (
                      "no"
                    )}
                  </td>
                  <td>{a.schedulingLagP99Ms.toFixed(0)} ms</td>
                  <td>{a.outboxDepth}</td>
                  <td>{a.lastSeq}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {!agents && impaired.size > 0 ? (
        <div class="scroll">
          <table>
            <Head cols={["Region", "Impaired agents", "Why"]} />
            <tbody>
              {[...impaired]
                .sort(([a], [b]) => (a < b ? -1 : 1))
                .map(([region, e]) => (
                  <tr key={region}>
                    <th scope="row">{region}</th>
                    <td>{e.agents.size ? `⚠ ${[...e.agents].join(", ")}` : "none"}</td>
                    <td>{[...e.reasons].join("; ") || "–"}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
