import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

/** True when a KV compare-and-set write lost a race (the key moved past the expected revision). */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Jittered pause after a lost compare-and-set, so contenders do not collide again in lockstep. */
export async function casBackoff(attempt: number): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 5 * 2 ** attempt)));
}
