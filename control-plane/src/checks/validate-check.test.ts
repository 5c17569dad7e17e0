import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { validateCheck } from "./validate-check.js";

const web = {
  id: "web",
  type: "http",
  intervalMs: 1000,
  timeoutMs: 800,
  regions: ["eu-west", "us-east"],
  http: { url: "http://127.0.0.1:8081/", method: "GET", expectStatus: [200] },
};
const db = { id: "db", type: "tcp", intervalMs: 5000, timeoutMs: 1000, tcp: { host: "127.0.0.1", port: 5432 } };

/** The ValidationError thrown for `json`, or a failure when it is accepted. */
function problemsOf(json: unknown, mode: "create" | "replace" = "create", id?: string) {
  try {
    validateCheck(json, { mode, id });
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    const e = err as ValidationError;
    expect(e.code).toBe("invalid_argument");
    return {
      field: e.details?.field as string,
      problems: e.details?.problems as { field: string; message: string }[],
      message: e.message,
    };
  }
  throw new Error(`expected ${JSON.stringify(json)} to be rejected`);
}

function fields(json: unknown): string[] {
  return problemsOf(json).problems.map((p) => p.field);
}

describe("validateCheck: the issue's examples", () => {
  it("accepts the http example and normalises expectStatus to strings", () => {
    const c = validateCheck(web, { mode: "create" });
    expect(c.id).toBe("web");
    expect(c.type).toBe("http");
    expect(c.intervalMs).toBe(1000);
    expect(c.timeoutMs).toBe(800);
    expect(c.regions).toEqual(["eu-west", "us-east"]);
    expect(c.http?.url).toBe("http://127.0.0.1:8081/");
    expect(c.http?.method).toBe("GET");
    expect(c.http?.expectStatus).toEqual(["200"]);
    expect(c.tcp).toBeUndefined();
  });

  it("accepts the tcp example; omitted regions means every region", () => {
    const c = validateCheck(db, { mode: "create" });
    expect(c.tcp).toMatchObject({ host: "127.0.0.1", port: 5432 });
    expect(c.regions).toEqual([]);
  });
});

describe("validateCheck: defaults", () => {
  it("fills interval 60000, timeout 10000, thresholds 2, quorum majority, method GET", () => {
    const c = validateCheck({ id: "a", type: "http", http: { url: "https://example.com" } }, { mode: "create" });
    expect(c.intervalMs).toBe(60_000);
    expect(c.timeoutMs).toBe(10_000);
    expect(c.failureThreshold).toBe(2);
    expect(c.recoveryThreshold).toBe(2);
    expect(c.quorum).toBe("majority");
    expect(c.http?.method).toBe("GET");
  });

  it("defaults the timeout to the interval when the interval is shorter than 10 s", () => {
    const c = validateCheck({ ...db, timeoutMs: undefined, intervalMs: 2000 }, { mode: "create" });
    expect(c.timeoutMs).toBe(2000);
  });

  it("ignores the read-only version, createdAt and updatedAt (a GET body can be PUT back)", () => {
    const c = validateCheck({ ...db, version: 7, createdAt: 1, updatedAt: 2 }, { mode: "create" });
    expect(c.version).toBe(0);
  });
});

describe("validateCheck: id", () => {
  it.each(["web", "a", "0", "a.b-c_d", "a".repeat(63)])("accepts %s", (id) => {
    expect(validateCheck({ ...db, id }, { mode: "create" }).id).toBe(id);
  });
  it.each(["", "Web", "-a", ".a", "_a", "a b", "a/b", "a".repeat(64), "é"])("rejects %j", (id) => {
    expect(problemsOf({ ...db, id }).field).toBe("id");
  });
  it("rejects a non-string id", () => {
    expect(problemsOf({ ...db, id: 5 }).problems[0]?.message).toMatch(/must be a string/);
  });
  it("requires an id on create", () => {
    const { id: _id, ...rest } = db;
    expect(problemsOf(rest).field).toBe("id");
  });
  it("takes the id from the path on replace and rejects a different body id", () => {
    const { id: _id, ...rest } = db;
    expect(validateCheck(rest, { mode: "replace", id: "db" }).id).toBe("db");
    expect(validateCheck(db, { mode: "replace", id: "db" }).id).toBe("db");
    expect(problemsOf(db, "replace", "other").field).toBe("id");
    expect(problemsOf(rest, "replace", "BAD").field).toBe("id");
  });
});

