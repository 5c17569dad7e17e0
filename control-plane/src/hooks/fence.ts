import { MAX_PARTITIONS } from "@probemesh/proto";
import { FENCE_HEADER, type FenceVerdict, type PartitionLease } from "../cluster/types.js";

/**
 * Judges an event published under a partition lease: `leases.fence` of the replica. Stale when a
 * later epoch of the partition had begun before the event was published (NATS server time, epoch ms).
 */
export type FenceJudge = (partition: number, epoch: number, publishedAt: number) => FenceVerdict;

/** What the worker makes of a delivery message's fencing header. */
export type FenceCheck =
  | { kind: "none" }
  | { kind: "malformed"; detail: string }
  | { kind: FenceVerdict; fence: PartitionLease; publishedAt: number };

// Strict decimal, no sign, no leading zeros: a header is either exactly what the relay writes or refused.
const FENCE_VALUE = /^(0|[1-9][0-9]{0,3}):([1-9][0-9]{0,15})$/;

/** The `Probemesh-Fence` header value of a lease: `<partition>:<epoch>`. */
export function formatFence(f: PartitionLease): string {
  return `${f.partition}:${f.epoch}`;
}

/** Parses a `Probemesh-Fence` header value; throws an Error saying what is wrong. */
export function parseFence(value: string): PartitionLease {
  const m = FENCE_VALUE.exec(value);
  if (!m) throw new Error(`${FENCE_HEADER} header ${JSON.stringify(value.slice(0, 64))} is not <partition>:<epoch>`);
  const partition = Number(m[1]);
  const epoch = Number(m[2]);
  if (partition >= MAX_PARTITIONS)
    throw new Error(`${FENCE_HEADER} partition ${partition} is out of range 0..${MAX_PARTITIONS - 1}`);
  if (!Number.isSafeInteger(epoch)) throw new Error(`${FENCE_HEADER} epoch ${m[2]} is too large`);
  return { partition, epoch };
}

/**
 * The fencing decision for one delivery message. `header`: the `Probemesh-Fence` values it carries
 * (none: an unfenced event, delivered as before); `publishedAtMs`: JetStream's timestamp of the
 * message. Without a judge (a single replica, no leases) a well-formed fence is current.
 */
export function checkFence(
  header: readonly string[] | undefined,
  publishedAtMs: number,
  judge: FenceJudge | undefined,
): FenceCheck {
  if (!header || header.length === 0) return { kind: "none" };
  if (header.length > 1) return { kind: "malformed", detail: `${header.length} ${FENCE_HEADER} headers` };
  let fence: PartitionLease;
  try {
    fence = parseFence(header[0] ?? "");
  } catch (err) {
    return { kind: "malformed", detail: err instanceof Error ? err.message : String(err) };
  }
  const verdict = judge ? judge(fence.partition, fence.epoch, publishedAtMs) : "current";
  return { kind: verdict, fence, publishedAt: publishedAtMs };
}
