import { toJsonString } from "@bufbuild/protobuf";
import { CheckSchema } from "@probemesh/proto";
import { describe, expect, it } from "vitest";
import { validateCheck } from "../checks/validate-check.js";
import type { Hook } from "../hooks/types.js";
import { openCheck, sealCheck } from "./check-secrets.js";
import { openHook, sealHook } from "./hook-secrets.js";
import { createSecretBox, generateKeySpec, parseKeyRing, SecretBoxError } from "./secret-box.js";

const box = createSecretBox(parseKeyRing(generateKeySpec("k1")).ring);

describe("check secrets", () => {
  it("seals header values, the body, gRPC metadata and URL query values; opens them back", () => {
    const http = validateCheck(
      {
        id: "api",
        type: "http",
        http: {
          url: "https://h/health?token=q-secret&v=2",
          headers: { Authorization: "Bearer h-secret" },
          body: "b-secret",
        },
      },
      { mode: "create" },
    );
    const sealed = sealCheck(http, box);
    const text = toJsonString(CheckSchema, sealed);
    expect(text).not.toMatch(/q-secret|h-secret|b-secret/);
    expect(sealed.http?.url).toMatch(/^https:\/\/h\/health\?token=pmenc:v1:k1:[\w-]+&v=pmenc:v1:k1:/);
    expect(http.http?.headers.Authorization).toBe("Bearer h-secret");
    const opened = openCheck(sealed, box);
    expect(opened.stale).toBe(false);
    expect(opened.check).toEqual(http);

    const grpc = validateCheck(
      { id: "g", type: "grpc", grpc: { address: "h:1", metadata: { token: "m-secret" } } },
      { mode: "create" },
    );
    const g = sealCheck(grpc, box);
    expect(g.grpc?.metadata.token).toMatch(/^pmenc:v1:k1:/);
    expect(openCheck(g, box).check.grpc?.metadata.token).toBe("m-secret");
  });

  it("a sealed value moved to another check does not open", () => {
    const a = validateCheck(
      { id: "a", type: "grpc", grpc: { address: "h:1", metadata: { t: "x" } } },
      { mode: "create" },
    );
    const b = validateCheck(
      { id: "b", type: "grpc", grpc: { address: "h:1", metadata: { t: "y" } } },
      { mode: "create" },
    );
    const forged = sealCheck(b, box);
    forged.grpc!.metadata.t = sealCheck(a, box).grpc!.metadata.t!;
    expect(() => openCheck(forged, box)).toThrow(SecretBoxError);
  });
});

describe("hook secrets", () => {
  const hook: Hook = {
    id: "pd",
    type: "pagerduty",
    url: "https://events.example/v2?auth=u-secret",
    secret: "whsec_s-secret",
    previousSecrets: ["whsec_old-secret"],
    events: ["outage.opened"],
    checks: [],
    cooldownMs: 0,
    minHoldMs: 0,
    dryRun: false,
    timeoutMs: 1000,
    deadlineMs: 1000,
    pagerduty: { routingKey: "r-secret", severity: "critical", source: "probemesh" },
    rfc2136: {
      zone: "z.",
      name: "w.z.",
      recordType: "A",
      ttl: 60,
      primary: [],
      standby: [],
      verifyServer: "h:53",
      server: "h:53",
      tsig: { name: "k", algorithm: "hmac-sha256", secret: "t-secret" },
    },
    powerdns: {
      zone: "z.",
      name: "w.z.",
      recordType: "A",
      ttl: 60,
      primary: [],
      standby: [],
      verifyServer: "h:53",
      apiKey: "p-secret",
      serverId: "localhost",
    },
  };

  it("seals every credential field and opens them back", () => {
    const sealed = sealHook(hook, box);
    expect(JSON.stringify(sealed)).not.toMatch(/-secret/);
    const opened = openHook(sealed, box);
    expect(opened).toEqual({ hook, stale: false });
    expect(openHook(hook, box).stale).toBe(true);
  });
});