describe("validateCheck: type and options objects", () => {
  it("rejects an unknown type", () => {
    expect(problemsOf({ ...db, type: "ftp" }).field).toBe("type");
  });
  it("requires a type", () => {
    const { type: _t, ...rest } = db;
    expect(fields(rest)).toContain("type");
  });
  it("requires the matching options object", () => {
    expect(problemsOf({ id: "x", type: "http" }).field).toBe("http");
  });
  it("rejects options of another type", () => {
    expect(fields({ ...db, http: { url: "http://x/" } })).toEqual(["http"]);
  });
  it("rejects an options object that is not an object", () => {
    expect(problemsOf({ ...db, tcp: "127.0.0.1:80" }).problems[0]?.message).toMatch(/must be an object/);
  });
});

describe("validateCheck: intervalMs and timeoutMs", () => {
  it.each([1000, 86_400_000])("accepts interval %d", (intervalMs) => {
    expect(validateCheck({ ...db, intervalMs }, { mode: "create" }).intervalMs).toBe(intervalMs);
  });
  it.each([999, 86_400_001, 0, -1, 1000.5])("rejects interval %d", (intervalMs) => {
    expect(fields({ ...db, intervalMs })).toContain("intervalMs");
  });
  it("rejects a string interval", () => {
    expect(fields({ ...db, intervalMs: "1000" })).toContain("intervalMs");
  });
  it("bounds the timeout by 100 ms, the interval and 60 s", () => {
    expect(fields({ ...db, timeoutMs: 99 })).toEqual(["timeoutMs"]);
    expect(fields({ ...db, intervalMs: 1000, timeoutMs: 1001 })).toEqual(["timeoutMs"]);
    expect(fields({ ...db, intervalMs: 120_000, timeoutMs: 60_001 })).toEqual(["timeoutMs"]);
    expect(validateCheck({ ...db, intervalMs: 120_000, timeoutMs: 60_000 }, { mode: "create" }).timeoutMs).toBe(60_000);
    expect(validateCheck({ ...db, intervalMs: 1000, timeoutMs: 1000 }, { mode: "create" }).timeoutMs).toBe(1000);
  });
});

describe("validateCheck: regions", () => {
  it("accepts valid NATS tokens", () => {
    expect(validateCheck({ ...db, regions: ["eu-west", "US_EAST1"] }, { mode: "create" }).regions).toEqual([
      "eu-west",
      "US_EAST1",
    ]);
  });
  it.each([["eu.west"], ["eu west"], ["*"], [">"], [""], ["x".repeat(65)]])("rejects %j", (region) => {
    expect(fields({ ...db, regions: [region] })).toEqual(["regions[0]"]);
  });
  it("rejects duplicates", () => {
    expect(fields({ ...db, regions: ["a", "b", "a"] })).toEqual(["regions[2]"]);
  });
  it("rejects a non-array", () => {
    expect(fields({ ...db, regions: "eu-west" })).toEqual(["regions"]);
  });
});

