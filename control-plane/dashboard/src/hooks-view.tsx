// Hooks: the delivery log with outcomes and retries. A read token gets every hook's log, redacted,
// from GET /v1/deliveries; an admin token gets each hook's full log (with error texts) from
// GET /v1/hooks/{id}/deliveries. Refreshed when GET /v1/events streams a delivery.
import { ApiError, enc, getJson } from "./api";
import { usePolled } from "./poll";
import { duration, time } from "./format";
import type { Delivery, Hook } from "./types";
import { Head } from "./table-head";

/** Each hook with its log (admin token), or the merged log of every hook (read token). */
type HookLogs = { admin: true; hooks: { hook: Hook; deliveries: Delivery[] }[] } | { admin: false; all: Delivery[] };

async function loadLogs(token: string): Promise<HookLogs> {
  try {
    const list = await getJson<Hook[]>("/v1/hooks", token);
    const hooks = await Promise.all(
      list.map(async (hook) => ({
        hook,
        deliveries: await getJson<Delivery[]>(`/v1/hooks/${enc(hook.id)}/deliveries?limit=50`, token),
      })),
    );
    return { admin: true, hooks };
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 403)) throw err;
  }
  return { admin: false, all: (await getJson<Delivery[]>("/v1/deliveries?limit=200", token)).reverse() };
}

export function HooksView(props: { token: string; live: Delivery[] }) {
  const {
    value: logs,
    error,
    forbidden,
  } = usePolled(() => loadLogs(props.token), 10_000, [props.token, props.live.length]);

  return (
    <section aria-labelledby="hooks-h">
      <h1 id="hooks-h">Hooks</h1>
      {forbidden ? (
        <p class="note">
          This token may not read the delivery log (<code>GET /v1/deliveries</code> needs the <code>read</code> scope).
          Below: the deliveries streamed live since this page was opened.
        </p>
      ) : error ? (
        <p role="alert" class="error">
          {error}
        </p>
      ) : null}
      {logs?.admin && logs.hooks.length === 0 ? <p class="muted">No hook is configured.</p> : null}
      {logs?.admin
        ? logs.hooks.map(({ hook, deliveries }) => (
            <section key={hook.id} aria-label={`hook ${hook.id}`}>
              <h2>
                {hook.id} <span class="muted">{hook.type}</span>
              </h2>
              <Deliveries list={deliveries} />
            </section>
          ))
        : null}
      {logs && !logs.admin ? (
        <section aria-label="delivery log">
          <p class="muted">
            Every hook's deliveries, newest first. Hook settings and error texts need an <code>admin</code> token.
          </p>
          <Deliveries list={logs.all} withHook />
        </section>
      ) : null}
      {!logs ? (
        <section aria-label="live deliveries">
          <h2>Live deliveries</h2>
          <Deliveries list={props.live} withHook />
        </section>
      ) : null}
    </section>
  );
}

const GOOD = new Set(["delivered", "dry_run", "skipped", "superseded"]);

function Deliveries({ list, withHook = false }: { list: Delivery[]; withHook?: boolean }) {
  if (list.length === 0) return <p class="muted">No delivery yet.</p>;
  return (
    <div class="scroll">
      <table>
        <Head
          cols={[
            "Time",
            ...(withHook ? ["Hook"] : []),
            "Event",
            "Check",
            "Attempt",
            "Outcome",
            "Status",
            "Latency",
            withHook ? "Next retry" : "Error / next retry",
          ]}
        />
        <tbody>
          {list.map((d) => (
            <tr key={`${d.deliveryId}:${d.attempt}:${d.at}`} data-delivery={d.deliveryId} data-outcome={d.outcome}>
              <td>{time(d.at)}</td>
              {withHook ? (
                <td>
                  {d.hookId} {d.hookType ? <span class="muted">{d.hookType}</span> : null}
                </td>
              ) : null}
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
