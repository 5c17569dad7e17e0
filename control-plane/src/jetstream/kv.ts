import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV, type KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Opens a KV bucket, creating it when missing, with `replicas` copies (PROBEMESH_JETSTREAM_REPLICAS).
 * `Kvm.create` leaves an existing bucket's settings alone, so a bucket created with another replica
 * count (e.g. before the NATS cluster grew to 3 nodes) is brought in line with a stream update.
 */
export async function openKvBucket(
  nc: NatsConnection,
  bucket: string,
  opts: Partial<KvOptions> & { replicas?: number } = {},
): Promise<KV> {
  const replicas = opts.replicas ?? 1;
  const kv = await new Kvm(nc).create(bucket, { ...opts, replicas });
  const status = await kv.status();
  if (status.replicas !== replicas) {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.update(status.streamInfo.config.name, { num_replicas: replicas });
  }
  return kv;
}
