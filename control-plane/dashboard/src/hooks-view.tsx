// Hooks: each hook's delivery log with outcomes and retries (GET /v1/hooks... needs the admin
// scope), and the deliveries GET /v1/events streamed since this page was opened.
import { enc, getJson } from "./api";
import { usePolled } from "./poll";
import { duration, time } from "./format";
import type { Delivery, Hook } from "./types";
import { Head } from "./table-head";

export function HooksView(props: { token: string; live: Delivery[] }) {
  const {
    value: hooks,
    error,
    forbidden,
  } = usePolled(
    async () => {
      const list = await getJson<Hook[]>("/v1/hooks", props.token);
      return Promise.all(
        list.map(async (hook) => ({
          hook,
          deliveries: await getJson<Delivery[]>(`/v1/hooks/${enc(hook.id)}/deliveries?limit=50`, props.token),
        })),
      );
    },
    10_000,
    [props.token, props.live.length],
  );

  return (
    <section aria-labelledby="hooks-h">
      <h1 id="hooks-h">Hooks</h1>
      {forbidden ? (
        <p class="note">
          Hooks and their delivery logs (<code>GET /v1/hooks</code>) need a token with the <code>admin</code> scope.
          Below: the deliveries streamed live since this page was opened.
        </p>
      ) : error ? (
        <p role="alert" class="error">
          {error}
        </p>
      ) : null}
      {hooks?.length === 0 ? <p class="muted">No hook is configured.</p> : null}
      {hooks?.map(({ hook, deliveries }) => (
        <section key={hook.id} aria-label={`hook ${hook.id}`}>
          <h2>
            {hook.id} <span class="muted">{hook.type}</span>
          </h2>
          <Deliveries list={deliveries} />
        </section>
      ))}
      {!hooks ? (
        <section aria-label="live deliveries">
          <h2>Live deliveries</h2>
          <Deliveries list={props.live} />
        </section>
      ) : null}
    </section>
  );
}

const GOOD = new Set(["delivered", "dry_run", "skipped", "superseded"]);

function Deliveries({ list }: { list: Delivery[] }) {
  if (list.length === 0) return <p class="muted">No delivery yet.</p>;
  return (
    <div class="scroll">
      <table>
        <Head cols={["Time", "Event", "Check", "Attempt", "Outcome", "Status", "Latency", "Error / next retry"]} />
        <tbody>
          {list.map((d) => (
            <tr key={`${d.deliveryId}:${d.attempt}:${d.at}`}>
              <td>{time(d.at)}</td>
              <td>{d.eventType}</td>
              <td>
                <a href={`#/check/${enc(d.checkId)}`}>{d.checkId}</a>
              </td>
              <td>{d.attempt}</td>
              <td>
                <span class={GOOD.has(d.outcome) ? "ok-text" : "bad-text"}>
                  {GOOD.has(d.outcome) ? "✓" : "✕"} {d.outcome}
                </span>
              </td>
              <td>{d.status ?? "–"}</td>
              <td>{duration(d.latencyMs)}</td>
              <td>{[d.error, d.retryAt ? `retry at ${time(d.retryAt)}` : ""].filter(Boolean).join(" · ") || "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
