export { createIngest, type Ingest, type IngestOptions, type IngestStats } from "./ingest.js";
export { ensureResultsStream, RESULTS_DUPLICATE_WINDOW_MS, type ResultsStreamOptions } from "./results-stream.js";
export { resultToRow, resultProblem } from "./result-to-row.js";
export {
  createResultBinding,
  createUntrustedLog,
  emptyUntrustedCounts,
  UNTRUSTED_REASONS,
  type ResultBinding,
  type ResultBindingOptions,
  type ResultClaim,
  type UntrustedCounts,
  type UntrustedLog,
  type UntrustedLogOptions,
  type UntrustedReason,
} from "./result-binding.js";
export { followChecks, type FollowedChecks } from "./follow-checks.js";
