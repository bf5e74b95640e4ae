/**
 * Password hashing with scrypt (node:crypto). The parameters and salt are stored with the hash
 * (`scrypt$N$r$p$salt$hash`, base64url) so they can be raised later without invalidating old hashes:
 * `needsRehash` tells when a stored hash is weaker than today's parameters.
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** ~50 ms on a 2020s server core; 16 MiB of memory per hash. */
export const defaultScrypt: ScryptParams = { N: 16384, r: 8, p: 1 };
const keyLength = 32;
const minPasswordLength = 10;
const maxPasswordLength = 1024;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keyLength, opts, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Why a password is not acceptable, or undefined when it is. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < minPasswordLength) return `a password needs at least ${minPasswordLength} characters`;
  if (password.length > maxPasswordLength)
    return `a password may have at most ${maxPasswordLength} characters`;
  return undefined;
}

export async function hashPassword(password: string, params: ScryptParams = defaultScrypt): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

function parse(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 2 ** 20 || r > 32 || p > 16)
    return undefined;
  return {
    params: { N, r, p },
    salt: Buffer.from(parts[4]!, 'base64url'),
    key: Buffer.from(parts[5]!, 'base64url'),
  };
}

/** Constant-time check of a password against a stored hash; false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed || password.length > maxPasswordLength) return false;
  const key = await derive(password, parsed.salt, parsed.params);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

export function needsRehash(stored: string, params: ScryptParams = defaultScrypt): boolean {
  const parsed = parse(stored);
  return !parsed || parsed.params.N < params.N || parsed.params.r < params.r || parsed.params.p < params.p;
}

/** A generated password: 24 characters from 144 random bits, for first-start admins and `user add`. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
