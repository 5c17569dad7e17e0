import { ProbeState } from "./gen/probemesh/v1/result_pb.js";

/** A probe verdict as the API and the store spell it. */
export type ProbeStateName = "up" | "degraded" | "down";

/** Converts the wire enum to its API name; UNSPECIFIED is treated as "down" (fail safe). */
export function probeStateName(state: ProbeState): ProbeStateName {
  switch (state) {
    case ProbeState.UP:
      return "up";
    case ProbeState.DEGRADED:
      return "degraded";
    default:
      return "down";
  }
}

/** Converts an API state name to the wire enum. */
export function probeStateFromName(name: ProbeStateName): ProbeState {
  return name === "up" ? ProbeState.UP : name === "degraded" ? ProbeState.DEGRADED : ProbeState.DOWN;
}
