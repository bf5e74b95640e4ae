/**
 * Access tokens: compact JWTs signed with HMAC-SHA256, made and checked by `jose`. Only `HS256` is
 * accepted (jose refuses any other `alg`, `none` included) and `exp` is required; the claims must have
 * our shape. The key is shared by every server instance through the store (table server_keys), so a
 * token signed before a restart, or by another instance, still verifies.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';

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

/** The signing key as a KeyObject, made once per key: jose caches its WebCrypto form by object. */
const keyObjects = new WeakMap<Buffer, KeyObject>();
function secret(key: Buffer): KeyObject {
  let k = keyObjects.get(key);
  if (!k) {
    k = createSecretKey(key);
    keyObjects.set(key, k);
  }
  return k;
}

export function signAccessToken(claims: AccessClaims, key: Buffer): Promise<string> {
  const { sub, sid, role, name, iat, exp } = claims;
  // Claims in this order and the header {alg, typ} keep tokens byte-identical to those made before jose.
  return new SignJWT({ sub, sid, role, name, iat, exp })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(secret(key));
}

/** The claims of a valid, unexpired token; undefined for anything else (with no hint why, by design). */
export async function verifyAccessToken(
  token: string,
  key: Buffer,
  nowMs = Date.now(),
): Promise<AccessClaims | undefined> {
  if (token.length > 4096) return undefined;
  let c: Partial<AccessClaims>;
  try {
    ({ payload: c } = await jwtVerify<Partial<AccessClaims>>(token, secret(key), {
      algorithms: ['HS256'],
      requiredClaims: ['exp'],
      currentDate: new Date(nowMs),
    }));
  } catch {
    return undefined;
  }
  if (typeof c.sub !== 'string' || typeof c.sid !== 'string' || typeof c.name !== 'string') return undefined;
  if (c.role !== 'viewer' && c.role !== 'user' && c.role !== 'admin') return undefined;
  return c as AccessClaims;
}
