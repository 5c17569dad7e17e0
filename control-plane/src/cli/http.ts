import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { CliError } from "./errors.js";

/** Where and how the CLI reaches the control plane (flags over PROBEMESH_URL, PROBEMESH_TOKEN, PROBEMESH_CA_FILE). */
export interface Connection {
  /** Base URL of the API, e.g. https://127.0.0.1:8080. */
  url: string;
  /** Bearer token; never printed. */
  token: string;
  /** PEM of the CA that signed the control plane's certificate (a private CA made by `init`). */
  ca?: Buffer;
}

/** One answer of the API. */
export interface ApiAnswer {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON body, or undefined when empty or not JSON. */
  body: unknown;
}

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_SIGNATURE_FAILURE",
  "EPROTO",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);

/** The one-line message of a failed connection: network or TLS, with what to do about it. */
export function connectionProblem(url: string, err: unknown): CliError {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? "";
  const detail = e.message ?? String(err);
  if (TLS_CODES.has(code) || /certificate|ssl|tls/i.test(detail))
    return new CliError(
      `TLS error talking to ${url}: ${detail} (${code || "tls"}). Set PROBEMESH_CA_FILE (or --ca-file) to the CA ` +
        "that signed the control plane's certificate (ca.pem in the mesh's trust directory), and check the URL's host name",
      1,
      { cause: err },
    );
  return new CliError(
    `cannot reach the control plane at ${url}: ${detail}${code ? ` (${code})` : ""}. Check PROBEMESH_URL (or --url)`,
    1,
    { cause: err },
  );
}

/** The message of an API error answer: the server's `{error: {code, message}}` with the usual remedies. */
export function answerProblem(what: string, answer: ApiAnswer): CliError {
  const err = (answer.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const said = err?.message ?? `HTTP ${answer.status}`;
  switch (answer.status) {
    case 401:
      return new CliError(`${what}: the token was refused (401 ${said}). Check PROBEMESH_TOKEN (or --token)`);
    case 403:
      return new CliError(
        `${what}: the token lacks the scope this needs (403 ${said}); hooks, tokens and enrolling agents need admin`,
      );
    case 412:
      return new CliError(
        `${what}: refused, it changed since it was read (412 ${said}). Someone else wrote it: read it again (or run apply again to see the new diff)`,
      );
    default:
      return new CliError(`${what}: ${answer.status} ${said}`);
  }
}

/** A JSON client of the probemesh API. */
export interface ApiClient {
  readonly url: string;
  /** Sends one request; rejects with a {@link CliError} on network or TLS failure (any HTTP status resolves). */
  request(
    method: string,
    path: string,
    opts?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiAnswer>;
  /** Like `request`, but a status outside 2xx rejects with {@link answerProblem}. */
  call(
    what: string,
    method: string,
    path: string,
    opts?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiAnswer>;
  /**
   * Opens a streaming GET (Server-Sent Events): resolves with the response once its headers arrived
   * (any status), the body left to read.
   */
  open(path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage>;
}

/** A client of the API at `conn.url` with its bearer token (and private CA). */
export function createApiClient(conn: Connection): ApiClient {
  const base = conn.url.replace(/\/+$/, "");
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new CliError(`PROBEMESH_URL ${JSON.stringify(conn.url)} is not a URL (e.g. https://127.0.0.1:8080)`, 2);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:")
    throw new CliError(`PROBEMESH_URL must be an http or https URL, got ${JSON.stringify(parsed.protocol)}`, 2);

  function send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = `${base}${path}`;
    const all = { authorization: `Bearer ${conn.token}`, accept: "application/json", ...headers };
    const request = parsed.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        { method, headers: all, ...(conn.ca ? { ca: conn.ca } : {}), ...(signal ? { signal } : {}) },
        resolve,
      );
      req.on("error", (err) => reject(signal?.aborted ? err : connectionProblem(base, err)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async function request(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<ApiAnswer> {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers = { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...opts.headers };
    const res = await send(method, path, headers, body);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let parsedBody: unknown;
    try {
      parsedBody = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsedBody = undefined;
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
    return { status: res.statusCode ?? 0, headers: out, body: parsedBody };
  }

  return {
    url: base,
    request,
    async call(what, method, path, opts) {
      const answer = await request(method, path, opts);
      if (answer.status < 200 || answer.status > 299) throw answerProblem(what, answer);
      return answer;
    },
    open: (path, headers, signal) => send("GET", path, { accept: "text/event-stream", ...headers }, undefined, signal),
  };
}
