/** The live feed's transport: NOTIFY on one channel, LISTEN on a dedicated connection. */
import { ident } from './identifiers.js';
import type { Queryable } from './queryable.js';

/** The channel every server instance LISTENs to. */
export const liveChannel = 'pgvigil_live';

/**
 * Sends the payloads on the live channel (inside a transaction: on commit); false, and nothing sent,
 * when the notification queue is over half full.
 */
export async function notifyLive(db: Queryable, payloads: readonly string[]): Promise<boolean> {
  const { rows } = await db.query<{ sent: number }>(
    `SELECT CASE WHEN pg_notification_queue_usage() < 0.5
              THEN (SELECT count(pg_notify($1, p))::int FROM unnest($2::text[]) AS u(p))
              ELSE -1 END AS sent`,
    [liveChannel, payloads],
  );
  return (rows[0]?.sent ?? -1) >= 0;
}

export async function listenLive(db: Queryable): Promise<void> {
  await db.query(`LISTEN ${ident(liveChannel)}`);
}

/** A round trip that proves the connection still answers. */
export async function ping(db: Queryable): Promise<void> {
  await db.query('SELECT 1');
}
