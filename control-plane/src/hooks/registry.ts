import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import {
  assertRevision,
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  UnavailableError,
  type WriteCondition,
} from "../errors.js";
import { openHook, sealHook } from "../trust/hook-secrets.js";
import { SecretBoxError, type SecretBox } from "../trust/secret-box.js";
import type { Hook, HookRecord } from "./types.js";

/** NATS KV bucket holding the hooks (their secrets sealed with PROBEMESH_SECRET_KEY). */
export const HOOKS_BUCKET = "probemesh_hooks";

/** Where hooks live. Shared by every control-plane replica through NATS KV; a memory fake fits for tests. */
export interface HookRegistry {
  /** Stores a new hook; ConflictError when the id exists. */
  create(hook: Hook): Promise<HookRecord>;
  /** The hook; SecretBoxError when its secrets need a key PROBEMESH_SECRET_KEY does not hold. */
  get(id: string): Promise<HookRecord | undefined>;
  /** Every readable hook, sorted by id (unreadable ones are logged and left out). */
  list(): Promise<HookRecord[]>;
  /** Replaces a hook (and re-enables it); NotFoundError when absent, PreconditionFailedError when `cond` names another revision. */
  replace(hook: Hook, cond?: WriteCondition): Promise<HookRecord>;
  /** Deletes a hook; false when it did not exist. PreconditionFailedError when `cond` names another revision. */
  delete(id: string, cond?: WriteCondition): Promise<boolean>;
  /** Marks a hook disabled (e.g. its receiver answered 410 Gone); deliveries to it stop until a PUT. */
  disable(id: string, reason: string): Promise<void>;
  /**
   * Writes again every hook whose secrets are stored in clear or under an older key, sealed with the
   * current key (the rotation path); returns how many were rewritten and how many could not be read.
   */
  reseal?(): Promise<{ resealed: number; unreadable: number }>;
}

interface Stored {
  hook: Hook;
  createdAt: number;
  updatedAt: number;
  disabled?: { at: number; reason: string };
}

function decode(text: string, revision: number, box: SecretBox): HookRecord & { stale: boolean } {
  const s = JSON.parse(text) as Stored;
  if (typeof s !== "object" || s === null || typeof s.hook !== "object" || typeof s.hook.id !== "string")
    throw new Error("stored hook entry is malformed");
  const { hook, stale } = openHook(s.hook, box);
  return {
    hook,
    stale,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    ...(s.disabled ? { disabled: s.disabled } : {}),
    revision,
  };
}

// The only place a hook is written: its secrets never reach KV in clear.
function encode(r: Omit<HookRecord, "revision">, box: SecretBox): string {
  const s: Stored = {
    hook: sealHook(r.hook, box),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.disabled ? { disabled: r.disabled } : {}),
  };
  return JSON.stringify(s);
}

