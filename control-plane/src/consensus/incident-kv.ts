// Open incidents in NATS KV, per partition: what a replica taking a partition over adopts at warm-up,
// and what every replica lists for the API. ClickHouse keeps the history; this is the decision state,
// readable while ClickHouse is away.
import { StorageType } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { openConsumerFreeKv, openOnce } from "../jetstream/kv.js";
import type { Outage } from "./types.js";

/** NATS KV bucket of the open incidents, key `p<partition>.<escaped incident id>`, value JSON {@link Outage}. */
export const INCIDENTS_BUCKET = "probemesh_incidents";

/** The part of a NATS KV bucket this module uses. */
export type IncidentBucket = Pick<KV, "put" | "delete" | "get"> & {
  /** Keys matching the filter (deleted ones may be listed: `get` tells). */
  keys(filter: string): Promise<AsyncIterable<string> | Iterable<string>>;
};

/** Open incidents by partition (see {@link createIncidentKv}). */
export interface IncidentKv {
  /** Writes the incident's current version. */
  put(partition: number, outage: Outage): Promise<void>;
  /** Removes the incident (it closed). */
  delete(partition: number, outageId: string): Promise<void>;
  /** Open incidents of one partition. */
  list(partition: number): Promise<Outage[]>;
  /** Open incidents of every partition. */
  listAll(): Promise<Outage[]>;
}

/**
 * Opens (creating if needed) the {@link INCIDENTS_BUCKET}: history 1, file storage, `replicas` copies.
 * Its keys are listed without a consumer: a warm-up must not wait on a consumer that NATS placed on a
 * dead node (see {@link openConsumerFreeKv}).
 */
export function openIncidentBucket(nc: NatsConnection, replicas = 1): Promise<IncidentBucket> {
  return openConsumerFreeKv(nc, INCIDENTS_BUCKET, { history: 1, storage: StorageType.File, replicas });
}

// Incident ids hold colons (and, from a check id, maybe more); KV keys take [-/_=.a-zA-Z0-9] only.
// Everything else, and "=" and "." (a key token separator), becomes "=XX" per UTF-8 byte: readable,
// reversible, and two ids never share a key.
const KEPT = /[-_/a-zA-Z0-9]/;

/** The key token of an incident id (see {@link incidentKey}). */
export function escapeIncidentId(id: string): string {
  let out = "";
  for (const ch of id) {
    if (KEPT.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, "utf8")) out += `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The inverse of {@link escapeIncidentId}. */
export function unescapeIncidentId(token: string): string {
  return Buffer.from(
    token.replace(/=([0-9A-F]{2})|[^=]+/g, (m, hex: string | undefined) =>
      hex ? String.fromCharCode(Number.parseInt(hex, 16)) : m,
    ),
    "latin1",
  ).toString("utf8");
}

/** KV key of an incident: `p<partition>.<escaped id>`. */
export function incidentKey(partition: number, outageId: string): string {
  return `p${partition}.${escapeIncidentId(outageId)}`;
}

/** Creates the {@link IncidentKv} on the bucket `open()` resolves (opened once, retried after a failure). */
export function createIncidentKv(open: () => Promise<IncidentBucket>): IncidentKv {
  const kv = openOnce(open);

  async function read(filter: string): Promise<Outage[]> {
    const b = await kv();
    const keys: string[] = [];
    for await (const k of await b.keys(filter)) keys.push(k);
    const out: Outage[] = [];
    for (const key of keys.sort()) {
      const e = await b.get(key);
      if (!e || e.operation !== "PUT" || e.length === 0) continue;
      const o = e.json<Outage>();
      if (o.state === "open") out.push(o);
    }
    return out;
  }

  return {
    async put(partition, outage) {
      await (await kv()).put(incidentKey(partition, outage.id), JSON.stringify(outage));
    },
    async delete(partition, outageId) {
      await (await kv()).delete(incidentKey(partition, outageId));
    },
    list: (partition) => read(`p${partition}.>`),
    listAll: () => read(">"),
  };
}
