import { request } from "node:https";

/**
 * A `fetch` for HTTPS URLs that trusts `ca` (PEM) only: Node's global fetch takes no CA option,
 * and the control plane's certificate comes from a private CA made by `init`.
 */
export function fetchTrusting(ca: string | Buffer): (url: string, init?: RequestInit) => Promise<Response> {
  return (url, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const headers = new Headers(init.headers);
      const req = request(url, { method: init.method ?? "GET", headers: Object.fromEntries(headers), ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const out = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(", ") : v);
          const status = res.statusCode ?? 0;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers: out }));
        });
      });
      req.on("error", reject);
      if (typeof init.body === "string") req.write(init.body);
      req.end();
    });
}
