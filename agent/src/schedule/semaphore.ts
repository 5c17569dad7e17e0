/** Gives back a permit taken from a `Semaphore`; calling it twice is harmless. */
export type Release = () => void;

/** Counting semaphore bounding how many probe runs are in flight. */
export interface Semaphore {
  /** Resolves with a release function once a permit is free (FIFO). */
  acquire(): Promise<Release>;
  /** Permits currently held. */
  inUse(): number;
  /** Callers waiting for a permit. */
  waiting(): number;
}

/** Creates a FIFO counting semaphore with `permits` permits. */
export function createSemaphore(permits: number): Semaphore {
  if (!(permits >= 1)) throw new RangeError(`semaphore needs at least one permit, got ${permits}`);
  let held = 0;
  const queue: Array<(release: Release) => void> = [];
  const makeRelease = (): Release => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = queue.shift();
      // Hand the permit straight to the next waiter so no newcomer can jump the queue.
      if (next) next(makeRelease());
      else held--;
    };
  };
  return {
    acquire() {
      if (held < permits) {
        held++;
        return Promise.resolve(makeRelease());
      }
      return new Promise<Release>((resolve) => queue.push(resolve));
    },
    inUse: () => held,
    waiting: () => queue.length,
  };
}
