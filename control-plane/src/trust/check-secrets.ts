/**
 * Which values of a check are secrets, sealed at rest by the check registry's serialisation: http
 * header values, the http request body, gRPC metadata values and every query value of the http URL.
 * The same values are the ones the API masks (see checks/check-record.ts).
 */
import { clone } from "@bufbuild/protobuf";
import { CheckSchema, type Check } from "@probemesh/proto";
import type { SecretBox } from "./secret-box.js";
import { mapQueryValues } from "./url-query.js";

type Transform = (value: string, aad: string) => string;

// Field paths are the additional authenticated data: a value opens only where it was sealed.
function eachSecret(check: Check, fn: Transform): Check {
  const out = clone(CheckSchema, check);
  const at = (path: string) => `check:${check.id}:${path}`;
  if (out.http) {
    const http = out.http;
    for (const name of Object.keys(http.headers))
      http.headers[name] = fn(http.headers[name] ?? "", at(`http.headers.${name}`));
    http.body = fn(http.body, at("http.body"));
    http.url = mapQueryValues(http.url, (value, _name, i) => fn(value, at(`http.url?${i}`)));
  }
  if (out.grpc) {
    const grpc = out.grpc;
    for (const key of Object.keys(grpc.metadata))
      grpc.metadata[key] = fn(grpc.metadata[key] ?? "", at(`grpc.metadata.${key}`));
  }
  return out;
}

/** A copy of `check` with its secrets sealed by `box` (as written to the registry). */
export function sealCheck(check: Check, box: SecretBox): Check {
  return eachSecret(check, (v, aad) => box.seal(v, aad));
}

/**
 * A copy of `check` with its secrets opened (SecretBoxError when one cannot be), and whether any
 * was stored in clear or under an older key (the entry should be written again).
 */
export function openCheck(check: Check, box: SecretBox): { check: Check; stale: boolean } {
  let stale = false;
  const opened = eachSecret(check, (v, aad) => {
    if (box.isStale(v)) stale = true;
    return box.open(v, aad);
  });
  return { check: opened, stale };
}
