/**
 * An agentless target's connection: the URL an admin gives, checked and split into what may be shown
 * (host, port, database, user, sslmode) and what is sealed (the URL with its password), and the TLS
 * options the collector's sessions get for the sslmode and CA bundle.
 *
 * Guarantees: no error message made here contains the password (messages name the parameter, never its
 * value); sslmode follows libpq's meaning for the four modes accepted (`prefer` and `allow`, which may
 * silently fall back to plain text, are refused: a password sent to a managed database goes over TLS
 * unless the admin says `disable`); the default is verify-full.
 */
import { X509Certificate } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { PgvigilError } from '../../errors.js';

export const sslModes = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof sslModes)[number];

export interface TargetConnection {
  host: string;
  port: number;
  dbname: string;
  username: string;
  sslmode: SslMode;
  /** The URL without ssl parameters, with the password: what gets sealed. */
  sealedUrl: string;
}

const maxCaBytes = 256 * 1024;

function bad(message: string): PgvigilError {
  return new PgvigilError('BAD_ARGUMENT', message);
}

/** Checks a target URL (postgres:// or postgresql://) and splits it. Pure. */
export function parseTargetUrl(url: string): TargetConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('url: not a URL (expected postgres://user:password@host:5432/database?sslmode=verify-full)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw bad(`url: expected a postgres:// or postgresql:// URL, not ${u.protocol.slice(0, 20)}`);
  if (!u.hostname) throw bad('url: the host is missing');
  if (u.hostname.startsWith('%2F') || u.hostname.startsWith('/'))
    throw bad('url: a Unix socket is not a remote target; give a host name');
  let password = '';
  let username = '';
  try {
    password = decodeURIComponent(u.password);
    username = decodeURIComponent(u.username);
  } catch {
    throw bad('url: the user or password is not valid percent-encoding');
  }
  let sslmode: SslMode = 'verify-full';
  for (const [key, value] of u.searchParams) {
    if (key === 'sslmode') {
      if (!(sslModes as readonly string[]).includes(value))
        throw bad(
          `url: sslmode=${value.slice(0, 20)} is not accepted; use one of ${sslModes.join(', ')} (prefer and allow may fall back to plain text)`,
        );
      sslmode = value as SslMode;
    } else if (key === 'password') {
      password = value;
    } else if (key === 'user') {
      username = value;
    } else if (key === 'sslrootcert') {
      throw bad('url: sslrootcert names a file on the server; give the CA bundle itself as caPem');
    } else {
      // Parameters are refused by name only: a value may be a secret.
      throw bad(
        `url: the parameter ${key.slice(0, 40)} is not supported (supported: sslmode, user, password)`,
      );
    }
  }
  if (!username) throw bad('url: the user is missing');
  if (username.length > 63) throw bad('url: the user name is longer than 63 characters');
  let dbname: string;
  try {
    dbname = decodeURIComponent(u.pathname.replace(/^\//, '')) || username;
  } catch {
    throw bad('url: the database name is not valid percent-encoding');
  }
  if (dbname.length > 63) throw bad('url: the database name is longer than 63 characters');
  const port = u.port ? Number(u.port) : 5432;
  const clean = new URL(`postgres://${u.host}`);
  clean.username = encodeURIComponent(username);
  clean.password = encodeURIComponent(password);
  clean.pathname = `/${encodeURIComponent(dbname)}`;
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    dbname,
    username,
    sslmode,
    sealedUrl: clean.toString(),
  };
}

/** Checks a CA bundle: PEM certificates only, at least one, each parseable. Pure. */
export function checkCaBundle(pem: string): string {
  if (Buffer.byteLength(pem) > maxCaBytes) throw bad(`caPem: longer than ${maxCaBytes} bytes`);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw bad('caPem: no PEM certificate (-----BEGIN CERTIFICATE-----) in it');
  if (/PRIVATE KEY-----/.test(pem)) throw bad('caPem: holds a private key; give the CA certificates only');
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch {
      throw bad(`caPem: certificate ${i + 1} cannot be read`);
    }
  }
  return pem;
}

/**
 * The `ssl` option of the collector's sessions for this sslmode (libpq's meaning): disable → none;
 * require → TLS without verification; verify-ca → chain checked against the CA bundle, host name not;
 * verify-full → chain and host name. Without a CA bundle Node's trusted CAs apply.
 */
export function sslOptions(sslmode: SslMode, caPem: string | null): false | ConnectionOptions {
  switch (sslmode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return {
        rejectUnauthorized: true,
        ...(caPem ? { ca: caPem } : {}),
        checkServerIdentity: () => undefined,
      };
    case 'verify-full':
      return { rejectUnauthorized: true, ...(caPem ? { ca: caPem } : {}) };
  }
}
