import { setFlagsFromString } from "node:v8";

/**
 * V8 flags the agent sets on itself so that its resident memory follows its live heap (~20 MB at
 * 1,000 checks) rather than V8's defaults for big servers. V8 reads both each time it resizes the
 * heap, so, unlike `--max-semi-space-size`, they work when set after start: whichever way the
 * agent is launched (`node dist/main.js`, its bin, a service manager).
 */
export const LEAN_HEAP_FLAGS = {
  /** Keeps the young generation at its initial 1 MiB semi-spaces; by default a steady probe load grows them to 16 MiB each (~30 MB resident) for ~2% less CPU. */
  youngGeneration: "--semi-space-growth-factor=1",
  /** After a full GC the old generation may grow 30% past what survived (V8's own conservative factor) instead of up to 4x. */
  oldGeneration: "--heap-growing-percent=30",
} as const;

// An operator who sizes a generation with node flags or NODE_OPTIONS keeps their choice.
const OPERATOR_SETS = {
  youngGeneration: /^--(?:max|min)[-_]semi[-_]space[-_]size\b|^--semi[-_]space[-_]growth[-_]factor\b/,
  oldGeneration: /^--heap[-_]growing[-_]percent\b/,
};

/** The lean-heap flags that `nodeFlags` (the process's node flags and NODE_OPTIONS, split) do not already decide. */
export function leanHeapFlags(nodeFlags: readonly string[]): string[] {
  return (Object.keys(LEAN_HEAP_FLAGS) as (keyof typeof LEAN_HEAP_FLAGS)[])
    .filter((k) => !nodeFlags.some((f) => OPERATOR_SETS[k].test(f)))
    .map((k) => LEAN_HEAP_FLAGS[k]);
}

/**
 * Applies the lean-heap flags to this process and returns those applied. Call it before loading
 * anything else: loading the agent's modules alone grows the young generation to 8 MiB
 * semi-spaces, which V8 then keeps.
 */
export function applyLeanHeap(opts: { execArgv: readonly string[]; nodeOptions: string | undefined }): string[] {
  const flags = leanHeapFlags([...opts.execArgv, ...(opts.nodeOptions ?? "").split(/\s+/).filter((f) => f !== "")]);
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
