import { describe, expect, it } from "vitest";
import { mapQueryValues, maskUrlQuery, maskUrlsInText, restoreMaskedQuery } from "./url-query.js";

describe("maskUrlQuery", () => {
  it.each([
    ["https://h/p?token=abc&x=1", "https://h/p?token=***&x=***"],
    ["https://h/p?flag&empty=&t=a%20b#frag=1", "https://h/p?flag&empty=&t=***#frag=1"],
    ["https://h/p", "https://h/p"],
    ["https://h/p?", "https://h/p?"],
    ["https://h/p#a?b=c", "https://h/p#a?b=c"],
    ["https://h/p?a=b?c&d=e", "https://h/p?a=***&d=***"],
  ])("%s -> %s", (input, output) => {
    expect(maskUrlQuery(input)).toBe(output);
  });
});

describe("maskUrlsInText", () => {
  it("masks query values of every URL in a message, nothing else", () => {
    expect(maskUrlsInText("redirect loop: https://h/a?token=t1 was visited, from http://h/b?x=2&y= again")).toBe(
      "redirect loop: https://h/a?token=*** was visited, from http://h/b?x=***&y= again",
    );
    expect(maskUrlsInText("got 503 for ?a=b")).toBe("got 503 for ?a=b");
  });
});

describe("mapQueryValues", () => {
  it("keeps the URL exactly as written around the values it changes", () => {
    expect(mapQueryValues("http://h/?a=1&b=%2F&a=3", (v, n, i) => `${n}${i}${v}`)).toBe(
      "http://h/?a=a01&b=b1%2F&a=a23",
    );
  });
});

describe("restoreMaskedQuery", () => {
  it("puts back stored values sent masked, keeps new ones", () => {
    expect(restoreMaskedQuery("https://h/?token=***&x=2&new=***", "https://h/?token=s3cret&x=1")).toBe(
      "https://h/?token=s3cret&x=2&new=***",
    );
  });
});
