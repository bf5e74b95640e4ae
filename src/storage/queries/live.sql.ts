/** The live feed's transport: NOTIFY on one channel, LISTEN on a dedicated connection. */
import { ident } from './identifiers.js';
import { textArray, textLiteral } from './literals.js';
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

/**
 * `notifyLive` as a statement without parameters (values as literals, ./literals.ts), for a message that
 * carries other statements (the ingest group's NOTIFY goes with its COMMIT: src/storage/tx.ts
 * `commitAfter`); `notifySent` reads its answer.
 */
export function notifyLiveSql(payloads: readonly string[]): string {
  return `SELECT CASE WHEN pg_notification_queue_usage() < 0.5
              THEN (SELECT count(pg_notify(${textLiteral(liveChannel)}, p))::int FROM unnest(${textArray(payloads)}) AS u(p))
              ELSE -1 END AS sent`;
}

/** Whether `notifyLiveSql` sent its payloads (false: the notification queue is over half full). */
export function notifySent(rows: ReadonlyArray<Record<string, unknown>>): boolean {
  return Number(rows[0]?.sent ?? -1) >= 0;
}

export async function listenLive(db: Queryable): Promise<void> {
  await db.query(`LISTEN ${ident(liveChannel)}`);
}

/** A round trip that proves the connection still answers. */
export async function ping(db: Queryable): Promise<void> {
  await db.query('SELECT 1');
}
