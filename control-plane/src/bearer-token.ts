import { createHash, timingSafeEqual } from "node:crypto";

/**
 * True when `header` is exactly `Bearer <token>`. Compares SHA-256 digests in constant time, so
 * neither the token's content nor its length leaks through timing.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || token === "") return false;
  const m = /^Bearer[ ]+(.+)$/i.exec(header.trim());
  const presented = m?.[1] ?? "";
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b) && presented !== "";
}
