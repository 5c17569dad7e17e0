// The contract between partition leases and what acts on them (consensus deciders, the hook relay,
// the delivery worker, the API). See README "Replicas and partitions".

/** One partition owned by this replica: `epoch` is the lease's revision at acquisition, the fencing token. */
export interface PartitionLease {
  partition: number;
  epoch: number;
}

/** Why a replica stopped owning a partition. */
export type LeaseLossReason = "expired" | "taken" | "released" | "stopped";

/** What every replica sees of one partition's lease (from the watched lease bucket). */
export interface LeaseView {
  partition: number;
  /** The owning replica's id. */
  owner: string;
  epoch: number;
  /** NATS server time (epoch ms) at which this epoch began. */
  since: number;
}

/** Fencing verdict on something an owner published. */
export type FenceVerdict = "current" | "stale";

/** The partition leases of one replica. */
export interface PartitionLeases {
  /** This replica's id (the `owner` of its leases). */
  readonly replicaId: string;
  /** Number of partitions of the mesh. */
  readonly partitions: number;
  /** Starts claiming, renewing and watching; resolves once the lease bucket is watched. */
  start(): Promise<void>;
  /** Stops renewing and releases every owned lease (so another replica takes over at once). */
  stop(): Promise<void>;
  /** Partitions this replica holds now, with their epochs. */
  owned(): PartitionLease[];
  /**
   * True while this replica holds `partition` (at `epoch`, when given) and the lease is valid by the
   * local monotonic clock: a process that was stopped past its lease's expiry gets false before it
   * learns the lease is gone. Check it right before acting.
   */
  holds(partition: number, epoch?: number): boolean;
  /** Every partition's lease as last watched, owned or not. */
  view(partition: number): LeaseView | undefined;
  /**
   * Whether something published under `epoch` for `partition` at NATS server time `publishedAt` came
   * from the owner of that time: stale when a later epoch had begun before it was published.
   */
  fence(partition: number, epoch: number, publishedAt: number): FenceVerdict;
  /** Called (in order) when a partition is acquired; the returned promise is awaited before the next one. */
  onAcquired(cb: (lease: PartitionLease) => void | Promise<void>): () => void;
  /** Called when a partition is lost, before anything else runs for it. */
  onLost(cb: (lease: PartitionLease, reason: LeaseLossReason) => void): () => void;
  /** Counters since start (optional: fakes need not count). */
  stats?(): LeaseStats;
}

/** Counters of one replica's partition leases. */
export interface LeaseStats {
  /** Leases acquired. */
  acquired: number;
  /** Leases lost, by reason. */
  lost: Record<LeaseLossReason, number>;
  /** Renewals that failed (conflicts and transport errors alike). */
  renewFailures: number;
  /** Claims another replica won. */
  claimConflicts: number;
  /** Leases held now. */
  owned: number;
  /** Replicas counted alive for the fair share (this one included). */
  alive: number;
}

/** NATS header carrying the fencing token of an event: `<partition>:<epoch>`. */
export const FENCE_HEADER = "Probemesh-Fence";
