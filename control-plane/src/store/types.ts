/** A stored probe result: the row shape of the `results` table and of the API's result JSON. */
export interface ResultRow {
  id: string;
  checkId: string;
  /**
   * The uid of the check the result was attributed to (the control plane stamps it at ingest: the
   * uid the check id had then). "" for checks created before uids existed. @default ""
   */
  checkUid?: string;
  checkVersion: number;
  agentId: string;
  region: string;
  provider: string;
  /** Epoch ms. */
  startedAt: number;
  durationMs: number;
  state: "up" | "degraded" | "down";
  reason: string;
  message: string;
  phases: { dnsMs: number; connectMs: number; tlsMs: number; ttfbMs: number; transferMs: number };
  seq: number;
  attempts: number;
  target: string;
  canary: boolean;
  lagMs: number;
  /** Set for HTTP checks (0 when no response). */
  httpStatus: number;
  bodyBytes: number;
  /** Type-specific facts (tls, dns, icmp, grpcStatus) as a JSON object; {} when none. */
  details: Record<string, unknown>;
}

/** Query for stored results; times are epoch ms, `to` exclusive. */
export interface ResultQuery {
  checkId: string;
  /**
   * Only results attributed to one of these uids of the check: the uids one identity's rows may carry
   * (`rowUidsOf`, "" included for the identity born from a check stored before uids). @default every uid
   */
  checkUids?: readonly string[];
  from: number;
  to: number;
  region?: string;
  /** Newest first, at most this many. */
  limit: number;
}

/** The control plane's view of ClickHouse for results. */
export interface ResultStore {
  /** Inserts rows; resolves only once ClickHouse has accepted them (the ingest acks after this). */
  insertResults(rows: readonly ResultRow[]): Promise<void>;
  /** Newest-first results of one check; duplicates (same id) are returned once. */
  queryResults(query: ResultQuery): Promise<ResultRow[]>;
  /** True when ClickHouse answers. */
  ping(): Promise<boolean>;
}
