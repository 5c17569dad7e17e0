import { JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { ensureConsumer, ensureStream, isJsApiError, JsApiCode } from "./ensure.js";

const apiError = (code: number, description: string) =>
  new JetStreamApiError({ code: 400, err_code: code, description });

/** A JetStreamManager with one stream and one consumer slot, recording the calls made. */
function fakeJsm(state: { stream?: Record<string, unknown>; consumer?: Record<string, unknown>; raceOnAdd?: boolean }) {
  const calls: string[] = [];
  const jsm = {
    streams: {
      info: async () => {
        calls.push("streams.info");
        if (!state.stream) throw apiError(JsApiCode.StreamNotFound, "stream not found");
        return { config: state.stream };
      },
      add: async (config: Record<string, unknown>) => {
        calls.push("streams.add");
        if (state.raceOnAdd) {
          state.raceOnAdd = false;
          state.stream = { ...config, max_age: 1 };
          throw apiError(JsApiCode.StreamNameInUse, "stream name already in use with a different configuration");
        }
        state.stream = config;
        return { config };
      },
      update: async (_name: string, diff: Record<string, unknown>) => {
        calls.push(`streams.update ${Object.keys(diff).join(",")}`);
        state.stream = { ...state.stream, ...diff };
        return { config: state.stream };
      },
    },
    consumers: {
      info: async () => {
        calls.push("consumers.info");
        if (!state.consumer) throw apiError(JsApiCode.ConsumerNotFound, "consumer not found");
        return { config: state.consumer };
      },
      add: async (_stream: string, config: Record<string, unknown>) => {
        calls.push("consumers.add");
        state.consumer = config;
        return { config };
      },
      update: async (_stream: string, _name: string, diff: Record<string, unknown>) => {
        calls.push(`consumers.update ${Object.keys(diff).join(",")}`);
        state.consumer = { ...state.consumer, ...diff };
        return { config: state.consumer };
      },
    },
  } as unknown as JetStreamManager;
  return { jsm, calls };
}

describe("ensureStream", () => {
  const spec = { name: "S", settings: { subjects: ["s.>"], max_age: 10 }, createOnly: { retention: "workqueue" } };

  it("creates a missing stream with its create-only settings", async () => {
    const { jsm, calls } = fakeJsm({});
    const info = await ensureStream(jsm, spec as never);
    expect(calls).toEqual(["streams.info", "streams.add"]);
    expect(info.config).toMatchObject({ name: "S", retention: "workqueue", max_age: 10 });
  });

  it("leaves a stream alone when its settings match, updates only what differs", async () => {
    const same = fakeJsm({ stream: { name: "S", subjects: ["s.>"], max_age: 10, retention: "limits" } });
    await ensureStream(same.jsm, spec as never);
    expect(same.calls).toEqual(["streams.info"]);
    const older = fakeJsm({ stream: { name: "S", subjects: ["s.>"], max_age: 5 } });
    await ensureStream(older.jsm, spec as never);
    expect(older.calls).toEqual(["streams.info", "streams.update max_age"]);
  });

  it("reads and updates the stream another replica created first", async () => {
    const { jsm, calls } = fakeJsm({ raceOnAdd: true });
    await ensureStream(jsm, spec as never);
    expect(calls).toEqual(["streams.info", "streams.add", "streams.info", "streams.update max_age"]);
  });

  it("passes on any other error, by code not message", async () => {
    const jsm = {
      streams: {
        info: async () => Promise.reject(apiError(10039, "stream not found (but really: JetStream disabled)")),
      },
    } as unknown as JetStreamManager;
    await expect(ensureStream(jsm, spec as never)).rejects.toSatisfy((e) => isJsApiError(e, 10039));
  });
});

describe("ensureConsumer", () => {
  const spec = {
    stream: "S",
    config: { durable_name: "c", ack_wait: 30, max_ack_pending: 10 },
    updatable: ["ack_wait"],
  };

  it("creates a missing consumer, updates only updatable keys that differ", async () => {
    const created = fakeJsm({});
    await ensureConsumer(created.jsm, spec as never);
    expect(created.calls).toEqual(["consumers.info", "consumers.add"]);
    const existing = fakeJsm({ consumer: { durable_name: "c", ack_wait: 5, max_ack_pending: 99 } });
    await ensureConsumer(existing.jsm, spec as never);
    expect(existing.calls).toEqual(["consumers.info", "consumers.update ack_wait"]);
  });

  it("classifies errors by JetStream API code", () => {
    expect(isJsApiError(apiError(10014, "whatever"), JsApiCode.ConsumerNotFound)).toBe(true);
    expect(isJsApiError(new Error("consumer not found"), JsApiCode.ConsumerNotFound)).toBe(false);
  });
});
