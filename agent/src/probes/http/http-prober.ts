import type { Check, HttpCheck } from "@probemesh/proto";
import { rootCertificates } from "node:tls";
import { withDeadline } from "../shared/abort.js";
import { applyDegraded, outcome, type Failure } from "../shared/outcome.js";
import { resolveHost, type LookupFn, type ResolvedAddress } from "../shared/resolve.js";
import { withRetries } from "../shared/retry.js";
import type { TlsFacts } from "../shared/tls-facts.js";
import { createUserRegexes } from "../shared/user-regexes.js";
import type { ProbeContext, ProbeOutcome, Prober } from "../types.js";
import { checkAssertions, needsBody } from "./assertions.js";
import { hostPort, requestHop, type HopResult } from "./request-hop.js";
import { parseExpectStatus, statusAccepted } from "./status-match.js";

/** Dependencies of the HTTP prober. */
export interface HttpProberDeps {
  /** Monotonic milliseconds. */
  now: () => number;
  lookup: LookupFn;
  /** Sent unless the check sets its own User-Agent. */
  userAgent: string;
}

/** Body bytes read when the check does not say. @default 1 MiB */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Most redirects followed before the run fails as a protocol error. */
export const MAX_REDIRECTS = 10;
/** Most addresses probed for `allIps`: bounds one run's fan-out. */
export const MAX_ALL_IPS = 16;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Credentials are not forwarded to another origin, as browsers and curl do.
const ORIGIN_BOUND_HEADERS = ["authorization", "cookie", "proxy-authorization", "host"];

