import type { Failure } from "./outcome.js";

/**
 * The failure an aborted run reports: the scheduler aborts with a `TimeoutError` at the
 * check's deadline; any other abort (the agent stopping) is not the target's fault.
 */
export function abortFailure(signal: AbortSignal, during: string): Failure {
  const reason: unknown = signal.reason;
  const name = reason instanceof Error || reason instanceof DOMException ? reason.name : "";
  if (name === "TimeoutError") return { reason: "timeout", message: `timed out during ${during}` };
  return {
    reason: "internal",
    message: `run aborted during ${during}${reason instanceof Error ? `: ${reason.message}` : ""}`,
  };
}

/**
 * Runs `fn` with a signal that fires at the caller's signal or after `timeoutMs`, whichever comes
 * first, so a prober honours its deadline even when called without a scheduler (benchmarks,
 * tests). Its timer and listener are released as soon as `fn` settles: unlike
 * `AbortSignal.any([s, AbortSignal.timeout(ms)])`, nothing outlives the run (a timer, a
 * DOMException and an abort event per probe, `timeoutMs` later).
 */
export async function withDeadline<T>(
  signal: AbortSignal,
  timeoutMs: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (!(timeoutMs > 0) || signal.aborted) return await fn(signal);
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  signal.addEventListener("abort", forward, { once: true });
  // Same reason AbortSignal.timeout() gives, so failures classify as "timeout" either way.
  const timer = setTimeout(
    () => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")),
    timeoutMs,
  );
  timer.unref();
  try {
    return await fn(controller.signal);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", forward);
  }
}

/** Resolves with `value` when the signal aborts (immediately if it already has). */
export function onAbort<T>(signal: AbortSignal, value: () => T): { promise: Promise<T>; dispose: () => void } {
  let dispose = () => {};
  const promise = new Promise<T>((resolve) => {
    if (signal.aborted) {
      resolve(value());
      return;
    }
    const handler = () => resolve(value());
    signal.addEventListener("abort", handler, { once: true });
    dispose = () => signal.removeEventListener("abort", handler);
  });
  return { promise, dispose };
}
