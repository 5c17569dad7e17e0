import { compileUserRegex, type UserRegex } from "@probemesh/proto/regex";
import type { Failure } from "./outcome.js";

/** Compiles a check's regexes once per check version and hands back the compiled regex or the failure to report. */
export interface UserRegexes {
  /**
   * `owner` is the check's options message (e.g. `check.http`): a new check version arrives as a
   * new message, so its patterns compile afresh and the old ones go with the old message.
   * `what` names the field in the failure (`bodyRegex`, `headerMatch regex for x-build`).
   */
  get(owner: object, pattern: string, what: string): UserRegex | Failure;
}

/** Most characters of the engine's reason kept in a failure message (it may quote the pattern). */
const MAX_REASON = 200;

/**
 * A prober's cache of compiled user regexes. Compiling costs 0.02–1 ms with RE2 (agent/PROBES.md),
 * more than most matches, so it is paid once per check version, not once per run.
 */
export function createUserRegexes(): UserRegexes {
  const byOwner = new WeakMap<object, Map<string, UserRegex | Failure>>();
  return {
    get(owner, pattern, what) {
      let compiled = byOwner.get(owner);
      if (!compiled) {
        compiled = new Map();
        byOwner.set(owner, compiled);
      }
      const key = `${what}\u0000${pattern}`;
      let entry = compiled.get(key);
      if (!entry) {
        const r = compileUserRegex(pattern);
        entry = r.ok
          ? r.regex
          : {
              reason: "internal",
              message: `invalid check: ${what} ${JSON.stringify(cut(pattern, 60))} ${cut(r.error, MAX_REASON)}`,
            };
        compiled.set(key, entry);
      }
      return entry;
    },
  };
}

/** True when `get` answered a failure rather than a regex. */
export const isRegexFailure = (v: UserRegex | Failure): v is Failure => "reason" in v;

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
