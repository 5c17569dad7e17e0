import { clone, toJson, type JsonObject } from "@bufbuild/protobuf";
import { CheckSchema, type Check } from "@probemesh/proto";
import { maskUrlQuery, restoreMaskedQuery } from "../trust/url-query.js";

/** A check as the registry stores it: the proto message plus bookkeeping. */
export interface CheckRecord {
  /** The check; `check.version` is its config version (1 on create, +1 per replace). */
  check: Check;
  /** Epoch ms of creation. */
  createdAt: number;
  /** Epoch ms of the last change. */
  updatedAt: number;
  /** Registry revision (NATS KV revision) of this write. */
  revision: number;
}

/** What the API shows instead of a secret value (header values, request body, gRPC metadata values, URL query values). */
export const MASK = "***";

/** The API JSON of a stored check: proto3 JSON with secrets masked, plus `createdAt`/`updatedAt`. */
export function checkToJson(record: CheckRecord): JsonObject {
  const json = toJson(CheckSchema, maskSecrets(record.check)) as JsonObject;
  const http = json.http as JsonObject | undefined;
  // Stored as strings on the wire ("2xx" classes); shown as the user wrote them: codes as numbers.
  if (http && Array.isArray(http.expectStatus)) {
    http.expectStatus = http.expectStatus.map((s) => (typeof s === "string" && /^\d+$/.test(s) ? Number(s) : s));
  }
  return { ...json, createdAt: record.createdAt, updatedAt: record.updatedAt };
}

/** A copy of `check` whose secret-bearing values are replaced by {@link MASK}. */
export function maskSecrets(check: Check): Check {
  const masked = clone(CheckSchema, check);
  if (masked.http) {
    for (const name of Object.keys(masked.http.headers)) masked.http.headers[name] = MASK;
    if (masked.http.body !== "") masked.http.body = MASK;
    masked.http.url = maskUrlQuery(masked.http.url);
  }
  if (masked.grpc) {
    for (const key of Object.keys(masked.grpc.metadata)) masked.grpc.metadata[key] = MASK;
  }
  return masked;
}

/**
 * Puts back the secrets a client sent as {@link MASK} (as it got them from a GET) from the stored
 * `previous` version, so that a GET-edit-PUT round trip does not overwrite them with "***".
 * A masked value with no stored counterpart is kept as sent.
 */
export function restoreMaskedSecrets(next: Check, previous: Check): Check {
  const restored = clone(CheckSchema, next);
  if (restored.http && previous.http) {
    const prevHeaders = new Map(Object.entries(previous.http.headers).map(([k, v]) => [k.toLowerCase(), v]));
    for (const [name, value] of Object.entries(restored.http.headers)) {
      const prev = prevHeaders.get(name.toLowerCase());
      if (value === MASK && prev !== undefined) restored.http.headers[name] = prev;
    }
    if (restored.http.body === MASK && previous.http.body !== "") restored.http.body = previous.http.body;
    restored.http.url = restoreMaskedQuery(restored.http.url, previous.http.url);
  }
  if (restored.grpc && previous.grpc) {
    for (const [key, value] of Object.entries(restored.grpc.metadata)) {
      const prev = previous.grpc.metadata[key];
      if (value === MASK && prev !== undefined) restored.grpc.metadata[key] = prev;
    }
  }
  return restored;
}

/** True when an agent in `region` runs the check (no regions = every region). */
export function checkRunsIn(check: Check, region: string): boolean {
  return check.regions.length === 0 || check.regions.includes(region);
}

/**
 * True when an agent announcing `capabilities` can run the check: its type is among them. An agent
 * that announces none is given nothing (every agent release announces its probers; see the README).
 */
export function checkRunnableBy(check: Check, agent: { capabilities: readonly string[] }): boolean {
  return agent.capabilities.includes(check.type);
}
