/**
 * What every request passes before a route sees it, and how fastify's own refusals reach a client:
 *
 * - `parseJsonBody`: the JSON body parser of every route but ingest (which reads its own bytes). The
 *   parsed value is bounded by the shape guard (depth, keys, strings, values) before schema validation or
 *   a handler walks it, and `__proto__` keys are refused as fastify's default parser refuses them.
 * - `refuseNulParameters`: a NUL character in a query or path parameter is a 400 naming the parameter.
 *   PostgreSQL text cannot hold one, so letting it through ends as a driver error (a 500).
 * - `clientErrorOf`: fastify's 4xx errors (FST_* codes: validation, media type, body size, bad JSON)
 *   become codes of the registry (src/errors.ts), so a client only ever sees documented codes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, PgvigilError } from '../errors.js';
import { bodyShapeLimits, checkJsonShape } from '../protocol/json-guard.js';

export function parseJsonBody(
  _req: FastifyRequest,
  body: string | Buffer,
  done: (err: Error | null, value?: unknown) => void,
) {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') {
    done(new PgvigilError('BODY_INVALID', 'the body is empty; send a JSON value'));
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    done(new PgvigilError('BODY_INVALID', `the body is not valid JSON: ${(err as Error).message}`));
    return;
  }
  const shape = checkJsonShape(value, bodyShapeLimits);
  if (!shape.ok) {
    const code: ErrorCode = shape.kind === 'too-large' ? 'BODY_TOO_LARGE' : 'BODY_INVALID';
    done(new PgvigilError(code, `body${shape.path === '' ? '' : ` at ${shape.path}`}: ${shape.message}`));
    return;
  }
  if (text.includes('"__proto__"') && hasProtoKey(value)) {
    done(new PgvigilError('BODY_INVALID', 'the body has a "__proto__" key'));
    return;
  }
  done(null, value);
}

/** True when some object in `value` has an own `__proto__` key (iterative: the guard bounded the depth). */
function hasProtoKey(value: unknown): boolean {
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (!Array.isArray(v) && Object.hasOwn(v, '__proto__')) return true;
    stack.push(...Object.values(v));
  }
  return false;
}

function nulIn(values: unknown): string | undefined {
  if (typeof values !== 'object' || values === null) return undefined;
  for (const [name, v] of Object.entries(values)) {
    if (name.includes('\u0000')) return name.replaceAll('\u0000', '\\0');
    if (typeof v === 'string' && v.includes('\u0000')) return name;
    if (Array.isArray(v) && v.some((x) => typeof x === 'string' && x.includes('\u0000'))) return name;
  }
  return undefined;
}

/** onRequest hook: refuses NUL characters in query and path parameters. */
export async function refuseNulParameters(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
  const inQuery = nulIn(req.query);
  if (inQuery !== undefined) {
    throw new PgvigilError(
      'BAD_ARGUMENT',
      `query parameter ${inQuery.slice(0, 64)}: contains a NUL character`,
    );
  }
  const inPath = nulIn(req.params);
  if (inPath !== undefined) {
    throw new PgvigilError('BAD_ARGUMENT', `path parameter ${inPath.slice(0, 64)}: contains a NUL character`);
  }
}

/**
 * The registry error for a 4xx error fastify raised itself (FST_* codes, or an error of a plugin with a
 * `statusCode`); `ingest` says whether the request was for the ingest route (its size limit is a batch's).
 */
export function clientErrorOf(
  err: { statusCode?: number; code?: string; message?: string },
  ingest: boolean,
): PgvigilError {
  const status = err.statusCode ?? 400;
  const message = err.message ?? '';
  switch (status) {
    case 404:
      return new PgvigilError('NOT_FOUND', message || undefined);
    case 413:
      return new PgvigilError(ingest ? 'BATCH_TOO_LARGE' : 'BODY_TOO_LARGE', message || undefined);
    case 415:
      return new PgvigilError(
        'UNSUPPORTED_MEDIA_TYPE',
        'the content type is missing or not supported; send Content-Type: application/json',
      );
    case 429:
      return new PgvigilError('RATE_LIMITED', message || undefined);
    default:
      // Schema validation names the parameter (querystring/from …); body parsing errors are the body's.
      if (err.code === 'FST_ERR_VALIDATION') return new PgvigilError('BAD_ARGUMENT', message);
      if (err.code?.startsWith('FST_ERR_CTP_')) return new PgvigilError('BODY_INVALID', message);
      return new PgvigilError('BAD_ARGUMENT', message || undefined);
  }
}
