/** Opaque handle of a timer created through a `Clock`. */
export type TimerHandle = unknown;

/** Time source and timers, injected so tests can drive scheduling with a fake clock. */
export interface Clock {
  /** Wall-clock time in epoch ms. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now` and Node's timers. */
export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}
