import type { KV } from "@nats-io/kv";
import type { AppliedState } from "./guardrails.js";

/** NATS KV bucket with what each hook last applied per check, and each check's last known state. */
export const HOOK_STATE_BUCKET = "probemesh_hook_state";

/** Last known global state of a check, as carried by the events. */
export interface KnownCheckState {
  state: string;
  /** Epoch ms of the transition. */
  at: number;
}

/** Bookkeeping the guardrails read; shared by replicas through NATS KV. */
export interface HookStateStore {
  applied(hookId: string, checkId: string): Promise<AppliedState | undefined>;
  recordApplied(hookId: string, checkId: string, state: AppliedState): Promise<void>;
  checkState(checkId: string): Promise<KnownCheckState | undefined>;
  /** Records a check's state unless a newer one is already stored. */
  recordCheckState(checkId: string, state: KnownCheckState): Promise<void>;
  /**
   * Takes the (hook, check) lease for `ttlMs` so that one action per hook and check runs at a time
   * across replicas; false when another owner holds an unexpired lease.
   */
  acquire(hookId: string, checkId: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease back if `owner` still holds it. */
  release(hookId: string, checkId: string, owner: string): Promise<void>;
}

interface Lease {
  owner: string;
  /** Epoch ms after which the lease is free (its holder is presumed dead). */
  until: number;
}

// Check ids may contain dots, which KV keys treat as separators; "=" never appears in them.
function token(checkId: string): string {
  return checkId.replaceAll(".", "=");
}

/** A {@link HookStateStore} on NATS KV: `<hookId>.<check>`, `_check.<check>` and `_lock.<hookId>.<check>` keys. */
export function createKvHookStateStore(kv: KV, now: () => number = Date.now): HookStateStore {
  async function read<T>(key: string): Promise<{ value: T; revision: number } | undefined> {
    const e = await kv.get(key);
    if (!e || e.operation !== "PUT") return undefined;
    return { value: e.json<T>(), revision: e.revision };
  }
  return {
    applied: async (hookId, checkId) => (await read<AppliedState>(`${hookId}.${token(checkId)}`))?.value,
    async recordApplied(hookId, checkId, state) {
      await kv.put(`${hookId}.${token(checkId)}`, JSON.stringify(state));
    },
    checkState: async (checkId) => (await read<KnownCheckState>(`_check.${token(checkId)}`))?.value,
    async recordCheckState(checkId, state) {
      const key = `_check.${token(checkId)}`;
      // Compare-and-set so that two replicas publishing out of order keep the newest state.
      for (let i = 0; i < 5; i++) {
        const cur = await read<KnownCheckState>(key);
        if (cur && cur.value.at > state.at) return;
        try {
          if (cur) await kv.update(key, JSON.stringify(state), cur.revision);
          else await kv.create(key, JSON.stringify(state));
          return;
        } catch (err) {
          if (!/wrong last sequence|key exists/i.test(String(err))) throw err;
        }
      }
    },
    async acquire(hookId, checkId, owner, ttlMs) {
      // No per-key TTL on NATS 2.9: the lease holds its own expiry and is taken by compare-and-set.
      const key = `_lock.${hookId}.${token(checkId)}`;
      const cur = await read<Lease>(key);
      const lease = JSON.stringify({ owner, until: now() + ttlMs } satisfies Lease);
      try {
        if (!cur) await kv.create(key, lease);
        else if (cur.value.owner === owner || cur.value.until < now()) await kv.update(key, lease, cur.revision);
        else return false;
        return true;
      } catch (err) {
        if (/wrong last sequence|key exists/i.test(String(err))) return false;
        throw err;
      }
    },
    async release(hookId, checkId, owner) {
      const key = `_lock.${hookId}.${token(checkId)}`;
      const cur = await read<Lease>(key);
      if (cur?.value.owner === owner) await kv.delete(key, { previousSeq: cur.revision }).catch(() => undefined);
    },
  };
}

/** An in-memory {@link HookStateStore}, for tests. */
export function createMemoryHookStateStore(): HookStateStore {
  const applied = new Map<string, AppliedState>();
  const checks = new Map<string, KnownCheckState>();
  const leases = new Map<string, Lease>();
  return {
    applied: async (h, c) => applied.get(`${h}.${c}`),
    recordApplied: async (h, c, s) => void applied.set(`${h}.${c}`, s),
    checkState: async (c) => checks.get(c),
    async recordCheckState(c, s) {
      const cur = checks.get(c);
      if (!cur || cur.at <= s.at) checks.set(c, s);
    },
    async acquire(h, c, owner, ttlMs) {
      const cur = leases.get(`${h}.${c}`);
      if (cur && cur.owner !== owner && cur.until >= Date.now()) return false;
      leases.set(`${h}.${c}`, { owner, until: Date.now() + ttlMs });
      return true;
    },
    async release(h, c, owner) {
      if (leases.get(`${h}.${c}`)?.owner === owner) leases.delete(`${h}.${c}`);
    },
  };
}
