/**
 * GET /api/v1/live — the live feed over WebSocket (role: viewer; protocol in docs/api.md, "Live feed").
 *
 * The handshake is an ordinary fastify request until the upgrade, so the global user authentication runs
 * first (401/403 without a viewer credential in the Authorization header or the session cookie). Then,
 * still before upgrading: the Origin, when present (browsers send it), must be this server's own origin or
 * one of `allowedOrigins` — otherwise 403, which stops other sites from opening the feed with a user's
 * cookie — and the instance must have room for another client (503). A plain GET without an upgrade gets
 * 426.
 */
import type { FastifyPluginAsync } from 'fastify';
import { PgvigilError } from '../../errors.js';
import type { UserAuthenticator } from '../auth/users.js';
import { closeCodes, type LiveHub } from '../live/hub.js';
import { canonicalOrigin, originAllowed, ownOrigin } from '../origin.js';
import { errorBody } from './schemas.js';

export interface LiveRouteOptions {
  hub: LiveHub;
  /** Origins (scheme://host[:port]) allowed besides the server's own, e.g. a dashboard on another host. */
  allowedOrigins: readonly string[];
  /** Re-checks the handshake's credential while the feed is open. */
  userAuth: UserAuthenticator;
  /** How often (default 60 s). */
  recheckMs?: number;
}

export const liveRoutes: FastifyPluginAsync<LiveRouteOptions> = async (app, opts) => {
  const { hub, allowedOrigins, userAuth } = opts;
  const allowed = new Set<string>();
  for (const o of allowedOrigins) {
    const c = canonicalOrigin(o);
    if (c === undefined)
      throw new PgvigilError('BAD_ARGUMENT', `live feed origin "${o}" is not scheme://host[:port]`);
    allowed.add(c);
  }

  app.route({
    method: 'GET',
    url: '/live',
    config: { role: 'viewer' },
    schema: {
      summary: 'Live feed (WebSocket): new samples, agent status and alerts for subscribed servers',
      description:
        'Upgrade to a WebSocket; JSON text frames. Send {"type":"subscribe","servers":[ids],"targets":[ids]}. ' +
        'See docs/api.md, "Live feed".',
      tags: ['live'],
      headers: {
        type: 'object',
        properties: { origin: { type: 'string', maxLength: 2048 } },
      },
      querystring: { type: 'object', additionalProperties: false, properties: {} },
      response: {
        101: { description: 'Switching Protocols: the connection is now the live feed.', type: 'null' },
        '4xx': errorBody,
        503: errorBody,
      },
    },
    onRequest: async (req) => {
      const origin = req.headers.origin;
      if (!originAllowed(origin, ownOrigin(req), allowed)) {
        throw new PgvigilError(
          'ORIGIN_FORBIDDEN',
          `origin ${JSON.stringify(String(origin).slice(0, 200))} may not open the live feed; allowed: this server's own origin${allowed.size > 0 ? ` and ${[...allowed].join(', ')}` : ''}`,
        );
      }
      if (!hub.hasRoom()) {
        throw new PgvigilError(
          'LIVE_CLIENTS_LIMIT',
          `this server has ${hub.limits.maxClients} live clients already; retry later or connect to another instance`,
        );
      }
    },
    handler: async () => {
      throw new PgvigilError('LIVE_UPGRADE_REQUIRED');
    },
    wsHandler: (socket, req) => {
      const client = hub.attach(socket);
      if (!client) return;
      // A feed must not outlive its credential: an expired access token, a revoked token or session, a
      // disabled user closes it (4401) within `recheckMs`; the browser refreshes and reconnects.
      const recheck = setInterval(() => {
        userAuth.authenticate(req).catch(() => {
          hub.drop(
            client,
            'credential-expired',
            closeCodes.credentialExpired,
            'credential expired or revoked',
          );
        });
      }, opts.recheckMs ?? 60_000);
      recheck.unref();
      socket.once('close', () => clearInterval(recheck));
    },
  });
};
