import { readFileSync } from "node:fs";

/** A server certificate chain and its private key, read from PEM files. */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
}

/** Reads PROBEMESH_TLS_CERT / PROBEMESH_TLS_KEY once at start (a renewed certificate needs a restart). */
export function readServerTls(files: { certFile: string; keyFile: string }): ServerTls {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}