describe("validateCheck: consensus policy", () => {
  it.each(["failureThreshold", "recoveryThreshold"])("%s is 1..100", (key) => {
    expect(validateCheck({ ...db, [key]: 1 }, { mode: "create" })).toMatchObject({ [key]: 1 });
    expect(validateCheck({ ...db, [key]: 100 }, { mode: "create" })).toMatchObject({ [key]: 100 });
    expect(fields({ ...db, [key]: 0 })).toEqual([key]);
    expect(fields({ ...db, [key]: 101 })).toEqual([key]);
  });
  it.each([
    ["majority", "majority"],
    ["all", "all"],
    ["any", "any"],
    [2, "2"],
    ["3", "3"],
  ])("accepts quorum %j as %j", (quorum, expected) => {
    expect(validateCheck({ ...db, quorum }, { mode: "create" }).quorum).toBe(expected);
  });
  it.each([0, -1, 1.5, "most", "0", "01", true])("rejects quorum %j", (quorum) => {
    expect(fields({ ...db, quorum })).toEqual(["quorum"]);
  });
  it("refuses a numeric quorum larger than the listed regions: it could never decide", () => {
    const two = { ...db, regions: ["eu-west", "us-east"] };
    expect(validateCheck({ ...two, quorum: 2 }, { mode: "create" }).quorum).toBe("2");
    const refused = problemsOf({ ...two, quorum: "3" });
    expect(refused.problems).toEqual([
      {
        field: "quorum",
        message: "must be at most the number of listed regions (2), got 3: the check could never reach a verdict",
      },
    ]);
    // No regions = every region: how many there will be is not known here (the API warns instead).
    expect(validateCheck({ ...db, quorum: 7 }, { mode: "create" }).quorum).toBe("7");
    expect(validateCheck({ ...two, quorum: "all" }, { mode: "create" }).quorum).toBe("all");
    // Listed with the other problems of the body.
    expect(fields({ ...two, quorum: 3, retries: 11 })).toEqual(["retries", "quorum"]);
  });
  it("bounds degradedAfterMs by the timeout", () => {
    expect(validateCheck({ ...db, degradedAfterMs: 500 }, { mode: "create" }).degradedAfterMs).toBe(500);
    expect(fields({ ...db, degradedAfterMs: 1001 })).toEqual(["degradedAfterMs"]);
  });
  it("checks retries and canary types", () => {
    expect(fields({ ...db, retries: 11 })).toEqual(["retries"]);
    expect(fields({ ...db, canary: "yes" })).toEqual(["canary"]);
    expect(validateCheck({ ...db, retries: 2, canary: true }, { mode: "create" })).toMatchObject({
      retries: 2,
      canary: true,
    });
  });
});

