import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { backoffPolicy } from "../backoff.js";
import { sleep } from "../sleep.js";

/** True when a KV compare-and-set write lost a race (the key moved past the expected revision). */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Pauses after lost compare-and-sets: full jitter below 5 ms doubling to 100 ms. */
export const CAS_RETRY = backoffPolicy({ initialMs: 5, maxMs: 100, jitter: "full" });

/** Jittered pause after the `attempt`-th lost compare-and-set (0-based), so contenders do not collide again in lockstep. */
export async function casBackoff(attempt: number): Promise<void> {
  await sleep(CAS_RETRY.delay(attempt + 1));
}
