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
}

// Check ids may contain dots, which KV keys treat as separators; "=" never appears in them.
function token(checkId: string): string {
  return checkId.replaceAll(".", "=");
}

/** A {@link HookStateStore} on NATS KV: `<hookId>.<check>` and `_check.<check>` keys. */
export function createKvHookStateStore(kv: KV): HookStateStore {
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
  };
}

/** An in-memory {@link HookStateStore}, for tests. */
export function createMemoryHookStateStore(): HookStateStore {
  const applied = new Map<string, AppliedState>();
  const checks = new Map<string, KnownCheckState>();
  return {
    applied: async (h, c) => applied.get(`${h}.${c}`),
    recordApplied: async (h, c, s) => void applied.set(`${h}.${c}`, s),
    checkState: async (c) => checks.get(c),
    async recordCheckState(c, s) {
      const cur = checks.get(c);
      if (!cur || cur.at <= s.at) checks.set(c, s);
    },
  };
}
