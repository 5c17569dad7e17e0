export { createIngest, type Ingest, type IngestOptions, type IngestStats } from "./ingest.js";
export { ensureResultsStream, RESULTS_DUPLICATE_WINDOW_MS, type ResultsStreamOptions } from "./results-stream.js";
export { resultToRow, resultProblem } from "./result-to-row.js";
