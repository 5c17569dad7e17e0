// A private Alertmanager (Debian's prometheus-alertmanager) on a free port: no clustering, storage in
// a temp dir, one receiver that sends nowhere (tests read alerts back through its API).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { startProcess, waitFor, type Managed } from "./process.js";

/** Where Debian installs Alertmanager. */
export const ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager";

/** One alert as `GET /api/v2/alerts` lists it. */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

/** A running Alertmanager. */
export interface Alertmanager {
  /** Base URL, e.g. http://127.0.0.1:9093 (`${url}/api/v2/alerts` is where hooks push). */
  readonly url: string;
  readonly proc: Managed;
  /** The alerts it holds now (active, silenced, inhibited, unprocessed; never resolved ones). */
  alerts(): Promise<AlertmanagerAlert[]>;
  dispose(): Promise<void>;
}

/** Starts Alertmanager and waits until it is ready. */
export async function startAlertmanager(): Promise<Alertmanager> {
  const dir = mkdtempSync(join(tmpdir(), "probemesh-alertmanager-"));
  const config = join(dir, "alertmanager.yml");
  writeFileSync(config, 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess("alertmanager", ALERTMANAGER_BIN, [
    `--config.file=${config}`,
    `--storage.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // Empty: no gossip listener (a single private instance, no port clash with others).
    "--cluster.listen-address=",
  ]);
  const dispose = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      "alertmanager /-/ready",
      async () => {
        if (proc.exited()) throw new Error(`alertmanager exited:\n${proc.output()}`);
        return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
      },
      30_000,
      200,
    );
  } catch (err) {
    await dispose();
    throw err;
  }
  return {
    url,
    proc,
    async alerts() {
      const res = await fetch(`${url}/api/v2/alerts`);
      if (res.status !== 200) throw new Error(`GET /api/v2/alerts: HTTP ${res.status}`);
      return (await res.json()) as AlertmanagerAlert[];
    },
    dispose,
  };
}
