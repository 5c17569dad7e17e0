// Agent identity and API scopes through the built programs on real NATS and ClickHouse: agents are
// enrolled and authenticate with their own token; a wrong token, or a region other than the
// enrollment's, is refused with a clear error in the agent's log; revoking an agent closes its
// assignment stream; every route of /openapi.json enforces its scope over HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import {
  API_TOKEN,
  enrollAgent,
  startAgent,
  startControlPlane,
  startEnrolledAgent,
  UNENROLLED_AGENT_TOKEN,
  waitFor,
  type Agent,
  type ControlPlane,
} from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";

interface AgentJson {
  id: string;
  region: string;
  connected: boolean;
  revokedAt: number | null;
}

const LEGACY_SHARED_TOKEN = "legacy-shared-agent-token";

describe("trust: agent identity and API scopes, built programs", () => {
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let cp: ControlPlane;
  const agents: Agent[] = [];

  const agentJson = async (id: string) => (await (await cp.request(`/v1/agents/${id}`)).json()) as AgentJson;
  const diagnostics = () =>
    [cp, ...agents].map((p) => `--- ${p.proc.name} ---\n${p.proc.output().slice(-3000)}`).join("\n");
  const within = async <T>(
    what: string,
    fn: () => Promise<T | undefined | false> | T | undefined | false,
    ms = 30_000,
  ) =>
    await waitFor(what, fn, ms, 200).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${diagnostics()}`);
    });

  beforeAll(async () => {
    [nats, ch] = await Promise.all([startNats(), startClickHouse()]);
    cp = await startControlPlane({
      natsUrl: nats.url,
      clickhouseUrl: ch.url,
      env: { PROBEMESH_PUBLIC_STATUS: "true", PROBEMESH_AGENT_TOKEN: LEGACY_SHARED_TOKEN },
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.dispose()));
    await cp?.stop();
    await Promise.all([nats?.dispose(), ch?.dispose()]);
  });

  it("ignores a shared PROBEMESH_AGENT_TOKEN with one warning, and never logs it", () => {
    const out = cp.proc.output();
    expect(out.match(/PROBEMESH_AGENT_TOKEN is set but ignored/g)).toHaveLength(1);
    expect(out).not.toContain(LEGACY_SHARED_TOKEN);
  });

  it("an enrolled agent connects; one with a wrong token is refused and never listed", async () => {
    const good = await startEnrolledAgent(cp, {
      id: "agent-good",
      region: "eu-west",
      grpcAddr: cp.grpcAddr,
      natsUrl: nats.url,
    });
    agents.push(good);
    const bad = startAgent({
      id: "agent-bad",
      region: "eu-west",
      token: UNENROLLED_AGENT_TOKEN,
      grpcAddr: cp.grpcAddr,
      natsUrl: nats.url,
    });
    agents.push(bad);
    await within("agent-good connected", async () => (await agentJson("agent-good")).connected);
    await within("agent-bad refused", () => bad.proc.output().includes("control plane refused this agent's token"));
    await within("the refusal logged by the control plane", () =>
      cp.proc.output().includes("agent call rejected: missing, unknown or revoked agent token"),
    );
    const listed = (await (await cp.request("/v1/agents")).json()) as AgentJson[];
    expect(listed.map((a) => a.id)).toEqual(["agent-good"]);
    expect(cp.proc.output()).not.toContain(UNENROLLED_AGENT_TOKEN);
  }, 90_000);

  it("refuses an agent claiming a region other than its enrollment's, saying so in the agent's log", async () => {
    const token = await enrollAgent(cp, { id: "agent-claims", region: "eu-west" });
    const liar = startAgent({ id: "agent-claims", region: "us-east", token, grpcAddr: cp.grpcAddr, natsUrl: nats.url });
    agents.push(liar);
    const line = await within("the agent's refusal line", () =>
      liar.proc
        .output()
        .split("\n")
        .find((l) => l.includes("control plane refused this agent:")),
    );
    expect(line).toContain("agent token is enrolled as id");
    expect(line).toMatch(/in region \\"eu-west\\"/);
    expect(line).toMatch(/claims id \\"agent-claims\\" in region \\"us-east\\"/);
    expect(line).not.toContain(token);
    expect(cp.proc.output()).toContain("agent call rejected: AgentInfo differs from the enrollment");
    expect(cp.proc.output()).not.toContain(token);
    expect((await agentJson("agent-claims")).connected).toBe(false);
  }, 90_000);

  it("revoking an agent closes its assignment stream and keeps it out", async () => {
    const agent = await startEnrolledAgent(cp, {
      id: "agent-revoked",
      region: "us-east",
      grpcAddr: cp.grpcAddr,
      natsUrl: nats.url,
    });
    agents.push(agent);
    await within("agent-revoked connected", async () => (await agentJson("agent-revoked")).connected);
    expect((await cp.request("/v1/agents/agent-revoked", { method: "DELETE" })).status).toBe(204);
    await within("the agent told its stream ended", () =>
      agent.proc.output().includes("control plane refused this agent: agent revoked"),
    );
    await within("the control plane closed the stream", () =>
      /agent stream closed[^\n]*agent revoked|agent revoked[^\n]*agent stream closed/.test(cp.proc.output()),
    );
    // Its reconnects are refused: it stays disconnected and revoked.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await agentJson("agent-revoked")).toMatchObject({ connected: false, revokedAt: expect.any(Number) });
    expect(
      (
        await cp.request("/v1/agents", {
          method: "POST",
          body: JSON.stringify({ id: "agent-revoked", region: "us-east" }),
        })
      ).status,
    ).toBe(409);
  }, 90_000);

  it("every operation of /openapi.json enforces its scope over HTTP", async () => {
    const make = async (scopes: string[]) => {
      const res = await cp.request("/v1/tokens", {
        method: "POST",
        body: JSON.stringify({ name: scopes.join("+"), scopes }),
      });
      expect(res.status).toBe(201);
      return (await res.json()) as { id: string; token: string };
    };
    const tokens = {
      read: (await make(["read"])).token,
      write: (await make(["write"])).token,
      admin: (await make(["admin"])).token,
    };
    const revoked = await make(["admin"]);
    expect((await cp.request(`/v1/tokens/${revoked.id}`, { method: "DELETE" })).status).toBe(204);
    // Below each scope, the strongest token that lacks it (every token holds "read").
    const lacking: Record<string, string | undefined> = { read: undefined, write: tokens.read, admin: tokens.write };

    const doc = (await (await fetch(`${cp.api}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown[]; "x-probemesh-scope"?: "read" | "write" | "admin" }>>;
    };
    let walked = 0;
    const open: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const name = `${method.toUpperCase()} ${path}`;
        const url = `${cp.api}${path.replace(/\{[^}]+\}/g, "x1")}`;
        const call = async (token?: string) =>
          (
            await fetch(url, {
              method: method.toUpperCase(),
              headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
              ...(method === "get" || method === "delete" ? {} : { body: "{}" }),
            })
          ).status;
        const scope = op["x-probemesh-scope"];
        if (!scope) {
          expect(op.security, name).toEqual([]);
          open.push(name);
          expect(await call(), name).toBe(200);
          continue;
        }
        expect(await call(), `${name} without a token`).toBe(401);
        expect(await call(revoked.token), `${name} with a revoked token`).toBe(401);
        const weaker = lacking[scope];
        if (weaker) expect(await call(weaker), `${name} without "${scope}"`).toBe(403);
        for (const token of [tokens[scope], API_TOKEN])
          expect([401, 403], `${name} with "${scope}"`).not.toContain(await call(token));
        walked++;
      }
    }
    expect(open.sort()).toEqual(["GET /healthz", "GET /openapi.json", "GET /readyz", "GET /v1/public/status"]);
    expect(walked).toBeGreaterThan(25);
  }, 120_000);
});
