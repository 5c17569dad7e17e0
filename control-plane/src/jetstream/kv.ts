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

/**
 * The keys of a KV bucket matching `filter` (KV key wildcards), listed without creating a consumer:
 * from the bucket stream's subjects (a stream info request, answered by its leader). `KV.keys()`
 * creates an ordered consumer, and while a killed NATS node is still counted as a peer, its creation
 * can be placed on that node and time out again and again; that kept warm-ups stalling after a node
 * kill (issue 12). Deleted and purged keys are listed too (their markers are messages): the caller's
 * `get` tells them apart.
 */
export async function listKvKeys(nc: NatsConnection, bucket: string, filter = ">"): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
  return Object.keys(info.state.subjects ?? {})
    .filter((s) => s.startsWith(prefix))
    .map((s) => s.slice(prefix.length));
}

/** A KV bucket's reads and writes, with keys listed by {@link listKvKeys} (no consumer). */
export type ConsumerFreeKv = Pick<KV, "put" | "delete" | "get"> & {
  /** Keys matching `filter` (KV key wildcards, default every key); deleted ones may be listed: `get` tells. */
  keys(filter?: string): Promise<string[]>;
};

/** Opens a bucket as {@link openKvBucket} does, its keys listed without a consumer ({@link listKvKeys}). */
export async function openConsumerFreeKv(
  nc: NatsConnection,
  bucket: string,
  opts: Partial<KvOptions> & { replicas?: number } = {},
): Promise<ConsumerFreeKv> {
  const kv = await openKvBucket(nc, bucket, opts);
  return {
    put: (k, v, o) => kv.put(k, v, o),
    delete: (k, o) => kv.delete(k, o),
    get: (k, o) => kv.get(k, o),
    keys: (filter) => listKvKeys(nc, bucket, filter),
  };
}

/**
 * `open` run at the first call and its bucket shared by every later one; a failed open is forgotten,
 * so the next call tries again (NATS away at start-up must not leave a bucket unusable for good).
 */
export function openOnce<B>(open: () => Promise<B>): () => Promise<B> {
  let bucket: Promise<B> | undefined;
  return () =>
    (bucket ??= open().catch((err: unknown) => {
      bucket = undefined;
      throw err;
    }));
}
