// The shared harness itself: private nats-server and clickhouse-server processes start, answer, stop,
// restart with their data, and clean up.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { startClickHouse, startNats, startSecureNats } from "./harness/index.js";

describe("test harness", () => {
  it("starts a private clickhouse-server that answers, keeps data across restart and cleans up", async () => {
    const ch = await startClickHouse();
    try {
      expect(ch.url).toBe(`http://127.0.0.1:${ch.httpPort}`);
      expect(ch.tcpPort).not.toBe(ch.httpPort);
      expect((await ch.query("SELECT version()")).trim()).toMatch(/^\d+\.\d+/);
      await ch.query("CREATE DATABASE IF NOT EXISTS h");
      await ch.query("CREATE TABLE IF NOT EXISTS h.t (x UInt64) ENGINE = MergeTree ORDER BY x");
      await ch.query("INSERT INTO h.t VALUES (1), (2)");
      await expect(ch.query("SELECT nope FROM h.t")).rejects.toThrow(/ClickHouse 4\d\d|ClickHouse 5\d\d/);

      await ch.stop();
      expect(ch.proc.exited()).toBe(true);
      await expect(fetch(`${ch.url}/ping`)).rejects.toThrow();

      await ch.restart();
      expect(await ch.rows<{ x: string }>("SELECT x FROM h.t ORDER BY x")).toEqual([{ x: "1" }, { x: "2" }]);
    } finally {
      await ch.dispose();
    }
    expect(ch.proc.exited()).toBe(true);
    expect(existsSync(ch.dir)).toBe(false);
  });

  it("starts a private nats-server with JetStream that stops and restarts", async () => {
    const nats = await startNats();
    try {
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      expect((await jsm.getAccountInfo()).streams).toBe(0);
      await nc.close();
      await nats.stop();
      expect(nats.proc.exited()).toBe(true);
      await nats.restart();
      const nc2 = await connect({ servers: nats.url });
      await nc2.flush();
      await nc2.close();
    } finally {
      await nats.dispose();
    }
  });

  it("runs two clickhouse servers side by side on different ports", async () => {
    const [a, b] = await Promise.all([startClickHouse(), startClickHouse()]);
    try {
      expect(a.httpPort).not.toBe(b.httpPort);
      await a.query("CREATE DATABASE only_a");
      expect(await b.rows("SELECT name FROM system.databases WHERE name = 'only_a'")).toEqual([]);
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });

  it("gives each secure nats-server its own copy of the run's trust material, paths pointing into it", async () => {
    const [a, b] = await Promise.all([startSecureNats(), startSecureNats()]);
    try {
      expect(a.dir).not.toBe(b.dir);
      for (const s of [a, b]) {
        for (const file of ["control-plane.env", join("nats", "nats-server.conf")]) {
          const text = readFileSync(join(s.dir, file), "utf8");
          expect(text).toContain(s.dir);
          expect(text).not.toContain((s === a ? b : a).dir);
        }
        expect(s.env.PROBEMESH_CA_FILE).toBe(s.caFile);
        const nc = await s.connect();
        await nc.flush();
        await nc.close();
      }
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });
});