/** Probes an HTTP(S) URL with phase timings, redirects, body cap and assertions. */
export function createHttpProber(deps: HttpProberDeps): Prober {
  const { now } = deps;
  const regexes = createUserRegexes();

  const invalid = (check: Check, message: string): ProbeOutcome[] => [
    outcome({
      failure: { reason: "internal", message: `invalid check: ${message}` },
      phases: {},
      target: check.http?.url ?? "",
      durationMs: 0,
    }),
  ];

  async function run(check: Check, ctx: ProbeContext): Promise<ProbeOutcome[]> {
    const http = check.http;
    if (!http) return invalid(check, "http options are missing");
    let url: URL;
    try {
      url = new URL(http.url);
    } catch {
      return invalid(check, "http.url is not a valid URL");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      return invalid(check, `http.url scheme ${url.protocol} is not http or https`);
    const rules = parseExpectStatus(http.expectStatus);
    if (!rules.ok) return invalid(check, rules.error);
    const outcomes = await withDeadline(ctx.signal, ctx.timeoutMs, (signal) =>
      withRetries(check.retries, signal, now, () => attempt(check, http, url, rules.ranges, signal)),
    );
    return outcomes.map((o) => applyDegraded(o, check.degradedAfterMs));
  }

  async function attempt(
    check: Check,
    http: HttpCheck,
    url: URL,
    ranges: Parameters<typeof statusAccepted>[1],
    signal: AbortSignal,
  ): Promise<ProbeOutcome[]> {
    const started = now();
    const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
    const resolution = await resolveHost(url.hostname, {
      ipPreference: http.ipPreference,
      all: http.allIps,
      signal,
      lookup: deps.lookup,
      now,
    });
    if (!resolution.ok) {
      const phases = resolution.dnsMs !== undefined ? { dnsMs: resolution.dnsMs } : {};
      return [outcome({ failure: resolution.failure, phases, target: safeUrl(url), durationMs: now() - started })];
    }
    const addresses = resolution.addresses.slice(0, MAX_ALL_IPS);
    return await Promise.all(
      addresses.map((address) =>
        probeAddress(check, http, url, address, port, ranges, resolution.dnsMs, started, signal),
      ),
    );
  }

  async function probeAddress(
    check: Check,
    http: HttpCheck,
    firstUrl: URL,
    firstAddress: ResolvedAddress,
    port: number,
    ranges: Parameters<typeof statusAccepted>[1],
    dnsMs: number | undefined,
    started: number,
    signal: AbortSignal,
  ): Promise<ProbeOutcome> {
    const target = hostPort(firstAddress.address, port);
    const phases: Record<"dnsMs" | "connectMs" | "tlsMs" | "ttfbMs" | "transferMs", number | undefined> = {
      dnsMs,
      connectMs: undefined,
      tlsMs: undefined,
      ttfbMs: undefined,
      transferMs: undefined,
    };
    const add = (k: keyof typeof phases, v: number | undefined) => {
      if (v !== undefined) phases[k] = (phases[k] ?? 0) + v;
    };
    const done = (hop: HopResult | undefined, failure: Failure | undefined, note?: string): ProbeOutcome => {
      const o = outcome({
        phases,
        target,
        durationMs: now() - started,
        ...(failure ? { failure } : {}),
        ...(note ? { note } : {}),
        ...(hop?.status !== undefined ? { httpStatus: hop.status } : {}),
        ...(hop && hop.status !== undefined ? { bodyBytes: hop.bodyBytes } : {}),
        ...(hop?.tls ? { tls: hop.tls as TlsFacts } : {}),
      });
      return o;
    };

    let url = firstUrl;
    let address: ResolvedAddress = firstAddress;
    let method = (http.method || "GET").toUpperCase();
    let body: string | undefined = http.body;
    const headers = baseHeaders(http, deps.userAgent);
    const visited = new Set<string>();
    const maxBodyBytes = http.maxBodyBytes > 0 ? http.maxBodyBytes : DEFAULT_MAX_BODY_BYTES;
    const ca = http.caPem ? [...rootCertificates, http.caPem] : undefined;
    for (let hops = 0; ; hops++) {
      visited.add(`${method} ${url.href}`);
      const hop = await requestHop({
        url,
        address,
        method,
        headers: {
          ...headers,
          ...hostHeader(headers, url),
          ...(body ? { "content-length": String(Buffer.byteLength(body)) } : {}),
        },
        body,
        keepBody: needsBody(http),
        maxBodyBytes,
        insecure: http.insecureSkipVerify,
        ca,
        signal,
        now,
      });
      add("connectMs", hop.phases.connectMs);
      add("tlsMs", hop.phases.tlsMs);
      add("ttfbMs", hop.phases.ttfbMs);
      add("transferMs", hop.phases.transferMs);
      if (hop.failure) return done(hop, hop.failure);
      const status = hop.status ?? 0;
      const location = hop.headers?.location;
      if (http.followRedirects && REDIRECT_STATUSES.has(status) && typeof location === "string" && location !== "") {
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          return done(hop, { reason: "protocol", message: `redirect ${status} has an invalid Location` });
        }
        if (next.protocol !== "http:" && next.protocol !== "https:")
          return done(hop, { reason: "protocol", message: `redirect to unsupported scheme ${next.protocol}` });
        if (status === 303 || ((status === 301 || status === 302) && method === "POST")) {
          method = method === "HEAD" ? "HEAD" : "GET";
          body = undefined;
          delete headers["content-length"];
          delete headers["content-type"];
        }
        if (visited.has(`${method} ${next.href}`))
          return done(hop, { reason: "protocol", message: `redirect loop: ${safeUrl(next)} was already visited` });
        if (hops + 1 >= MAX_REDIRECTS)
          return done(hop, { reason: "protocol", message: `more than ${MAX_REDIRECTS} redirects` });
        if (next.origin !== url.origin) for (const h of ORIGIN_BOUND_HEADERS) delete headers[h];
        const resolved = await resolveHost(next.hostname, {
          ipPreference: http.ipPreference,
          all: false,
          signal,
          lookup: deps.lookup,
          now,
        });
        add("dnsMs", resolved.dnsMs);
        if (!resolved.ok) return done(hop, resolved.failure);
        address = resolved.addresses[0] ?? address;
        url = next;
        continue;
      }
      if (!statusAccepted(status, ranges)) {
        const expected = http.expectStatus.length ? http.expectStatus.join(",") : "2xx";
        return done(hop, {
          reason: "http_status",
          message: `status ${status}, expected ${expected.slice(0, 80)}${hops ? ` (after ${hops} redirects)` : ""}`,
        });
      }
      const assertion = checkAssertions(
        http,
        {
          headers: hop.headers ?? {},
          body: hop.body,
          bodyBytes: hop.bodyBytes,
          truncated: hop.truncated,
        },
        regexes,
      );
      if (assertion) return done(hop, assertion);
      const elapsed = now() - started;
      if (http.maxResponseTimeMs > 0 && elapsed > http.maxResponseTimeMs) {
        return done(hop, {
          reason: "assertion:max_response_time",
          message: `response took ${elapsed.toFixed(0)} ms, more than maxResponseTimeMs ${http.maxResponseTimeMs}`,
        });
      }
      const notes: string[] = [];
      if (hops) notes.push(`followed ${hops} redirect${hops > 1 ? "s" : ""}`);
      if (hop.truncated) notes.push(`body read stopped at the ${maxBodyBytes}-byte cap`);
      return done(hop, undefined, notes.join("; "));
    }
  }

  return { type: "http", run };
}

/** The URL without user info: results must not carry credentials. */
export function safeUrl(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}

function baseHeaders(http: HttpCheck, userAgent: string): Record<string, string> {
  const headers: Record<string, string> = { "user-agent": userAgent, accept: "*/*" };
  for (const [k, v] of Object.entries(http.headers)) headers[k.toLowerCase()] = v;
  const url = new URL(http.url);
  if ((url.username || url.password) && headers.authorization === undefined) {
    const creds = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(creds).toString("base64")}`;
  }
  headers.connection = "close";
  return headers;
}

function hostHeader(headers: Record<string, string>, url: URL): Record<string, string> {
  // A Host header set by the check wins on the first origin (virtual-host checks against an IP).
  return headers.host !== undefined ? {} : { host: url.host };
}
