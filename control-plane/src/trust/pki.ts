// @peculiar/x509 decorates its ASN.1 classes: the metadata polyfill must load first.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type Key = webcrypto.CryptoKey;

const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** Names every server certificate carries, whatever else is asked: local clients always verify. */
export const ALWAYS_SANS: readonly string[] = ["localhost", "127.0.0.1"];

/**
 * Creates a self-signed CA (ECDSA P-256, SHA-256) for one installation.
 * @param validDays @default 3650
 */
export async function createCa(opts: { commonName: string; validDays?: number; now?: Date }): Promise<PemPair> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const notBefore = opts.now ?? new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${opts.commonName}`,
    notBefore: new Date(notBefore.getTime() - 60_000),
    notAfter: new Date(notBefore.getTime() + (opts.validDays ?? 3650) * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * Issues a server certificate (serverAuth and clientAuth) for `sans` (host names and IP addresses),
 * signed by the CA; `localhost` and `127.0.0.1` are always included.
 * @param validDays @default 825
 */
export async function issueServerCert(opts: {
  ca: PemPair;
  sans: readonly string[];
  validDays?: number;
  now?: Date;
}): Promise<PemPair> {
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  const caKey = await importPrivateKey(opts.ca.keyPem);
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const names = uniqueSans(opts.sans);
  const notBefore = opts.now ?? new Date();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${names[0] ?? "localhost"}`,
    issuer: caCert.subject,
    notBefore: new Date(notBefore.getTime() - 60_000),
    notAfter: new Date(notBefore.getTime() + (opts.validDays ?? 825) * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: isIP(n) ? "ip" : "dns", value: n }))),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

/** The subject alternative names (DNS names and IP addresses) of a PEM certificate. */
export function certSans(certPem: string): string[] {
  const cert = new x509.X509Certificate(certPem);
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return ext ? ext.names.items.map((n) => n.value) : [];
}

/** `sans` plus the names always included, without duplicates, in a stable order. */
export function uniqueSans(sans: readonly string[]): string[] {
  return [...new Set([...ALWAYS_SANS, ...sans.map((s) => s.trim()).filter((s) => s !== "")])];
}

async function privateKeyPem(key: Key): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return `${x509.PemConverter.encode(der, "PRIVATE KEY")}\n`;
}

async function importPrivateKey(pem: string): Promise<Key> {
  const der = x509.PemConverter.decodeFirst(pem);
  return webcrypto.subtle.importKey("pkcs8", der, KEY_ALGORITHM, false, ["sign"]);
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  // Positive: the top bit of the first byte is cleared (DER integers are signed).
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}
