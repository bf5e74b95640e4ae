/**
 * The registry of coded errors: every error the program reports to a user or an API client has a code here,
 * with its HTTP status and the exit code a CLI command returns for it. `docs/errors.md` documents each code
 * (a test keeps the two in step).
 */
export const errorCodes = {
  STORE_URL_INVALID: {
    status: 500,
    exit: 2,
    message: 'DATABASE_URL is not a valid PostgreSQL connection URL',
  },
  STORE_HOST_UNKNOWN: { status: 503, exit: 2, message: 'the store host name does not resolve' },
  STORE_UNREACHABLE: { status: 503, exit: 2, message: 'nothing answers at the store address' },
  STORE_AUTH_FAILED: { status: 503, exit: 2, message: 'the store rejected the user name or password' },
  STORE_DATABASE_MISSING: { status: 503, exit: 2, message: 'the store database does not exist' },
  STORE_UNAVAILABLE: { status: 503, exit: 1, message: 'the store is not reachable right now' },
  STORE_SCHEMA_NEWER: { status: 500, exit: 2, message: 'the store schema is newer than this pgvigil' },
  MIGRATION_FAILED: { status: 500, exit: 1, message: 'a migration failed' },
  DATA_DIR_IN_USE: { status: 500, exit: 2, message: 'the data directory is in use by another pgvigil' },
  DATA_DIR_UNUSABLE: { status: 500, exit: 2, message: 'the data directory cannot be used' },
  EMBEDDED_START_FAILED: { status: 500, exit: 1, message: 'the embedded PostgreSQL did not start' },
  PORT_IN_USE: { status: 500, exit: 2, message: 'the listen port is in use' },
  BAD_ARGUMENT: { status: 400, exit: 2, message: 'a command-line argument is invalid' },
  ROUTE_ROLE_MISSING: { status: 500, exit: 1, message: 'a route was registered without a role requirement' },
  NOT_FOUND: { status: 404, exit: 1, message: 'no such resource' },
  DASHBOARD_NOT_BUILT: {
    status: 503,
    exit: 1,
    message: 'the dashboard was not built; run `npm run build`',
  },
  CREDENTIAL_MISSING: {
    status: 401,
    exit: 1,
    message: 'no credential: send Authorization: Bearer <credential>',
  },
  CREDENTIAL_INVALID: { status: 401, exit: 1, message: 'the credential is not valid' },
  CREDENTIAL_REVOKED: { status: 401, exit: 1, message: 'the credential was revoked' },
  ENROLL_TOKEN_INVALID: {
    status: 401,
    exit: 1,
    message: 'the enrollment token is invalid, expired or used up',
  },
  CSR_INVALID: {
    status: 400,
    exit: 1,
    message: 'the certificate request is malformed, unsigned by its key or of a refused key kind',
  },
  CERTIFICATE_INVALID: {
    status: 401,
    exit: 1,
    message: 'the client certificate is not one the agent CA issued, has expired, or names no agent',
  },
  CERTIFICATE_UNAVAILABLE: {
    status: 409,
    exit: 1,
    message: 'client certificates are issued only on the agent port',
  },
  AGENT_MISMATCH: { status: 403, exit: 1, message: 'the batch or resource belongs to another agent' },
  BATCH_INVALID: { status: 400, exit: 1, message: 'the batch is malformed' },
  BATCH_TOO_LARGE: { status: 413, exit: 1, message: 'the batch is too large' },
  BATCH_CONFLICT: {
    status: 409,
    exit: 1,
    message: 'a different batch was stored under this agent and sequence number',
  },
  BODY_INVALID: { status: 400, exit: 1, message: 'the request body is not acceptable JSON' },
  BODY_TOO_LARGE: { status: 413, exit: 1, message: 'the request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, exit: 1, message: 'unsupported content type or batch version' },
  RATE_LIMITED: { status: 429, exit: 1, message: 'too many requests; retry later' },
  INGEST_OVERLOADED: { status: 503, exit: 1, message: 'the server is busy writing; retry later' },
  INGEST_REFUSED_BY_STORE: { status: 400, exit: 1, message: 'the store refused the batch' },
  FORBIDDEN: { status: 403, exit: 1, message: 'your role may not do this' },
  LOGIN_FAILED: { status: 401, exit: 1, message: 'unknown user name or wrong password' },
  REFRESH_INVALID: { status: 401, exit: 1, message: 'the session expired or was signed out; sign in again' },
  PASSWORD_WEAK: { status: 400, exit: 2, message: 'the password is not acceptable' },
  USER_EXISTS: { status: 409, exit: 2, message: 'a user with that name exists already' },
  LAST_ADMIN: { status: 409, exit: 2, message: 'the last active admin cannot be removed or demoted' },
  CONFIG_INVALID: { status: 400, exit: 1, message: 'the agent configuration is invalid' },
  CONFIG_FILE_INVALID: {
    status: 400,
    exit: 2,
    message: 'the config file is unreadable or has unknown keys, wrong types or bad values',
  },
  ORIGIN_FORBIDDEN: { status: 403, exit: 1, message: 'this Origin may not open the live feed' },
  LIVE_UPGRADE_REQUIRED: {
    status: 426,
    exit: 1,
    message: 'the live feed is a WebSocket: send Connection: Upgrade, Upgrade: websocket',
  },
  LIVE_CLIENTS_LIMIT: { status: 503, exit: 1, message: 'this server has as many live clients as it takes' },
  LIVE_MESSAGE_INVALID: { status: 400, exit: 1, message: 'the live feed message is invalid' },
  LIVE_SUBSCRIPTIONS_LIMIT: {
    status: 400,
    exit: 1,
    message: 'too many subscriptions on one live connection',
  },
  SECRET_KEY_INVALID: { status: 500, exit: 2, message: 'the secret key is missing, malformed or unreadable' },
  SECRET_UNREADABLE: {
    status: 500,
    exit: 1,
    message: 'a stored secret does not open with this secret key',
  },
  CHANNEL_EXISTS: { status: 409, exit: 1, message: 'a notification channel with that name exists already' },
  SLO_EXISTS: {
    status: 409,
    exit: 1,
    message: 'an SLO with that name exists already on that server and target',
  },
  CHANNEL_CONFIG_INVALID: {
    status: 400,
    exit: 1,
    message: 'the notification channel configuration is invalid',
  },
  CHANNEL_ADDRESS_REFUSED: {
    status: 400,
    exit: 1,
    message: 'the notification channel points at an address pgvigil does not send to',
  },
  AGENTLESS_TARGET_EXISTS: {
    status: 409,
    exit: 1,
    message: 'an agentless target or server with that name exists already',
  },
  SCRAPE_TARGET_INVALID: { status: 400, exit: 1, message: 'the scrape target definition is invalid' },
  SCRAPE_TARGET_EXISTS: { status: 409, exit: 1, message: 'a scrape target with that name exists already' },
  SCRAPE_ADDRESS_REFUSED: {
    status: 400,
    exit: 1,
    message: 'the scrape target points at an address server-side scrapes do not go to',
  },
  INTERNAL: { status: 500, exit: 1, message: 'internal error' },
  QUERY_TIMEOUT: {
    status: 503,
    exit: 1,
    message: 'the query took too long; narrow the time range or add filters',
  },
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** An expected failure with a code, a one-line message for people, and no stack trace shown to them. */
export class PgvigilError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? errorCodes[code].message, options);
    this.name = 'PgvigilError';
    this.code = code;
    this.status = errorCodes[code].status;
    this.exitCode = errorCodes[code].exit;
  }
}

