// Polling for the views: load now, every `everyMs`, and whenever `deps` change.
import { useEffect, useState } from "preact/hooks";
import { ApiError, describeError } from "./api";

export interface Polled<T> {
  /** The last good answer (kept while later calls fail). */
  value: T | undefined;
  /** What to tell the user about the last call, "" when it succeeded. */
  error: string;
  /** The last call was refused for the token's scope (403). */
  forbidden: boolean;
}

export function usePolled<T>(load: () => Promise<T>, everyMs: number, deps: unknown[]): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ value: undefined, error: "", forbidden: false });
  useEffect(() => {
    let stop = false;
    const run = () =>
      load().then(
        (value) => {
          if (!stop) setState({ value, error: "", forbidden: false });
        },
        (err: unknown) => {
          if (stop) return;
          const forbidden = err instanceof ApiError && err.status === 403;
          setState((s) => ({ value: s.value, error: describeError(err), forbidden }));
        },
      );
    void run();
    const id = setInterval(() => void run(), everyMs);
    return () => {
      stop = true;
      clearInterval(id);
    };
  }, deps);
  return state;
}
