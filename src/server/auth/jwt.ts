/**
 * Access tokens: compact JWTs signed with HMAC-SHA256 (RFC 7519 / 7515), made and checked with
 * node:crypto. Only `HS256` is accepted — the header's `alg` is compared, never trusted — and `exp` is
 * required. The key is shared by every server instance through the store (table server_keys).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface AccessClaims {
  /** user id */
  sub: string;
  /** session id (a logout or a revoked session stops its access tokens too) */
  sid: string;
  role: 'viewer' | 'user' | 'admin';
  name: string;
  iat: number;
  exp: number;
}

const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

function sign(input: string, key: Buffer): Buffer {
  return createHmac('sha256', key).update(input).digest();
}

export function signAccessToken(claims: AccessClaims, key: Buffer): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${header}.${body}.${sign(`${header}.${body}`, key).toString('base64url')}`;
}

/** The claims of a valid, unexpired token; undefined for anything else (with no hint why, by design). */
export function verifyAccessToken(token: string, key: Buffer, nowMs = Date.now()): AccessClaims | undefined {
  if (token.length > 4096) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, b, s] = parts as [string, string, string];
  const given = Buffer.from(s, 'base64url');
  const want = sign(`${h}.${b}`, key);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
  try {
    const head = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown };
    if (head.alg !== 'HS256') return undefined;
    const c = JSON.parse(Buffer.from(b, 'base64url').toString('utf8')) as Partial<AccessClaims>;
    if (typeof c.exp !== 'number' || c.exp * 1000 <= nowMs) return undefined;
    if (typeof c.sub !== 'string' || typeof c.sid !== 'string' || typeof c.name !== 'string')
      return undefined;
    if (c.role !== 'viewer' && c.role !== 'user' && c.role !== 'admin') return undefined;
    return c as AccessClaims;
  } catch {
    return undefined;
  }
}
