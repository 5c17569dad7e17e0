/** Request encoding of the HTTP/1.1 client: what node:http would write, checked as it checks. */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// What node:http refuses in a header value and in a request target.
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const INVALID_PATH = /[^\x21-\xff]/;
// Methods node:http sends without a body by default; the others get `content-length: 0` when empty.
const BODYLESS_METHODS = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

/**
 * The request's bytes: request line, headers and body in one buffer, so it leaves in one write.
 * Returns a message instead when the check's method, path or headers cannot be sent as they are
 * (they would split the request); the message never quotes a header value.
 */
export function encodeRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
): Buffer | string {
  if (!TOKEN.test(method)) return "method is not a valid HTTP token";
  if (INVALID_PATH.test(path)) return "request path has characters that cannot be sent";
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let connection = false;
  let length = false;
  for (const name in headers) {
    const value = headers[name]!;
    if (!TOKEN.test(name)) return `header name ${JSON.stringify(name.slice(0, 40))} is not a valid HTTP token`;
    if (INVALID_VALUE.test(value)) return `header ${name} has characters that cannot be sent`;
    const lower = name.toLowerCase();
    if (lower === "connection") connection = true;
    else if (lower === "content-length") length = true;
    head += `${name}: ${value}\r\n`;
  }
  // One request per connection, always: say so, so the server closes rather than waits.
  if (!connection) head += "connection: close\r\n";
  const bodyBytes = body ? Buffer.byteLength(body) : 0;
  if (!length && (bodyBytes > 0 || !BODYLESS_METHODS.has(method))) head += `content-length: ${bodyBytes}\r\n`;
  head += "\r\n";
  if (bodyBytes === 0) return Buffer.from(head, "latin1");
  const out = Buffer.allocUnsafe(head.length + bodyBytes);
  out.write(head, 0, "latin1");
  out.write(body!, head.length, "utf8");
  return out;
}
