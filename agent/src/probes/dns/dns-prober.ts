import {
  DNS_RCODES,
  DNS_RECORD_TYPES,
  DNS_TRANSPORTS,
  type Check,
  type DnsCheck,
  type DnsRecordType,
  type DnsTransport,
} from "@probemesh/proto";
import { DnsWireError, encodeQuery, RECORD_TYPE_CODES, rcodeName, type DnsAnswer } from "@probemesh/proto/dns";
import { randomInt } from "node:crypto";
import { getServers } from "node:dns";
import { isIP } from "node:net";
import { withDeadline } from "../shared/abort.js";
import { applyDegraded, outcome, type Failure } from "../shared/outcome.js";
import { resolveHost, type LookupFn } from "../shared/resolve.js";
import { withRetries } from "../shared/retry.js";
import { hostPort } from "../shared/tls-handshake.js";
import { createUserRegexes, isRegexFailure, type UserRegexes } from "../shared/user-regexes.js";
import type { ProbeContext, ProbeOutcome, Prober } from "../types.js";
import { dnsExchange } from "./dns-exchange.js";

/** Dependencies of the DNS prober. */
export interface DnsProberDeps {
  /** Monotonic milliseconds. */
  now: () => number;
  /** Resolves a resolver given by name (rare; usually an IP). */
  lookup: LookupFn;
  /** Resolver used when a check names none ("host:port"). @default the first of the system's resolvers */
  defaultResolver?: () => string;
}

/** Most answers kept in a result; the rest are counted in the message. */
const MAX_ANSWERS = 64;

/** Splits "host:port", "[v6]:port", "host" or a bare IPv6 literal; port defaults to 53. */
export function parseResolver(text: string): { host: string; port: number } | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  let m = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (m) return withPort(m[1]!, m[2]);
  if (isIP(t) === 6) return { host: t, port: 53 };
  m = /^([^:]+)(?::(\d+))?$/.exec(t);
  if (m) return withPort(m[1]!, m[2]);
  return undefined;
}

function withPort(host: string, port: string | undefined) {
  const p = port === undefined ? 53 : Number(port);
  return p > 0 && p < 65536 ? { host, port: p } : undefined;
}

/** Answer text as compared: case-insensitive, trailing dot and spacing ignored. */
function norm(s: string): string {
  return s.trim().toLowerCase().replace(/\s+/g, " ").replace(/\.$/, "");
}

/**
 * Forms an answer may be matched in: its text, a TXT answer's bare (unquoted) string, and a CAA
 * answer with its value unquoted (`0 issue letsencrypt.org`).
 */
function forms(a: DnsAnswer): string[] {
  const out = [norm(a.data)];
  if (a.type === "TXT") {
    const m = /^"((?:[^"\\]|\\.)*)"$/.exec(a.data);
    if (m) out.push(norm(unquote(m[1]!)));
  } else if (a.type === "CAA") {
    const m = /^(\d+ \S+) "((?:[^"\\]|\\.)*)"$/.exec(a.data);
    if (m) out.push(norm(`${m[1]!} ${unquote(m[2]!)}`));
  }
  return out;
}