describe("validateCheck: http", () => {
  const http = (extra: Record<string, unknown>) => ({ ...web, http: { ...web.http, ...extra } });

  it.each(["ftp://x/", "/relative", "not a url", "http://user:pw@host/"])("rejects url %j", (url) => {
    expect(fields(http({ url }))).toEqual(["http.url"]);
  });
  it("requires a url", () => {
    expect(fields({ ...web, http: { method: "GET" } })).toEqual(["http.url"]);
  });
  it("accepts known methods in any case and upper-cases them", () => {
    expect(validateCheck(http({ method: "post" }), { mode: "create" }).http?.method).toBe("POST");
    expect(fields(http({ method: "BREW" }))).toEqual(["http.method"]);
  });
  it("accepts string headers and rejects bad names, values and types", () => {
    const c = validateCheck(http({ headers: { Authorization: "Bearer s3cret", "X-A": "1" } }), { mode: "create" });
    expect(c.http?.headers).toEqual({ Authorization: "Bearer s3cret", "X-A": "1" });
    expect(fields(http({ headers: { "bad name": "x" } }))).toEqual(["http.headers.bad name"]);
    expect(fields(http({ headers: { "X-A": 1 } }))).toEqual(["http.headers.X-A"]);
    expect(fields(http({ headers: ["X-A"] }))).toEqual(["http.headers"]);
    expect(fields(http({ headers: { a: "x", A: "y" } }))).toEqual(["http.headers"]);
  });
  it("never echoes a bad header value in the error", () => {
    const { message, problems } = problemsOf(http({ headers: { Authorization: "Bearer s3cret\r\nX: y" } }));
    expect(message).not.toContain("s3cret");
    expect(JSON.stringify(problems)).not.toContain("s3cret");
  });
  it("accepts status numbers, numeric strings and classes; rejects the rest", () => {
    const c = validateCheck(http({ expectStatus: [200, "204", "3XX", 200] }), { mode: "create" });
    expect(c.http?.expectStatus).toEqual(["200", "204", "3xx"]);
    expect(fields(http({ expectStatus: [99] }))).toEqual(["http.expectStatus[0]"]);
    expect(fields(http({ expectStatus: [200, 600] }))).toEqual(["http.expectStatus[1]"]);
    expect(fields(http({ expectStatus: ["6xx"] }))).toEqual(["http.expectStatus[0]"]);
    expect(fields(http({ expectStatus: ["2x"] }))).toEqual(["http.expectStatus[0]"]);
    expect(fields(http({ expectStatus: 200 }))).toEqual(["http.expectStatus"]);
  });
  it("validates regexes, header matches, JSON path assertions and PEM", () => {
    expect(fields(http({ bodyRegex: ["ok", "("] }))).toEqual(["http.bodyRegex[1]"]);
    expect(fields(http({ headerMatch: [{ name: "content-type", regex: "json" }, { regex: "x" }] }))).toEqual([
      "http.headerMatch[1].name",
    ]);
    expect(fields(http({ jsonPath: [{ path: "status", equals: "ok" }] }))).toEqual(["http.jsonPath[0].equals"]);
    const c = validateCheck(http({ jsonPath: [{ path: "status", equals: '"ok"' }, { path: "items.0" }] }), {
      mode: "create",
    });
    expect(c.http?.jsonPath.map((j) => [j.path, j.equals])).toEqual([
      ["status", '"ok"'],
      ["items.0", ""],
    ]);
    expect(fields(http({ caPem: "not pem" }))).toEqual(["http.caPem"]);
  });
  it("accepts exactly the JSON paths the agent reads, and refuses the rest naming the field", () => {
    const paths = ["$", "status", "$.items[0].name", 'a["b.c"]'];
    const ok = validateCheck(http({ jsonPath: paths.map((path) => ({ path })) }), { mode: "create" });
    expect(ok.http?.jsonPath.map((j) => j.path)).toEqual(paths);
    expect(fields(http({ jsonPath: [{ path: "a..b" }, { path: "items[x]" }] }))).toEqual([
      "http.jsonPath[0].path",
      "http.jsonPath[1].path",
    ]);
  });
  it("refuses regexes the agents' linear-time engine (RE2) cannot run, naming the field and why", () => {
    const backref = problemsOf(http({ bodyRegex: ["(a)\\1"] })).problems;
    expect(backref).toEqual([{ field: "http.bodyRegex[0]", message: expect.stringMatching(/RE2.*backreferences/) }]);
    expect(fields(http({ bodyNotRegex: ["foo(?=bar)"] }))).toEqual(["http.bodyNotRegex[0]"]);
    expect(fields(http({ headerMatch: [{ name: "x", regex: "(?<!a)b" }] }))).toEqual(["http.headerMatch[0].regex"]);
    expect(
      fields({ ...http({}), type: "dns", http: undefined, dns: { name: "example.com", answerRegex: "x{1,5000}" } }),
    ).toEqual(["dns.answerRegex"]);
    // The catastrophic-backtracking pattern is fine: RE2 runs it in linear time.
    expect(
      validateCheck(http({ bodyRegex: ["^(\\w+\\s?)+$", "(?i)ok"] }), { mode: "create" }).http?.bodyRegex,
    ).toHaveLength(2);
  });
  it("bounds maxBodyBytes and maxResponseTimeMs, checks ipPreference", () => {
    expect(fields(http({ maxBodyBytes: -1 }))).toEqual(["http.maxBodyBytes"]);
    expect(fields(http({ maxResponseTimeMs: 801 }))).toEqual(["http.maxResponseTimeMs"]);
    expect(fields(http({ ipPreference: "ipv4" }))).toEqual(["http.ipPreference"]);
  });
  it("rejects unknown fields, hinting at lowerCamelCase", () => {
    const { problems } = problemsOf(http({ expect_status: [200] }));
    expect(problems).toEqual([
      { field: "http.expect_status", message: 'unknown field (did you mean "expectStatus"?)' },
    ]);
  });
});

