import { Counter, Gauge, type Registry } from "prom-client";

/** One labelled value read from a stats object at scrape time. */
export type Sample<L extends string> = readonly [labels: Partial<Record<L, string>>, value: number];

/**
 * Reads the samples of a stats source that may not exist yet (main.ts fills the sources in as it
 * goes): none while `get` gives nothing, `read` of its stats otherwise.
 */
export const samplesOf =
  <S>(get: () => S | undefined) =>
  <L extends string>(read: (s: S) => readonly Sample<L>[]) =>
  (): readonly Sample<L>[] => {
    const s = get();
    return s === undefined ? [] : read(s);
  };

/** What {@link counterFromStats} and {@link gaugeFromStats} are made of. */
export interface StatsMetricOptions<L extends string> {
  registry: Registry;
  name: string;
  help: string;
  labelNames?: readonly L[];
  /** The samples now (no sample: the family has no series). Runs at every scrape; must not throw. */
  read: () => readonly Sample<L>[] | Promise<readonly Sample<L>[]>;
}

/**
 * A counter whose value lives in an existing stats object (ingest, consensus, hooks): read at
 * scrape time, so the module that counts never imports prom-client.
 */
export function counterFromStats<L extends string>(opts: StatsMetricOptions<L>): Counter<L> {
  return new Counter<L>({
    name: opts.name,
    help: opts.help,
    labelNames: opts.labelNames ?? [],
    registers: [opts.registry],
    async collect() {
      const samples = await opts.read();
      this.reset();
      for (const [labels, value] of samples) if (value >= 0) this.inc(labels, value);
    },
  });
}

/** A gauge read from a stats object at scrape time; see {@link counterFromStats}. */
export function gaugeFromStats<L extends string>(opts: StatsMetricOptions<L>): Gauge<L> {
  return new Gauge<L>({
    name: opts.name,
    help: opts.help,
    labelNames: opts.labelNames ?? [],
    registers: [opts.registry],
    async collect() {
      const samples = await opts.read();
      this.reset();
      // Unlabelled, reset() leaves a 0: a value that cannot be read now (NATS down) is no series, not 0.
      if (samples.length === 0 && (opts.labelNames ?? []).length === 0) this.remove({} as Partial<Record<L, string>>);
      for (const [labels, value] of samples) this.set(labels, value);
    },
  });
}
