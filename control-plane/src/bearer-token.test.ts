import { describe, expect, it } from "vitest";
import { bearerMatches } from "./bearer-token.js";

describe("bearerMatches", () => {
  it("accepts exactly Bearer <token> (scheme case-insensitive)", () => {
    expect(bearerMatches("Bearer s3cret", "s3cret")).toBe(true);
    expect(bearerMatches("bearer s3cret", "s3cret")).toBe(true);
  });
  it("rejects missing, empty, other schemes and wrong tokens", () => {
    expect(bearerMatches(undefined, "s3cret")).toBe(false);
    expect(bearerMatches("", "s3cret")).toBe(false);
    expect(bearerMatches("Bearer ", "s3cret")).toBe(false);
    expect(bearerMatches("Basic s3cret", "s3cret")).toBe(false);
    expect(bearerMatches("Bearer s3cre", "s3cret")).toBe(false);
    expect(bearerMatches("Bearer s3cret2", "s3cret")).toBe(false);
    expect(bearerMatches("s3cret", "s3cret")).toBe(false);
    expect(bearerMatches("Bearer x", "")).toBe(false);
  });
});
