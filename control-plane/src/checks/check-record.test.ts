import { describe, expect, it } from "vitest";
import { checkRunsIn, checkToJson, MASK, restoreMaskedSecrets } from "./check-record.js";
import { validateCheck } from "./validate-check.js";

const secretCheck = () =>
  validateCheck(
    {
      id: "api",
      type: "http",
      intervalMs: 1000,
      timeoutMs: 800,
      http: {
        url: "https://127.0.0.1/",
        method: "POST",
        headers: { Authorization: "Bearer s3cret", "X-Trace": "t" },
        body: '{"password":"hunter2"}',
        expectStatus: ["2xx"],
      },
    },
    { mode: "create" },
  );

describe("checkToJson", () => {
  it("gives the proto3 JSON form plus version, createdAt and updatedAt", () => {
    const check = validateCheck(
      { id: "db", type: "tcp", intervalMs: 5000, timeoutMs: 1000, tcp: { host: "127.0.0.1", port: 5432 } },
      { mode: "create" },
    );
    check.version = 3;
    expect(checkToJson({ check, createdAt: 1000, updatedAt: 2000, revision: 9 })).toEqual({
      id: "db",
      type: "tcp",
      intervalMs: 5000,
      timeoutMs: 1000,
      version: 3,
      failureThreshold: 2,
      recoveryThreshold: 2,
      quorum: "majority",
      tcp: { host: "127.0.0.1", port: 5432 },
      createdAt: 1000,
      updatedAt: 2000,
    });
  });

  it("masks header values, the request body and gRPC metadata, keeping the names", () => {
    const json = checkToJson({ check: secretCheck(), createdAt: 1, updatedAt: 1, revision: 1 });
    expect(json.http).toMatchObject({ headers: { Authorization: MASK, "X-Trace": MASK }, body: MASK });
    expect(JSON.stringify(json)).not.toMatch(/s3cret|hunter2/);
    const g = validateCheck(
      { id: "g", type: "grpc", grpc: { address: "h:1", metadata: { token: "abc" } } },
      { mode: "create" },
    );
    expect(checkToJson({ check: g, createdAt: 1, updatedAt: 1, revision: 1 }).grpc).toMatchObject({
      metadata: { token: MASK },
    });
  });

  it("masks every URL query value, keeping the names", () => {
    const c = validateCheck(
      { id: "q", type: "http", http: { url: "https://127.0.0.1/health?token=tok-1&region=eu" } },
      { mode: "create" },
    );
    const json = checkToJson({ check: c, createdAt: 1, updatedAt: 1, revision: 1 });
    expect(json.http).toMatchObject({ url: "https://127.0.0.1/health?token=***&region=***" });
    expect(JSON.stringify(json)).not.toContain("tok-1");
  });

  it("does not change the stored check", () => {
    const check = secretCheck();
    checkToJson({ check, createdAt: 1, updatedAt: 1, revision: 1 });
    expect(check.http?.headers.Authorization).toBe("Bearer s3cret");
  });
});

describe("restoreMaskedSecrets", () => {
  it("puts back masked values from the previous version and keeps new ones", () => {
    const previous = secretCheck();
    const next = validateCheck(
      {
        id: "api",
        type: "http",
        http: {
          url: "https://127.0.0.1/",
          headers: { authorization: MASK, "X-Trace": "new", "X-New": MASK },
          body: MASK,
        },
      },
      { mode: "create" },
    );
    const restored = restoreMaskedSecrets(next, previous);
    expect(restored.http?.headers).toEqual({ authorization: "Bearer s3cret", "X-Trace": "new", "X-New": MASK });
    expect(restored.http?.body).toBe('{"password":"hunter2"}');
  });

  it("puts back URL query values sent masked", () => {
    const make = (url: string) => validateCheck({ id: "q", type: "http", http: { url } }, { mode: "create" });
    const restored = restoreMaskedSecrets(make("https://h/?token=***&v=3"), make("https://h/?token=tok-1&v=2"));
    expect(restored.http?.url).toBe("https://h/?token=tok-1&v=3");
  });
});

describe("checkRunsIn", () => {
  it("runs everywhere without regions, else only in the listed ones", () => {
    const c = secretCheck();
    expect(checkRunsIn(c, "eu-west")).toBe(true);
    c.regions = ["us-east"];
    expect(checkRunsIn(c, "eu-west")).toBe(false);
    expect(checkRunsIn(c, "us-east")).toBe(true);
  });
});