function unavailable(err: unknown): never {
  if (err instanceof ConflictError || err instanceof NotFoundError || err instanceof PreconditionFailedError) throw err;
  throw new UnavailableError(`hook registry (NATS KV) failed: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

/** A {@link HookRegistry} on the NATS KV bucket {@link HOOKS_BUCKET} (hook ids are valid keys as they are). */
export function createKvHookRegistry({
  kv,
  log,
  secrets,
  now = Date.now,
}: {
  kv: KV;
  log: Logger;
  /** Seals hook secrets before they are written and opens them after they are read. */
  secrets: SecretBox;
  now?: () => number;
}): HookRegistry {
  const rlog = log.child({ component: "hook-registry" });
  async function read(id: string): Promise<(HookRecord & { stale: boolean }) | undefined> {
    const e = await kv.get(id).catch(unavailable);
    if (!e || e.operation !== "PUT") return undefined;
    try {
      return decode(e.string(), e.revision, secrets);
    } catch (err) {
      if (err instanceof SecretBoxError) throw err;
      rlog.error({ err, hookId: id }, "skipping malformed hook entry");
      return undefined;
    }
  }
  async function get(id: string): Promise<HookRecord | undefined> {
    const r = await read(id);
    if (!r) return undefined;
    const { stale: _stale, ...record } = r;
    return record;
  }
  async function keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await kv.keys().catch(unavailable)) out.push(k);
    return out;
  }
  async function update(
    id: string,
    change: (r: HookRecord) => Omit<HookRecord, "revision">,
    cond?: WriteCondition,
  ): Promise<HookRecord> {
    const current = await get(id);
    if (!current) throw new NotFoundError("hook", id);
    assertRevision("hook", id, current.revision, cond);
    const next = change(current);
    try {
      const revision = await kv.update(id, encode(next, secrets), current.revision);
      return { ...next, revision };
    } catch (err) {
      // Compare-and-set lost: with If-Match, the other writer won (412); without, a plain conflict.
      if (/wrong last sequence/i.test(String(err)) && cond?.ifRevision !== undefined)
        throw new PreconditionFailedError("hook", id, undefined);
      if (/wrong last sequence/i.test(String(err)))
        throw new ConflictError(`hook ${JSON.stringify(id)} changed concurrently; retry`);
      return unavailable(err);
    }
  }
  return {
    async create(hook) {
      const t = now();
      const rec = { hook, createdAt: t, updatedAt: t };
      try {
        const revision = await kv.create(hook.id, encode(rec, secrets));
        rlog.info({ hookId: hook.id, type: hook.type }, "hook created");
        return { ...rec, revision };
      } catch (err) {
        if (/wrong last sequence|key exists/i.test(String(err)))
          throw new ConflictError(`hook ${JSON.stringify(hook.id)} already exists`, { id: hook.id });
        return unavailable(err);
      }
    },
    get,
    async list() {
      const records = await Promise.all(
        (await keys()).map((k) =>
          get(k).catch((err: unknown) => {
            if (!(err instanceof SecretBoxError)) throw err;
            rlog.error({ err: err.message, hookId: k }, "hook left out: its secrets are unreadable");
            return undefined;
          }),
        ),
      );
      return records.filter((r): r is HookRecord => r !== undefined).sort((a, b) => (a.hook.id < b.hook.id ? -1 : 1));
    },
    async replace(hook, cond) {
      const rec = await update(hook.id, (r) => ({ hook, createdAt: r.createdAt, updatedAt: now() }), cond);
      rlog.info({ hookId: hook.id, type: hook.type }, "hook replaced");
      return rec;
    },
    async delete(id, cond) {
      const current = await get(id);
      if (!current) return false;
      assertRevision("hook", id, current.revision, cond);
      await kv
        .delete(id, cond?.ifRevision !== undefined ? { previousSeq: current.revision } : undefined)
        .catch((err: unknown) => {
          if (/wrong last sequence/i.test(String(err))) throw new PreconditionFailedError("hook", id, undefined);
          return unavailable(err);
        });
      rlog.info({ hookId: id }, "hook deleted");
      return true;
    },
    async disable(id, reason) {
      await update(id, (r) => ({
        hook: r.hook,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        disabled: { at: now(), reason },
      }));
      rlog.warn({ hookId: id, reason }, "hook disabled");
    },
    async reseal() {
      let resealed = 0;
      let unreadable = 0;
      if (!secrets.sealing) return { resealed, unreadable };
      for (const id of await keys()) {
        const r = await read(id).catch((err: unknown) => {
          if (!(err instanceof SecretBoxError)) throw err;
          rlog.error({ err: err.message, hookId: id }, "hook secrets unreadable; not sealed again");
          return undefined;
        });
        if (!r) {
          unreadable++;
          continue;
        }
        if (!r.stale) continue;
        const { stale: _stale, revision, ...rec } = r;
        // Compare-and-set: a concurrent write wins, and it is sealed by its own writer.
        await kv.update(id, encode(rec, secrets), revision).then(
          () => resealed++,
          (err: unknown) => {
            if (!/wrong last sequence/i.test(String(err)))
              rlog.warn({ err: String(err), hookId: id }, "could not seal a hook's secrets again");
          },
        );
      }
      rlog.info(
        { resealed, unreadable, keyId: secrets.currentKeyId },
        "sealed stored hook secrets with the current key",
      );
      return { resealed, unreadable };
    },
  };
}

/** An in-memory {@link HookRegistry}, for tests and single-process use. */
export function createMemoryHookRegistry({ now = Date.now }: { now?: () => number } = {}): HookRegistry {
  const hooks = new Map<string, HookRecord>();
  let revision = 0;
  return {
    async create(hook) {
      if (hooks.has(hook.id))
        throw new ConflictError(`hook ${JSON.stringify(hook.id)} already exists`, { id: hook.id });
      const t = now();
      const rec = { hook, createdAt: t, updatedAt: t, revision: ++revision };
      hooks.set(hook.id, rec);
      return rec;
    },
    get: async (id) => hooks.get(id),
    list: async () => [...hooks.values()].sort((a, b) => (a.hook.id < b.hook.id ? -1 : 1)),
    async replace(hook, cond) {
      const cur = hooks.get(hook.id);
      if (!cur) throw new NotFoundError("hook", hook.id);
      assertRevision("hook", hook.id, cur.revision, cond);
      const rec = { hook, createdAt: cur.createdAt, updatedAt: now(), revision: ++revision };
      hooks.set(hook.id, rec);
      return rec;
    },
    async delete(id, cond) {
      const cur = hooks.get(id);
      if (cur) assertRevision("hook", id, cur.revision, cond);
      return hooks.delete(id);
    },
    async disable(id, reason) {
      const cur = hooks.get(id);
      if (!cur) throw new NotFoundError("hook", id);
      hooks.set(id, { ...cur, disabled: { at: now(), reason }, revision: ++revision });
    },
  };
}
