import { parseArgs } from "node:util";
import { ProbemeshError } from "../errors.js";
import { initTrust } from "./init.js";

const USAGE = `usage: probemesh-control-plane init --dir DIR --nats-listen HOST:PORT [--san NAME_OR_IP ...]
                                   [--nats-cluster N [--nats-cluster-port PORT]]

Creates (or completes; never overwrites) a CA, a server certificate for NATS, gRPC and the HTTP API,
a NATS operator-mode setup, the control plane's NATS credentials and DIR/control-plane.env.
Then: nats-server -c DIR/nats/nats-server.conf
      PROBEMESH_ENV_FILE=DIR/control-plane.env probemesh-control-plane

--nats-cluster N (2..5) writes a local NATS cluster instead of one server: DIR/nats/node-<i>.conf,
node i listening for clients on the --nats-listen port + i - 1 and for routes (mutual TLS) on
--nats-cluster-port (default: the client port + 2000) + i - 1, storing in DIR/nats/node-<i>/.
PROBEMESH_NATS_URL in control-plane.env then lists every node; run the control plane with
PROBEMESH_JETSTREAM_REPLICAS=3 (at most N).
`;

/** Runs `probemesh-control-plane init` with its arguments; returns the exit code. */
export async function runInitCommand(
  args: readonly string[],
  out: { write(s: string): unknown } = process.stdout,
  err: { write(s: string): unknown } = process.stderr,
): Promise<number> {
  let values: {
    dir?: string;
    "nats-listen"?: string;
    san?: string[];
    "nats-cluster"?: string;
    "nats-cluster-port"?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        dir: { type: "string" },
        "nats-listen": { type: "string" },
        san: { type: "string", multiple: true },
        "nats-cluster": { type: "string" },
        "nats-cluster-port": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    err.write(`probemesh-control-plane init: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    out.write(USAGE);
    return 0;
  }
  if (!values.dir || !values["nats-listen"]) {
    err.write(`probemesh-control-plane init: --dir and --nats-listen are required\n${USAGE}`);
    return 2;
  }
  const whole = (flag: string, v: string | undefined): number | undefined | null => {
    if (v === undefined) return undefined;
    if (/^\d{1,5}$/.test(v)) return Number(v);
    err.write(`probemesh-control-plane init: ${flag} must be a whole number\n${USAGE}`);
    return null;
  };
  const natsNodes = whole("--nats-cluster", values["nats-cluster"]);
  const clusterPort = whole("--nats-cluster-port", values["nats-cluster-port"]);
  if (natsNodes === null || clusterPort === null) return 2;
  try {
    const report = await initTrust({
      ...(natsNodes !== undefined ? { natsNodes } : {}),
      ...(clusterPort !== undefined ? { clusterPort } : {}),
      dir: values.dir,
      natsListen: values["nats-listen"],
      sans: values.san ?? [],
    });
    for (const f of report.created) out.write(`created ${f}\n`);
    for (const f of report.kept) out.write(`kept    ${f}\n`);
    for (const w of report.warnings) err.write(`warning: ${w}\n`);
    const natsStart =
      report.natsNodeConfs.length > 0
        ? report.natsNodeConfs.map((c, i) => `Start NATS node ${i + 1}:   nats-server -c ${c}\n`).join("")
        : `Start NATS:          nats-server -c ${report.paths.natsConf}\n`;
    out.write(
      `\n${natsStart}` +
        `Start control plane: PROBEMESH_ENV_FILE=${report.paths.env} probemesh-control-plane\n` +
        `Admin API token:     PROBEMESH_API_TOKEN in ${report.paths.env}\n` +
        `Agents verify with:  PROBEMESH_CA_FILE=${report.paths.caCert}\n`,
    );
    return 0;
  } catch (e) {
    err.write(`probemesh-control-plane init: ${ProbemeshError.from(e).message}\n`);
    return e instanceof ProbemeshError ? 2 : 1;
  }
}