describe("validateCheck: tcp", () => {
  it("requires host and port 1..65535", () => {
    expect(fields({ ...db, tcp: {} })).toEqual(["tcp.host", "tcp.port"]);
    expect(fields({ ...db, tcp: { host: "", port: 0 } })).toEqual(["tcp.host", "tcp.port"]);
    expect(fields({ ...db, tcp: { host: "db", port: 65536 } })).toEqual(["tcp.port"]);
    expect(fields({ ...db, tcp: { host: "bad host!", port: 1 } })).toEqual(["tcp.host"]);
    expect(validateCheck({ ...db, tcp: { host: "::1", port: 1 } }, { mode: "create" }).tcp?.host).toBe("::1");
  });
});

describe("validateCheck: dns, tls, grpc, icmp", () => {
  it("dns needs a name; record type, transport, rcode and resolver are checked", () => {
    const c = validateCheck({ id: "d", type: "dns", dns: { name: "example.com" } }, { mode: "create" });
    expect(c.dns).toMatchObject({ name: "example.com", recordType: "A", transport: "udp", expectRcode: "NOERROR" });
    expect(fields({ id: "d", type: "dns", dns: {} })).toEqual(["dns.name"]);
    expect(
      fields({
        id: "d",
        type: "dns",
        dns: { name: "x", recordType: "AXFR", transport: "quic", expectRcode: "OK", resolver: "1.1.1.1" },
      }),
    ).toEqual(["dns.recordType", "dns.resolver", "dns.transport", "dns.expectRcode"]);
    expect(
      validateCheck({ id: "d", type: "dns", dns: { name: "x", resolver: "127.0.0.1:5353" } }, { mode: "create" }).dns
        ?.resolver,
    ).toBe("127.0.0.1:5353");
  });
  it("tls needs a host; port defaults to 443", () => {
    const c = validateCheck({ id: "t", type: "tls", tls: { host: "example.com" } }, { mode: "create" });
    expect(c.tls).toMatchObject({ host: "example.com", port: 443, minProtocol: "TLSv1.2" });
    expect(fields({ id: "t", type: "tls", tls: { port: 443 } })).toEqual(["tls.host"]);
    expect(fields({ id: "t", type: "tls", tls: { host: "h", minProtocol: "SSLv3" } })).toEqual(["tls.minProtocol"]);
  });
  it("grpc needs host:port; metadata keys are checked", () => {
    const c = validateCheck(
      { id: "g", type: "grpc", grpc: { address: "[::1]:50051", metadata: { "x-key": "v" } } },
      { mode: "create" },
    );
    expect(c.grpc).toMatchObject({ address: "[::1]:50051", metadata: { "x-key": "v" } });
    expect(fields({ id: "g", type: "grpc", grpc: {} })).toEqual(["grpc.address"]);
    expect(fields({ id: "g", type: "grpc", grpc: { address: "host" } })).toEqual(["grpc.address"]);
    expect(fields({ id: "g", type: "grpc", grpc: { address: "h:1", metadata: { "X-Key": "v" } } })).toEqual([
      "grpc.metadata.X-Key",
    ]);
  });
  it("icmp needs a host; packets 1..100, loss 0..100", () => {
    expect(validateCheck({ id: "i", type: "icmp", icmp: { host: "10.0.0.1" } }, { mode: "create" }).icmp).toMatchObject(
      {
        host: "10.0.0.1",
        packets: 3,
      },
    );
    expect(fields({ id: "i", type: "icmp", icmp: { packets: 0, maxLossPercent: 101 } })).toEqual([
      "icmp.host",
      "icmp.packets",
      "icmp.maxLossPercent",
    ]);
  });
});

