import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

/** True when a KV compare-and-set write lost a race (the key moved past the expected revision). */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
