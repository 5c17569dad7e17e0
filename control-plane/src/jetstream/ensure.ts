import { isDeepStrictEqual } from "node:util";
import {
  JetStreamApiError,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";

/** JetStream API error codes the control plane acts on (nats-server's `err_code`). */
export const JsApiCode = {
  /** `consumer name already in use`. */
  ConsumerNameInUse: 10013,
  /** `consumer not found`. */
  ConsumerNotFound: 10014,
  /** `stream name already in use with a different configuration`. */
  StreamNameInUse: 10058,
  /** `stream not found`. */
  StreamNotFound: 10059,
  /** `consumer already exists` (a create racing another). */
  ConsumerAlreadyExists: 10148,
} as const;

/** True when `err` is a JetStream API error with one of `codes`. */
export function isJsApiError(err: unknown, ...codes: number[]): err is JetStreamApiError {
  return err instanceof JetStreamApiError && codes.includes(err.code);
}

/** What {@link ensureStream} wants of a stream. */
export interface StreamSpec {
  name: string;
  /** Settings kept in line: set on create, and an existing stream that differs in any is updated. */
  settings: Partial<StreamConfig>;
  /** Settings given only on create (JetStream cannot change them later, e.g. retention, storage). @default {} */
  createOnly?: Partial<StreamConfig>;
}

/** What {@link ensureConsumer} wants of a durable consumer. */
export interface ConsumerSpec {
  stream: string;
  /** The whole config on create; `durable_name` names the consumer. */
  config: Partial<ConsumerConfig> & { durable_name: string };
  /** Keys of `config` kept in line on an existing consumer (updated when they differ). @default [] */
  updatable?: (keyof ConsumerConfig)[];
}

function differing<T extends object>(current: T, wanted: Partial<T>): Partial<T> | undefined {
  const diff: Partial<T> = {};
  let any = false;
  for (const key of Object.keys(wanted) as (keyof T)[]) {
    if (!isDeepStrictEqual(current[key], wanted[key])) {
      diff[key] = wanted[key];
      any = true;
    }
  }
  return any ? diff : undefined;
}

/**
 * Creates a stream, or brings an existing one's `settings` in line. Safe when several control
 * planes start at once: a create that loses the race reads the winner's stream and updates it.
 */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamInfo> {
  for (let attempt = 0; ; attempt++) {
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(spec.name);
    } catch (err) {
      if (!isJsApiError(err, JsApiCode.StreamNotFound)) throw err;
      try {
        return await jsm.streams.add({ ...spec.createOnly, ...spec.settings, name: spec.name });
      } catch (addErr) {
        if (attempt === 0 && isJsApiError(addErr, JsApiCode.StreamNameInUse)) continue;
        throw addErr;
      }
    }
    const diff = differing(info.config, spec.settings);
    return diff ? await jsm.streams.update(spec.name, diff) : info;
  }
}

/**
 * Creates a durable consumer, or brings an existing one's `updatable` keys in line. Safe when
 * several control planes start at once. The stream must exist (JetStream answers "stream not found").
 */
export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec): Promise<ConsumerInfo> {
  const name = spec.config.durable_name;
  const wanted: Partial<ConsumerConfig> = {};
  for (const key of spec.updatable ?? []) wanted[key] = spec.config[key] as never;
  for (let attempt = 0; ; attempt++) {
    let info: ConsumerInfo;
    try {
      info = await jsm.consumers.info(spec.stream, name);
    } catch (err) {
      if (!isJsApiError(err, JsApiCode.ConsumerNotFound)) throw err;
      try {
        return await jsm.consumers.add(spec.stream, spec.config);
      } catch (addErr) {
        if (attempt === 0 && isJsApiError(addErr, JsApiCode.ConsumerNameInUse, JsApiCode.ConsumerAlreadyExists))
          continue;
        throw addErr;
      }
    }
    const diff = differing(info.config, wanted);
    return diff ? await jsm.consumers.update(spec.stream, name, diff) : info;
  }
}
