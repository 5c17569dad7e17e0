import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamInfo,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { RESULTS_STREAM, RESULTS_SUBJECT_ALL } from "@probemesh/proto";
import { ensureStream } from "../jetstream/ensure.js";

/** Window in which JetStream drops a re-published result with the same message id (result id). */
export const RESULTS_DUPLICATE_WINDOW_MS = 2 * 60_000;

/** Options of ensureResultsStream. */
export interface ResultsStreamOptions {
  /** How long results stay in the stream (replay, new consumers). @default 604800000 (7 days) */
  maxAgeMs?: number;
  /** Stream replicas (PROBEMESH_JETSTREAM_REPLICAS; 1 on a single server), kept in line on an existing stream. @default 1 */
  replicas?: number;
}

/**
 * Creates the results stream (file storage, every result subject, 2 min duplicate window, limits retention
 * so results stay readable for replay) or brings an existing one's subjects, max age and duplicate window in
 * line. Safe when several control planes start at once.
 */
export async function ensureResultsStream(jsm: JetStreamManager, opts: ResultsStreamOptions = {}): Promise<StreamInfo> {
  const maxAgeMs = opts.maxAgeMs ?? 7 * 24 * 3_600_000;
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 60_000)
    throw new RangeError(`results stream maxAgeMs must be at least 60000, got ${maxAgeMs}`);
  return await ensureStream(jsm, {
    name: RESULTS_STREAM,
    settings: {
      subjects: [RESULTS_SUBJECT_ALL],
      max_age: nanos(maxAgeMs),
      duplicate_window: nanos(RESULTS_DUPLICATE_WINDOW_MS),
      num_replicas: opts.replicas ?? 1,
    },
    createOnly: {
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
    },
  });
}
