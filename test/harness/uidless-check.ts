// A check as a release before uids stored it in the checks KV bucket (no `uid` in its JSON), for the
// tests of the upgrade: the registry serves it with legacyUid(id, createdAt).
import { toJson } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/transport-node";
import { CHECKS_BUCKET, openKvBucket, validateCheck } from "@probemesh/control-plane";
import { CheckSchema } from "@probemesh/proto";

/** Options of {@link storeUidlessCheck}. */
export interface UidlessCheckOptions {
  /** What the HTTP check probes. @default "http://127.0.0.1:9/" (nothing listens) */
  url?: string;
  /** @default CHECKS_BUCKET */
  bucket?: string;
  /** Epoch ms; with `updatedAt`. @default Date.now() */
  createdAt?: number;
  /** @default 1000 */
  intervalMs?: number;
}

/** Puts HTTP check `id` into the checks bucket without a uid; returns the entry's revision. */
export async function storeUidlessCheck(
  nc: NatsConnection,
  id: string,
  opts: UidlessCheckOptions = {},
): Promise<number> {
  const check = validateCheck(
    {
      id,
      type: "http",
      intervalMs: opts.intervalMs ?? 1000,
      timeoutMs: 500,
      http: { url: opts.url ?? "http://127.0.0.1:9/" },
    },
    { mode: "create" },
  );
  check.version = 1;
  const json = toJson(CheckSchema, check) as Record<string, unknown>;
  if (json.uid !== undefined) throw new Error(`check ${id} was given a uid (${String(json.uid)}); want none`);
  const kv = await openKvBucket(nc, opts.bucket ?? CHECKS_BUCKET, { history: 1 });
  const at = opts.createdAt ?? Date.now();
  return await kv.put(id, JSON.stringify({ check: json, createdAt: at, updatedAt: at }));
}
