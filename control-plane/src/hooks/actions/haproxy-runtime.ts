import { createConnection } from "node:net";
import { parseHostPort } from "../dns/client.js";

/** One server line of `show servers state <backend>`. */
export interface HaproxyServerState {
  backend: string;
  name: string;
  /** srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  /** srv_admin_state bit field (0x01 forced maint, 0x02 inherited maint, 0x04 config maint, 0x08/0x10 drain, 0x20 resolution maint). */
  adminState: number;
  /** srv_uweight, the weight set by the user. */
  weight: number;
}

/** Admin-state bits meaning the server takes no new traffic (maintenance or drain). */
export const ADMIN_OUT_OF_SERVICE = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20;
/** Bit of a server put in maintenance by `set server ... state maint`. */
export const ADMIN_FORCED_MAINT = 0x01;

/** Sends one command to HAProxy's runtime API (unix socket path or host:port) and returns its output. */
export async function haproxyCommand(socket: string, command: string, signal: AbortSignal): Promise<string> {
  const sock = socket.startsWith("/") ? createConnection(socket) : createConnection(parseHostPort(socket));
  return await new Promise<string>((resolve, reject) => {
    let out = "";
    const onAbort = () => {
      sock.destroy();
      reject(new Error(`HAProxy runtime API did not answer: ${String(signal.reason ?? "aborted")}`));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      out += d;
      if (out.length > 1_000_000) sock.destroy(new Error("HAProxy runtime API answer too large"));
    });
    sock.on("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(err);
    });
    // Non-interactive mode: HAProxy answers one command and closes the connection.
    sock.on("close", () => {
      signal.removeEventListener("abort", onAbort);
      resolve(out);
    });
    sock.write(`${command}\n`);
  });
}

/** Parses `show servers state` output (format version 1). */
export function parseServersState(text: string): HaproxyServerState[] {
  const lines = text.split("\n").map((l) => l.trim());
  const header = lines.find((l) => l.startsWith("# be_id"));
  if (lines[0] !== "1" || !header) throw new Error(`unexpected 'show servers state' answer: ${text.slice(0, 200)}`);
  const cols = header.slice(2).split(" ");
  const at = (name: string) => cols.indexOf(name);
  const [be, srv, op, admin, w] = [
    at("be_name"),
    at("srv_name"),
    at("srv_op_state"),
    at("srv_admin_state"),
    at("srv_uweight"),
  ];
  return lines
    .filter((l) => l !== "" && l !== "1" && !l.startsWith("#"))
    .map((l) => l.split(" "))
    .map((f) => ({
      backend: f[be] ?? "",
      name: f[srv] ?? "",
      opState: Number(f[op]),
      adminState: Number(f[admin]),
      weight: Number(f[w]),
    }));
}

/** True when a server takes traffic: running, not in maintenance or drain, weight above 0. */
export function isServing(s: HaproxyServerState): boolean {
  return s.opState === 2 && (s.adminState & ADMIN_OUT_OF_SERVICE) === 0 && s.weight > 0;
}
