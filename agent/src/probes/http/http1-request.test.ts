import { describe, expect, it } from "vitest";
import { encodeRequest } from "./http1-request.js";

const text = (v: Buffer | string) => {
  expect(Buffer.isBuffer(v)).toBe(true);
  return (v as Buffer).toString("latin1");
};

describe("encodeRequest", () => {
  it("writes the request line and headers, and asks the server to close", () => {
    expect(text(encodeRequest("GET", "/a?b=1", { host: "x.test", accept: "*/*" }, undefined))).toBe(
      "GET /a?b=1 HTTP/1.1\r\nhost: x.test\r\naccept: */*\r\nconnection: close\r\n\r\n",
    );
  });

  it("keeps the caller's connection header", () => {
    expect(text(encodeRequest("GET", "/", { host: "x", connection: "keep-alive" }, undefined))).toBe(
      "GET / HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n",
    );
  });

  it("appends the body as UTF-8 after the head, and sends Content-Length 0 for an empty POST like node:http", () => {
    const body = "héllo";
    expect(encodeRequest("POST", "/", { host: "x", "content-length": "6" }, body)).toEqual(
      Buffer.from("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 6\r\nconnection: close\r\n\r\nhéllo", "utf8"),
    );
    expect(text(encodeRequest("POST", "/", { host: "x" }, "ab"))).toBe(
      "POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\n\r\nab",
    );
    expect(text(encodeRequest("POST", "/", { host: "x" }, undefined))).toBe(
      "POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    );
    expect(text(encodeRequest("DELETE", "/", { host: "x" }, ""))).toBe(
      "DELETE / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
  });

  it("writes latin1 header values byte for byte", () => {
    expect(encodeRequest("GET", "/", { "x-v": "caf\u00e9" }, undefined)).toEqual(
      Buffer.from("GET / HTTP/1.1\r\nx-v: caf\xe9\r\nconnection: close\r\n\r\n", "latin1"),
    );
  });

  it("refuses what would split or corrupt the request, without quoting values", () => {
    expect(encodeRequest("GE T", "/", {}, undefined)).toBe("method is not a valid HTTP token");
    expect(encodeRequest("GET", "/a b", {}, undefined)).toBe("request path has characters that cannot be sent");
    expect(encodeRequest("GET", "/", { "x-a\r\nx-b": "v" }, undefined)).toMatch(
      /^header name .* is not a valid HTTP token$/,
    );
    const injected = encodeRequest("GET", "/", { "x-token": "secret\r\nx-evil: 1" }, undefined);
    expect(injected).toBe("header x-token has characters that cannot be sent");
    expect(encodeRequest("GET", "/", { "x-a": "\0" }, undefined)).toBe("header x-a has characters that cannot be sent");
    expect(encodeRequest("GET", "/", { "x-a": "\u0100" }, undefined)).toBe(
      "header x-a has characters that cannot be sent",
    );
  });
});