describe("validateCheck: shape", () => {
  it("rejects non-objects", () => {
    for (const v of [null, [], "x", 1]) expect(problemsOf(v).field).toBe("check");
  });
  it("rejects unknown top-level fields", () => {
    expect(problemsOf({ ...db, interval_ms: 1000 }).problems[0]).toEqual({
      field: "interval_ms",
      message: 'unknown field (did you mean "intervalMs"?)',
    });
    expect(fields({ ...db, color: "red" })).toEqual(["color"]);
  });
  it("lists every problem at once, naming the first in the message", () => {
    const e = problemsOf({ id: "BAD", type: "http", intervalMs: 5, regions: ["a.b"], http: { url: "nope" } });
    expect(e.problems.map((p) => p.field)).toEqual(["id", "intervalMs", "regions[0]", "http.url"]);
    expect(e.field).toBe("id");
    expect(e.message).toMatch(/^invalid check: id: .* \(and 3 more problems\)$/);
  });
});

describe("validateCheck: type changes", () => {
  const stored = validateCheck(db, { mode: "create" });

  it("keeps the type of the stored check", () => {
    expect(validateCheck(db, { mode: "replace", id: "db", existing: stored }).type).toBe("tcp");
  });
  it("refuses another type, naming `type` and saying to delete and create", () => {
    let err: unknown;
    try {
      validateCheck({ ...web, id: "db" }, { mode: "replace", id: "db", existing: stored });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).details).toEqual({
      field: "type",
      problems: [{ field: "type", message: "cannot change from tcp: delete and create the check instead" }],
    });
  });
  it("lists the type change with the body's other problems", () => {
    expect(() =>
      validateCheck({ ...web, id: "db", retries: 11 }, { mode: "replace", id: "db", existing: stored }),
    ).toThrow(/retries.*and 1 more problem/);
  });
});

describe("validateCheck: identity, dependencies and labels", () => {
  const stored = new Map<string, readonly string[]>([
    ["db", []],
    ["cache", ["db"]],
    ["web", ["cache"]],
  ]);
  const problemOf = (json: unknown, opts: Parameters<typeof validateCheck>[1]) => {
    try {
      validateCheck(json, opts);
    } catch (err) {
      return (err as ValidationError).details?.problems as { field: string; message: string }[];
    }
    throw new Error("expected a ValidationError");
  };

  it("keeps dependsOn and labels; refuses self, unknown ids and cycles naming dependsOn", () => {
    const c = validateCheck(
      { ...web, dependsOn: ["cache"], labels: { team: "payments" } },
      { mode: "create", dependencies: stored },
    );
    expect(c.dependsOn).toEqual(["cache"]);
    expect(c.labels).toEqual({ team: "payments" });
    expect(problemOf({ ...web, dependsOn: ["web"] }, { mode: "create" })).toEqual([
      { field: "dependsOn", message: "must not name the check itself" },
    ]);
    expect(problemOf({ ...web, id: "api", dependsOn: ["nope"] }, { mode: "create", dependencies: stored })[0]).toEqual({
      field: "dependsOn",
      message: 'names checks that do not exist: "nope"',
    });
    // db -> web -> cache -> db
    expect(problemOf({ ...db, dependsOn: ["web"] }, { mode: "replace", id: "db", dependencies: stored })[0]).toEqual({
      field: "dependsOn",
      message: "would make a cycle: db -> web -> cache -> db",
    });
    expect(fields({ ...web, dependsOn: ["Bad Id"] })[0]).toMatch(/^dependsOn/);
  });

  it("bounds labels: key syntax, value length and count", () => {
    expect(fields({ ...web, labels: { "-bad": "x" } })).toEqual(["labels.-bad"]);
    expect(fields({ ...web, labels: { team: "x".repeat(64) } })).toEqual(["labels.team"]);
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
    expect(fields({ ...web, labels: many })).toEqual(["labels"]);
  });

  it("ignores a uid on create; refuses another uid on replace, naming uid", () => {
    expect(validateCheck({ ...web, uid: "whatever" }, { mode: "create" }).uid).toBe("");
    const existing = validateCheck(web, { mode: "create" });
    existing.uid = "u1";
    expect(validateCheck({ ...web, uid: "u1" }, { mode: "replace", id: "web", existing }).uid).toBe("");
    expect(problemOf({ ...web, uid: "u2" }, { mode: "replace", id: "web", existing })).toEqual([
      { field: "uid", message: 'cannot change ("u1"): delete and create the check instead' },
    ]);
  });
});
