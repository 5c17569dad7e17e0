// Test helpers of the control plane (`@probemesh/control-plane/testing`): never imported by the
// program itself (main.ts), only by unit and integration tests.
export { createStaticLeases, type StaticLeasesOptions } from "./static-leases.js";
