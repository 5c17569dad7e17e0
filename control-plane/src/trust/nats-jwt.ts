import {
  createAccount,
  createOperator,
  createUser,
  decode,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromSeed,
  type Account,
  type ClaimsData,
  type KeyPair,
  type Operator,
  type User,
} from "@nats-io/jwt";

/** A new NATS nkey seed (operator "SO…", account "SA…", user "SU…") as text. */
export function newSeed(kind: "operator" | "account" | "user"): string {
  const kp = kind === "operator" ? createOperator() : kind === "account" ? createAccount() : createUser();
  return new TextDecoder().decode(kp.getSeed());
}

/** The key pair of a seed (text, surrounding whitespace ignored). */
export function keyPair(seed: string): KeyPair {
  return fromSeed(new TextEncoder().encode(seed.trim()));
}

/** The public key ("O…", "A…", "U…") of a seed. */
export function publicKeyOf(seed: string): string {
  return keyPair(seed).getPublicKey();
}

/** No limit, as NATS JWTs spell it. */
const UNLIMITED = -1;

/**
 * Account limits with nothing limited. Spelled out: a missing field decodes as 0 in nats-server,
 * and 0 connections or 0 subscriptions means none at all.
 */
const OPEN_ACCOUNT_LIMITS = {
  subs: UNLIMITED,
  data: UNLIMITED,
  payload: UNLIMITED,
  imports: UNLIMITED,
  exports: UNLIMITED,
  wildcards: true,
  conn: UNLIMITED,
  leaf: UNLIMITED,
} as const;

/** JetStream with no limit but the server's own (the account's streams, KV and consumers). */
const OPEN_JETSTREAM_LIMITS = {
  mem_storage: UNLIMITED,
  disk_storage: UNLIMITED,
  streams: UNLIMITED,
  consumer: UNLIMITED,
} as const;

/** The operator JWT, self-signed, naming the system account. */
export async function operatorJwt(opts: {
  name: string;
  operatorSeed: string;
  systemAccount: string;
}): Promise<string> {
  const operator: Partial<Operator> = { system_account: opts.systemAccount };
  return encodeOperator(opts.name, keyPair(opts.operatorSeed), operator);
}

/**
 * An account JWT signed by the operator. `jetstream` enables JetStream without limits;
 * `signingKeys` are the public keys allowed to sign its users.
 */
export async function accountJwt(opts: {
  name: string;
  accountSeed: string;
  operatorSeed: string;
  jetstream: boolean;
  signingKeys?: readonly string[];
}): Promise<string> {
  const account: Partial<Account> = {
    limits: opts.jetstream ? { ...OPEN_ACCOUNT_LIMITS, ...OPEN_JETSTREAM_LIMITS } : { ...OPEN_ACCOUNT_LIMITS },
  };
  if (opts.signingKeys && opts.signingKeys.length > 0) account.signing_keys = [...opts.signingKeys];
  return encodeAccount(opts.name, keyPair(opts.accountSeed), account, { signer: keyPair(opts.operatorSeed) });
}

/** Publish and subscribe permissions of a user. Omitted = no restriction on that side. */
export interface UserPermissions {
  pub?: { allow?: string[]; deny?: string[] };
  sub?: { allow?: string[]; deny?: string[] };
}

/**
 * A user of `account` as a standard NATS `.creds` file: a fresh user key, its JWT signed by
 * `signerSeed` (the account's own seed, or one of its signing keys), expiring at `expiresAt`
 * (Unix ms; omitted = never).
 */
export async function userCreds(opts: {
  name: string;
  account: string;
  signerSeed: string;
  permissions?: UserPermissions;
  expiresAt?: number;
  now?: number;
}): Promise<string> {
  const user = createUser();
  const signer = keyPair(opts.signerSeed);
  const claims: Partial<User> = {};
  if (opts.permissions?.pub) claims.pub = { allow: [], deny: [], ...opts.permissions.pub };
  if (opts.permissions?.sub) claims.sub = { allow: [], deny: [], ...opts.permissions.sub };
  const encoding = {
    ...(opts.expiresAt !== undefined ? { exp: Math.floor(opts.expiresAt / 1000) } : {}),
    // The account's own key signs as issuer; a signing key signs on the account's behalf.
    ...(signer.getPublicKey() !== opts.account ? { signer } : {}),
  };
  const issuer = signer.getPublicKey() === opts.account ? signer : opts.account;
  const jwt = await encodeUser(opts.name, user, issuer, claims, encoding);
  return new TextDecoder().decode(fmtCreds(jwt, user));
}

/** The user JWT inside a `.creds` file's text, or undefined. */
export function credsJwt(creds: string): string | undefined {
  const m = /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_=.-]+)\s*------END NATS USER JWT------/.exec(creds);
  return m?.[1];
}

/** The decoded claims of a user JWT. */
export function decodeUser(jwt: string): ClaimsData<User> {
  return decode<User>(jwt);
}

/** The account a user JWT belongs to: its issuer account when signed by a signing key, else its issuer. */
export function accountOfUser(jwt: string): string {
  const claims = decodeUser(jwt);
  return claims.nats.issuer_account ?? claims.iss;
}
