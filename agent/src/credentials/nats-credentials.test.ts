import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Clock } from "../schedule/clock.js";
import { createNatsCredentials, credsExpiry, type IssuedCredentials } from "./nats-credentials.js";

const log = pino({ level: "silent" });

/** A `.creds` text whose JWT expires at `expMs` (only the payload matters to the agent). */
function creds(expMs: number, tag = "x"): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const jwt = `${b64({ typ: "JWT" })}.${b64({ exp: Math.floor(expMs / 1000), name: tag })}.sig`;
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSU${tag}\n------END USER NKEY SEED------\n`;
}

/** A manual clock: timers fire only when the test advances time. */
function manualClock(start: number) {
  let now = start;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 0;
  const clock: Clock = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout(handle) {
      timers = timers.filter((t) => t.id !== handle);
    },
  };
  return {
    clock,
    async advance(ms: number) {
      now += ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        due.fn();
        await new Promise((r) => setImmediate(r));
      }
    },
    pending: () => timers.map((t) => t.at - now),
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "probemesh-creds-"));
  dirs.push(d);
  return d;
}

describe("createNatsCredentials", () => {
  const T0 = 1_800_000_000_000;

  it("fetches at start, writes the file 0600, renews at 2/3 of the lifetime and tells the connection", async () => {
    const dir = stateDir();
    const file = join(dir, "nats.creds");
    const { clock, advance, pending } = manualClock(T0);
    const answers: IssuedCredentials[] = [
      { creds: creds(T0 + 900_000, "one"), expiresAt: T0 + 900_000 },
      { creds: creds(T0 + 1_500_000, "two"), expiresAt: T0 + 1_500_000 },
    ];
    let fetches = 0;
    let renewed = 0;
    const c = createNatsCredentials({
      fetch: () => Promise.resolve(answers[fetches++]),
      file,
      log,
      clock,
      onRenewed: () => renewed++,
    });
    c.start();
    const first = c.firstAttempt(1000);
    await advance(0);
    await first;
    expect(fetches).toBe(1);
    expect(readFileSync(file, "utf8")).toBe(answers[0]?.creds);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(c.current() ?? []).toString()).toBe(answers[0]?.creds);
    expect(pending()).toEqual([600_000]);

    await advance(599_999);
    expect(fetches).toBe(1);
    await advance(1);
    expect(fetches).toBe(2);
    expect(renewed).toBe(2);
    expect(readFileSync(file, "utf8")).toBe(answers[1]?.creds);
    c.stop();
  });

  it("retries a failed fetch with backoff and keeps the file's unexpired credentials meanwhile", async () => {
    const dir = stateDir();
    const file = join(dir, "nats.creds");
    const kept = creds(T0 + 60_000, "kept");
    writeFileSync(file, kept, { mode: 0o600 });
    const { clock, advance } = manualClock(T0);
    let fetches = 0;
    const c = createNatsCredentials({
      fetch: () => {
        fetches++;
        return Promise.reject(new Error("control plane unavailable"));
      },
      file,
      log,
      clock,
      backoff: { initialMs: 1000, maxMs: 1000, jitter: "none" },
    });
    c.start();
    await advance(0);
    expect(Buffer.from(c.current() ?? []).toString()).toBe(kept);
    await advance(1000);
    await advance(1000);
    expect(fetches).toBe(3);
    // Once they expire, there is nothing left to connect with (no fallback configured).
    await advance(60_000);
    expect(c.current()).toBeUndefined();
    c.stop();
  });

  it("uses PROBEMESH_NATS_CREDS when the control plane issues none, and asks again later", async () => {
    const dir = stateDir();
    const fallbackFile = join(dir, "own.creds");
    writeFileSync(fallbackFile, "own creds");
    const { clock, advance } = manualClock(T0);
    let fetches = 0;
    const c = createNatsCredentials({
      fetch: () => {
        fetches++;
        return Promise.resolve(undefined);
      },
      file: join(dir, "nats.creds"),
      fallbackFile,
      log,
      clock,
      recheckMs: 5000,
    });
    c.start();
    await advance(0);
    expect(Buffer.from(c.current() ?? []).toString()).toBe("own creds");
    await advance(5000);
    expect(fetches).toBe(2);
    c.stop();
  });

  it("ignores expired credentials in the state dir", () => {
    const dir = stateDir();
    writeFileSync(join(dir, "nats.creds"), creds(T0 - 1));
    const { clock } = manualClock(T0);
    const c = createNatsCredentials({ fetch: () => new Promise(() => {}), file: join(dir, "nats.creds"), log, clock });
    c.start();
    expect(c.current()).toBeUndefined();
    c.stop();
  });

  it("reads the expiry of a .creds file", () => {
    expect(credsExpiry(creds(T0))).toBe(T0);
    expect(credsExpiry("garbage")).toBeUndefined();
  });
});
