import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  DnsInfoSchema,
  IcmpInfoSchema,
  PhaseTimingsSchema,
  ProbeResultSchema,
  TlsInfoSchema,
  probeStateFromName,
  type ProbeResult,
} from "@probemesh/proto";
import type { RunReport } from "../schedule/scheduler.js";
import type { SeqCounter } from "./seq-counter.js";

/** Who produced a result. */
export interface ResultIdentity {
  agentId: string;
  region: string;
  provider: string;
}

/** Dependencies of `createResultBuilder`. */
export interface ResultBuilderOptions {
  identity: ResultIdentity;
  seq: SeqCounter;
  /** Unique result ids (also the JetStream message id). @default crypto.randomUUID */
  newId?: () => string;
}

/** Turns one scheduler report into the wire `ProbeResult`, stamping id and sequence number. */
export type ResultBuilder = (report: RunReport) => ProbeResult;

const MAX_MESSAGE = 512;

/** Creates the result builder. Sequence numbers are taken in call order. */
export function createResultBuilder(options: ResultBuilderOptions): ResultBuilder {
  const newId = options.newId ?? randomUUID;
  const { agentId, region, provider } = options.identity;
  return ({ check, outcome, startedAtMs, lagMs }) => {
    const phases = Object.fromEntries(
      Object.entries(outcome.phases).filter(([, v]) => typeof v === "number" && Number.isFinite(v) && v >= 0),
    );
    return create(ProbeResultSchema, {
      id: newId(),
      checkId: check.id,
      checkVersion: check.version,
      agentId,
      region,
      provider,
      startedAtMs: BigInt(Math.max(0, Math.round(startedAtMs))),
      durationMs: Math.max(0, outcome.durationMs),
      state: probeStateFromName(outcome.state),
      reason: outcome.reason,
      message: outcome.message.slice(0, MAX_MESSAGE),
      phases: create(PhaseTimingsSchema, phases),
      seq: options.seq.next(),
      attempts: Math.max(1, outcome.attempts),
      target: outcome.target,
      canary: check.canary,
      lagMs: Math.max(0, lagMs),
      httpStatus: outcome.httpStatus ?? 0,
      bodyBytes: BigInt(Math.max(0, Math.round(outcome.bodyBytes ?? 0))),
      tls: outcome.tls ? create(TlsInfoSchema, outcome.tls) : undefined,
      dns: outcome.dns ? create(DnsInfoSchema, outcome.dns) : undefined,
      icmp: outcome.icmp ? create(IcmpInfoSchema, outcome.icmp) : undefined,
      grpcStatus: outcome.grpcStatus ?? "",
    });
  };
}
