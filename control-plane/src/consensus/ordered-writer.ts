// A decider's pending writes of decision state to NATS KV (incidents, impairment marks): the newest
// value per key, written one at a time in the order of changes, only while the partition's lease
// holds; a failed write stays pending for the next flush.

/** Options of {@link createOrderedWriter}. */
export interface OrderedWriterOptions<V> {
  /** Writes one key's newest value (a put or a delete, as the value says). */
  write(key: string, value: V): Promise<void>;
  /** Asked before every write: nothing is written for a lease no longer held. */
  held(): boolean;
  /** Told of a failed write (it stays pending); must not throw. */
  onFailure(err: unknown, key: string, pending: number): void;
}

/** See {@link createOrderedWriter}. */
export interface OrderedWriter<V> {
  /** The key's newest value, written after every change set before it. */
  set(key: string, value: V): void;
  /** The value waiting to be written for `key`, if any. */
  pending(key: string): boolean;
  /** Writes what is pending, in order; true once nothing is left, false when a write failed or the lease went. */
  flush(): Promise<boolean>;
  /** Keys waiting to be written. */
  readonly size: number;
  /** Writes that failed since start. */
  readonly failures: number;
}

/** Creates an empty {@link OrderedWriter}; one flush runs at a time (a second call shares it). */
export function createOrderedWriter<V>(opts: OrderedWriterOptions<V>): OrderedWriter<V> {
  const pending = new Map<string, V>();
  let writing: Promise<boolean> | undefined;
  let failures = 0;
  return {
    set(key, value) {
      pending.delete(key); // re-inserted last: writes keep the order of changes
      pending.set(key, value);
    },
    pending: (key) => pending.has(key),
    flush() {
      if (writing) return writing;
      if (pending.size === 0) return Promise.resolve(true);
      writing = (async () => {
        try {
          while (pending.size > 0) {
            if (!opts.held()) return false;
            const [key, value] = pending.entries().next().value as [string, V];
            try {
              await opts.write(key, value);
            } catch (err) {
              failures++;
              opts.onFailure(err, key, pending.size);
              return false;
            }
            if (pending.get(key) === value) pending.delete(key);
          }
          return true;
        } finally {
          writing = undefined;
        }
      })();
      return writing;
    },
    get size() {
      return pending.size;
    },
    get failures() {
      return failures;
    },
  };
}
