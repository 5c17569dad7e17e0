import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createControlPlaneReplicas, startingReplica } from "../control-plane-replicas.js";
import { startFakeControlPlane } from "../testing/fake-control-plane.js";
import { createCredentialsClient } from "./credentials-client.js";

const silent = pino({ level: "silent" });
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("credentials client over several replicas", () => {
  it("asks the current replica, and after an unreachable one the retry goes to the next", async () => {
    const gone = await startFakeControlPlane();
    gone.stop(); // its port now refuses connections
    const live = await startFakeControlPlane({
      natsCredentials: () => ({ creds: "CREDS", expiresAt: Date.now() + 60_000 }),
    });
    cleanups.push(live.stop);
    let agentId = "a0";
    for (let i = 1; startingReplica(agentId, 2) !== 0; i++) agentId = `a${i}`;
    const replicas = createControlPlaneReplicas({ addrs: [gone.addr, live.addr], agentId, log: silent });
    cleanups.push(() => replicas.close());
    const client = createCredentialsClient({
      replicas,
      token: "tok",
      agent: { id: agentId, region: "r", provider: "p", version: "1", capabilities: [] },
    });
    await expect(client.fetch()).rejects.toMatchObject({ code: 14 });
    expect(replicas.current()).toBe(live.addr);
    await expect(client.fetch()).resolves.toMatchObject({ creds: "CREDS" });
    expect(live.credentialRequests).toHaveLength(1);
  });
});
