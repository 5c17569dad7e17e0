import type { Check } from "@probemesh/proto";
import type { Logger } from "pino";
import type { CheckRegistry } from "../registry/types.js";
import type { CheckIdentityStore } from "../store/check-identities.js";

/** What a check probes, for people reading its history: URL, host:port, DNS name and type... */
export function checkTarget(check: Check): string {
  if (check.http) return check.http.url;
  if (check.tcp) return `${check.tcp.host}:${check.tcp.port}`;
  if (check.dns) return `${check.dns.name} ${check.dns.recordType}`;
  if (check.tls) return `${check.tls.host}:${check.tls.port}`;
  if (check.grpc) return check.grpc.service ? `${check.grpc.address} ${check.grpc.service}` : check.grpc.address;
  if (check.icmp) return check.icmp.host;
  return "";
}

/** Options of {@link recordingIdentities}. */
export interface RecordingIdentitiesOptions {
  identities: Pick<CheckIdentityStore, "record">;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The registry, plus a record of each check's identity (id, uid, type, target, creation, deletion)
 * in ClickHouse on create, replace and delete, so that a deleted check's history can be found by its id.
 * The record is best effort: the registry write is what counts, and a failed record is logged (the
 * results and incidents themselves still carry the uid).
 */
export function recordingIdentities(registry: CheckRegistry, opts: RecordingIdentitiesOptions): CheckRegistry {
  const log = opts.log.child({ component: "check-identities" });
  const now = opts.now ?? Date.now;
  async function record(check: Check, createdAt: number, deletedAt: number | null, at: number): Promise<void> {
    try {
      await opts.identities.record(
        { checkId: check.id, uid: check.uid, type: check.type, target: checkTarget(check), createdAt, deletedAt },
        at,
      );
    } catch (err) {
      log.warn(
        { err, checkId: check.id, uid: check.uid },
        "check identity not recorded: GET /v1/checks/{id}/history will not list it",
      );
    }
  }
  return {
    ...registry,
    async create(check) {
      const created = await registry.create(check);
      await record(created.check, created.createdAt, null, created.createdAt);
      return created;
    },
    async replace(check, cond) {
      // Its target may have changed: the history shows the newest.
      const replaced = await registry.replace(check, cond);
      await record(replaced.check, replaced.createdAt, null, replaced.updatedAt);
      return replaced;
    },
    async delete(id, cond) {
      const before = await registry.get(id);
      await registry.delete(id, cond);
      const at = Math.max(now(), before?.updatedAt ?? 0, before?.createdAt ?? 0);
      if (before) await record(before.check, before.createdAt, at, at);
    },
  };
}
