import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateSecret, secretProblem, signWebhook, verifyWebhook, WebhookVerificationError } from "./signing.js";

const NOW = 1_700_000_000_000;
const now = () => NOW;
const body = JSON.stringify({ id: "o1:outage.opened", type: "outage.opened", data: { checkId: "web" } });

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof WebhookVerificationError) return err.reason;
    throw err;
  }
  return "accepted";
}

describe("Standard Webhooks signing", () => {
  it("matches the spec's construction (HMAC-SHA256 of id.timestamp.body under the base64 key)", () => {
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const h = signWebhook(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
    const key = Buffer.from("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "base64");
    const expected = createHmac("sha256", key)
      .update('msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}')
      .digest("base64");
    expect(h).toEqual({
      "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "webhook-timestamp": "1614265330",
      "webhook-signature": `v1,${expected}`,
    });
  });

  it("round-trips: what signWebhook signs, verifyWebhook accepts and parses", () => {
    const secret = generateSecret();
    const h = signWebhook(secret, "evt-1:hook-a", NOW / 1000, body);
    expect(verifyWebhook(secret, h, body, { now })).toEqual(JSON.parse(body));
    // A fetch Headers object works too, header names are case-insensitive.
    expect(
      verifyWebhook(secret, new Headers(h as unknown as Record<string, string>), Buffer.from(body), { now }),
    ).toEqual(JSON.parse(body));
  });

  it("rejects a wrong secret, a tampered body, a changed id and missing headers", () => {
    const secret = generateSecret();
    const h = signWebhook(secret, "evt-1", NOW / 1000, body);
    expect(reason(() => verifyWebhook(generateSecret(), h, body, { now }))).toBe("no_match");
    expect(reason(() => verifyWebhook(secret, h, body.replace("web", "wex"), { now }))).toBe("no_match");
    expect(reason(() => verifyWebhook(secret, { ...h, "webhook-id": "evt-2" }, body, { now }))).toBe("no_match");
    expect(reason(() => verifyWebhook(secret, { "webhook-id": "evt-1" }, body, { now }))).toBe("missing_header");
    expect(reason(() => verifyWebhook(secret, { ...h, "webhook-timestamp": "12a" }, body, { now }))).toBe(
      "bad_timestamp",
    );
    // Re-signing with a forged timestamp breaks the signature.
    expect(
      reason(() => verifyWebhook(secret, { ...h, "webhook-timestamp": String(NOW / 1000 + 1) }, body, { now })),
    ).toBe("no_match");
  });

  it("rejects stale and future timestamps beyond the tolerance, accepts inside it", () => {
    const secret = generateSecret();
    const at = (offsetSec: number) => signWebhook(secret, "e", NOW / 1000 + offsetSec, body);
    expect(reason(() => verifyWebhook(secret, at(-301), body, { now }))).toBe("stale");
    expect(reason(() => verifyWebhook(secret, at(301), body, { now }))).toBe("future");
    expect(reason(() => verifyWebhook(secret, at(-299), body, { now }))).toBe("accepted");
    expect(reason(() => verifyWebhook(secret, at(-50), body, { now, toleranceSec: 30 }))).toBe("stale");
  });

  it("rotation: a delivery signed with the new and old secrets verifies with either", () => {
    const [oldS, newS] = [generateSecret(), generateSecret()];
    const h = signWebhook([newS, oldS], "e", NOW / 1000, body);
    expect(h["webhook-signature"].split(" ")).toHaveLength(2);
    expect(reason(() => verifyWebhook(oldS, h, body, { now }))).toBe("accepted");
    expect(reason(() => verifyWebhook(newS, h, body, { now }))).toBe("accepted");
    // A consumer that already moved to the new secret but still accepts the old one:
    const onlyOld = signWebhook(oldS, "e", NOW / 1000, body);
    expect(reason(() => verifyWebhook([newS, oldS], onlyOld, body, { now }))).toBe("accepted");
    expect(reason(() => verifyWebhook([newS], onlyOld, body, { now }))).toBe("no_match");
  });

  it("validates secrets", () => {
    expect(secretProblem(generateSecret())).toBeUndefined();
    expect(secretProblem("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).toMatch(/whsec_/);
    expect(secretProblem("whsec_not base64!")).toMatch(/base64/);
    expect(secretProblem("whsec_c2hvcnQ=")).toMatch(/24 to 64 bytes/);
  });
});