export function isPgvigilError(err: unknown): err is PgvigilError {
  return err instanceof PgvigilError;
}

/**
 * How a command ends on a failure: an expected one (PgvigilError) as one line on stderr and its exit
 * code; anything else with its stack, asking for a report (it is a bug).
 */
export function reportCommandFailure(err: unknown): void {
  if (isPgvigilError(err)) {
    process.stderr.write(`pgvigil: ${err.message}\n`);
    process.exitCode = err.exitCode;
    return;
  }
  process.stderr.write(
    `pgvigil: unexpected error (please report it): ${(err as Error).stack ?? String(err)}\n`,
  );
  process.exitCode = 1;
}

/**
 * What a failed listen on `host:port` tells the operator, naming the option that sets the address: a port in
 * use, an address that is not this machine's, a port below 1024 without privileges. Any other failure is
 * returned as it is.
 */
export function listenError(err: unknown, host: string, port: number, option: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const why =
    code === 'EADDRINUSE'
      ? 'the port is in use by another program'
      : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'no such address on this machine'
        : code === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges)'
          : undefined;
  if (why === undefined) return err;
  return new PgvigilError(
    code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'BAD_ARGUMENT',
    `cannot listen on ${where}: ${why}; choose another with ${option}`,
    { cause: err },
  );
}