function unquote(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

const isRecordType = (s: string): s is DnsRecordType => (DNS_RECORD_TYPES as readonly string[]).includes(s);
const isTransport = (s: string): s is DnsTransport => (DNS_TRANSPORTS as readonly string[]).includes(s);

/** Judges answers against the check's expectations (only answers of the asked type count). */
function judgeAnswers(dns: DnsCheck, answers: DnsAnswer[], qtype: string, regexes: UserRegexes): Failure | undefined {
  const relevant = answers.filter((a) => a.type === qtype);
  if (dns.expectAnswers.length > 0) {
    const gotAll = relevant.map(forms);
    const want = dns.expectAnswers.map(norm);
    const everyWantFound = want.every((w) => gotAll.some((f) => f.includes(w)));
    const everyGotWanted = gotAll.every((f) => f.some((x) => want.includes(x)));
    // An exact set: every expected answer present and no answer left over.
    if (!everyWantFound || !everyGotWanted) {
      return {
        reason: "assertion:expect_answers",
        message: `answers [${relevant
          .map((a) => a.data)
          .join(", ")
          .slice(0, 200)}] are not exactly [${dns.expectAnswers.join(", ").slice(0, 200)}]`,
      };
    }
  }
  for (const want of dns.answersContain) {
    const w = norm(want);
    if (!relevant.some((a) => forms(a).includes(w)))
      return {
        reason: "assertion:answers_contain",
        message: `no ${qtype} answer is ${JSON.stringify(want.slice(0, 80))}`,
      };
  }
  if (dns.answerRegex !== "") {
    const re = regexes.get(dns, dns.answerRegex, "dns.answerRegex");
    if (isRegexFailure(re)) return re;
    if (!relevant.some((a) => re.test(a.data)))
      return {
        reason: "assertion:answer_regex",
        message: `no ${qtype} answer matches /${dns.answerRegex.slice(0, 80)}/`,
      };
  }
  return undefined;
}

/**
 * Sends one query to the check's resolver (UDP, retried over TCP when truncated, or TCP) and
 * judges rcode and answers. Its own wire client: the system resolver would hide rcodes and answers.
 */
export function createDnsProber(deps: DnsProberDeps): Prober {
  const { now } = deps;
  const defaultResolver = deps.defaultResolver ?? (() => getServers()[0] ?? "127.0.0.1:53");
  const regexes = createUserRegexes();

  async function attempt(check: Check, signal: AbortSignal): Promise<ProbeOutcome[]> {
    const started = now();
    const dns = check.dns;
    const target = dns ? `${dns.name}@${dns.resolver || "system"}` : "";
    const invalid = (message: string) => [
      outcome({
        failure: { reason: "internal", message: `invalid check: ${message}` },
        phases: {},
        target,
        durationMs: 0,
      }),
    ];
    if (!dns || dns.name === "") return invalid("dns.name is required");
    const qtypeName = (dns.recordType || "A").toUpperCase();
    if (!isRecordType(qtypeName))
      return invalid(
        `dns.recordType ${JSON.stringify(dns.recordType.slice(0, 20))} is not one of ${DNS_RECORD_TYPES.join(", ")}`,
      );
    const qtype = RECORD_TYPE_CODES[qtypeName];
    const transport = (dns.transport || "udp").toLowerCase();
    if (!isTransport(transport)) return invalid(`dns.transport must be one of ${DNS_TRANSPORTS.join(", ")}`);
    const expectRcode = (dns.expectRcode || "NOERROR").toUpperCase();
    if (!(DNS_RCODES as readonly string[]).includes(expectRcode))
      return invalid(`dns.expectRcode ${JSON.stringify(dns.expectRcode.slice(0, 20))} is not a known rcode`);
    const resolver = parseResolver(dns.resolver || defaultResolver());
    if (!resolver) return invalid("dns.resolver is not host:port");
    const id = randomInt(0, 65_536);
    let query: Buffer;
    try {
      query = encodeQuery(id, dns.name, qtype);
    } catch (err) {
      return invalid(err instanceof DnsWireError ? err.message : "dns.name cannot be encoded");
    }
    const res = await resolveHost(resolver.host, { ipPreference: "", all: false, signal, lookup: deps.lookup, now });
    const phases: ProbeOutcome["phases"] = {};
    if (!res.ok)
      return [
        outcome({
          failure: res.failure,
          phases: res.dnsMs !== undefined ? { dnsMs: res.dnsMs } : {},
          target,
          durationMs: now() - started,
        }),
      ];
    const address = res.addresses[0]!;
    const where = hostPort(address.address, resolver.port);
    let ex = await dnsExchange({ address, port: resolver.port, transport, query, signal, now });
    let usedTcp = transport === "tcp";
    if (ex.response?.truncated && transport === "udp" && !signal.aborted) {
      // The full answer needs TCP (RFC 7766); judging a truncated answer would be wrong.
      ex = await dnsExchange({ address, port: resolver.port, transport: "tcp", query, signal, now });
      usedTcp = true;
    }
    if (ex.connectMs !== undefined) phases.connectMs = ex.connectMs;
    const queryMs = (res.dnsMs ?? 0) + (ex.rttMs ?? 0);
    if (ex.rttMs !== undefined || res.dnsMs !== undefined) phases.dnsMs = queryMs;
    const base = { phases, target: `${dns.name}@${where}` };
    if (ex.failure || !ex.response) {
      return [
        outcome({
          ...base,
          failure: ex.failure ?? { reason: "protocol", message: "no answer" },
          durationMs: now() - started,
        }),
      ];
    }
    const response = ex.response;
    const rcode = rcodeName(response.rcode);
    const info = {
      rcode,
      answers: response.answers
        .slice(0, MAX_ANSWERS)
        .map((a) => (a.type === qtypeName ? a.data : `${a.type} ${a.data}`).slice(0, 256)),
    };
    let failure: Failure | undefined;
    if (response.id !== id)
      failure = { reason: "protocol", message: `answer id ${response.id} does not match query id ${id}` };
    else if (rcode !== expectRcode)
      failure = { reason: "assertion:rcode", message: `rcode ${rcode}, expected ${expectRcode}` };
    else failure = judgeAnswers(dns, response.answers, qtypeName, regexes);
    const notes: string[] = [];
    if (usedTcp && transport === "udp") notes.push("UDP answer was truncated; retried over TCP");
    if (response.answers.length > MAX_ANSWERS)
      notes.push(`${response.answers.length - MAX_ANSWERS} more answers not kept`);
    return [
      outcome({
        ...base,
        ...(failure ? { failure } : { note: notes.join("; ") }),
        durationMs: now() - started,
        dns: info,
      }),
    ];
  }

  return {
    type: "dns",
    async run(check: Check, ctx: ProbeContext) {
      const outcomes = await withDeadline(ctx.signal, ctx.timeoutMs, (signal) =>
        withRetries(check.retries, signal, now, () => attempt(check, signal)),
      );
      return outcomes.map((o) => applyDegraded(o, check.degradedAfterMs));
    },
  };
}
