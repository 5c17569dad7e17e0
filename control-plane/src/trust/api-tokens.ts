import { randomBytes } from "node:crypto";
import { StorageType } from "@nats-io/jetstream";
import { type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { UnavailableError, ValidationError } from "../errors.js";
import { followKv, type KvFollower } from "../registry/kv-follower.js";
import { hashToken, newToken } from "./token.js";
import { openKvBucket } from "../jetstream/kv.js";
import type { KvWatchReopens } from "../registry/kv-watch-reopens.js";

/** What an API request may do: admin implies write, write implies read. */
export type Scope = "read" | "write" | "admin";

/** Every scope, weakest first. */
export const SCOPES: readonly Scope[] = ["read", "write", "admin"];

/** The scopes a token with `scopes` holds, implied ones included. */
export function grantedScopes(scopes: readonly Scope[]): ReadonlySet<Scope> {
  const strongest = Math.max(-1, ...scopes.map((s) => SCOPES.indexOf(s)));
  return new Set(SCOPES.slice(0, strongest + 1));
}

/** NATS KV bucket of the API tokens (key = token id). */
export const API_TOKENS_BUCKET = "probemesh_api_tokens";

/** Prefix of API tokens. */
export const API_TOKEN_PREFIX = "pmt_";

/** An API token as listed (never the token or its hash). */
export interface ApiTokenInfo {
  id: string;
  name: string;
  scopes: Scope[];
  /** Epoch ms of creation. */
  createdAt: number;
}

/** A new API token: the token is returned here once and never again. */
export interface IssuedApiToken {
  info: ApiTokenInfo;
  token: string;
}

/** API tokens shared by every replica; reads are synchronous from an in-memory copy. */
export interface ApiTokens {
  /** Opens the store and loads it (safe to call again after a failure). */
  start(): Promise<void>;
  stop(): Promise<void>;
  create(req: { name: string; scopes: Scope[] }): Promise<IssuedApiToken>;
  /** Revokes (deletes) a token; false when no such token. Takes effect on every replica. */
  revoke(id: string): Promise<boolean>;
  get(id: string): ApiTokenInfo | undefined;
  /** Every token, sorted by creation time then id. */
  list(): ApiTokenInfo[];
  /** The token this bearer value is, or undefined (lookup by hash: no timing leak). */
  authenticate(token: string): ApiTokenInfo | undefined;
}

interface ApiTokenRecord extends ApiTokenInfo {
  tokenHash: string;
}

function decode(text: string): ApiTokenRecord {
  const r = JSON.parse(text) as Partial<ApiTokenRecord> | null;
  if (
    typeof r !== "object" ||
    r === null ||
    typeof r.id !== "string" ||
    typeof r.name !== "string" ||
    typeof r.createdAt !== "number" ||
    !Array.isArray(r.scopes) ||
    !r.scopes.every((s) => SCOPES.includes(s)) ||
    typeof r.tokenHash !== "string" ||
    !/^[0-9a-f]{64}$/.test(r.tokenHash)
  )
    throw new Error("stored API token is malformed");
  return { id: r.id, name: r.name, scopes: r.scopes, createdAt: r.createdAt, tokenHash: r.tokenHash };
}

const info = (r: ApiTokenRecord): ApiTokenInfo => ({
  id: r.id,
  name: r.name,
  scopes: [...r.scopes],
  createdAt: r.createdAt,
});

/** Refuses a name or scopes list the API would refuse. */
export function validateApiTokenRequest(req: { name: string; scopes: readonly string[] }): void {
  const problems: { field: string; message: string }[] = [];
  if (!/^[\x20-\x7e]{1,100}$/.test(req.name))
    problems.push({ field: "name", message: "must be 1-100 printable ASCII characters" });
  if (req.scopes.length === 0 || req.scopes.some((s) => !(SCOPES as readonly string[]).includes(s)))
    problems.push({ field: "scopes", message: 'must list one or more of "read", "write", "admin"' });
  const first = problems[0];
  if (first)
    throw new ValidationError(`invalid API token: ${first.field}: ${first.message}`, { field: first.field, problems });
}

/** The in-memory copy both implementations read from. */
function createTokenIndex() {
  const byId = new Map<string, ApiTokenRecord>();
  const byHash = new Map<string, ApiTokenRecord>();
  return {
    put(r: ApiTokenRecord) {
      this.remove(r.id);
      byId.set(r.id, r);
      byHash.set(r.tokenHash, r);
    },
    remove(id: string): boolean {
      const old = byId.get(id);
      if (!old) return false;
      byId.delete(id);
      if (byHash.get(old.tokenHash) === old) byHash.delete(old.tokenHash);
      return true;
    },
    get: (id: string) => {
      const r = byId.get(id);
      return r && info(r);
    },
    list: () =>
      [...byId.values()]
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map(info),
    authenticate: (token: string) => {
      if (token === "") return undefined;
      const r = byHash.get(hashToken(token));
      return r && info(r);
    },
  };
}

function newRecord(req: { name: string; scopes: Scope[] }, now: number): { record: ApiTokenRecord; token: string } {
  validateApiTokenRequest(req);
  const token = newToken(API_TOKEN_PREFIX);
  const record: ApiTokenRecord = {
    // Short and unguessable; it names the token in URLs and logs, it grants nothing.
    id: randomBytes(8).toString("hex"),
    name: req.name,
    scopes: [...new Set(req.scopes)].sort((a, b) => SCOPES.indexOf(a) - SCOPES.indexOf(b)),
    createdAt: now,
    tokenHash: hashToken(token),
  };
  return { record, token };
}

/** In-memory {@link ApiTokens}, for unit tests. */
export function createMemoryApiTokens(opts: { now?: () => number } = {}): ApiTokens {
  const now = opts.now ?? Date.now;
  const index = createTokenIndex();
  return {
    start: async () => {},
    stop: async () => {},
    async create(req) {
      const { record, token } = newRecord(req, now());
      index.put(record);
      return { info: info(record), token };
    },
    revoke: async (id) => index.remove(id),
    get: index.get,
    list: index.list,
    authenticate: index.authenticate,
  };
}

/** Options of {@link createKvApiTokens}. */
export interface KvApiTokensOptions {
  nc: NatsConnection;
  /** Copies of its KV bucket in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** How long a write waits for this replica's copy to have it. @default 5000 */
  syncTimeoutMs?: number;
  /** Counts the re-openings of the bucket's watcher (GET /metrics). */
  watchReopens?: KvWatchReopens;
}

/**
 * {@link ApiTokens} in the NATS KV bucket {@link API_TOKENS_BUCKET}, followed into memory: a token
 * deleted on any replica stops working on this one as soon as the watcher delivers the deletion.
 */
export function createKvApiTokens(opts: KvApiTokensOptions): ApiTokens {
  const log = opts.log.child({ component: "api-tokens" });
  const now = opts.now ?? Date.now;
  const syncTimeoutMs = opts.syncTimeoutMs ?? 5000;
  const index = createTokenIndex();
  let kv: KV | undefined;
  let follower: KvFollower | undefined;

  function onEntry(e: KvWatchEntry): void {
    if (e.operation !== "PUT") {
      index.remove(e.key);
      return;
    }
    try {
      const r = decode(e.string());
      if (r.id !== e.key) throw new Error(`stored under key ${JSON.stringify(e.key)}`);
      index.put(r);
    } catch (err) {
      index.remove(e.key);
      log.error({ err, tokenId: e.key }, "skipping malformed API token (it grants nothing)");
    }
  }
  function started(): { kv: KV; follower: KvFollower } {
    if (!kv || !follower) throw new UnavailableError("API tokens are not started");
    return { kv, follower };
  }
  function unavailable(err: unknown): never {
    if (err instanceof UnavailableError || err instanceof ValidationError) throw err;
    throw new UnavailableError(`API tokens (NATS KV) failed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }

  return {
    async start() {
      kv ??= await openKvBucket(opts.nc, API_TOKENS_BUCKET, {
        history: 1,
        storage: StorageType.File,
        ...(opts.replicas ? { replicas: opts.replicas } : {}),
      });
      follower ??= followKv({ kv, log, onEntry, onReopen: opts.watchReopens?.of(API_TOKENS_BUCKET) });
      await follower.catchUp(Math.max(syncTimeoutMs, 30_000));
      log.info({ bucket: API_TOKENS_BUCKET, tokens: index.list().length }, "API tokens loaded");
    },
    async stop() {
      await follower?.stop();
    },
    async create(req) {
      const { record, token } = newRecord(req, now());
      const s = started();
      try {
        const revision = await s.kv.create(record.id, JSON.stringify(record));
        await s.follower.waitForRevision(revision, syncTimeoutMs);
      } catch (err) {
        return unavailable(err);
      }
      log.info({ tokenId: record.id, name: record.name, scopes: record.scopes }, "API token created");
      return { info: info(record), token };
    },
    async revoke(id) {
      const s = started();
      try {
        const entry = await s.kv.get(id);
        if (!entry || entry.operation !== "PUT") return false;
        // Only the revision read is deleted: a concurrent change makes this fail rather than guess.
        await s.kv.delete(id, { previousSeq: entry.revision });
        await s.follower.catchUp(syncTimeoutMs);
      } catch (err) {
        return unavailable(err);
      }
      log.info({ tokenId: id }, "API token revoked");
      return true;
    },
    get: index.get,
    list: index.list,
    authenticate: index.authenticate,
  };
}
