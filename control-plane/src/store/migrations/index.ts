// Every migration, one line each; the runner sorts them by version and rejects duplicates.
export { migration as m001 } from "./001-results.js";
export { migration as m002 } from "./002-outages-and-rollups.js";
export { migration as m003 } from "./003-check-identity.js";
