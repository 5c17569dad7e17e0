/** Where results go when the network allows: JetStream in production, a fake in unit tests. */
export interface ResultSink {
  /** Stores one message with dedupe id `msgId`; rejects when the store did not confirm it. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<void>;
  /** True while a connection is believed up (a publish may still fail, e.g. no stream yet). */
  isUp(): boolean;
  /** Calls `listener` whenever `isUp()` may have changed; returns an unsubscribe function. */
  onUpChange(listener: (up: boolean) => void): () => void;
}
